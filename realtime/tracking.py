"""Give each detected person an ID that stays the same from frame to frame.

The classifier looks at a window of one person's poses, so the live loop needs to know which
detection in this frame is the same person as which detection in the last one.

Written by hand rather than taken from a box tracker: ByteTrack, SORT and OC-SORT match on boxes
only, hide a detection until its track is "confirmed" over several frames and ship their own
Kalman filters. Here every detection gets an ID in its first frame (the window buffer starts
filling at once) and keypoints are used to tell apart people whose boxes overlap, which is exactly
when a box-only tracker swaps IDs. The matching itself is scipy's Hungarian solver.

Similarity between a live track and a detection is a blend of
* box IoU against the track's last box, moved by a constant-velocity prediction, and
* Object Keypoint Similarity (OKS, the COCO keypoint metric) against the track's last pose, moved
  by the same prediction, with COCO's per-joint sigmas and the object scale taken from box area.
Pairs below `min_similarity` are never matched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from skelcam.train.skeleton import NUM_JOINTS, keypoint_similarity


@dataclass
class _Track:
    """What the tracker remembers about one person: the last pose it saw and how it moved."""

    track_id: int
    box: np.ndarray  # [4] xyxy
    xy: np.ndarray  # [17, 2]
    scores: np.ndarray  # [17]
    last_seen: int
    velocity: np.ndarray  # [2] box-centre pixels per frame
    has_velocity: bool = False

    def shift(self, frame_index: int) -> np.ndarray:
        """How far constant velocity moves the track from its last box by `frame_index`."""
        return self.velocity * (frame_index - self.last_seen)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Area of each xyxy box in [..., 4]; inverted boxes have area 0."""
    return np.prod(np.clip(boxes[..., 2:] - boxes[..., :2], 0.0, None), axis=-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a [A, 4] with every box in b [B, 4] (xyxy) -> [A, B]."""
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = box_area(np.concatenate([lo, hi], axis=-1))
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


class Tracker:
    """Assigns stable integer IDs to per-frame person detections.

    A track that finds no detection keeps its ID for up to `max_missing` frames, so a person who
    is hidden for a moment comes back as the same person; after that it is dropped and its ID is
    never handed out again. `dropped` lists the IDs dropped by the last `update`, so per-track
    state elsewhere (the window buffer) can be freed.
    """

    def __init__(
        self,
        max_missing: int = 15,
        min_similarity: float = 0.2,
        iou_weight: float = 0.5,
        min_keypoint_score: float = 0.2,
        predict: bool = True,
    ) -> None:
        """`iou_weight` blends IoU with OKS (1 = boxes only); `predict` enables the
        constant-velocity motion model; joints scored below `min_keypoint_score` are ignored."""
        if max_missing < 0:
            raise ValueError("max_missing must be >= 0")
        if not 0.0 <= iou_weight <= 1.0:
            raise ValueError("iou_weight must be in [0, 1]")
        self.max_missing = max_missing
        self.min_similarity = min_similarity
        self.iou_weight = iou_weight
        self.min_keypoint_score = min_keypoint_score
        self.predict = predict
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._last_frame: int | None = None
        self._dropped: list[int] = []

    @classmethod
    def for_video(cls, fps: float, max_missing_s: float = 1.0) -> Tracker:
        """The live loop's tracker for a stream at `fps`: a person hidden for up to
        `max_missing_s` seconds keeps their ID."""
        return cls(max_missing=max(1, round(max_missing_s * fps)))

    @property
    def dropped(self) -> list[int]:
        """IDs dropped (missing for more than `max_missing` frames) by the last `update`."""
        return list(self._dropped)

    def update(
        self, boxes: np.ndarray, xy: np.ndarray, scores: np.ndarray, frame_index: int
    ) -> np.ndarray:
        """Match this frame's detections to tracks and return one ID per detection, in order.

        boxes [N, 4] xyxy pixels, xy [N, 17, 2] pixels, scores [N, 17] (0 = missing joint);
        N = 0 is fine. `frame_index` must grow from call to call; gaps between indices count as
        frames in which nobody was seen.
        """
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame_index {frame_index} is not after {self._last_frame}")
        self._last_frame = frame_index
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, NUM_JOINTS, 2)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1, NUM_JOINTS)
        if not len(boxes) == len(xy) == len(scores):
            raise ValueError("boxes, xy and scores must describe the same number of detections")

        # Tracks already too old at the previous frame can no longer be matched.
        self._dropped = self._expire(frame_index - 1)
        ids = np.full(len(boxes), -1, dtype=np.int64)
        if self._tracks and len(boxes):
            similarity = self._similarity(boxes, xy, scores, frame_index)
            gain = np.where(similarity >= self.min_similarity, similarity, 0.0)
            rows, cols = linear_sum_assignment(gain, maximize=True)
            for r, c in zip(rows, cols, strict=True):
                if similarity[r, c] >= self.min_similarity:
                    self._observe(self._tracks[r], boxes[c], xy[c], scores[c], frame_index)
                    ids[c] = self._tracks[r].track_id
        for c in np.flatnonzero(ids < 0):
            ids[c] = self._start(boxes[c], xy[c], scores[c], frame_index)
        self._dropped += self._expire(frame_index)
        return ids

    def _similarity(
        self, boxes: np.ndarray, xy: np.ndarray, scores: np.ndarray, frame_index: int
    ) -> np.ndarray:
        """Blended IoU/OKS similarity of every live track with every detection -> [tracks, N]."""
        shifts = np.stack(
            [t.shift(frame_index) if self.predict else np.zeros(2) for t in self._tracks]
        )
        track_boxes = np.stack([t.box for t in self._tracks]) + np.tile(shifts, 2)
        track_xy = np.stack([t.xy for t in self._tracks]) + shifts[:, None, :]
        track_visible = np.stack([t.scores for t in self._tracks]) >= self.min_keypoint_score
        iou = box_iou(track_boxes, boxes)
        # Scale from the mean of both boxes, so the similarity is symmetric in track and detection.
        scale = (box_area(track_boxes)[:, None] + box_area(boxes)[None, :]) / 2.0
        oks, shared = keypoint_similarity(
            track_xy, track_visible, xy, scores >= self.min_keypoint_score, scale
        )
        blended = self.iou_weight * iou + (1.0 - self.iou_weight) * oks
        return np.where(shared, blended, iou)

    def _observe(
        self,
        track: _Track,
        box: np.ndarray,
        xy: np.ndarray,
        scores: np.ndarray,
        frame_index: int,
    ) -> None:
        """Move a matched track to its new detection and update its velocity."""
        step = (box[:2] + box[2:] - track.box[:2] - track.box[2:]) / 2.0
        velocity = step / (frame_index - track.last_seen)
        # Smooth the velocity: pose boxes jitter by a few pixels every frame.
        track.velocity = 0.5 * (track.velocity + velocity) if track.has_velocity else velocity
        track.has_velocity = True
        track.box, track.xy, track.scores, track.last_seen = box, xy, scores, frame_index

    def _start(self, box: np.ndarray, xy: np.ndarray, scores: np.ndarray, frame_index: int) -> int:
        """Open a track with a fresh ID; IDs only ever grow, so an ID is never reused."""
        track_id = self._next_id
        self._next_id += 1
        self._tracks.append(_Track(track_id, box, xy, scores, frame_index, np.zeros(2)))
        return track_id

    def _expire(self, frame_index: int) -> list[int]:
        """Drop tracks last seen more than `max_missing` frames before `frame_index`."""
        old = [t for t in self._tracks if frame_index - t.last_seen > self.max_missing]
        self._tracks = [t for t in self._tracks if frame_index - t.last_seen <= self.max_missing]
        return [t.track_id for t in old]
