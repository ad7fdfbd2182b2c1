"""Which training changes matter on real video: one fine-tune per left-out group, on the dev set.

    python -m bench.ablation --data runs/penn_action.pkl \
        --manifest ../shared/data/clips/penn-dev/manifest.tsv \
        --init runs/first_release.pt --epochs 3 --out runs/ablation

Every variant is the same fine-tune (same start weights, epochs, seed, negatives) with one group
of augmentations switched off, so that the difference to the `full` row is what that group is
worth. Each variant is trained, exported to ONNX and run through `evaluate-videos` on the cached
poses, as separate processes (the same commands a user would type), and a variant whose files
already exist is not redone: an interrupted ablation picks up where it stopped. Clip top-1 is
quoted without the "no known action" threshold, since the variants are not calibrated.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Each group leaves out what the issue names as one kind of mismatch between annotations and
# live poses; `full` leaves out nothing.
GROUPS: dict[str, str] = {
    "full": "",
    "no_time": "live_window=0,speed=1:1,partial=0,loop=0",
    "no_noise": "jitter=0,offset=0,joint_drop=0,frame_drop=0,swap=0",
    "no_view": "shear=0,hip_width=1:1,virtual_camera=0",
    "no_framing": "cut=0",
}
NEGATIVES = ("nw_ucla.pkl:xview_train", "utd_mhad.pkl:xsub_train", "utkinect.pkl:half_train",
             "sbu.pkl:fold1_train")
PENN_LIKE = "bowling,baseball_swing,tennis_forehand_swing,tennis_serve,squat"


def _run(command: list[str], log: Path) -> None:
    with log.open("a") as out:
        out.write("$ " + " ".join(command) + "\n")
        out.flush()
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        sys.exit(f"error: '{' '.join(command[:4])} ...' failed (exit {done.returncode}); see {log}")


def run_variant(name: str, args: argparse.Namespace) -> dict:
    folder = args.out / name
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "log.txt"
    python = sys.executable
    data_dir = args.data.parent
    if not (folder / "summary.json").is_file():
        command = [python, "-m", "train", "fit", "--data", str(args.data), "--train-split",
                   "train_fit", "--val-split", "val", "--out", str(folder), "--init",
                   str(args.init), "--epochs", str(args.epochs), "--lr", "0.01",
                   "--warmup-epochs", "1", "--seed", str(args.seed)]
        if name != "no_negatives":
            for spec in NEGATIVES:
                command += ["--negatives", str(data_dir / spec)]
            command += ["--exclude-classes", PENN_LIKE]
        if GROUPS.get(name):
            command += ["--augment", GROUPS[name]]
        _run(command, log)
    onnx = folder / "best.onnx"
    if not onnx.is_file():
        _run([python, "export/to_onnx.py", "--checkpoint", str(folder / "best.pt"),
              "--out", str(onnx)], log)
    dev = folder / "dev.json"
    if not dev.is_file():
        _run([python, "-m", "train", "evaluate-videos", "--manifest", str(args.manifest),
              "--pose", args.pose, "--weights", str(onnx), "--json", str(dev)], log)
    summary = json.loads((folder / "summary.json").read_text())
    metrics = json.loads(dev.read_text())
    return {"variant": name, "val_top1": summary["best_val_top1"],
            "clip_top1": metrics["clip_top1_no_reject"], "clip_top5": metrics["clip_top5"],
            "window_top1": metrics["window_top1"], "clips": metrics["clips"],
            "fit_seconds": summary["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True,
                        help="Penn Action pickle; the negatives' pickles sit beside it")
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--init", type=Path, required=True, help="start weights of every variant")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pose", default="mediapipe")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--variants", default=",".join([*GROUPS, "no_negatives"]),
                        help="comma-separated, from: " + ", ".join([*GROUPS, "no_negatives"]))
    args = parser.parse_args()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = sorted(set(names) - {*GROUPS, "no_negatives"})
    if unknown:
        sys.exit(f"error: unknown variant(s) {', '.join(unknown)}")
    console = Console()
    rows = [run_variant(name, args) for name in names]
    (args.out / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = Table(title=f"ablation: {args.epochs}-epoch fine-tunes from {args.init.name}, "
                        f"dev set with {args.pose} (clip top-1 without rejection)")
    for column in ("variant", "left out", "val top-1", "dev clip top-1", "dev top-5",
                   "window top-1", "fit s"):
        table.add_column(column, justify="left" if column in ("variant", "left out") else "right")
    for row in rows:
        left_out = ("negatives" if row["variant"] == "no_negatives"
                    else GROUPS[row["variant"]] or "-")
        clips = row["clips"]
        table.add_row(row["variant"], left_out, f"{row['val_top1']:.2%}",
                      f"{row['clip_top1']:.1%} ({round(row['clip_top1'] * clips)}/{clips})",
                      f"{row['clip_top5']:.1%}", f"{row['window_top1']:.1%}",
                      f"{row['fit_seconds']:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
