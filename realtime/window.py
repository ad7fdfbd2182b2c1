"""Per-person sliding windows of poses, in the layout the classifier takes.

The classifier sees `window` frames of up to `num_persons` skeletons at once
(keypoints [N, M, T, 17, 2], scores [N, M, T, 17], as in `train.windowing`). Live, each tracked
person gets their own window: slot 0 is the person, and with two slots, slot 1 is whoever stands
nearest to them in that frame, so two-person actions (hugs, handshakes) look like the training
data that has them.

Time stays uniform: every `push` adds one frame to every live track, and a frame in which the
track was not detected is recorded as zero keypoints with score 0 (the classifier's "missing"
mask), never skipped. Frame indices skipped between two pushes (a live camera delivered frames the
busy loop never saw) are filled by holding each track's last frame, so a window always spans the
same stretch of time, whatever speed the loop runs at.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from skelcam.train.skeleton import NUM_JOINTS

_HIPS = (11, 12)


def body_centres(xy: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Centre of each person [N, 17, 2] -> [N, 2]: mean of the seen hips, else of all seen joints.

    The same rule as `SkeletonNormalizer`'s centre. A person with no joint seen gets NaN.
    """
    seen = scores > 0
    hips = np.zeros_like(seen)
    hips[:, list(_HIPS)] = seen[:, list(_HIPS)]
    use = np.where(hips.any(axis=1, keepdims=True), hips, seen)
    count = use.sum(axis=1, keepdims=True)
    total = np.sum(xy * use[..., None], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


class WindowBuffer:
    """The last `window` frames of every tracked person (and their nearest neighbour).

    A track's window starts at the frame it is first pushed, grows to `window` frames and then
    slides. `drop` forgets tracks the tracker has given up on.
    """

    def __init__(self, window: int, num_persons: int) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        if num_persons not in (1, 2):
            raise ValueError("num_persons must be 1 or 2")
        self.window = window
        self.num_persons = num_persons
        # Per track: frames of keypoints [M, 17, 2] and scores [M, 17].
        self._xy: dict[int, deque[np.ndarray]] = {}
        self._scores: dict[int, deque[np.ndarray]] = {}
        self._present: set[int] = set()
        self._last_frame: int | None = None

    def push(
        self, frame_index: int, track_ids: np.ndarray, xy: np.ndarray, scores: np.ndarray
    ) -> None:
        """Add one frame: the detections' track IDs [N], keypoints [N, 17, 2], scores [N, 17].

        Tracks known to the buffer but absent from this frame get an empty frame. `frame_index`
        must grow from call to call; indices skipped since the last push repeat each track's
        last frame.
        """
        if self._last_frame is not None and frame_index <= self._last_frame:
            raise ValueError(f"frame_index {frame_index} is not after {self._last_frame}")
        skipped = 0 if self._last_frame is None else frame_index - self._last_frame - 1
        self._last_frame = frame_index
        for track_id in self._xy:
            for _ in range(min(skipped, self.window)):
                self._xy[track_id].append(self._xy[track_id][-1])
                self._scores[track_id].append(self._scores[track_id][-1])
        ids = [int(i) for i in np.asarray(track_ids).reshape(-1)]
        xy = np.asarray(xy, dtype=np.float32).reshape(-1, NUM_JOINTS, 2)
        scores = np.asarray(scores, dtype=np.float32).reshape(-1, NUM_JOINTS)
        if not len(ids) == len(xy) == len(scores) or len(set(ids)) != len(ids):
            raise ValueError("track_ids must be unique, one per detection in xy and scores")

        frame_xy = np.zeros((len(ids), self.num_persons, NUM_JOINTS, 2), np.float32)
        frame_scores = np.zeros((len(ids), self.num_persons, NUM_JOINTS), np.float32)
        frame_xy[:, 0], frame_scores[:, 0] = xy, scores
        if self.num_persons == 2 and len(ids) > 1:
            other = self._nearest_other(xy, scores)
            has_other = other >= 0
            frame_xy[has_other, 1] = xy[other[has_other]]
            frame_scores[has_other, 1] = scores[other[has_other]]

        for i, track_id in enumerate(ids):
            if track_id not in self._xy:
                self._xy[track_id] = deque(maxlen=self.window)
                self._scores[track_id] = deque(maxlen=self.window)
            self._xy[track_id].append(frame_xy[i])
            self._scores[track_id].append(frame_scores[i])
        empty_xy = np.zeros((self.num_persons, NUM_JOINTS, 2), np.float32)
        empty_scores = np.zeros((self.num_persons, NUM_JOINTS), np.float32)
        for track_id in self._xy.keys() - set(ids):
            self._xy[track_id].append(empty_xy)
            self._scores[track_id].append(empty_scores)
        self._present = set(ids)

    @staticmethod
    def _nearest_other(xy: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """For each person, the index of the nearest other person by body centre; -1 if none."""
        centres = body_centres(xy, scores)
        dist = np.linalg.norm(centres[:, None] - centres[None, :], axis=-1)
        np.fill_diagonal(dist, np.nan)
        dist = np.where(np.isnan(dist), np.inf, dist)
        nearest = np.argmin(dist, axis=1)
        return np.where(np.isfinite(dist.min(axis=1)), nearest, -1)

    def ready_tracks(self, min_frames: int) -> list[int]:
        """Tracks seen in the latest frame whose window holds at least `min_frames` frames.

        Tracks missing from the latest frame are left out: they have no box to show a result on.
        """
        return sorted(t for t in self._present if len(self._xy[t]) >= min_frames)

    def batch(self, track_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Windows of the given tracks: keypoints [N, M, T, 17, 2] and scores [N, M, T, 17].

        M = num_persons, T = window, both float32. A track with fewer than `window` frames so far
        is left-padded by repeating its first frame (both slots): the pose a person entered with
        is a better guess for the unseen past than an empty skeleton, which the classifier would
        read as the person being absent. Raises KeyError for an unknown track.
        """
        keypoints = np.zeros(
            (len(track_ids), self.num_persons, self.window, NUM_JOINTS, 2), np.float32
        )
        scores = np.zeros((len(track_ids), self.num_persons, self.window, NUM_JOINTS), np.float32)
        for n, track_id in enumerate(track_ids):
            frames_xy = np.stack(self._xy[track_id], axis=1)  # [M, t, 17, 2]
            frames_scores = np.stack(self._scores[track_id], axis=1)  # [M, t, 17]
            pad = self.window - frames_xy.shape[1]
            keypoints[n, :, pad:] = frames_xy
            keypoints[n, :, :pad] = frames_xy[:, :1]
            scores[n, :, pad:] = frames_scores
            scores[n, :, :pad] = frames_scores[:, :1]
        return keypoints, scores

    def drop(self, track_ids: Sequence[int]) -> None:
        """Forget the given tracks; unknown IDs are ignored (a track may never have been pushed)."""
        for track_id in track_ids:
            self._xy.pop(track_id, None)
            self._scores.pop(track_id, None)
            self._present.discard(track_id)
