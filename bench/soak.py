"""A long run of the real live loop: memory, frame rate and latency over time, as a table and plot.

    python -m bench.soak                                   # 30 min of vtest.avi, looped
    python -m bench.soak --minutes 60 --video clip.mp4 --pose yolo --png soak.png --json soak.json

A real clip is played *live* (at its own frame rate, newest frame only, as a camera delivers it)
pass after pass, into one recognizer that lives for the whole run, with an annotated video and a
JSONL log written as `skelcam --save --log` writes them (to a temporary folder). Frame numbers keep
counting across passes, so the tracker sees one endless stream in which people come and go.
Every `--interval` seconds the process's resident memory, the frame rate over the interval and
the capture-to-overlay latency of the interval's frames are sampled. What a leak looks like:
RSS that keeps rising after the first minutes (models load, buffers fill, then it should be flat),
frame rate that drifts down, latency that drifts up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from skelcam.realtime.action_log import ActionLog
from skelcam.realtime.capture import Frame, FrameSource, SourceInfo, open_source
from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.loop import Overlay, run_loop
from skelcam.realtime.pose import create_backend
from skelcam.realtime.recognizer import ActionRecognizer
from skelcam.realtime.writer import VideoWriter
from skelcam.train.errors import SkelcamError, print_error
from skelcam.train.shipped import ONNX_MODEL

VTEST = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos" / "vtest.avi"
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class LoopedSource:
    """The clip played live again and again, as one source with frame numbers that keep counting.

    It offers what `run_loop` reads of a `FrameSource` (`info`, `read_ms`, `dropped`, `frames`,
    and the stream-outage fields, which a file never has) and remembers the newest frame handed
    out, whose capture time gives its latency.
    """

    notice: str | None = None
    outages: tuple = ()
    gone = False

    def __init__(self, video: Path, seconds: float) -> None:
        self.video, self.seconds = video, seconds
        with open_source(str(video)) as probe:
            self.info: SourceInfo = replace(probe.info, frame_count=None)
        self._current: FrameSource | None = None
        self._dropped_before = 0
        self.passes = 0
        self.last: Frame | None = None

    @property
    def read_ms(self) -> float:
        return self._current.read_ms if self._current is not None else 0.0

    @property
    def dropped(self) -> int:
        return self._dropped_before + (self._current.dropped if self._current else 0)

    def frames(self, idle_s: float | None = None) -> Iterator[Frame]:
        """All frames of all passes (a file never idles, so `idle_s` does not apply)."""
        return iter(self)

    def __iter__(self) -> Iterator[Frame]:
        end = time.perf_counter() + self.seconds
        offset = 0
        while time.perf_counter() < end:
            self._current = open_source(str(self.video), live=True)
            with self._current as source:
                count = 0
                for frame in source:
                    self.last = replace(frame, index=offset + frame.index)
                    count = frame.index + 1
                    yield self.last
                    if time.perf_counter() >= end:
                        break
            self._dropped_before += self._current.dropped
            offset += count
            self.passes += 1


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    fps: float
    latency_p50_ms: float
    latency_p90_ms: float
    frames: int


def soak(args: argparse.Namespace, console: Console) -> tuple[list[Sample], dict]:
    classifier = ActionClassifier(args.weights, device=args.device)
    backend = create_backend(args.pose, device=args.device, max_people=args.max_people)
    source = LoopedSource(args.video, args.minutes * 60)
    recognizer = ActionRecognizer(backend, classifier, source.info.fps, args.stride)
    overlay = Overlay(classifier.labels, backend.name, classifier.device)
    samples: list[Sample] = []
    window: list[float] = []
    started = mark = time.perf_counter()
    frames = frames_at_mark = 0

    def on_frame(_: np.ndarray) -> bool:
        nonlocal mark, frames, frames_at_mark
        now = time.perf_counter()
        frames += 1
        window.append((now - source.last.timestamp) * 1000)
        if now - mark >= args.interval:
            samples.append(Sample(now - started, rss_mb(), (frames - frames_at_mark) / (now - mark),
                                  float(np.percentile(window, 50)),
                                  float(np.percentile(window, 90)), frames))
            console.log(f"{samples[-1].t_s:7.0f} s  RSS {samples[-1].rss_mb:7.1f} MB  "
                        f"{samples[-1].fps:5.1f} fps  latency p50 {samples[-1].latency_p50_ms:5.0f}"
                        " ms")
            window.clear()
            mark, frames_at_mark = now, frames
        return True

    with tempfile.TemporaryDirectory() as tmp:
        size = (source.info.width, source.info.height)
        try:
            with VideoWriter(Path(tmp) / "soak.mp4", source.info.fps, size) as writer, \
                    ActionLog(Path(tmp) / "soak.jsonl") as log:
                stats = run_loop(source, recognizer, overlay, classifier, writer, log, on_frame)
            written_mb = (Path(tmp) / "soak.mp4").stat().st_size / 2**20
        finally:
            backend.close()
    info = {"video": str(args.video), "pose": backend.name, "minutes": args.minutes,
            "passes": source.passes, "frames": stats.frames, "dropped": stats.dropped,
            "status": stats.status, "video_mb": written_mb, "size": f"{size[0]}x{size[1]}",
            "source_fps": source.info.fps, "classifier": classifier.path.name}
    return samples, info


def summarize(samples: list[Sample]) -> dict:
    """First minutes against last minutes, and the RSS trend after warm-up (MB per 10 min)."""
    def mean(rows: list[Sample], key: str) -> float:
        return float(np.mean([getattr(r, key) for r in rows])) if rows else 0.0

    span = max(1, len(samples) // 6)
    head, tail = samples[:span], samples[-span:]
    settled = samples[span:] or samples
    slope = 0.0
    if len(settled) >= 2:
        slope = float(np.polyfit([s.t_s for s in settled], [s.rss_mb for s in settled], 1)[0])
    return {
        "rss_first_mb": mean(head, "rss_mb"), "rss_last_mb": mean(tail, "rss_mb"),
        "rss_max_mb": max((s.rss_mb for s in samples), default=0.0),
        "rss_trend_mb_per_10min": slope * 600,
        "fps_first": mean(head, "fps"), "fps_last": mean(tail, "fps"),
        "latency_p50_first_ms": mean(head, "latency_p50_ms"),
        "latency_p50_last_ms": mean(tail, "latency_p50_ms"),
        "latency_p90_first_ms": mean(head, "latency_p90_ms"),
        "latency_p90_last_ms": mean(tail, "latency_p90_ms"),
    }


def plot(samples: list[Sample], out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [s.t_s / 60 for s in samples]
    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    axes[0].plot(minutes, [s.rss_mb for s in samples])
    axes[0].set_ylabel("RSS (MB)")
    axes[1].plot(minutes, [s.fps for s in samples])
    axes[1].set_ylabel("frames/s")
    axes[2].plot(minutes, [s.latency_p50_ms for s in samples], label="p50")
    axes[2].plot(minutes, [s.latency_p90_ms for s in samples], label="p90")
    axes[2].set_ylabel("latency (ms)")
    axes[2].legend()
    axes[2].set_xlabel("minutes")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=VTEST)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--pose", default="mediapipe")
    parser.add_argument("--max-people", type=int, default=4)
    parser.add_argument("--weights", type=Path, default=ONNX_MODEL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    args = parser.parse_args(argv)
    console = Console()
    if args.minutes <= 0 or args.interval <= 0:
        print_error("--minutes and --interval must be positive")
        return 2
    try:
        samples, info = soak(args, console)
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    summary = summarize(samples)
    table = Table(title=f"soak: {info['minutes']:g} min of {Path(info['video']).name} "
                        f"({info['size']}, {info['passes']} passes, {info['pose']}), every minute")
    for col in ("minute", "RSS MB", "FPS", "latency p50 ms", "latency p90 ms", "frames"):
        table.add_column(col, justify="right")
    per_minute = max(1, round(60 / args.interval))
    for s in samples[per_minute - 1::per_minute]:
        table.add_row(f"{s.t_s / 60:.0f}", f"{s.rss_mb:.1f}", f"{s.fps:.1f}",
                      f"{s.latency_p50_ms:.0f}", f"{s.latency_p90_ms:.0f}", str(s.frames))
    console.print(table)
    console.print(
        f"RSS {summary['rss_first_mb']:.1f} MB (first sixth) -> {summary['rss_last_mb']:.1f} MB "
        f"(last sixth), max {summary['rss_max_mb']:.1f}, trend after warm-up "
        f"{summary['rss_trend_mb_per_10min']:+.2f} MB/10 min; FPS {summary['fps_first']:.1f} -> "
        f"{summary['fps_last']:.1f}; latency p50 {summary['latency_p50_first_ms']:.0f} -> "
        f"{summary['latency_p50_last_ms']:.0f} ms; {info['frames']} frames, {info['dropped']} "
        f"dropped by the live source, {info['video_mb']:.0f} MB of video written",
        highlight=False, soft_wrap=True)
    if args.json:
        args.json.write_text(json.dumps({"info": info, "summary": summary,
                                         "samples": [vars(s) for s in samples]}, indent=2))
    if args.png:
        plot(samples, args.png, f"skelcam soak: {Path(info['video']).name}, {info['pose']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
