"""`Poses`: what every pose backend returns for one frame, in one fixed layout.

Backends differ in what they produce (BlazePose's 33 normalised landmarks, RTMPose's SimCC
maxima, mmpose's `PoseDataSample`s); the tracker, the classifier window and the overlay should
not care. So each backend converts to this one type with a `from_...` constructor, in the spirit
of supervision's `KeyPoints`: pixel coordinates of the frame the caller passed in, COCO-17 joint
order (`train.skeleton.JOINT_NAMES`), a score in [0, 1] per joint where 0 means "missing".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from skelcam.train.skeleton import JOINT_NAMES, NUM_JOINTS

# BlazePose's box is the landmarks' extent grown by this fraction of its longer side, so that the
# box covers the head and hands and not just the joint centres.
MEDIAPIPE_BOX_PADDING = 0.1


@dataclass(frozen=True)
class Poses:
    """The people found in one frame; N = 0 (nobody in view) is a normal result.

    Attributes:
        boxes: float32 [N, 4], person boxes as x1, y1, x2, y2 in pixels.
        xy: float32 [N, 17, 2], joint positions in pixels, COCO-17 order.
        scores: float32 [N, 17], joint confidence in [0, 1]; 0 means missing.
        box_scores: float32 [N], confidence that the box is a person.
    """

    boxes: np.ndarray
    xy: np.ndarray
    scores: np.ndarray
    box_scores: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.boxes)
        expected = {
            "boxes": (n, 4),
            "xy": (n, NUM_JOINTS, 2),
            "scores": (n, NUM_JOINTS),
            "box_scores": (n,),
        }
        for field, shape in expected.items():
            value = getattr(self, field)
            if value.shape != shape or value.dtype != np.float32:
                raise ValueError(
                    f"Poses.{field}: expected float32 {shape}, got {value.dtype} {value.shape}"
                )

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: Any) -> Poses:
        """The people picked by an index array, boolean mask or slice (always a `Poses`)."""
        if isinstance(index, int | np.integer):
            index = [index]
        return Poses(self.boxes[index], self.xy[index], self.scores[index], self.box_scores[index])

    @classmethod
    def empty(cls) -> Poses:
        """No people: every array has a leading dimension of 0."""
        return cls.from_arrays(np.zeros((0, NUM_JOINTS, 2)), np.zeros((0, NUM_JOINTS)))

    @classmethod
    def from_arrays(
        cls,
        xy: np.ndarray,
        scores: np.ndarray,
        boxes: np.ndarray | None = None,
        box_scores: np.ndarray | None = None,
    ) -> Poses:
        """Build from plain arrays, casting to float32 and clipping scores into [0, 1].

        Without `boxes`, each box is the extent of that person's joints with a score above 0;
        without `box_scores`, a person's score is the mean of its joint scores.
        """
        xy = np.asarray(xy, dtype=np.float32).reshape(-1, NUM_JOINTS, 2)
        scores = np.clip(np.asarray(scores, dtype=np.float32), 0.0, 1.0).reshape(-1, NUM_JOINTS)
        if boxes is None:
            boxes = np.array(
                [_extent(p[s > 0] if (s > 0).any() else p) for p, s in zip(xy, scores, strict=True)]
            ).reshape(-1, 4)
        if box_scores is None:
            box_scores = scores.mean(axis=1)
        return cls(
            boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
            xy=xy,
            scores=scores,
            box_scores=np.clip(np.asarray(box_scores, dtype=np.float32), 0.0, 1.0).reshape(-1),
        )

    @classmethod
    def from_mediapipe(cls, landmark_lists: Sequence[Any], image_size: tuple[int, int]) -> Poses:
        """Build from BlazePose results (`results.pose_landmarks`, one per person).

        `image_size` is (width, height) of the frame to report pixels in: the landmarks are
        normalised, so a frame that was resized (keeping its aspect) before BlazePose saw it
        still maps back exactly. A joint's score is BlazePose's `visibility`, and 0 where the
        landmark lies outside the frame (BlazePose extrapolates those). The box is the extent of
        all 33 in-frame landmarks (they include heels, toes and fingers), padded, clipped to the
        frame; BlazePose reports no per-person confidence, so `box_scores` is the mean joint score.
        """
        width, height = image_size
        if not landmark_lists:
            return cls.empty()
        raw = np.array(
            [[(lm.x, lm.y, lm.visibility) for lm in lms.landmark] for lms in landmark_lists],
            dtype=np.float32,
        )
        inside = (raw[..., 0] >= 0) & (raw[..., 0] < 1) & (raw[..., 1] >= 0) & (raw[..., 1] < 1)
        pixels = raw[..., :2] * np.array([width, height], dtype=np.float32)
        boxes = []
        for person, seen in zip(pixels, inside, strict=True):
            box = _extent(person[seen] if seen.any() else person)
            pad = MEDIAPIPE_BOX_PADDING * max(box[2] - box[0], box[3] - box[1])
            box += np.array([-pad, -pad, pad, pad], dtype=np.float32)
            boxes.append(np.clip(box, 0, [width, height, width, height]))
        index = mediapipe_to_coco()
        scores = np.where(inside, raw[..., 2], 0.0)[:, index]
        return cls.from_arrays(pixels[:, index], scores, boxes=np.array(boxes))

    @classmethod
    def from_mmpose(cls, samples: Sequence[Any]) -> Poses:
        """Build from mmpose `inference_topdown` results (`PoseDataSample`s, one per box).

        Reads `pred_instances.keypoints` [n, 17, 2], `.keypoint_scores` [n, 17], `.bboxes`
        [n, 4] and `.bbox_scores` [n], which mmpose fills with numpy arrays.
        """
        instances = [s.pred_instances for s in samples]
        if not instances:
            return cls.empty()
        return cls.from_arrays(
            xy=np.concatenate([i.keypoints for i in instances]),
            scores=np.concatenate([i.keypoint_scores for i in instances]),
            boxes=np.concatenate([i.bboxes for i in instances]),
            box_scores=np.concatenate([i.bbox_scores for i in instances]),
        )


@cache
def mediapipe_to_coco() -> list[int]:
    """BlazePose landmark index of each COCO-17 joint, looked up by name in mediapipe's enum.

    Both use the person's own left and right, so LEFT_SHOULDER is COCO's left_shoulder.
    """
    from mediapipe.python.solutions.pose import PoseLandmark

    return [PoseLandmark[name.upper()].value for name in JOINT_NAMES]


def _extent(points: np.ndarray) -> np.ndarray:
    """x1, y1, x2, y2 of a set of points."""
    return np.concatenate([points.min(axis=0), points.max(axis=0)]).astype(np.float32)
