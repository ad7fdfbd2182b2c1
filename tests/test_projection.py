"""`train.projection`: random virtual cameras for 3D skeletons, on real converted clips.

The hand-calculated cases use a five-joint pose placed so that its centre and body axis are
known; the rest runs on real UTD-MHAD and SBU recordings read by the converters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelcam.train.kinect import read_sbu, read_utd_mhad
from skelcam.train.projection import Camera, camera_points, random_view, sample_camera, view
from skelcam.train.skeleton import EDGES, JOINT_NAMES, NUM_JOINTS

KINECT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kinect"
J = {name: i for i, name in enumerate(JOINT_NAMES)}


def five_joint_pose() -> np.ndarray:
    """Shoulders 0.5 m above the centre (3 m ahead), hips 0.5 m below, wrists 0.6 m aside."""
    kp = np.zeros((1, 1, NUM_JOINTS, 3))
    for name, xyz in {"left_shoulder": (0.2, -0.5, 3), "right_shoulder": (-0.2, -0.5, 3),
                      "left_hip": (0.2, 0.5, 3), "right_hip": (-0.2, 0.5, 3),
                      "left_wrist": (0.6, 0, 3), "right_wrist": (-0.6, 0, 3)}.items():
        kp[0, 0, J[name]] = xyz
    return kp


def test_known_points_project_where_the_hand_calculation_says() -> None:
    """A 90-degree lens on 640 px has f = 320 px; 2 m ahead, a wrist 0.6 m right of the centre
    lands at 320 + 320 * 0.6 / 2 = 416 px, a shoulder 0.5 m up at 240 - 80 = 160 px. Turned 90
    degrees about the vertical, both wrists lie on the optical axis, 0.6 m nearer and further;
    rolled 90 degrees, they lie on the vertical through the centre, 96 px from it."""
    kp = five_joint_pose()
    camera = Camera(0, 0, 0, 2.0, 90.0, 640, 480)
    assert camera.focal == pytest.approx(320.0)
    px = view(kp, camera)
    np.testing.assert_allclose(px[0, 0, J["left_wrist"]], [416, 240], atol=1e-4)
    np.testing.assert_allclose(px[0, 0, J["left_shoulder"]], [352, 160], atol=1e-4)
    assert not px[0, 0, J["nose"]].any()

    turned = camera_points(kp, Camera(90, 0, 0, 2.0, 90.0, 640, 480))
    wrists = turned[0, 0, [J["left_wrist"], J["right_wrist"]]]
    np.testing.assert_allclose(wrists[:, :2], 0, atol=1e-9)
    np.testing.assert_allclose(sorted(wrists[:, 2]), [1.4, 2.6], atol=1e-9)

    rolled = view(kp, Camera(0, 0, 90, 2.0, 90.0, 640, 480))[0, 0, [J["left_wrist"],
                                                                     J["right_wrist"]]]
    np.testing.assert_allclose(rolled[:, 0], 320, atol=1e-4)
    np.testing.assert_allclose(sorted(rolled[:, 1]), [144, 336], atol=1e-4)


@pytest.fixture(scope="module")
def real_clips() -> list[dict]:
    """A real UTD-MHAD tennis serve (one person) and a real SBU kick (two people)."""
    utd, sbu = KINECT / "utd_mhad" / "a17_s1_t1_skeleton.mat", KINECT / "sbu" / "s01s02"
    if not utd.is_file() or not sbu.is_dir():
        pytest.skip(f"real Kinect data not found under {KINECT}")
    clips = read_utd_mhad(utd, utd.parent, print)
    clips += read_sbu(sbu / "03" / "001" / "skeleton_pos.txt", sbu.parent, print)
    return [c.annotation for c in clips]


def bone_lengths(points: np.ndarray) -> np.ndarray:
    return np.stack([np.linalg.norm(points[..., a, :] - points[..., b, :], axis=-1)
                     for a, b in EDGES], -1)


def test_random_cameras_are_rigid_in_front_and_keep_people_in_frame(
    real_clips: list[dict],
) -> None:
    """Over 40 random cameras per clip: 3D bone lengths are unchanged (a rigid motion), every
    joint is at least 0.3 m in front of the camera, pixels are finite and inside the image, and
    missing joints (eyes, ears) stay zero."""
    rng = np.random.default_rng(0)
    for ann in real_clips:
        present = ann["keypoint_score"] > 0
        bones = np.all(present[..., [a for a, _ in EDGES]] & present[..., [b for _, b in EDGES]],
                       axis=(0, 1))
        for _ in range(40):
            camera = sample_camera(rng)
            moved = camera_points(ann["keypoint_3d"], camera, present)
            np.testing.assert_allclose(bone_lengths(moved)[..., bones],
                                       bone_lengths(ann["keypoint_3d"])[..., bones], atol=1e-5)
            assert moved[..., 2][present].min() >= 0.3 - 1e-9
            px = view(ann["keypoint_3d"], camera, present)
            assert px.shape == ann["keypoint"].shape and np.isfinite(px).all()
            inside = ((px[..., 0] >= 0) & (px[..., 0] < camera.width) & (px[..., 1] >= 0)
                      & (px[..., 1] < camera.height))
            assert inside[present].all()
            assert not px[~present].any()


def test_random_view_is_reproducible_and_varies(real_clips: list[dict]) -> None:
    """The same generator seed gives the same view and image size; different seeds differ."""
    kp3d = real_clips[1]["keypoint_3d"]
    first, shape = random_view(kp3d, np.random.default_rng(7))
    again, shape_again = random_view(kp3d, np.random.default_rng(7))
    other, _ = random_view(kp3d, np.random.default_rng(8))
    assert shape == shape_again and first.dtype == np.float32
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 10
