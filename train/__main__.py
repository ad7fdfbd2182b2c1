"""`python -m train {convert,fit,evaluate,evaluate-videos}`: the training command line."""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from skelcam.train.errors import ReportedElsewhere, SkelcamError, print_error
from skelcam.train.preprocess import FEATURE_GROUPS

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
    from skelcam.train.convert import convert_penn_action

    summary = convert_penn_action(args.labels_dir, args.out)
    console.print(
        f"wrote {summary['out']}: {summary['clips']} clips, {summary['classes']} classes "
        f"(splits: train {summary['train']}, test {summary['test']}, "
        f"train_fit {summary['train_fit']}, val {summary['val']})"
    )


def _convert_skeletons(args: argparse.Namespace, console: Console) -> None:
    from rich.markup import escape

    from skelcam.train.kinect_convert import convert_skeletons

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


def _convert_videos(args: argparse.Namespace, console: Console) -> None:
    from skelcam.train.video_poses import convert_videos

    names = _read_label_names(args.labels)
    summary = convert_videos(args.manifest, args.out, names, _live_settings(args), args.folds,
                             args.add_to, args.segment_s)
    splits = ", ".join(f"{name} {count}" for name, count in summary["splits"].items())
    skipped = f"; nobody tracked long enough in {', '.join(summary['skipped'])}" \
        if summary["skipped"] else ""
    console.print(f"wrote {summary['out']}: {summary['clips']} video clips (splits: {splits})"
                  f"{skipped}", highlight=False, soft_wrap=True)


def _merge_daily(args: argparse.Namespace, console: Console) -> None:
    from skelcam.train.daily import merge_daily

    summary = merge_daily(args.pickles, args.out, args.unknown_out)
    datasets = ", ".join(f"{name} {count}" for name, count in summary["per_dataset"].items())
    smallest, count = summary["smallest_class"]
    console.print(
        f"wrote {summary['out']}: {summary['clips']} clips of {summary['classes']} daily classes "
        f"(train {summary['train']}, test {summary['test']}; {datasets}; smallest class "
        f"{smallest} {count}); {summary['unknown_clips']} clips of no everyday action"
        + (f" -> {args.unknown_out}" if args.unknown_out else " left out"),
        highlight=False, soft_wrap=True,
    )
    if summary["missing_labels"]:
        missing = ", ".join(summary["missing_labels"])
        Console(stderr=True).print(f"[yellow]warning:[/] no clips for {missing}",
                                   highlight=False, soft_wrap=True)


def _fit(args: argparse.Namespace, console: Console) -> None:
    """Also what every process of `torchrun --nproc-per-node N -m train fit ...` runs: the
    session is opened before the data is read, so that a bad input is reported once, not N
    times (`train.distributed`), and only rank 0 prints."""
    from skelcam.train.distributed import session

    with session(args.device) as ranks:
        summary = _load_and_fit(args, console)
    if ranks.is_main:
        console.print(
            f"best validation top-1 {summary['best_val_top1']:.2%} in "
            f"{summary['seconds']:.0f} s; checkpoints in {args.out}"
        )


def _load_and_fit(args: argparse.Namespace, console: Console) -> dict:
    from skelcam.train.data import load_pyskl
    from skelcam.train.fit import FitOptions, fit

    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    unknown = sorted(set(features) - set(FEATURE_GROUPS)) or ([] if features else ["(none)"])
    if unknown:
        raise SkelcamError(f"unknown --features {', '.join(unknown)} "
                           f"(choose from {', '.join(FEATURE_GROUPS)})")
    data = load_pyskl(args.data, _read_label_names(args.labels))
    options = FitOptions(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, window=args.window,
        seed=args.seed, val_fraction=args.val_fraction, device=args.device,
        features=features, augment=_parse_augment(args.augment),
        negative_weight=args.negative_weight, negative_share=args.negative_share,
        init=str(args.init) if args.init else None, warmup_epochs=args.warmup_epochs,
        repeat_threshold=args.repeat_threshold, pair_head=args.pair_head,
    )
    negatives = [_load_negatives(spec, args.exclude_classes) for spec in args.negatives]
    return fit(data, args.train_split, args.val_split, args.out, options, console, args.resume,
               negatives)


def _parse_augment(text: str):
    """`name=value,...` overrides of `train.data.Augment`'s fields (for ablations)."""
    from dataclasses import fields, replace

    from skelcam.train.data import Augment

    types = {f.name: f.type for f in fields(Augment)}
    changes: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in types or not value:
            raise SkelcamError(f"--augment: '{item}' is not NAME=VALUE with NAME one of "
                               f"{', '.join(types)}")
        try:
            parts = [float(v) for v in value.split(":")]
        except ValueError:
            raise SkelcamError(f"--augment: '{item}' needs a number or LO:HI") from None
        ranged = isinstance(getattr(Augment(), name), tuple)
        if ranged != (len(parts) == 2) or len(parts) > 2:
            form = "LO:HI, e.g. speed=0.5:2" if ranged else "one number"
            raise SkelcamError(f"--augment: {name} takes {form}")
        changes[name] = tuple(parts) if ranged else parts[0]
    return replace(Augment(), **changes)


def _load_negatives(spec: str, exclude: str = ""):
    """`PKL[:SPLIT]`: clips of no known action (all of the file's clips without SPLIT), less
    those of the classes named in `exclude` (comma-separated: e.g. UTD-MHAD's tennis_serve,
    which is one of Penn Action's actions and must not be taught as "no known action")."""
    from skelcam.train.data import load_pyskl

    path, _, split = spec.partition(":") if not Path(spec).is_file() else (spec, "", "")
    data = load_pyskl(path)
    indices = data.split(split) if split else list(range(len(data.clips)))
    excluded = {name.strip() for name in exclude.split(",") if name.strip()}
    dropped = {i for i, name in enumerate(data.class_names) if name in excluded}
    return data, [i for i in indices if data.clips[i].label not in dropped]


def _evaluate(args: argparse.Namespace, console: Console) -> None:
    from skelcam.train.data import load_pyskl
    from skelcam.train.evaluate import evaluate
    from skelcam.train.report import print_metrics, save_confusion_png, save_json

    data = load_pyskl(args.data, _read_label_names(args.labels))
    metrics, _ = evaluate(data, args.split, args.checkpoint, args.model, clips=args.clips)
    source = args.model or args.checkpoint
    print_metrics(console, metrics, f"{source} on {Path(args.data).name}:{args.split}")
    if args.json:
        save_json(metrics, args.json, {
            "model": str(source),
            "data": str(args.data),
            "split": args.split,
            "clips": args.clips,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m train " + shlex.join(sys.argv[1:]),
        })
        console.print(f"metrics written to {args.json}")
    if args.plots:
        args.plots.mkdir(parents=True, exist_ok=True)
        png = args.plots / "confusion_matrix.png"
        save_confusion_png(metrics, png)
        console.print(f"confusion matrix written to {png}")


def _evaluate_videos(args: argparse.Namespace, console: Console) -> None:
    from skelcam.train.report import save_confusion_png, save_record
    from skelcam.train.video_eval import decision_metrics, print_summary, run_evaluation, summarize

    live = _live_settings(args)
    pose, options = live.pose, live.pose_options
    results, names, classifier = run_evaluation(args.manifest, args.weights, live, console,
                                                args.threshold)
    summary = summarize(results, names)
    print_summary(console, summary, f"{args.weights.name} on {args.manifest} (pose: {pose})")
    if args.json:
        save_record(args.json, {
            "model": str(args.weights), "manifest": str(args.manifest), "pose": pose,
            "pose_options": {k: str(v) for k, v in options.items()}, "stride": args.stride,
            "smoothing": args.smoothing, "smooth": live.smooth,
            "unknown_threshold": classifier.unknown_threshold,
            "threshold_backend": classifier.threshold_backend,
            "temperature": classifier.temperature,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m train " + shlex.join(sys.argv[1:]), **summary,
        })
        console.print(f"results written to {args.json}")
    if args.plots:
        png = args.plots / "video_confusion_matrix.png"
        save_confusion_png(decision_metrics(results, names), png,
                           f"Real-video clip decisions ({pose})")
        console.print(f"confusion matrix written to {png}")


def _live_settings(args: argparse.Namespace):
    """The pose backend (with `auto` resolved, as skelcam resolves it), its options, the pose
    cache, stride and smoothing of an evaluation's replay."""
    from skelcam.realtime.pose import available_backends
    from skelcam.realtime.pose.model_files import cache_dir
    from skelcam.realtime.pose.smoothing import smoothing_wanted
    from skelcam.train.video_eval import LiveSettings

    if args.stride < 1:
        raise SkelcamError("--stride must be at least 1")
    options = {"max_people": args.max_people, "det_model": args.det_model,
               "pose_model": args.pose_model}
    options = {k: v for k, v in options.items() if v is not None}
    pose = args.pose
    if pose == "auto":
        candidates = available_backends(**options)
        if not candidates:
            raise SkelcamError("no pose backend can run here; name one with --pose")
        pose = candidates[0]
    cache = None if args.no_cache else (args.cache or cache_dir() / "poses")
    return LiveSettings(pose, options, cache, args.stride, args.smoothing,
                        smoothing_wanted(pose, args.smooth))


def _time_spans(text: str | None) -> tuple[float, ...] | None:
    """`--time-spans 1,2` as (1.0, 2.0); None when not given."""
    if text is None:
        return None
    from skelcam.train.windowing import checked_spans

    try:
        return checked_spans(text.split(","))
    except ValueError:
        raise SkelcamError(f"--time-spans '{text}': give positive numbers separated by commas, "
                           "e.g. 1,2") from None


def _calibrate(args: argparse.Namespace, console: Console) -> None:
    from rich.table import Table

    from skelcam.train.calibrate import calibrate
    from skelcam.train.data import load_pyskl
    from skelcam.train.report import save_record

    live = _live_settings(args)
    time_spans = _time_spans(args.time_spans)
    data = load_pyskl(args.data)
    unknown_sets = [(spec, *_load_negatives(spec, args.exclude_classes))
                    for spec in args.unknowns]
    if args.manifest is None and args.known_split is None:
        raise SkelcamError("calibrate needs --manifest (real clips) and/or --known-split "
                           "(sequences of the model's classes) for the false-rejection side")
    report = calibrate(args.checkpoint, data, args.val_split, args.manifest,
                       args.unknown_manifest, unknown_sets, live, args.max_false_rejection,
                       console, args.known_split, time_spans, args.unknown_score)
    table = Table(title=f"calibration of {args.checkpoint}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("temperature (validation NLL)", f"{report['temperature']:.3f}")
    table.add_row("time spans (windows)", ", ".join(f"{s:g}" for s in report["time_spans"]))
    table.add_row("known-action score", report["unknown_score"])
    table.add_row(f"no-known-action threshold ({live.pose})", f"{report['unknown_threshold']:.3f}")
    others = {k: v for k, v in report["unknown_thresholds"].items() if k != live.pose}
    if others:
        table.add_row("  kept from earlier runs", ", ".join(f"{k} {v:.3f}"
                                                          for k, v in others.items()))
    table.add_row("  for other backends (lowest)", f"{report['fallback_threshold']:.3f}")
    table.add_row("dev clips rejected", f"{report['dev_false_rejection']:.1%} "
                  f"of {report['dev_clips']}")
    table.add_row("unknown sequences rejected", f"{report['unknown_rejection']:.1%} "
                  f"of {report['unknown_sequences']}")
    table.add_row("unknown sequences too short to classify", str(report["unknown_too_short"]))
    for group, rate in report["unknown_rejection_per_source"].items():
        table.add_row(f"  {group}", f"{rate:.1%}")
    console.print(table)
    if args.json:
        save_record(args.json, {**report, "pose": live.pose, "smooth": live.smooth,
                                "command": "python -m train " + shlex.join(sys.argv[1:])})
    console.print(f"calibration stored in {args.checkpoint}; export it with "
                  f"python export/to_onnx.py --checkpoint {args.checkpoint}")


def _add_live_options(parser: argparse.ArgumentParser) -> None:
    """The options that make an evaluation replay exactly what `skelcam` would run."""
    from skelcam.realtime.recognizer import DEFAULT_SMOOTHING, DEFAULT_STRIDE

    parser.add_argument("--pose", default="auto", help="pose backend, as skelcam --pose")
    parser.add_argument("--det-model", help="as skelcam --det-model")
    parser.add_argument("--pose-model", help="as skelcam --pose-model")
    parser.add_argument("--max-people", type=int, default=4)
    parser.add_argument("--stride", type=int, default=DEFAULT_STRIDE)
    parser.add_argument("--smoothing", type=float, default=DEFAULT_SMOOTHING)
    parser.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=None,
                        help="pass joints through the One Euro filter, as skelcam --smooth "
                        "(default: as skelcam, on for yolo)")
    parser.add_argument("--cache", type=Path,
                        help="pose cache folder (default: $SKELCAM_CACHE/poses or "
                             "~/.cache/skelcam/poses)")
    parser.add_argument("--no-cache", action="store_true", help="always rerun pose estimation")


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

    videos = conv_sub.add_parser("videos", help="labelled real videos (a manifest, as "
                                 "evaluate-videos reads) as estimated poses")
    videos.add_argument("manifest", type=Path)
    videos.add_argument("out", type=Path)
    videos.add_argument("--labels", type=Path, required=True,
                        help="the model's class names, one per line (e.g. weights/labels.txt)")
    videos.add_argument("--folds", type=int, default=2,
                        help="splits videos_fold1..K, each source whole (default 2)")
    videos.add_argument("--segment-s", type=float, default=0.0, metavar="S",
                        help="cut each video's track into clips of about S seconds "
                             "(default: one clip per video)")
    videos.add_argument("--add-to", type=Path, metavar="PKL",
                        help="also hold this pickle's clips and splits (same classes)")
    _add_live_options(videos)
    videos.set_defaults(run=_convert_videos)

    merge = sub.add_parser("merge-daily", help="merge the converted Kinect sets into one "
                           "everyday-action label set (train.daily)")
    merge.add_argument("pickles", type=Path, nargs="+",
                       help="the nw-ucla, utd-mhad, utkinect and sbu pickles of `convert`")
    merge.add_argument("--out", type=Path, required=True)
    merge.add_argument("--unknown-out", type=Path,
                       help="also write the clips of no everyday action here (for --negatives)")
    merge.set_defaults(run=_merge_daily)

    fit = sub.add_parser("fit", help="train a classifier on a PYSKL pickle")
    fit.add_argument("--data", type=Path, required=True)
    fit.add_argument("--train-split", required=True, help="a split, or a+b for the union")
    fit.add_argument("--val-split", help="validation split; if omitted, carved from train")
    fit.add_argument("--out", type=Path, required=True, help="folder for checkpoints")
    fit.add_argument("--labels", type=Path, help="class names, one per line")
    fit.add_argument("--epochs", type=int, default=60)
    fit.add_argument("--batch-size", type=int, default=32,
                     help="windows per step and process (under torchrun: per GPU)")
    fit.add_argument("--lr", type=float, default=0.05)
    fit.add_argument("--window", type=int, default=48)
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--val-fraction", type=float, default=0.15)
    fit.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    fit.add_argument("--features", default=",".join(FEATURE_GROUPS),
                     help="input feature groups, comma-separated (default: all of them)")
    fit.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    fit.add_argument("--negatives", action="append", default=[], metavar="PKL[:SPLIT]",
                     help="PYSKL pickle of clips of none of the actions (outlier exposure); "
                          "repeatable")
    fit.add_argument("--negative-weight", type=float, default=0.5)
    fit.add_argument("--negative-share", type=float, default=0.5,
                     help="negative windows per epoch, as a share of the training clips")
    fit.add_argument("--init", type=Path, metavar="CHECKPOINT",
                     help="start from this checkpoint's weights (same model; with other classes, "
                          "its backbone only)")
    fit.add_argument("--warmup-epochs", type=int, default=3)
    fit.add_argument("--pair-head", action="store_true",
                     help="two-person data: the head relates the subject and the partner "
                          "(see train.model.ModelConfig.pair_head)")
    fit.add_argument("--repeat-threshold", type=float, default=0.0, metavar="SHARE",
                     help="repeat the clips of classes with less than this share of the "
                          "training clips, sqrt(SHARE / share) times (LVIS repeat-factor "
                          "sampling); default 0: off")
    fit.add_argument("--exclude-classes", default="", metavar="NAME,...",
                     help="classes of the --negatives files to leave out (actions the model "
                          "knows)")
    fit.add_argument("--augment", default="", metavar="NAME=VALUE,...",
                     help="override augmentation settings (train.data.Augment), e.g. "
                          "'live_window=0,jitter=0' for an ablation")
    fit.set_defaults(run=_fit)

    ev = sub.add_parser("evaluate", help="metrics of a checkpoint or ONNX model on a split")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--split", required=True)
    group = ev.add_mutually_exclusive_group(required=True)
    group.add_argument("--checkpoint", type=Path)
    group.add_argument("--model", type=Path, help="an exported .onnx file")
    ev.add_argument("--labels", type=Path, help="class names, one per line")
    ev.add_argument("--clips", type=int, default=1,
                    help="windows per clip, probabilities averaged (PYSKL's test protocol uses "
                         "10; default 1: one window over the whole clip)")
    ev.add_argument("--json", type=Path, help="write the metrics here")
    ev.add_argument("--plots", type=Path, help="folder for the confusion-matrix PNG")
    ev.set_defaults(run=_evaluate)

    from skelcam.realtime.classifier import UNKNOWN_SCORES
    from skelcam.train.shipped import CHECKPOINT, ONNX_MODEL

    vid = sub.add_parser("evaluate-videos",
                         help="clip-level accuracy on real videos, through the live loop")
    vid.add_argument("--manifest", type=Path, required=True,
                     help="tab-separated, columns 'class' and 'file' (relative to the manifest)")
    vid.add_argument("--weights", type=Path, default=ONNX_MODEL,
                     help="skelcam ONNX classifier (default: the shipped one)")
    _add_live_options(vid)
    vid.add_argument("--threshold", type=float,
                     help="'no known action' threshold (default: the model's calibrated one)")
    vid.add_argument("--json", type=Path, help="write the results here")
    vid.add_argument("--plots", type=Path, help="folder for the confusion-matrix PNG")
    vid.set_defaults(run=_evaluate_videos)

    cal = sub.add_parser("calibrate", help="fit the temperature and the no-known-action "
                         "threshold, and store them in a checkpoint")
    cal.add_argument("--checkpoint", type=Path, default=CHECKPOINT)
    cal.add_argument("--data", type=Path, required=True, help="the training PYSKL pickle")
    cal.add_argument("--val-split", default="val", help="for the temperature (default: val)")
    cal.add_argument("--manifest", type=Path, help="real-video dev manifest")
    cal.add_argument("--known-split", metavar="SPLIT",
                     help="sequences of --data's split (held out from training, e.g. val) "
                     "replayed through the live loop as further dev clips")
    cal.add_argument("--unknowns", action="append", default=[], metavar="PKL[:SPLIT]",
                     help="skeleton sequences of no known action (held out from training)")
    cal.add_argument("--exclude-classes", default="", metavar="NAME,...",
                     help="classes of the --unknowns files to leave out")
    cal.add_argument("--unknown-manifest", action="append", default=[], type=Path,
                     help="real clips of no known action (a manifest)")
    cal.add_argument("--time-spans", metavar="S,...",
                     help="window spans the live loop averages, e.g. 1,2 (1.6 s and 3.2 s for "
                     "a 48-frame model; default: keep the checkpoint's, else 1)")
    cal.add_argument("--unknown-score", choices=UNKNOWN_SCORES,
                     help="what the threshold applies to: the logits' energy or the top-1 "
                     "probability (default: keep the checkpoint's, else energy)")
    cal.add_argument("--max-false-rejection", type=float, default=0.05,
                     help="largest share of dev clips the threshold may reject (default 0.05)")
    _add_live_options(cal)
    cal.add_argument("--json", type=Path, help="write the calibration report here")
    cal.set_defaults(run=_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console()
    try:
        args.run(args, console)
    except ReportedElsewhere:
        return 1
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
