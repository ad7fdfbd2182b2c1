"""End-to-end speed of the live loop, per pose backend and input size, printed as a table.

    python bench/pipeline.py                     # every available backend, 640x480 and 1280x720
    python bench/pipeline.py --backends mediapipe --sizes 640x480 --json bench.json

Each shared NTU clip is centre-cropped and resized to the input size, then played *live*: the
capture thread delivers frames at the clip's 30 frames/s and keeps only the newest, exactly as a
webcam does. So the end-to-end FPS is what a webcam user sees, and capture->overlay latency
includes every wait a frame really has. The loop is `realtime.loop.run_loop`, the same code the
`skelcam` command runs (no window, no video writer).
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

from realtime.capture import open_source
from realtime.classifier import ActionClassifier
from realtime.loop import Overlay, run_loop
from realtime.pose import available_backends, create_backend
from realtime.recognizer import ActionRecognizer
from realtime.writer import VideoWriter
from train.errors import SkelcamError, print_error
from train.shipped import ONNX_MODEL

VIDEOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "videos"
CLIPS = ("ntu_sample.avi", "S001C001P001R001A001_rgb.avi")
REPEATS = 2


def resized_copy(video: Path, size: tuple[int, int], folder: Path) -> Path:
    """The clip centre-cropped to the target aspect ratio and resized, as a temporary file."""
    out = folder / f"{video.stem}_{size[0]}x{size[1]}.avi"
    width, height = size
    with open_source(str(video)) as source, VideoWriter(out, source.info.fps, size) as writer:
        for frame in source:
            h, w = frame.image.shape[:2]
            crop_w = min(w, round(h * width / height))
            crop_h = min(h, round(w * height / width))
            x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
            crop = frame.image[y0:y0 + crop_h, x0:x0 + crop_w]
            writer.write(cv2.resize(crop, size, interpolation=cv2.INTER_AREA))
    return out


def bench_one(video: Path, backend_name: str, device: str, classifier: ActionClassifier,
              stride: int) -> dict:
    backend = create_backend(backend_name, device=device)
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
        "backend": backend.name,
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
    parser.add_argument("--backends", help="comma-separated (default: every available one)")
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
        backends = args.backends.split(",") if args.backends else available_backends()
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        classifier = ActionClassifier(args.weights, device=args.device)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for clip in CLIPS:
                for size in sizes:
                    video = resized_copy(VIDEOS / clip, size, Path(tmp))
                    for name in backends:
                        row = bench_one(video, name, args.device, classifier, args.stride)
                        rows.append({"clip": clip, "size": f"{size[0]}x{size[1]}", **row})
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    table = Table(title="skelcam live loop (clip played at 30 fps, newest frame only)")
    for col in ("clip", "size", "backend", "FPS", "latency ms p50/p90", "people/frame",
                "pose ms", "track ms", "classify ms", "draw ms", "capture ms"):
        table.add_column(col, justify="left" if col in ("clip", "backend") else "right")
    for r in rows:
        table.add_row(r["clip"], r["size"], f"{r['backend']} ({r['device']})", f"{r['fps']:.1f}",
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
