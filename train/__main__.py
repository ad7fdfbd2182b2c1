"""`python -m train {convert,fit,evaluate}`: the training command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from train.errors import SkelcamError, print_error
from train.preprocess import FEATURE_GROUPS

# The everyday-action skeleton sets `train.kinect_convert` reads (named here so that building
# the parser does not import the readers).
SKELETON_SETS = {
    "nw-ucla": "Northwestern-UCLA Multiview Action3D .json skeletons",
    "utd-mhad": "UTD-MHAD *_skeleton.mat files",
    "utkinect": "UTKinect-Action3D joints_*.txt and actionLabel.txt",
    "sbu": "SBU Kinect Interaction sPPsQQ/CC/NNN/skeleton_pos.txt",
    "ntu-skeleton": "NTU RGB+D raw .skeleton files",
}


def _read_label_names(path: Path | None) -> list[str] | None:
    if path is None:
        return None
    if not path.is_file():
        raise SkelcamError(f"label names file '{path}' does not exist")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise SkelcamError(f"label names file '{path}' is empty")
    return names


def _convert(args: argparse.Namespace, console: Console) -> None:
    from train.convert import convert_penn_action

    summary = convert_penn_action(args.labels_dir, args.out)
    console.print(
        f"wrote {summary['out']}: {summary['clips']} clips, {summary['classes']} classes "
        f"(splits: train {summary['train']}, test {summary['test']}, "
        f"train_fit {summary['train_fit']}, val {summary['val']})"
    )


def _convert_skeletons(args: argparse.Namespace, console: Console) -> None:
    from rich.markup import escape

    from train.kinect_convert import convert_skeletons

    errors = Console(stderr=True)
    summary = convert_skeletons(
        args.dataset, args.folder, args.out,
        lambda line: errors.print(f"[yellow]warning:[/] {escape(line)}", highlight=False,
                                  soft_wrap=True),
    )
    splits = ", ".join(f"{name} {count}" for name, count in summary["splits"].items())
    console.print(
        f"wrote {summary['out']}: {summary['clips']} clips, {summary['classes']} classes "
        f"(splits: {splits}); {summary['skipped']} skipped", highlight=False, soft_wrap=True
    )


def _fit(args: argparse.Namespace, console: Console) -> None:
    from train.data import load_pyskl
    from train.fit import FitOptions, fit

    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    unknown = sorted(set(features) - set(FEATURE_GROUPS)) or ([] if features else ["(none)"])
    if unknown:
        raise SkelcamError(f"unknown --features {', '.join(unknown)} "
                           f"(choose from {', '.join(FEATURE_GROUPS)})")
    data = load_pyskl(args.data, _read_label_names(args.labels))
    options = FitOptions(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, window=args.window,
        seed=args.seed, val_fraction=args.val_fraction, device=args.device,
        features=features,
    )
    summary = fit(data, args.train_split, args.val_split, args.out, options, console, args.resume)
    console.print(
        f"best validation top-1 {summary['best_val_top1']:.2%} in {summary['seconds']:.0f} s; "
        f"checkpoints in {args.out}"
    )


def _evaluate(args: argparse.Namespace, console: Console) -> None:
    from train.data import load_pyskl
    from train.evaluate import evaluate
    from train.report import print_metrics, save_confusion_png, save_json

    data = load_pyskl(args.data, _read_label_names(args.labels))
    metrics, _ = evaluate(data, args.split, args.checkpoint, args.model)
    source = args.model or args.checkpoint
    print_metrics(console, metrics, f"{source} on {Path(args.data).name}:{args.split}")
    if args.json:
        save_json(metrics, args.json, {
            "model": str(source),
            "data": str(args.data),
            "split": args.split,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m train " + shlex.join(sys.argv[1:]),
        })
        console.print(f"metrics written to {args.json}")
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        png = args.plots / "confusion_matrix.png"
        save_confusion_png(metrics, png)
        console.print(f"confusion matrix written to {png}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    conv = sub.add_parser("convert", help="convert a data set's annotations to a PYSKL pickle")
    conv_sub = conv.add_subparsers(dest="dataset", required=True)
    penn = conv_sub.add_parser("penn-action", help="Penn Action .mat joint annotations")
    penn.add_argument("labels_dir", type=Path)
    penn.add_argument("out", type=Path)
    penn.set_defaults(run=_convert)
    for name, what in SKELETON_SETS.items():
        skeletons = conv_sub.add_parser(name, help=what)
        skeletons.add_argument("folder", type=Path)
        skeletons.add_argument("out", type=Path)
        skeletons.set_defaults(run=_convert_skeletons)

    fit = sub.add_parser("fit", help="train a classifier on a PYSKL pickle")
    fit.add_argument("--data", type=Path, required=True)
    fit.add_argument("--train-split", required=True)
    fit.add_argument("--val-split", help="validation split; if omitted, carved from train")
    fit.add_argument("--out", type=Path, required=True, help="folder for checkpoints")
    fit.add_argument("--labels", type=Path, help="class names, one per line")
    fit.add_argument("--epochs", type=int, default=60)
    fit.add_argument("--batch-size", type=int, default=32)
    fit.add_argument("--lr", type=float, default=0.05)
    fit.add_argument("--window", type=int, default=48)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--val-fraction", type=float, default=0.15)
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--features", default=",".join(FEATURE_GROUPS),
                     help="input feature groups, comma-separated (default: all of them)")
    fit.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    fit.set_defaults(run=_fit)

    ev = sub.add_parser("evaluate", help="metrics of a checkpoint or ONNX model on a split")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--split", required=True)
    group = ev.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", type=Path)
    group.add_argument("--model", type=Path, help="an exported .onnx file")
    ev.add_argument("--labels", type=Path, help="class names, one per line")
    ev.add_argument("--json", type=Path, help="write the metrics here")
    ev.add_argument("--plots", type=Path, help="folder for the confusion-matrix PNG")
    ev.set_defaults(run=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        args.run(args, console)
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
