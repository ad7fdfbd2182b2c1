"""What the One Euro keypoint smoother does to real poses: jitter removed, lag added.

    python -m bench.smoothing                        # yolo on the shared export, default settings
    python -m bench.smoothing --beta 0 4 10          # compare settings (beta 0: a fixed low-pass)

One person per clip, the first 100 frames with a person: a slow one (S001, drinking water, mostly
still) and two fast ones from the Penn Action dev clips (jumping jacks, a tennis serve). Poses
come from the yolo backend on ../shared/models/yolo11n-pose-640.onnx. Two numbers, both in
percent of the person's box height so that near and far people compare:

* jitter: the mean size of a joint's second difference (x[t+1] - 2 x[t] + x[t-1]) over joints
  scored above 0.5; frame-to-frame trembling makes it large, smooth motion small;
* lag: on joints moving faster than one body height per second, the mean distance between the
  filtered and the raw joint: how far the overlay trails a fast limb.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from skelcam.realtime.pose import create_backend
from skelcam.realtime.pose.smoothing import KeypointSmoother

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL = SHARED / "models" / "yolo11n-pose-640.onnx"
PENN = SHARED / "data" / "clips" / "penn-dev"
CLIPS = {
    "S001 (drinking, slow)": SHARED / "data" / "videos" / "S001C001P001R001A001_rgb.avi",
    "jumping jacks (fast)": PENN / "jumping_jacks" / "infophysics_jumpingjacks.mp4",
    "tennis serve (fast)": PENN / "tennis_serve" / "adamr_djoko_behind.mp4",
}
FRAMES = 100


def track(path: Path, backend) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """fps, and per frame with a person: joints [T, 17, 2], scores [T, 17], box heights [T]."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    xy, scores, heights = [], [], []
    while len(xy) < FRAMES:
        ok, frame = capture.read()
        if not ok:
            break
        poses = backend(frame)
        if len(poses):
            xy.append(poses.xy[0])
            scores.append(poses.scores[0])
            heights.append(poses.boxes[0, 3] - poses.boxes[0, 1])
    capture.release()
    return fps, np.array(xy), np.array(scores), np.array(heights)


def jitter(xy: np.ndarray, seen: np.ndarray, heights: np.ndarray) -> float:
    second = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1) / heights[2:, None]
    return float(second[seen[2:] & seen[1:-1] & seen[:-2]].mean() * 100)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-cutoff", type=float, default=1.0)
    parser.add_argument("--beta", type=float, nargs="+", default=[10.0])
    args = parser.parse_args(argv)
    with create_backend("yolo", device="cpu", pose_model=MODEL, max_people=1) as backend:
        tracks = {name: track(path, backend) for name, path in CLIPS.items() if path.is_file()}
    table = Table(title="One Euro smoothing on yolo poses (percent of body height)")
    for column in ("clip", "min_cutoff", "beta", "jitter raw", "jitter smoothed",
                   "fast joints", "lag on fast joints"):  # fmt: skip
        table.add_column(column, justify="left" if column == "clip" else "right")
    for name, (fps, xy, scores, heights) in tracks.items():
        seen = scores > 0.5
        speed = np.linalg.norm(xy[1:] - xy[:-1], axis=-1) / heights[1:, None] * fps
        fast = (speed > 1.0) & seen[1:]
        for beta in args.beta:
            smoother = KeypointSmoother(fps, min_cutoff=args.min_cutoff, beta=beta)
            ids = np.array([1])
            out = np.array([smoother(ids, p[None], s[None], np.array([[0, 0, 1, h]]), t)[0]
                            for t, (p, s, h) in enumerate(zip(xy, scores, heights, strict=True))])
            lag = np.linalg.norm(out[1:] - xy[1:], axis=-1) / heights[1:, None]
            table.add_row(name, f"{args.min_cutoff:g}", f"{beta:g}",
                          f"{jitter(xy, seen, heights):.2f}", f"{jitter(out, seen, heights):.2f}",
                          f"{fast.mean():.0%}",
                          f"{lag[fast].mean() * 100:.2f}" if fast.any() else "-")  # fmt: skip
    Console(width=140).print(table)


if __name__ == "__main__":
    main()
