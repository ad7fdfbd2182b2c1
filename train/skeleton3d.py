"""3D Kinect joints -> COCO-17 clips: joint maps, the camera frame, and the default camera.

Every converted clip stores `keypoint_3d` [M, T, 17, 3] in metres in the OpenCV camera frame:
x to the right of the image, y DOWN, z away from the camera. In that frame a point projects to
pixel (cx + f x / z, cy + f y / z), with no sign juggling, and it is right-handed, so rotating it
(see `train.projection`) never mirrors a person.

Kinect's own camera space has x to the sensor's LEFT and y up (a right-handed frame too). That
is the reading the data itself forces, as measured on ../shared/data (see README "Everyday-action
data sets"): taking x to the sensor's left, then in frames where the feet (ankle -> foot) point at
the camera, Kinect's ShoulderLeft lands on the image's right in 99.9% (NW-UCLA), 100% (UTD-MHAD,
UTKinect) of them, and the body's left from the facing direction agrees with Kinect's left
shoulder in 95-100% of all frames; in throws the joint named WristRight travels further in 95% of
UTD-MHAD and 65% of NW-UCLA clips, i.e. the names are the person's own sides (most people throw
right-handed). So Kinect's names map onto COCO's person-centred names unchanged and the frame
change is x -> -x, y -> -y (a 180-degree turn about z, which keeps lengths and handedness).
"""

from __future__ import annotations

import numpy as np

from skelcam.train.skeleton import JOINT_NAMES, NUM_JOINTS

# Kinect v1 and v2 record skeletons at 30 frames/s.
KINECT_FPS = 30.0

# COCO joints that a Kinect-style skeleton has. Kinect has no nose: its Head joint (the centre of
# the head) stands in for it. No Kinect skeleton has eyes or ears; they get score 0.
MAPPED_COCO_JOINTS: tuple[str, ...] = (
    "nose", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def coco_map(**source_index: int) -> np.ndarray:
    """COCO-17 index -> source joint index (-1 where the source has none), given by COCO name."""
    table = np.full(NUM_JOINTS, -1, np.int64)
    for name, index in source_index.items():
        table[JOINT_NAMES.index(name)] = index
    return table


# Kinect for Windows v1 (20 joints: HipCenter, Spine, ShoulderCenter, Head, ShoulderLeft, ...,
# FootRight), used by NW-UCLA and UTKinect; Kinect v2 (NTU RGB+D, 25 joints) keeps the same first
# 20 indices for these joints.
KINECT_TO_COCO = coco_map(
    nose=3, left_shoulder=4, right_shoulder=8, left_elbow=5, right_elbow=9, left_wrist=6,
    right_wrist=10, left_hip=12, right_hip=16, left_knee=13, right_knee=17, left_ankle=14,
    right_ankle=18,
)
# UTD-MHAD's order (Skeleton_joint_order.txt) starts head, shoulder_center, spine, hip_center and
# then matches Kinect v1.
UTD_MHAD_TO_COCO = coco_map(
    nose=0, left_shoulder=4, right_shoulder=8, left_elbow=5, right_elbow=9, left_wrist=6,
    right_wrist=10, left_hip=12, right_hip=16, left_knee=13, right_knee=17, left_ankle=14,
    right_ankle=18,
)
# SBU (OpenNI, 15 joints: head, neck, torso, L shoulder, L elbow, L hand, R shoulder, R elbow,
# R hand, L hip, L knee, L foot, R hip, R knee, R foot). OpenNI has no wrist or ankle joints: its
# hand and foot joints (at the end of the forearm and shin) stand in for them.
SBU_TO_COCO = coco_map(
    nose=0, left_shoulder=3, right_shoulder=6, left_elbow=4, right_elbow=7, left_wrist=5,
    right_wrist=8, left_hip=9, right_hip=12, left_knee=10, right_knee=13, left_ankle=11,
    right_ankle=14,
)

# Kinect v1's colour camera: 640x480 with a focal length of about 525 px. The raw sets give no
# calibration, so every 2D view of them is this pinhole camera with the principal point centred.
DEFAULT_IMAGE_SHAPE: tuple[int, int] = (480, 640)
DEFAULT_FOCAL_PX = 525.0


def kinect_to_camera(joints: np.ndarray) -> np.ndarray:
    """Kinect camera space (x to the sensor's left, y up, z forward) -> OpenCV's (x right, y
    down, z forward)."""
    out = np.asarray(joints, np.float64).copy()
    out[..., :2] *= -1.0
    return out


def project(points: np.ndarray, focal: float, centre: tuple[float, float]) -> np.ndarray:
    """Pinhole projection of camera-frame points [..., 3] (z > 0) to pixels [..., 2]."""
    z = points[..., 2:3]
    return focal * points[..., :2] / z + np.asarray(centre, np.float64)


def coco_clip(
    name: str,
    joints: np.ndarray,
    to_coco: np.ndarray,
    scores: np.ndarray | None = None,
    pixels: np.ndarray | None = None,
    img_shape: tuple[int, int] = DEFAULT_IMAGE_SHAPE,
    fps: float = KINECT_FPS,
) -> dict:
    """A PYSKL annotation (without its label) from source joints in the OpenCV camera frame.

    `joints` [M, T, J, 3] metres; `scores` [M, T, J] (default 1), forced to 0 wherever a joint
    is missing (non-finite, or not in front of the camera, which is how Kinect writes "no
    skeleton this frame"); `pixels` [M, T, J, 2] the source's own 2D joints, else the default
    camera's projection; `fps` the recording's frame rate, stored so that training and replays
    run the clip at its real speed. Missing joints are stored as zeros with score 0.
    """
    joints = np.asarray(joints, np.float64)
    if scores is None:
        scores = np.ones(joints.shape[:3])
    if pixels is None:
        height, width = img_shape
        with np.errstate(divide="ignore", invalid="ignore"):
            pixels = project(joints, DEFAULT_FOCAL_PX, (width / 2.0, height / 2.0))
    present = (
        np.isfinite(joints).all(-1) & (joints[..., 2] > 0) & np.isfinite(pixels).all(-1)
        & (scores > 0)
    )
    m, t = joints.shape[:2]
    keypoint = np.zeros((m, t, NUM_JOINTS, 2), np.float32)
    keypoint_3d = np.zeros((m, t, NUM_JOINTS, 3), np.float32)
    keypoint_score = np.zeros((m, t, NUM_JOINTS), np.float32)
    coco = np.flatnonzero(to_coco >= 0)
    source = to_coco[coco]
    ok = present[:, :, source]
    keypoint[:, :, coco] = np.where(ok[..., None], pixels[:, :, source], 0.0)
    keypoint_3d[:, :, coco] = np.where(ok[..., None], joints[:, :, source], 0.0)
    keypoint_score[:, :, coco] = np.where(ok, scores[:, :, source], 0.0)
    return {
        "frame_dir": name,
        "img_shape": img_shape,
        "original_shape": img_shape,
        "total_frames": t,
        "fps": float(fps),
        "keypoint": keypoint,
        "keypoint_score": keypoint_score,
        "keypoint_3d": keypoint_3d,
    }
