"""Detect every N frames and follow people from their keypoints in between (top-down backends).

A top-down backend (rtm, mmpose) runs a person detector and then its pose model on each box. The
detector is the larger share of the cost when few people are in view, and a person moves little
from one frame to the next, so, as rtmlib's `PoseTracker` does, the detector runs only every
`det_every` frames; on the frames in between each person's box is the extent of the joints found
for them in the previous frame, grown by `KEYPOINT_BOX_EXPANSION` (rtmlib's 1.25) so that a limb
moving outwards stays inside the crop. A person whose joints fade (mean score below
`lost_score`) is dropped until the next detection, which also picks up people who just came in.
Written here rather than imported: rtmlib cannot be installed next to our onnxruntime-gpu and
OpenCV wheels (see `rtm_backend`), and this is a few lines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from skelcam.train.errors import SkelcamError

from .keypoints import Poses

KEYPOINT_BOX_EXPANSION = 1.25
KEYPOINT_MIN_SCORE = 0.3  # joints below this do not shape the next box
MIN_JOINTS = 4  # fewer confident joints than this: not enough to place a box, person lost
MIN_BOX_SIDE = 8.0  # pixels; a box thinner than this cannot be posed (a degenerate crop)

Detect = Callable[[], tuple[np.ndarray, np.ndarray]]  # -> boxes [N, 4] xyxy, scores [N]


def boxes_from_keypoints(
    xy: np.ndarray, scores: np.ndarray, frame_hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes [M, 4] around each person's confident joints, grown about their centre and clipped
    to the frame, and the indices [M] of the people that had enough joints for one."""
    height, width = frame_hw
    boxes, kept = [], []
    for index, (points, score) in enumerate(zip(xy, scores, strict=True)):
        seen = points[score >= KEYPOINT_MIN_SCORE]
        if len(seen) < MIN_JOINTS:
            continue
        low, high = seen.min(axis=0), seen.max(axis=0)
        centre, half = (low + high) / 2, (high - low) / 2 * KEYPOINT_BOX_EXPANSION
        if 2 * half.min() < MIN_BOX_SIDE:
            continue
        boxes.append(np.clip(np.concatenate([centre - half, centre + half]), 0,
                             [width, height, width, height]))  # fmt: skip
        kept.append(index)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(kept, np.int64)


class DetectionSchedule:
    """Decides, frame by frame, whether boxes come from the detector or from the last poses."""

    def __init__(self, det_every: int = 1, lost_score: float = 0.3) -> None:
        """`det_every`: run the detector on every this many frames (1: every frame)."""
        if det_every < 1:
            raise SkelcamError(f"det_every must be at least 1, not {det_every}")
        self.det_every = det_every
        self.lost_score = lost_score
        self._frame = 0
        self._followed: tuple[np.ndarray, np.ndarray] | None = None  # boxes, box scores

    def boxes(self, detect: Detect) -> tuple[np.ndarray, np.ndarray]:
        """This frame's person boxes and scores: `detect()`'s, or those followed from the last
        frame's poses (nobody followed: detect, so newcomers are never waited for)."""
        due = self._frame % self.det_every == 0
        self._frame += 1
        if due or self._followed is None or len(self._followed[0]) == 0:
            return detect()
        return self._followed

    def follow(self, poses: Poses, frame_hw: tuple[int, int]) -> None:
        """Remember where this frame's people are, for the frames until the next detection."""
        alive = poses.scores.mean(axis=1) >= self.lost_score
        boxes, kept = boxes_from_keypoints(poses.xy[alive], poses.scores[alive], frame_hw)
        self._followed = boxes, poses.box_scores[alive][kept]
