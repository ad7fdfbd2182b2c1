"""The live loop shared by the `skelcam` command and `bench/pipeline.py`.

capture -> recognizer (pose, track, window, classify) -> overlay -> log / writer / window.
Each stage is timed; capture-to-overlay latency is measured per frame from the moment the
capture thread read the frame to the moment its overlay is drawn.

While a network stream is down the loop keeps showing the last frame with the source's notice
("stream lost, reconnecting (2)"), so the window stays responsive and says why it is frozen;
those repeats are neither written nor logged. Each outage becomes one event line in the log.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from skelcam.realtime.action_log import ActionLog
from skelcam.realtime.capture import Frame, FrameSource, Outage
from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.draw import (
    BoxAnnotator,
    HudAnnotator,
    NoticeAnnotator,
    SkeletonAnnotator,
    TopKAnnotator,
)
from skelcam.realtime.recognizer import ActionRecognizer, FrameResult
from skelcam.realtime.writer import VideoWriter

STAGES = ("capture", "pose", "track", "classify", "draw", "write")
# Latency percentiles are over the latest frames only (5 minutes at 30 fps), so that a camera
# left running does not keep one number per frame forever.
LATENCY_WINDOW = 9000

# How often the window is refreshed while a network stream delivers nothing.
IDLE_S = 0.25


class Overlay:
    """Skeletons, boxes with track IDs, a top-5 beside each classified person, and the HUD."""

    def __init__(self, class_names: list[str], backend: str, device: str) -> None:
        self.skeletons = SkeletonAnnotator()
        self.boxes = BoxAnnotator()
        self.topk = TopKAnnotator(class_names, k=5)
        self.hud = HudAnnotator(backend, device)
        self.notice = NoticeAnnotator()

    def annotate(self, image: np.ndarray, result: FrameResult, fps: float,
                 stage_ms: Mapping[str, float], notice: str | None = None) -> np.ndarray:
        poses, ids = result.poses, result.track_ids
        self.skeletons.annotate(image, poses.xy, poses.scores, ids)
        self.boxes.annotate(image, poses.boxes, ids)
        shown = [i for i, t in enumerate(ids) if int(t) in result.probabilities]
        if shown:
            probs = [result.probabilities[int(ids[i])] for i in shown]
            labels = [result.labels.get(int(ids[i])) for i in shown]
            self.topk.annotate(image, poses.boxes[shown], probs, ids[shown], labels)
        self.hud.annotate(image, fps, stage_ms)
        if notice is not None:
            self.notice.annotate(image, notice)
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
    live = info.is_camera or info.is_stream
    stats = LoopStats()
    fps = 0.0
    started = last = time.perf_counter()
    shown: np.ndarray | None = None
    last_index = 0
    logged_outages = 0
    try:
        for frame in source.frames(IDLE_S if info.is_stream else None):
            if frame is None:
                notice = source.notice
                if shown is not None and notice is not None and on_frame is not None:
                    still = overlay.notice.annotate(shown.copy(), notice)
                    if not on_frame(still):
                        stats.status = "stopped by user"
                        break
                continue
            result = recognizer.step(frame.image, frame.index)
            with times.time("draw"):
                stage_ms = {s: times.ms.get(s, 0.0) for s in STAGES}
                stage_ms["capture"] = source.read_ms
                if writer is not None:
                    stage_ms["write"] = writer.write_ms
                overlay.annotate(frame.image, result, fps, stage_ms, source.notice)
            now = time.perf_counter()
            stats.latencies_ms.append((now - frame.timestamp) * 1000)
            stats.people += len(result.track_ids)
            if log is not None:
                logged_outages = _log_outages(log, source.outages, logged_outages, started,
                                              frame)
                if result.classified:
                    stamp = now - started if live else frame.index / info.fps
                    log.write(frame.index, stamp, result, classifier)
            if writer is not None:
                writer.write(frame.image)
            instant = 1 / max(now - last, 1e-6)
            fps = instant if stats.frames == 0 else 0.9 * fps + 0.1 * instant
            last = now
            stats.frames += 1
            shown, last_index = frame.image, frame.index
            if on_frame is not None and not on_frame(frame.image):
                stats.status = "stopped by user"
                break
    except KeyboardInterrupt:
        stats.status = "interrupted"
    if log is not None:
        _log_outages(log, source.outages, logged_outages, started, None, last_index)
    if source.gone and stats.status == "finished":
        stats.status = "stream gone"
    stats.elapsed_s = time.perf_counter() - started
    stats.stage_ms = {s: times.mean(s) for s in STAGES if s in times.counts}
    stats.stage_ms["capture"] = source.read_ms
    if writer is not None:
        stats.stage_ms["write"] = writer.write_ms
    stats.dropped = source.dropped
    return stats


def _log_outages(log: ActionLog, outages: list[Outage], logged: int, started: float,
                 frame: Frame | None, last_index: int = 0) -> int:
    """Log the outages after the first `logged` as events; returns how many are logged now.

    During the run (`frame` given) an outage is logged with the first frame read after it
    ("stream_resumed"); at the end (`frame` None) the rest are, with the last frame's index
    (`last_index`; "stream_gone" for the one that ended the run). Times are seconds since the
    loop started, like the live records' `time`.
    """
    for outage in outages[logged:]:
        if frame is not None and (outage.ended_at is None or outage.ended_at > frame.timestamp):
            break
        log.event(last_index if frame is None else frame.index,
                  outage.lost_at + outage.duration_s - started,
                  "stream_gone" if outage.gave_up else "stream_resumed",
                  lost_at=round(outage.lost_at - started, 3),
                  outage_s=round(outage.duration_s, 3), attempts=outage.attempts)
        logged += 1
    return logged
