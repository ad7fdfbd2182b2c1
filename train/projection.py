"""Random virtual cameras: 2D training views of 3D skeletons (`keypoint_3d` from the converters).

The Kinect sets are filmed from one to three fixed cameras, so a classifier trained on their 2D
views learns those viewpoints. Re-projecting the 3D joints through a new random camera per sample
shows it the same motion from any side, height and lens, as users' webcams will.

How to call it, e.g. in a dataset's `__getitem__` with the per-item generator:

    from skelcam.train.projection import random_view
    keypoints, (height, width) = random_view(ann["keypoint_3d"], rng, ann["keypoint_score"] > 0)

`keypoints` [M, T, 17, 2] float32 pixels replace `ann["keypoint"]`; the scores are unchanged
(joints missing in 3D stay missing: zeros). Use `sample_camera` plus `view` for a fixed camera.

The camera turns about the body's own vertical axis (estimated from hips to shoulders, so a
tilted source camera does not skew it): yaw +-60 deg keeps the person facing roughly towards the
camera as in a webcam scene, pitch +-20 deg and roll +-10 deg are a camera on a shelf or in a
hand. The distance is 2-5 m, pushed further when needed so that (a) every joint stays at least
0.3 m in front of the camera, because a pinhole projection of a point at or behind the camera
plane is undefined or mirrored, which no real camera produces, and (b) the whole clip fits in
90% of the frame, as the converted full-body recordings always showed the whole person.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from skelcam.train.skeleton import JOINT_NAMES

NEAR_M = 0.3
FIT_FRACTION = 0.9
# (width, height): common webcam and phone sizes, landscape and portrait.
IMAGE_SIZES: tuple[tuple[int, int], ...] = (
    (640, 480), (1280, 720), (1920, 1080), (480, 640), (720, 1280), (1080, 1920),
)
_SHOULDERS = [JOINT_NAMES.index("left_shoulder"), JOINT_NAMES.index("right_shoulder")]
_HIPS = [JOINT_NAMES.index("left_hip"), JOINT_NAMES.index("right_hip")]
# OpenCV camera frame (y down): "up" is -y.
_UP = np.array([0.0, -1.0, 0.0])


@dataclass(frozen=True)
class Camera:
    """One virtual camera: angles in degrees about the body's centre, distance in metres."""

    yaw: float
    pitch: float
    roll: float
    distance: float
    hfov: float
    width: int
    height: int

    @property
    def focal(self) -> float:
        """Focal length in pixels for the horizontal field of view."""
        return (self.width / 2.0) / np.tan(np.deg2rad(self.hfov) / 2.0)


def sample_camera(
    rng: np.random.Generator,
    yaw: float = 60.0,
    pitch: float = 20.0,
    roll: float = 10.0,
    distance: tuple[float, float] = (2.0, 5.0),
    hfov: tuple[float, float] = (50.0, 90.0),
) -> Camera:
    """A random camera: uniform angles in +-yaw/pitch/roll, distance and field of view in range."""
    width, height = IMAGE_SIZES[rng.integers(len(IMAGE_SIZES))]
    return Camera(
        float(rng.uniform(-yaw, yaw)), float(rng.uniform(-pitch, pitch)),
        float(rng.uniform(-roll, roll)), float(rng.uniform(*distance)),
        float(rng.uniform(*hfov)), width, height,
    )


def body_up(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Unit vector from the hips' to the shoulders' midpoint over the clip (else camera up)."""
    both = present[..., _SHOULDERS].all(-1) & present[..., _HIPS].all(-1)
    if not both.any():
        return _UP
    spine = points[..., _SHOULDERS, :].mean(-2) - points[..., _HIPS, :].mean(-2)
    up = spine[both].mean(0)
    norm = np.linalg.norm(up)
    return up / norm if norm > 1e-6 else _UP


def camera_points(
    keypoint_3d: np.ndarray, camera: Camera, present: np.ndarray | None = None
) -> np.ndarray:
    """The joints [M, T, 17, 3] in the virtual camera's OpenCV frame (x right, y down, z ahead).

    A rigid motion: levelling (body up -> camera up), then yaw about the vertical, pitch about
    the camera's x axis and roll about its optical axis, all about the clip's centre, which is
    then placed `camera.distance` ahead (or further: see the module docstring).
    """
    points = np.asarray(keypoint_3d, np.float64)
    if present is None:
        present = np.any(points != 0, axis=-1)
    if not present.any():
        return np.zeros_like(points)
    centre = points[present].mean(0)
    level, _ = Rotation.align_vectors([_UP], [body_up(points, present)])
    turn = Rotation.from_euler("yxz", [camera.yaw, camera.pitch, camera.roll], degrees=True)
    moved = (turn * level).apply((points - centre).reshape(-1, 3)).reshape(points.shape)
    seen = moved[present]
    half = FIT_FRACTION / 2.0
    fit = np.maximum(camera.focal * np.abs(seen[:, 0]) / (half * camera.width),
                     camera.focal * np.abs(seen[:, 1]) / (half * camera.height)) - seen[:, 2]
    distance = max(camera.distance, float(np.max(NEAR_M - seen[:, 2])), float(np.max(fit)))
    moved[..., 2] += distance
    return np.where(present[..., None], moved, 0.0)


def view(
    keypoint_3d: np.ndarray, camera: Camera, present: np.ndarray | None = None
) -> np.ndarray:
    """Pixels [M, T, 17, 2] float32 of the joints seen by `camera`; missing joints stay 0."""
    points = np.asarray(keypoint_3d, np.float64)
    if present is None:
        present = np.any(points != 0, axis=-1)
    moved = camera_points(points, camera, present)
    z = np.where(present, moved[..., 2], 1.0)[..., None]
    pixels = camera.focal * moved[..., :2] / z + [camera.width / 2.0, camera.height / 2.0]
    return np.where(present[..., None], pixels, 0.0).astype(np.float32)


def random_view(
    keypoint_3d: np.ndarray, rng: np.random.Generator, present: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, int]]:
    """The joints seen by a random camera: pixels [M, T, 17, 2] and its (height, width).

    `present` [M, T, 17] marks the joints to use (e.g. `keypoint_score > 0`); by default every
    joint that is not all zeros, which is how the converters store missing joints.
    """
    camera = sample_camera(rng)
    return view(keypoint_3d, camera, present), (camera.height, camera.width)
