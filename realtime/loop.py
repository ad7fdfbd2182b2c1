"""The live loop shared by the `skelcam` command and `bench/pipeline.py`.

capture -> recognizer (pose, track, window, classify) -> overlay -> log / writer / window.
Each stage is timed; capture-to-overlay latency is measured per frame from the moment the
capture thread read the frame to the moment its overlay is drawn.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from realtime.action_log import ActionLog
from realtime.capture import FrameSource
from realtime.classifier import ActionClassifier
from realtime.draw import BoxAnnotator, HudAnnotator, SkeletonAnnotator, TopKAnnotator
from realtime.recognizer import ActionRecognizer, FrameResult
from realtime.writer import VideoWriter

STAGES = ("capture", "pose", "track", "classify", "draw", "write")
# Latency percentiles are over the latest frames only (5 minutes at 30 fps), so that a camera
# left running does not keep one number per frame forever.
LATENCY_WINDOW = 9000


class Overlay:
    """Skeletons, boxes with track IDs, a top-5 beside each classified person, and the HUD."""

    def __init__(self, class_names: list[str], backend: str, device: str) -> None:
        self.skeletons = SkeletonAnnotator()
        self.boxes = BoxAnnotator()
        self.topk = TopKAnnotator(class_names, k=5)
        self.hud = HudAnnotator(backend, device)

    def annotate(self, image: np.ndarray, result: FrameResult, fps: float,
                 stage_ms: Mapping[str, float]) -> np.ndarray:
        poses, ids = result.poses, result.track_ids
        self.skeletons.annotate(image, poses.xy, poses.scores, ids)
        self.boxes.annotate(image, poses.boxes, ids)
        shown = [i for i, t in enumerate(ids) if int(t) in result.probabilities]
        if shown:
            probs = [result.probabilities[int(ids[i])] for i in shown]
            labels = [result.labels.get(int(ids[i])) for i in shown]
            self.topk.annotate(image, poses.boxes[shown], probs, ids[shown], labels)
        self.hud.annotate(image, fps, stage_ms)
        return image


@dataclass
class LoopStats:
    """What a run measured; the CLI's summary table and the benchmark print these."""

    frames: int = 0
    elapsed_s: float = 0.0
    status: str = "finished"
    stage_ms: dict[str, float] = field(default_factory=dict)
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    dropped: int = 0
    people: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def latency(self, percentile: float) -> float:
        return float(np.percentile(self.latencies_ms, percentile)) if self.latencies_ms else 0.0


def run_loop(
    source: FrameSource,
    recognizer: ActionRecognizer,
    overlay: Overlay,
    classifier: ActionClassifier,
    writer: VideoWriter | None = None,
    log: ActionLog | None = None,
    on_frame: Callable[[np.ndarray], bool] | None = None,
) -> LoopStats:
    """Run until the source ends, `on_frame` returns False, or the user interrupts."""
    info, times = source.info, recognizer.times
    stats = LoopStats()
    fps = 0.0
    started = last = time.perf_counter()
    try:
        for frame in source:
            result = recognizer.step(frame.image, frame.index)
            with times.time("draw"):
                stage_ms = {s: times.ms.get(s, 0.0) for s in STAGES}
                stage_ms["capture"] = source.read_ms
                if writer is not None:
                    stage_ms["write"] = writer.write_ms
                overlay.annotate(frame.image, result, fps, stage_ms)
            now = time.perf_counter()
            stats.latencies_ms.append((now - frame.timestamp) * 1000)
            stats.people += len(result.track_ids)
            if log is not None and result.classified:
                stamp = now - started if info.is_camera else frame.index / info.fps
                log.write(frame.index, stamp, result, classifier)
            if writer is not None:
                writer.write(frame.image)
            instant = 1 / max(now - last, 1e-6)
            fps = instant if stats.frames == 0 else 0.9 * fps + 0.1 * instant
            last = now
            stats.frames += 1
            if on_frame is not None and not on_frame(frame.image):
                stats.status = "stopped by user"
                break
    except KeyboardInterrupt:
        stats.status = "interrupted"
    stats.elapsed_s = time.perf_counter() - started
    stats.stage_ms = {s: times.mean(s) for s in STAGES if s in times.counts}
    stats.stage_ms["capture"] = source.read_ms
    if writer is not None:
        stats.stage_ms["write"] = writer.write_ms
    stats.dropped = source.dropped
    return stats
