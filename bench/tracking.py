"""How steady the live tracker's IDs are on a street crowd: vtest.avi through each pose backend.

Run from the repository root:

    python -m bench.tracking                                   # every backend that can run here
    python -m bench.tracking --backends yolo:pose_model=../shared/models/yolo11n-pose-640.onnx \\
        yolo:pose_model=../shared/models/yolo11n-pose-640.onnx,max_people=4 --sheet ids.png

Each backend's poses of every frame are recorded once (the evaluation's pose cache), then the
live tracker (`Tracker.for_video`, as `skelcam` builds it) runs over them. vtest.avi has no
ground-truth tracks, so the table counts what broken identity looks like on the pedestrians
taller than 80 px (the ones the crowd target counts):

* IDs: how many IDs were ever given to a tall pedestrian, against tall pedestrians per frame;
* short IDs: IDs that lived less than 1 s, mostly a detector finding a person in one frame and
  not the next (detection flicker, not tracking);
* in tracks >= 2 s: the share of tall detections whose ID lived at least 2 s (a steady track
  carries most detections; a fragmented one spreads them over many short IDs);
* re-found under a new ID: a track that ended while a new ID started within 2 s whose first box
  overlaps (IoU >= 0.3) the old track's last one: the same person lost and found again;
* jumps: one ID whose box centre moves more than half the box height between consecutive frames
  (10 fps: a walker moves about a tenth of their height a frame), the mark of two people's IDs
  swapped or of a track taken over by a neighbour.

`--sheet PNG` draws the first backend's IDs on frames one second apart, for checking by eye.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.pose import TALL, VIDEOS
from bench.variants import Variant, default_variants, parse_variant
from skelcam.realtime.draw import BoxAnnotator
from skelcam.realtime.pose.model_files import cache_dir
from skelcam.realtime.tracking import Tracker, box_iou
from skelcam.train.errors import SkelcamError
from skelcam.train.video_eval import LiveSettings, recording_for

VTEST = VIDEOS / "vtest.avi"
LONG_S = 2.0  # a track at least this long counts as steady
REFOUND_IOU = 0.3
JUMP = 0.5  # box heights per frame


@dataclass
class Track:
    frames: list[int] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)

    @property
    def tall(self) -> bool:
        return any(b[3] - b[1] > TALL for b in self.boxes)


def tracks_of(recording) -> tuple[dict[int, Track], list[np.ndarray]]:
    """Every ID the live tracker gives on `recording`, and the IDs of each frame."""
    tracker = Tracker.for_video(recording.fps)
    tracks: dict[int, Track] = {}
    per_frame = []
    for index, poses in enumerate(recording.frames):
        ids = tracker.update(poses.boxes, poses.xy, poses.scores, index)
        per_frame.append(ids)
        for track_id, box in zip(ids, poses.boxes, strict=True):
            track = tracks.setdefault(int(track_id), Track())
            track.frames.append(index)
            track.boxes.append(box)
    return tracks, per_frame


def steadiness(tracks: dict[int, Track], frames: int, fps: float) -> dict[str, float]:
    """The table's figures for one backend (see the module docstring)."""
    tall = {i: t for i, t in tracks.items() if t.tall}
    long_frames = LONG_S * fps
    detections = [(t, b) for t in tall.values() for b in t.boxes if b[3] - b[1] > TALL]
    steady = sum(1 for t, _ in detections if t.frames[-1] - t.frames[0] >= long_frames)
    refound = 0
    for new in tall.values():
        start, first = new.frames[0], new.boxes[0]
        for old in tall.values():
            gap = start - old.frames[-1]
            if (
                old is not new
                and 0 < gap <= long_frames
                and box_iou(old.boxes[-1][None], first[None])[0, 0] >= REFOUND_IOU
            ):
                refound += 1
                break
    jumps = 0
    for track in tall.values():
        for a, b, fa, fb in zip(track.boxes, track.boxes[1:], track.frames, track.frames[1:],
                                strict=False):  # fmt: skip
            height = max(a[3] - a[1], b[3] - b[1], 1.0)
            step = np.linalg.norm((b[:2] + b[2:] - a[:2] - a[2:]) / 2.0)
            if step > JUMP * height * (fb - fa):
                jumps += 1
    lives = [(t.frames[-1] - t.frames[0] + 1) / fps for t in tall.values()]
    return {
        "tall/frame": len(detections) / max(frames, 1),
        "ids": len(tall),
        "steady": steady / max(len(detections), 1),
        "life": statistics.median(lives) if lives else 0.0,
        "short": sum(1 for life in lives if life < 1.0),
        "refound": refound,
        "jumps": jumps,
    }


def contact_sheet(path: Path, per_frame: list[np.ndarray], recording, start: int = 500,
                  count: int = 4) -> None:  # fmt: skip
    """Frames `start`, `start` + 1 s, ... side by side with the recording's boxes and IDs."""
    step = max(1, round(recording.fps))
    wanted = {start + k * step for k in range(count)}
    capture = cv2.VideoCapture(str(VTEST))
    tiles, index = [], 0
    annotator = BoxAnnotator()
    while len(tiles) < count:
        ok, frame = capture.read()
        if not ok:
            break
        if index in wanted:
            poses = recording.frames[index]
            tiles.append(annotator.annotate(frame, poses.boxes, per_frame[index]))
        index += 1
    capture.release()
    if tiles:
        sheet = (
            np.concatenate([np.concatenate(tiles[:2], 1), np.concatenate(tiles[2:4], 1)])
            if len(tiles) == 4
            else np.concatenate(tiles, 1)
        )
        cv2.imwrite(str(path), sheet)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends",
        nargs="+",
        type=parse_variant,
        metavar="NAME[:K=V,...]",
        help="default: every backend that can run here",
    )
    parser.add_argument("--sheet", type=Path, help="PNG of the first backend's IDs, by eye")
    parser.add_argument("--cache", type=Path, help="pose cache (default: the evaluation's)")
    args = parser.parse_args(argv)
    console = Console(width=140)
    variants: list[Variant] = args.backends or default_variants()
    cache = args.cache or cache_dir() / "poses"
    table = Table(title=f"Track IDs on vtest.avi (768x576, 10 fps): pedestrians taller than "
                        f"{TALL} px")  # fmt: skip
    columns = ("backend", "frames", "tall / frame", "IDs", "short IDs",
               f"in tracks >= {LONG_S:.0f} s", "median life s", "re-found under a new ID",
               "jumps")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "backend" else "right")
    for number, variant in enumerate(variants):
        try:
            live = LiveSettings(variant.name, variant.options, cache, 1, 0.0)
            recording, _, _ = recording_for(VTEST, live)
        except SkelcamError as error:
            console.print(f"[yellow]{variant.label} skipped: {error}")
            continue
        tracks, per_frame = tracks_of(recording)
        figures = steadiness(tracks, len(recording), recording.fps)
        table.add_row(variant.label, str(len(recording)), f"{figures['tall/frame']:.2f}",
                      str(figures["ids"]), str(figures["short"]), f"{figures['steady']:.0%}",
                      f"{figures['life']:.1f}", str(figures["refound"]),
                      str(figures["jumps"]))  # fmt: skip
        if number == 0 and args.sheet is not None:
            contact_sheet(args.sheet, per_frame, recording)
    console.print(table)


if __name__ == "__main__":
    main()
