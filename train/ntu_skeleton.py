"""NTU RGB+D raw `.skeleton` files (Kinect v2, 25 joints) -> COCO-17 clips, up to two people.

The text layout: the frame count; per frame a body count; per body a line of ten values (the
body id first), the joint count, then per joint `x y z depthX depthY colorX colorY` orientation
(4 values) and a tracking state (0 not tracked, 1 inferred, 2 tracked).

2D keypoints come from colorX/colorY, the joints in the real 1920x1080 RGB frame, mirrored
left-right (x -> 1919 - x). Measured on ../shared/data/ntu_skeleton: colorX grows with the camera
space's x/z (correlation +0.999 or more in all five files), and that x points to the sensor's left
(see `train.skeleton3d`: with it, the body's left from the feet agrees with Kinect's ShoulderLeft
in 98-100% of frames, and in 'brushing hair' WristRight is the raised hand in 100% of frames).
So the recorded colour frame is a mirror image, as Kinect v2's colour stream is; unmirrored, a
person facing the camera has the left shoulder on the image's right, as in a webcam frame and in
COCO. `keypoint_3d` is the camera space turned into the OpenCV frame; the colour camera sits a
few centimetres beside the depth camera, so its projection is close to, not equal to, the 2D.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.kinect import Sample, Warn
from skelcam.train.skeleton3d import KINECT_TO_COCO, coco_clip, kinect_to_camera

NTU_IMAGE_SHAPE: tuple[int, int] = (1080, 1920)
NTU_JOINTS = 25
MAX_BODIES = 2
# Tracking state -> score: inferred joints are Kinect's guess, kept at half confidence (as Penn
# Action's occluded joints are).
STATE_SCORE = np.array([0.0, 0.5, 1.0])
# The official NTU RGB+D cross-subject training subjects; every other subject is validation.
XSUB_TRAIN_SUBJECTS = frozenset(
    (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
)
XVIEW_TRAIN_CAMERAS = frozenset((2, 3))
NTU_SPLITS: tuple[str, ...] = ("xsub_train", "xsub_val", "xview_train", "xview_val")


def parse_skeleton(text: str) -> dict[str, np.ndarray]:
    """Body id -> joint rows [T, 25, 12] (NaN in frames where that body is absent)."""
    tokens = text.split()
    position = 0

    def take(count: int) -> list[str]:
        nonlocal position
        if position + count > len(tokens):
            raise ValueError("the file ends in the middle of a frame")
        out = tokens[position:position + count]
        position += count
        return out

    frames = int(take(1)[0])
    bodies: dict[str, np.ndarray] = {}
    for t in range(frames):
        for _ in range(int(take(1)[0])):
            body_id = take(10)[0]
            joints = int(take(1)[0])
            if joints != NTU_JOINTS:
                raise ValueError(f"frame {t + 1} has a body with {joints} joints, not 25")
            rows = np.asarray(take(joints * 12), np.float64).reshape(joints, 12)
            if body_id not in bodies:
                bodies[body_id] = np.full((frames, joints, 12), np.nan)
            bodies[body_id][t] = rows
    return bodies


def read_ntu(path: Path, folder: Path, warn: Warn) -> list[Sample]:
    """`SsssCcccPpppRrrrAaaa.skeleton` -> one clip, label A - 1, with NTU's xsub/xview splits.

    Files with more than two bodies (Kinect sometimes tracks a passer-by or a ghost) keep the two
    present in the most frames.
    """
    found = re.fullmatch(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})", path.stem)
    if found is None:
        raise SkelcamError(f"'{path}': unexpected file name (expected SsssCcccPpppRrrrAaaa)")
    camera, subject, action = int(found[2]), int(found[3]), int(found[5])
    try:
        bodies = parse_skeleton(path.read_text())
    except Exception as exc:  # noqa: BLE001 - any failure here means not an NTU skeleton file
        raise SkelcamError(f"'{path}' is not a readable NTU skeleton file: {exc!s}") from None
    if not bodies:
        raise SkelcamError(f"'{path}' has no skeleton in any frame")
    kept = sorted(bodies.values(), key=lambda rows: -np.isfinite(rows[:, 0, 0]).sum())
    rows = np.stack(kept[:MAX_BODIES])  # [M, T, 25, 12]
    state = np.nan_to_num(rows[..., 11], nan=0.0).clip(0, 2).astype(np.int64)
    pixels = np.stack([NTU_IMAGE_SHAPE[1] - 1.0 - rows[..., 5], rows[..., 6]], axis=-1)
    clip = coco_clip(path.stem, kinect_to_camera(rows[..., :3]), KINECT_TO_COCO,
                     scores=STATE_SCORE[state], pixels=pixels, img_shape=NTU_IMAGE_SHAPE)
    clip["label"] = action - 1
    splits = ("xsub_train" if subject in XSUB_TRAIN_SUBJECTS else "xsub_val",
              "xview_train" if camera in XVIEW_TRAIN_CAMERAS else "xview_val")
    return [Sample(clip, splits)]
