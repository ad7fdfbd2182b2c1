"""Benchmark the pose backends side by side on the shared clips: time per frame, people found.

Run from the repository root:

    python -m bench.pose                                  # every backend that can run here
    python -m bench.pose --backends mediapipe yolo:pose_model=../shared/models/yolo11n-pose-640.onnx
    python -m bench.pose --backends yolo:pose_model=/tmp/yolo11n-pose-320.onnx --sizes 640x480
    python -m bench.pose --reference yolo:pose_model=/tmp/dynamic.onnx,input_size=1280

Three tables:

1. Per backend, clip and input size: wall ms per frame (median, mean), the process's CPU ms per
   frame (all threads; other load on the machine inflates it less than wall time), people found
   per frame and, where the clip's head count is known, the share of frames with everyone found.
   Frames are centre-cropped to the size's aspect ratio and resized (as a camera delivers them);
   the first frame of a run only warms the backend up; a fresh backend per clip and size.
2. Cost by how many people a backend found in the frame (all clips at the first size).
3. vtest.avi, native 768x576 frames (every `--vtest-step`-th): pedestrians taller than 80 px.
   The reference is the union of what the real RTMDet-nano person detector in ../shared/models
   finds at 640x640 (score >= 0.3) and what each `--reference` backend variant finds, merged
   where boxes overlap (IoU >= 0.5), then those taller than 80 px. A backend found a pedestrian
   when one of its boxes overlaps the reference box with IoU >= 0.4 (looser, because backends
   draw boxes differently: mediapipe's is the padded extent of its landmarks).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.variants import Variant, default_variants, parse_variant
from skelcam.realtime.pose import create_backend
from skelcam.realtime.tracking import box_iou
from skelcam.train.errors import SkelcamError

SHARED = Path(__file__).resolve().parents[2] / "shared"
VIDEOS = SHARED / "data" / "videos"
RTMDET = SHARED / "models" / "rtmdet-nano-person-end2end.onnx"
# clip file -> (label, how many people are in it (None: it varies), first frame used)
CLIPS = {
    "ntu_sample.avi": ("ntu_sample (hug)", 2, 0),
    "S001C001P001R001A001_rgb.avi": ("S001 (drink)", 1, 0),
    "vtest.avi": ("vtest (street, from frame 480)", None, 480),  # its busiest stretch
}
TALL = 80  # pixels: the pedestrians counted in table 3
BUCKETS = ("0", "1", "2", "3", "4+")


def read_frames(path: Path, size: tuple[int, int] | None, limit: int | None,
                step: int = 1, start: int = 0) -> list[np.ndarray]:  # fmt: skip
    """Every `step`-th frame from `start`, centre-cropped to `size`'s aspect and resized (None:
    native size)."""
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames: list[np.ndarray] = []
    index = 0
    while limit is None or len(frames) < limit:
        ok, frame = capture.read()
        if not ok:
            break
        index += 1
        if (index - 1) % step:
            continue
        if size is not None:
            h, w = frame.shape[:2]
            crop_w = min(w, round(h * size[0] / size[1]))
            crop_h = min(h, round(w * size[1] / size[0]))
            x0, y0 = (w - crop_w) // 2, (h - crop_h) // 2
            frame = cv2.resize(frame[y0:y0 + crop_h, x0:x0 + crop_w], size,
                               interpolation=cv2.INTER_AREA)  # fmt: skip
        frames.append(frame)
    capture.release()
    if not frames:
        raise SkelcamError(f"cannot read frames from {path}")
    return frames


def run(variant: Variant, frames: list[np.ndarray]) -> dict[str, Any]:
    """Time one backend over `frames`; the first frame only warms it up."""
    with create_backend(variant.name, **variant.options) as backend:
        backend(frames[0])
        times, counts, boxes = [], [], []
        cpu_start = time.process_time()
        for frame in frames[1:]:
            start = time.perf_counter()
            poses = backend(frame)
            times.append((time.perf_counter() - start) * 1000)
            counts.append(len(poses))
            boxes.append(poses.boxes)
        cpu_ms = (time.process_time() - cpu_start) * 1000 / len(times)
        return {"device": backend.device, "ms": np.array(times), "cpu_ms": cpu_ms,
                "counts": np.array(counts), "boxes": boxes}  # fmt: skip


def merge(boxes: list[np.ndarray], iou: float = 0.5) -> np.ndarray:
    """The union of several box sets [N_i, 4], a box dropped when it overlaps one kept."""
    kept = np.zeros((0, 4), np.float32)
    for box in np.concatenate(boxes):
        if len(kept) == 0 or box_iou(box[None], kept).max() < iou:
            kept = np.concatenate([kept, box[None]])
    return kept


def rtmdet_boxes(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The real RTMDet-nano person detector at 640x640 on each frame."""
    from skelcam.realtime.pose.onnx_session import open_session
    from skelcam.realtime.pose.rtm_backend import RTMDet

    detector = RTMDet(open_session(RTMDET, "cpu", "rtm"), input_size=640)
    return [detector(frame)[0] for frame in frames]


def tall_pedestrians(args: argparse.Namespace, variants: list[Variant], console: Console) -> None:
    # one more frame up front: run() spends the first on warm-up
    frames = read_frames(VIDEOS / "vtest.avi", None, None, args.vtest_step)
    sources = [rtmdet_boxes(frames[1:])] if RTMDET.is_file() else []
    for variant in args.reference:
        sources.append(run(variant, frames)["boxes"])
    if not sources:
        console.print("[yellow]no reference detector for the vtest count; skipped")
        return
    reference = []
    for per_source in zip(*sources, strict=True):
        union = merge(list(per_source))
        reference.append(union[union[:, 3] - union[:, 1] > TALL])
    table = Table(title=f"vtest.avi at 768x576, every {args.vtest_step}th frame ({len(reference)}):"
                  f" pedestrians taller than {TALL} px found per frame")  # fmt: skip
    for column in ("backend", "reference/frame", "found/frame", "recall", "people/frame"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    ref_mean = np.mean([len(r) for r in reference])
    for variant in variants:
        try:
            result = run(variant, frames)
        except SkelcamError as error:
            console.print(f"[yellow]{variant.label} skipped: {error}")
            continue
        found = [int((box_iou(r, b).max(axis=1) >= 0.4).sum()) if len(r) and len(b) else 0
                 for r, b in zip(reference, result["boxes"], strict=True)]  # fmt: skip
        table.add_row(variant.label, f"{ref_mean:.2f}", f"{np.mean(found):.2f}",
                      f"{sum(found) / max(1, sum(len(r) for r in reference)):.0%}",
                      f"{result['counts'].mean():.2f}")  # fmt: skip
    console.print(table)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", type=parse_variant, metavar="NAME[:K=V,...]",
                        help="default: every backend that can run here")
    parser.add_argument("--sizes", nargs="+", default=[(640, 480), (1280, 720)], type=parse_size)
    parser.add_argument("--frames", type=int, help="frames per clip (default: all)")
    parser.add_argument("--reference", nargs="*", default=[], type=parse_variant,
                        metavar="NAME[:K=V,...]", help="backends whose boxes join RTMDet's in "
                        "the vtest reference (table 3)")
    parser.add_argument("--vtest-step", type=int, default=10, help="table 3: every Nth frame")
    parser.add_argument("--tables", nargs="+", choices=("clips", "vtest"),
                        default=["clips", "vtest"], help="tables 1-2 (clips), 3 (vtest)")
    args = parser.parse_args(argv)
    console = Console(width=140)
    variants = args.backends or default_variants()
    if "clips" in args.tables:
        clip_tables(args, variants, console)
    if "vtest" in args.tables:
        tall_pedestrians(args, variants, console)


def clip_tables(args: argparse.Namespace, variants: list[Variant], console: Console) -> None:
    table = Table(title="Pose backends on the shared clips (wall time per frame)")
    columns = ("backend", "device", "clip", "input", "frames", "ms median", "ms mean",
               "CPU ms", "people/frame", "all found")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("backend", "clip") else "right")
    by_people: dict[str, dict[str, list[float]]] = {}
    for variant in variants:
        try:
            for clip, (label, people, start) in CLIPS.items():
                for index, (width, height) in enumerate(args.sizes):
                    frames = read_frames(VIDEOS / clip, (width, height), args.frames, 1, start)
                    result = run(variant, frames)
                    counts, ms = result["counts"], result["ms"]
                    table.add_row(
                        variant.label, result["device"], label, f"{width}x{height}",
                        str(len(counts)), f"{statistics.median(ms):.1f}", f"{ms.mean():.1f}",
                        f"{result['cpu_ms']:.1f}", f"{counts.mean():.2f}",
                        "-" if people is None else f"{(counts == people).mean():.0%}",
                    )  # fmt: skip
                    if index == 0:
                        buckets = by_people.setdefault(variant.label, {})
                        for count, frame_ms in zip(counts, ms, strict=True):
                            buckets.setdefault(BUCKETS[min(count, 4)], []).append(frame_ms)
        except SkelcamError as error:
            console.print(f"[yellow]{variant.label} skipped: {error}")
    console.print(table)

    width, height = args.sizes[0]
    cost = Table(title=f"Cost by people found in the frame ({width}x{height}, all clips): "
                 "ms median (frames)")  # fmt: skip
    cost.add_column("backend")
    for bucket in BUCKETS:
        cost.add_column(f"{bucket} people", justify="right")
    cost.add_column("4+ / 1", justify="right")
    for label, buckets in by_people.items():
        medians = {b: statistics.median(v) for b, v in buckets.items()}
        cells = [f"{medians[b]:.1f} ({len(buckets[b])})" if b in buckets else "-" for b in BUCKETS]
        ratio = f"{medians['4+'] / medians['1']:.2f}x" if {"1", "4+"} <= medians.keys() else "-"
        cost.add_row(label, *cells, ratio)
    console.print(cost)


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    return int(width), int(height)


if __name__ == "__main__":
    main()
