"""End-to-end speed of the live loop, per pose backend and input size, printed as a table.

    python -m bench.pipeline                  # every backend that can run here, 640x480, 1280x720
    python -m bench.pipeline --backends mediapipe yolo:pose_model=x.onnx --sizes 640x480

Three shared clips, for 1, 2 and 4+ people: S001 (one person), ntu_sample (two people hugging)
and a stretch of vtest.avi (frames 480-639: four to eight pedestrians, many small). Each is
centre-cropped and resized to the input size and re-timed to 30 frames/s (vtest is a 10 fps
clip), then played *live*: the capture thread delivers frames at 30 frames/s and keeps only the
newest, exactly as a webcam does. So the end-to-end FPS is what a webcam user sees, and
capture->overlay latency includes every wait a frame really has. The loop is
`realtime.loop.run_loop`, the same code the `skelcam` command runs (no window, no video writer).
Backends are given as in bench/pose.py (`bench.variants`): a name, optionally with options.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import cv2
from rich.console import Console
from rich.table import Table

from bench.variants import Variant, default_variants, parse_variant
from skelcam.realtime.capture import open_source
from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.loop import Overlay, run_loop
from skelcam.realtime.pose import create_backend
from skelcam.realtime.recognizer import ActionRecognizer
from skelcam.realtime.writer import VideoWriter
from skelcam.train.errors import SkelcamError, print_error
from skelcam.train.shipped import ONNX_MODEL

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
# clip -> (people in it, first frame, frames used; None: to the end)
CLIPS = {
    "S001C001P001R001A001_rgb.avi": ("1", 0, None),
    "ntu_sample.avi": ("2", 0, None),
    "vtest.avi": ("4+", 480, 160),
}
REPEATS = 2
LIVE_FPS = 30.0


def resized_copy(video: Path, size: tuple[int, int], folder: Path, start: int,
                 count: int | None) -> Path:  # fmt: skip
    """Frames [start, start + count) of the clip centre-cropped to the target aspect ratio,
    resized and re-timed to 30 fps, as a temporary file."""
    out = folder / f"{video.stem}_{size[0]}x{size[1]}.avi"
    width, height = size
    with open_source(str(video)) as source, VideoWriter(out, LIVE_FPS, size) as writer:
        for index, frame in enumerate(source):
            if index < start:
                continue
            if count is not None and index >= start + count:
                break
            h, w = frame.image.shape[:2]
            crop_w = min(w, round(h * width / height))
            crop_h = min(h, round(w * height / width))
            x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
            crop = frame.image[y0:y0 + crop_h, x0:x0 + crop_w]
            writer.write(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    return out


def bench_one(video: Path, variant: Variant, device: str, classifier: ActionClassifier,
              stride: int) -> dict:
    backend = create_backend(variant.name, device=device, **variant.options)
    try:
        stats_all = []
        for _ in range(REPEATS):
            with open_source(str(video), live=True) as source:
                recognizer = ActionRecognizer(backend, classifier, source.info.fps, stride)
                overlay = Overlay(classifier.labels, backend.name, classifier.device)
                stats_all.append(run_loop(source, recognizer, overlay, classifier))
    finally:
        backend.close()
    best = max(stats_all, key=lambda s: s.fps)
    return {
        "backend": variant.label,
        "device": backend.device,
        "fps": best.fps,
        "latency_median_ms": best.latency(50),
        "latency_p90_ms": best.latency(90),
        "people_per_frame": best.people / max(1, best.frames),
        "frames": best.frames,
        "dropped": best.dropped,
        **{f"{k}_ms": v for k, v in best.stage_ms.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", type=parse_variant, metavar="NAME[:K=V,...]",
                        help="default: every backend that can run here")
    parser.add_argument("--sizes", default="640x480,1280x720")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--weights", type=Path, default=ONNX_MODEL)
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    console = Console()
    if not console.is_terminal:
        console.width = 170
    try:
        variants = args.backends or default_variants()
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        classifier = ActionClassifier(args.weights, device=args.device)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for clip, (people, start, count) in CLIPS.items():
                for size in sizes:
                    video = resized_copy(VIDEOS / clip, size, Path(tmp), start, count)
                    for variant in variants:
                        row = bench_one(video, variant, args.device, classifier, args.stride)
                        rows.append({"clip": clip, "people": people,
                                     "size": f"{size[0]}x{size[1]}", **row})  # fmt: skip
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    table = Table(title="skelcam live loop (clip played at 30 fps, newest frame only)")
    for col in ("clip", "people", "size", "backend", "FPS", "latency ms p50/p90", "people/frame",
                "pose ms", "track ms", "classify ms", "draw ms", "capture ms"):
        table.add_column(col, justify="left" if col in ("clip", "backend") else "right")
    for r in rows:
        table.add_row(r["clip"], r["people"], r["size"], f"{r['backend']} ({r['device']})",
                      f"{r['fps']:.1f}",
                      f"{r['latency_median_ms']:.0f}/{r['latency_p90_ms']:.0f}",
                      f"{r['people_per_frame']:.2f}", f"{r.get('pose_ms', 0):.1f}",
                      f"{r.get('track_ms', 0):.2f}", f"{r.get('classify_ms', 0):.1f}",
                      f"{r.get('draw_ms', 0):.1f}", f"{r.get('capture_ms', 0):.1f}")
    console.print(table)
    console.print(f"classifier: {classifier.path.name} on {classifier.providers[0]}; "
                  f"classification every {args.stride} frames, all tracks in one batch")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
