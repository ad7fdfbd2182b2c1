"""The per-frame core of the live loop: pose -> track -> window -> classify.

Capture, drawing and writing happen around it (see `realtime.cli`); this class only turns a frame
into tracked people with smoothed action probabilities, timing each stage.

Time scale: the model was trained on clips of 30 frames/s resampled to its window of T frames, so
the live buffer keeps `T / 30` seconds of frames at the source's own frame rate and is resampled
to T frames by `train.windowing.resample_indices`, the same code that samples training clips. A
model whose metadata names several time spans (`ActionClassifier.time_spans`, e.g. 1.6 s and
3.2 s) is run on one window per span in the same batch, and their probabilities are pooled by
a geometric mean (`train.windowing.span_indices`, `geometric_mean`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter
from typing import TypeVar

import numpy as np

from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.decision import ClipVote, label_for
from skelcam.realtime.pose import PoseBackend, Poses
from skelcam.realtime.pose.smoothing import KeypointSmoother
from skelcam.realtime.tracking import Tracker
from skelcam.realtime.window import WindowBuffer
from skelcam.train.windowing import DATASET_FPS, span_indices

DEFAULT_STRIDE = 4
Smoothed = TypeVar("Smoothed", np.ndarray, float)
DEFAULT_SMOOTHING = 0.5


@dataclass
class StageTimes:
    """Running means of per-stage milliseconds (exponential, so the HUD reacts within a second)."""

    decay: float = 0.9
    ms: dict[str, float] = field(default_factory=dict)
    totals: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, stage: str, ms: float) -> None:
        prev = self.ms.get(stage)
        self.ms[stage] = ms if prev is None else self.decay * prev + (1 - self.decay) * ms
        self.totals[stage] = self.totals.get(stage, 0.0) + ms
        self.counts[stage] = self.counts.get(stage, 0) + 1

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        start = perf_counter()
        try:
            yield
        finally:
            self.add(stage, (perf_counter() - start) * 1000)

    def mean(self, stage: str) -> float:
        return self.totals.get(stage, 0.0) / max(1, self.counts.get(stage, 0))


@dataclass
class FrameResult:
    """What one frame produced: the people in it and, for those classified so far, actions.

    `labels` holds the decision shown for each person with probabilities: a class index, or None
    for "no known action" (`realtime.decision.label_for`).
    """

    poses: Poses
    track_ids: np.ndarray
    probabilities: dict[int, np.ndarray]
    classified: list[int]
    labels: dict[int, int | None] = field(default_factory=dict)


def geometric_mean(probabilities: np.ndarray) -> np.ndarray:
    """Normalised geometric mean over the first axis of probabilities [S, N, K] -> [N, K].

    Used to pool a person's time spans: a class stays likely only if every span finds it so,
    which keeps the pooled top-1 lower for a movement the spans disagree on (an action of none
    of the classes) than the arithmetic mean does (README, "Time spans": 46.5% of unknown
    sequences rejected against 43.2%, with the same dev accuracy).
    """
    log_mean = np.log(np.clip(probabilities, 1e-12, 1.0)).mean(axis=0)
    pooled = np.exp(log_mean - log_mean.max(axis=1, keepdims=True))
    return pooled / pooled.sum(axis=1, keepdims=True)


class ActionRecognizer:
    """Tracks every person and classifies each one's sliding window every `stride` frames."""

    def __init__(
        self,
        backend: PoseBackend,
        classifier: ActionClassifier,
        fps: float,
        stride: int = DEFAULT_STRIDE,
        smoothing: float = DEFAULT_SMOOTHING,
        max_missing_s: float = 1.0,
        times: StageTimes | None = None,
        smoother: KeypointSmoother | None = None,
    ) -> None:
        """`smoother`, when given, filters each track's joints (the overlay and the window both
        see the filtered ones)."""
        if stride < 1:
            raise ValueError("stride must be at least 1")
        self.backend = backend
        self.classifier = classifier
        self.stride = stride
        self.smoothing = smoothing
        self.times = times or StageTimes()
        # Frames of one window's span at the source's rate; a track is classified once it has
        # half of them, whatever the longest span.
        base_frames = max(2, round(classifier.window * fps / DATASET_FPS))
        self.min_frames = max(2, base_frames // 2)
        self.buffer_frames, self.span_indices = span_indices(
            base_frames, classifier.window, classifier.time_spans)
        self.tracker = Tracker.for_video(fps, max_missing_s)
        self.buffer = WindowBuffer(self.buffer_frames, classifier.num_persons)
        self.smoothed: dict[int, np.ndarray] = {}
        # Each track's smoothed known-action score, for a model that rejects by energy.
        self.smoothed_confidence: dict[int, float] = {}
        self.vote = ClipVote()
        self.smoother = smoother
        self._steps = 0

    def step(self, image: np.ndarray, frame_index: int) -> FrameResult:
        with self.times.time("pose"):
            poses = self.backend(image)
        with self.times.time("track"):
            ids = self.tracker.update(poses.boxes, poses.xy, poses.scores, frame_index)
            if self.smoother is not None:
                xy = self.smoother(ids, poses.xy, poses.scores, poses.boxes, frame_index)
                poses = dataclasses.replace(poses, xy=xy)
                self.smoother.drop(self.tracker.dropped)
            self.buffer.push(frame_index, ids, poses.xy, poses.scores)
            self.buffer.drop(self.tracker.dropped)
            for gone in self.tracker.dropped:
                self.smoothed.pop(gone, None)
                self.smoothed_confidence.pop(gone, None)
        classified: list[int] = []
        if self._steps % self.stride == 0:
            classified = self._classify()
        self._steps += 1
        present = {int(t) for t in ids}
        probabilities = {t: p for t, p in self.smoothed.items() if t in present}
        if classified:
            rows = {int(t): i for i, t in enumerate(ids)}
            confidences = [self.smoothed_confidence[t] for t in classified] \
                if self.classifier.unknown_score == "energy" else None
            self.vote.add(poses.boxes[[rows[t] for t in classified]],
                          [self.smoothed[t] for t in classified], confidences)
        threshold = self.classifier.unknown_threshold
        labels = {t: label_for(p, threshold, self.smoothed_confidence.get(t))
                  for t, p in probabilities.items()}
        return FrameResult(poses, ids, probabilities, classified, labels)

    def _classify(self) -> list[int]:
        """One batched ONNX call for every track with enough history (one window per span)."""
        ready = self.buffer.ready_tracks(self.min_frames)
        if not ready:
            return []
        with self.times.time("classify"):
            keypoints, scores = self.buffer.batch(ready)
            keypoints = np.concatenate([keypoints[:, :, i] for i in self.span_indices])
            scores = np.concatenate([scores[:, :, i] for i in self.span_indices])
            logits = self.classifier.logits(keypoints, scores)
            spans = len(self.span_indices)
            probabilities = geometric_mean(
                self.classifier.calibrated(logits).reshape(spans, len(ready), -1))
            known = self.classifier.known_action_scores(logits)
            for n, (track, p) in enumerate(zip(ready, probabilities, strict=True)):
                self.smoothed[track] = self._smooth(self.smoothed.get(track), p)
                if known is not None:
                    self.smoothed_confidence[track] = float(self._smooth(
                        self.smoothed_confidence.get(track), known[n::len(ready)].mean()))
        return ready

    def _smooth(self, previous: Smoothed | None, value: Smoothed) -> Smoothed:
        """The exponential moving average of a track's per-step output."""
        return value if previous is None else (
            self.smoothing * value + (1 - self.smoothing) * previous)
