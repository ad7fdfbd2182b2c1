"""How live poses differ from Penn Action's annotated joints: the table behind the augmentations.

    python bench/pose_vs_annotations.py --data runs/penn_action.pkl --split train_fit \
        --manifest ../shared/data/clips/penn-dev/manifest.tsv --pose mediapipe

Reads the annotated clips of a PYSKL pickle and the cached pose recordings of a real-video
manifest (made by `python -m train evaluate-videos`; clips without a recording are skipped) and
prints, for each source, the same measures of the subject (the largest person in each frame):
joint scores, missing joints, frame-to-frame jitter, head/nose placement, hip width, left/right
swaps and bodies cut by the frame. All lengths are in units of the subject's torso (shoulder
centre to hip centre), so footage of any size compares with the annotations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

NOSE, L_SH, R_SH, L_HIP, R_HIP = 0, 5, 6, 11, 12
LIMBS = (7, 8, 9, 10, 13, 14, 15, 16)  # elbows, wrists, knees, ankles
BODY = (0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)  # the joints Penn Action annotates


def measures(clips: list[tuple[np.ndarray, np.ndarray, tuple[int, int] | None]]) -> dict:
    """Measures over clips of one person: keypoints [T, 17, 2], scores [T, 17], (h, w)."""
    scores, missing, jitter, head, hips, swaps, cut = [], [], [], [], [], [], []
    for xy, sc, shape in clips:
        seen = sc >= 0.05
        ok = seen[:, [L_SH, R_SH, L_HIP, R_HIP]].all(axis=1)
        if ok.sum() < 3:
            continue
        xy, sc, seen = xy[ok], sc[ok], seen[ok]
        shoulders = (xy[:, L_SH] + xy[:, R_SH]) / 2
        torso = np.linalg.norm(shoulders - (xy[:, L_HIP] + xy[:, R_HIP]) / 2, axis=1)
        torso = np.maximum(torso, 1e-3)[:, None]
        scores.append(sc[:, BODY].ravel())
        missing.append(1 - seen[:, BODY].mean())
        both = seen[2:] & seen[1:-1] & seen[:-2]
        second = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1) / torso[1:-1]
        jitter.append(np.median(second[both]))
        nose = seen[:, NOSE]
        if nose.any():
            head.append(np.median(np.linalg.norm(xy[nose, NOSE] - shoulders[nose], axis=1)
                                   / torso[nose, 0]))
        hips.append(np.median(np.linalg.norm(xy[:, L_HIP] - xy[:, R_HIP], axis=1)
                              / np.maximum(np.linalg.norm(xy[:, L_SH] - xy[:, R_SH], axis=1),
                                           1e-3)))
        side = np.sign(xy[:, L_SH, 0] - xy[:, R_SH, 0])
        wide = np.abs(xy[:, L_SH, 0] - xy[:, R_SH, 0]) > 0.3 * torso[:, 0]
        flips = (side[1:] != side[:-1]) & wide[1:] & wide[:-1]
        swaps.append(flips.mean() if len(flips) else 0.0)
        if shape is not None:
            h, w = shape
            near = (xy[..., 0] < 0.01 * w) | (xy[..., 0] > 0.99 * w) | (xy[..., 1] > 0.99 * h)
            cut.append(np.mean(((~seen[:, LIMBS]) | near[:, LIMBS]).any(axis=1)))
    allscores = np.concatenate(scores) if scores else np.zeros(1)
    return {
        "clips": len(missing),
        "score p10/p50/p90": "/".join(f"{v:.2f}" for v in np.percentile(allscores, [10, 50, 90])),
        "scores = 1.0 or 0.5 (Penn's convention)": f"{np.isin(allscores, [0.5, 1.0]).mean():.0%}",
        "joints below 0.05 (missing)": f"{np.mean(missing):.1%}",
        "jitter: median |2nd difference| / torso": f"{np.median(jitter):.4f}",
        "head or nose to shoulder centre / torso": f"{np.median(head):.2f}" if head else "-",
        "hip width / shoulder width": f"{np.median(hips):.2f}",
        "left/right shoulder swaps per frame": f"{np.mean(swaps):.2%}",
        "frames with a limb cut or missing": f"{np.mean(cut):.0%}" if cut else "-",
    }


def annotated(path: Path, split: str) -> list:
    from skelcam.train.data import load_pyskl

    data = load_pyskl(path)
    return [(data.clips[i].keypoints[0], data.clips[i].scores[0], data.clips[i].img_shape)
            for i in data.split(split)]


def recorded(manifest: Path, pose: str) -> list:
    """The subject's poses of every manifest clip that has a cached recording."""
    from skelcam.realtime.pose.model_files import cache_dir
    from skelcam.realtime.pose.recording import PoseRecording, backend_description, cache_path
    from skelcam.train.video_eval import read_manifest

    out = []
    for clip in read_manifest(manifest):
        path = cache_path(cache_dir() / "poses", clip.path, backend_description(
            pose, {"max_people": 4}))
        if not path.is_file():
            continue
        recording = PoseRecording.load(path)
        frames = [p for p in recording.frames if len(p)]
        if not frames:
            continue
        biggest = [int(np.argmax(np.prod(p.boxes[:, 2:] - p.boxes[:, :2], axis=1)))
                   for p in frames]
        xy = np.stack([p.xy[i] for p, i in zip(frames, biggest, strict=True)])
        sc = np.stack([p.scores[i] for p, i in zip(frames, biggest, strict=True)])
        out.append((xy, sc, (recording.height, recording.width)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="train_fit")
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--pose", action="append", default=[])
    args = parser.parse_args()
    columns = {"Penn Action annotations": measures(annotated(args.data, args.split))}
    for pose in args.pose or ["mediapipe"]:
        columns[f"{pose} on the dev clips"] = measures(recorded(args.manifest, pose))
    table = Table(title="live poses vs annotated joints (subject = largest person)")
    table.add_column("measure")
    for name in columns:
        table.add_column(name, justify="right")
    for key in next(iter(columns.values())):
        table.add_row(key, *(str(c[key]) for c in columns.values()))
    Console().print(table)


if __name__ == "__main__":
    main()
