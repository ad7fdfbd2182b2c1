"""Benchmark the pose backends on the shared clips: milliseconds per frame and people found.

Run from the repository root:

    python -m bench.pose                                  # every backend that can run here
    python -m bench.pose --backends mediapipe --sizes 640x480 1920x1080
    python -m bench.pose --backends rtm --set det_model=/path/det.onnx --set pose_model=/path/p.onnx

Frames are resized to each input size before timing (as a camera would deliver them); the first
frame of each run is left out of the timing (graph and session warm-up). A fresh backend is made
for every clip and size, so tracking state never carries over. "ms" is wall time per frame; "CPU
ms" is the process's CPU time per frame (all threads), which other load on the machine inflates
less.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from realtime.pose import available_backends, create_backend
from train.errors import SkelcamError

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
# clip file -> (label, how many people are in it)
CLIPS = {
    "ntu_sample.avi": ("ntu_sample (hug)", 2),
    "S001C001P001R001A001_rgb.avi": ("S001 (drink)", 1),
}


def read_frames(path: Path, size: tuple[int, int], limit: int | None) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))
    capture.release()
    if not frames:
        raise SkelcamError(f"cannot read frames from {path}")
    return frames


def run(name: str, frames: list[np.ndarray], options: dict[str, Any]) -> dict[str, Any]:
    """Time one backend over `frames`; the first frame only warms it up."""
    with create_backend(name, **options) as backend:
        backend(frames[0])
        times, counts = [], []
        cpu_start = time.process_time()
        for frame in frames[1:]:
            start = time.perf_counter()
            counts.append(len(backend(frame)))
            times.append((time.perf_counter() - start) * 1000)
        cpu_ms = (time.process_time() - cpu_start) * 1000 / len(times)
        return {"device": backend.device, "ms": times, "cpu_ms": cpu_ms, "counts": np.array(counts)}


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


def parse_option(text: str) -> tuple[str, Any]:
    key, _, value = text.partition("=")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a plain string such as a path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", help="default: every available backend")
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"], type=parse_size)
    parser.add_argument("--frames", type=int, help="frames per clip (default: all)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=parse_option,
        metavar="KEY=VALUE",
        help="backend option, e.g. max_side=640",
    )
    args = parser.parse_args(argv)
    options = dict(args.set)
    console = Console(width=120)
    backends = args.backends or available_backends(**options)

    table = Table(title="Pose backends on the shared clips (wall time per frame)")
    columns = ("backend", "device", "clip", "input", "frames", "ms median", "ms mean",
               "CPU ms", "people/frame", "all found")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "clip") else "right")
    for name in backends:
        try:
            for clip, (label, people) in CLIPS.items():
                for width, height in args.sizes:
                    frames = read_frames(VIDEOS / clip, (width, height), args.frames)
                    result = run(name, frames, options)
                    counts, ms = result["counts"], result["ms"]
                    table.add_row(
                        name, result["device"], label, f"{width}x{height}", str(len(counts)),
                        f"{statistics.median(ms):.1f}", f"{statistics.mean(ms):.1f}",
                        f"{result['cpu_ms']:.1f}", f"{counts.mean():.2f}",
                        f"{(counts == people).mean():.0%}",
                    )  # fmt: skip
        except SkelcamError as error:
            console.print(f"[yellow]{name} skipped: {error}")
    console.print(table)


if __name__ == "__main__":
    main()
