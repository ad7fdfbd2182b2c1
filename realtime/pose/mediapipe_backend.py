"""BlazePose (mediapipe 0.10.14, weights bundled in the wheel): the backend that works offline.

BlazePose finds ONE person per call: its detector keeps only the best-scoring person, and in
video mode it then follows that person's landmarks instead of detecting again. This backend
stretches it to several people with one BlazePose tracker (graph) per person:

* tracking: each tracker gets the frame with the *other* tracked people painted over (torso,
  limbs and head, in the frame's median colour), so it cannot slide onto a neighbour when two
  people overlap; a tracker whose person disappears is freed. No crop is needed for this:
  BlazePose cuts its landmark input from the full-resolution frame around the tracked person;
* discovery: every `discovery_interval` frames, and on every frame while nobody is tracked, an
  idle tracker gets the frame with *all* tracked people painted over, so its detector finds
  someone new; the find must then survive tracking on the unpainted frame (the detector
  sometimes fires on the leftovers of a painted person: such a ghost lands on a real person and
  is dropped as a duplicate). Repeated until nobody new is found or `max_people` are tracked;
* duplicates: a tracker whose pose matches one found earlier this frame (OKS >= 0.5, also
  against the left-right mirrored pose) is freed, so one person never counts twice.

Painting over with the median colour matters: black silhouettes still look like people to the
detector. Measured on ntu_sample.avi (two people hugging, 72 frames; bench/pose.py): both people
are found on 98-100% of frames at 640x480, 1280x720 and 1920x1080 input.

Limits, all the model's: the detector sees the whole frame letterboxed to 224x224 and keys on
the face, so people shorter than about a third of the frame height (on a 1920x1080 frame: a
person 360 px tall is found, 290 px is not) or whose face is hidden are not *discovered*, though
once found they are tracked through turns and occlusion; two people who overlap almost
completely can merge into one tracker until they separate, and the painting also hides any part
of a new person standing behind a tracked one. Cost grows with the number of people: one
landmark pass each (about 15-25 ms on one core), plus a detector pass per discovery.

Only `model_complexity=1` (pose_landmark_full) ships in the wheel; 0 (lite) and 2 (heavy) are
downloaded by mediapipe on first use, which fails without network.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import cv2
import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import flip_permutation, keypoint_similarity

from .base import PoseBackend, runtime_for
from .keypoints import Poses, mediapipe_to_coco

DUPLICATE_OKS = 0.5  # two poses at least this similar are one person

# BlazePose landmark indices used to paint a person over.
_TORSO = (11, 12, 24, 23)  # shoulders and hips, as a polygon
_LIMBS = ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28))
_HEAD = (0, 2, 5, 7, 8)  # nose, eyes, ears
_EARS = (7, 8)
# How much is painted over, tuned on ntu_sample.avi: less lets the detector find the painted
# person again (a ghost), more hides the face of someone standing cheek to cheek with them.
TORSO_GROWTH = 1.3  # torso polygon scaled about its centre
LIMB_WIDTH = 0.3  # limb stroke, as a fraction of shoulder width
HEAD_RADIUS = 0.8  # head disc radius, as a fraction of the ear-to-ear distance

# Fed to a tracker to make it forget its person: BlazePose finds nobody in it and drops the
# previous landmarks it would otherwise track from (a reset() rebuilds the graph: ~50 ms).
_BLANK = np.zeros((64, 64, 3), dtype=np.uint8)

# mediapipe 0.10.14 calls a protobuf API deprecated in the protobuf 4 it requires: not ours to fix.
warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")


class MediaPipeBackend(PoseBackend):
    """Multi-person BlazePose: one mediapipe tracker per person (see the module docstring)."""

    name = "mediapipe"

    def __init__(
        self,
        device: str = "auto",
        *,
        model_complexity: int = 1,
        max_people: int = 4,
        discovery_interval: int = 5,
        max_side: int = 960,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        """Build the first tracker; more are made as people appear.

        Args:
            model_complexity: 1 is bundled; 0 (faster) and 2 (more accurate) need a download.
            max_people: most people tracked at once (each costs one landmark pass per frame).
            discovery_interval: look for new people every this many frames.
            max_side: frames whose longer side exceeds this are shrunk first (BlazePose crops
                its 256x256 input from the frame, so more pixels add cost, not accuracy).
            min_detection_confidence, min_tracking_confidence: BlazePose's own thresholds.
        """
        self.device = "cpu" if device == "auto" else device
        runtime_for(self.name, self.device)
        if model_complexity not in (0, 1, 2):
            raise SkelcamError(f"mediapipe model_complexity must be 0, 1 or 2: {model_complexity}")
        if max_people < 1 or discovery_interval < 1 or max_side < 64:
            raise SkelcamError(
                "mediapipe needs max_people >= 1, discovery_interval >= 1 and max_side >= 64"
            )
        self.max_people = max_people
        self.discovery_interval = discovery_interval
        self.max_side = max_side
        self._pose_options = {
            "static_image_mode": False,
            "model_complexity": model_complexity,
            "min_detection_confidence": min_detection_confidence,
            "min_tracking_confidence": min_tracking_confidence,
        }
        self._coco = mediapipe_to_coco()
        self._flip = flip_permutation()
        self._frame_index = 0
        # Created up front, so a model that cannot be loaded fails here and not mid-video.
        self._trackers: list[_Tracker] = [self._new_tracker()]

    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        height, width = frame_bgr.shape[:2]
        scale = min(1.0, self.max_side / max(height, width))
        if scale < 1.0:
            size = (round(width * scale), round(height * scale))
            frame_bgr = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        fill = tuple(int(v) for v in np.median(rgb[::8, ::8].reshape(-1, 3), axis=0))
        self._track(rgb, fill)
        active = [t for t in self._trackers if t.landmarks is not None]
        if len(active) < self.max_people and (
            not active or self._frame_index % self.discovery_interval == 0
        ):
            self._discover(rgb, fill)
        self._frame_index += 1
        found = [t.landmarks for t in self._trackers if t.landmarks is not None]
        return Poses.from_mediapipe(found, (width, height))

    def close(self) -> None:
        for tracker in self._trackers:
            tracker.pose.close()
        self._trackers = []

    def _track(self, rgb: np.ndarray, fill: tuple[int, ...]) -> None:
        """Follow each tracked person, with everyone else painted over.

        Trackers are kept oldest first, so of two that landed on one person the older survives.
        """
        kept: list[_Tracker] = []
        for tracker in [t for t in self._trackers if t.landmarks is not None]:
            others = [t.pixels for t in self._trackers if t.landmarks is not None and t != tracker]
            image = _paint_over(rgb, others, fill) if others else rgb
            tracker.update(image)
            if tracker.landmarks is not None and self._duplicate(tracker, kept):
                tracker.forget()
            elif tracker.landmarks is not None:
                kept.append(tracker)

    def _discover(self, rgb: np.ndarray, fill: tuple[int, ...]) -> None:
        """Find untracked people, with the tracked ones painted over, until none is left.

        The detector sometimes fires on the leftovers of painted-over people, so someone found
        next to them must be found again by tracking on the unpainted frame; a ghost then lands
        on one of the people it came from, as a duplicate, and is dropped.
        """
        while True:
            active = [t for t in self._trackers if t.landmarks is not None]
            if len(active) >= self.max_people:
                return
            idle = next((t for t in self._trackers if t.landmarks is None), None)
            if idle is None:
                idle = self._new_tracker()
                self._trackers.append(idle)
            if active:
                idle.update(_paint_over(rgb, [t.pixels for t in active], fill))
            if idle.landmarks is not None or not active:
                idle.update(rgb)
            if idle.landmarks is None:
                return
            if self._duplicate(idle, active):
                idle.forget()
                return
            self._trackers.remove(idle)
            self._trackers.append(idle)

    def _duplicate(self, tracker: _Tracker, others: list[_Tracker]) -> bool:
        """Whether `tracker`'s pose is one of `others`' people, mirrored or not."""
        mine = tracker.pixels[self._coco, :2]
        for other in others:
            theirs = other.pixels[self._coco, :2]
            if max(_oks(mine, theirs), _oks(mine[self._flip], theirs)) >= DUPLICATE_OKS:
                return True
        return False

    def _new_tracker(self) -> _Tracker:
        import mediapipe as mp

        try:
            with _quiet_native_logs():
                pose = mp.solutions.pose.Pose(**self._pose_options)
                # The graph starts its calculators (and logs) on its own threads; one blank frame
                # waits for that start-up to finish while the logs are still silenced.
                pose.process(_BLANK)
        except OSError as error:  # mediapipe downloads the lite/heavy models on first use
            complexity = self._pose_options["model_complexity"]
            raise SkelcamError(
                f"mediapipe model_complexity={complexity} is not bundled and its download failed "
                f"({getattr(error, 'reason', error)}); use model_complexity=1"
            ) from error
        return _Tracker(pose)


class _Tracker:
    """One BlazePose graph in video mode and the person it follows (if any)."""

    def __init__(self, pose: Any) -> None:
        self.pose = pose
        self.landmarks: Any = None  # mediapipe NormalizedLandmarkList, None when idle
        self.pixels = np.zeros((33, 3), dtype=np.float32)  # x, y (pixels), visibility

    def update(self, rgb: np.ndarray) -> None:
        """Run BlazePose on `rgb`; afterwards `landmarks` is None if it found nobody."""
        with _quiet_native_logs():
            self.landmarks = self.pose.process(rgb).pose_landmarks
        if self.landmarks is not None:
            height, width = rgb.shape[:2]
            self.pixels = np.array(
                [(lm.x * width, lm.y * height, lm.visibility) for lm in self.landmarks.landmark],
                dtype=np.float32,
            )

    def forget(self) -> None:
        """Drop the person, including mediapipe's memory of where they were."""
        self.update(_BLANK)


@contextmanager
def _quiet_native_logs() -> Iterator[None]:
    """Silence what mediapipe's C++ code writes straight to file descriptor 2.

    Its graphs log INFO and W lines (XNNPACK delegate, feedback tensors, absl set-up) whenever a
    sub-model first runs, which can be many frames in (the landmark model waits for a person),
    bypassing Python's logging; users would see them mixed into skelcam's output. Wrapping every
    call costs two system calls, nothing beside the inference.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _paint_over(rgb: np.ndarray, people: list[np.ndarray], fill: tuple[int, ...]) -> np.ndarray:
    """A copy of `rgb` with each person's torso, limbs and head filled with `fill`."""
    out = rgb.copy()
    for pixels in people:
        xy = pixels[:, :2]
        shoulder_width = float(np.linalg.norm(xy[11] - xy[12]))
        torso = xy[list(_TORSO)]
        centre = torso.mean(axis=0)
        cv2.fillConvexPoly(out, (centre + TORSO_GROWTH * (torso - centre)).astype(np.int32), fill)
        stroke = max(2, round(LIMB_WIDTH * shoulder_width))
        for a, b in _LIMBS:
            cv2.line(out, _point(xy[a]), _point(xy[b]), fill, stroke)
        radius = HEAD_RADIUS * float(np.linalg.norm(xy[_EARS[0]] - xy[_EARS[1]]))
        cv2.circle(out, _point(xy[list(_HEAD)].mean(axis=0)), max(2, round(radius)), fill, -1)
    return out


def _point(xy: np.ndarray) -> tuple[int, int]:
    return round(float(xy[0])), round(float(xy[1]))


def _oks(a: np.ndarray, b: np.ndarray) -> float:
    """COCO object keypoint similarity of two [17, 2] poses, scaled by `b`'s extent."""
    area = np.array([[np.prod(b.max(axis=0) - b.min(axis=0))]], np.float32)
    every = np.ones((1, len(a)), bool)
    return float(keypoint_similarity(a[None], every, b[None], every, area)[0][0, 0])
