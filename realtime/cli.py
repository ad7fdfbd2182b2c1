"""`skelcam`: live action recognition on a webcam or a video file.

    skelcam --camera 0
    skelcam --video in.mp4 --save out.mp4 --log out.jsonl
    skelcam --video rtsp://192.168.1.20:8554/cam --save out.mp4
    skelcam replay --data X.pkl --index 3 --save sample.mp4

Every input is checked before any work starts (save path, weights, source, pose backend), and
each problem is reported as one line with a non-zero exit. Stopping with q, Esc, Ctrl-C or
SIGTERM finalizes the saved video and the log, so an interrupted run leaves playable files; a
killed one (SIGKILL, a crash) leaves a video readable up to about its last second and every log
line written so far.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from skelcam.realtime.recognizer import DEFAULT_STRIDE
from skelcam.train.errors import SkelcamError, print_error
from skelcam.train.shipped import DEFAULT_MODEL, MODELS
from skelcam.train.windowing import DATASET_FPS

QUIT_KEYS = (ord("q"), 27)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skelcam", description="Real-time action recognition on human skeletons.",
        epilog="Also: skelcam replay --help",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int, metavar="INDEX", help="webcam index, e.g. 0")
    # A string, not a Path: Path("rtsp://host/cam") collapses the "//" and loses the URL.
    source.add_argument("--video", metavar="SOURCE", help="a video file, an image sequence "
                        "(frames/%%05d.jpg) or a stream URL (rtsp://, rtsps://, http://, https://)")
    parser.add_argument("--reconnect-timeout", type=float, default=30.0, metavar="S",
                        help="a network stream that drops is reopened for up to S seconds before "
                        "the run ends (default 30)")
    parser.add_argument("--save", type=Path, metavar="OUT", help="write the annotated video: "
                        ".mp4 (fragmented, H.264), .mkv (H.264) or .avi (MPEG-4 part 2)")
    parser.add_argument("--log", type=Path, metavar="OUT.jsonl",
                        help="one JSON line per person per classification")
    parser.add_argument("--pose", default="auto",
                        help="pose backend: auto, mmpose, rtm, mediapipe or yolo (default: auto)")
    parser.add_argument("--det-model", help="rtm: person detector, a model name or local .onnx")
    parser.add_argument("--pose-model", help="rtm: pose model, a model name or local .onnx; "
                        "yolo: a model name (e.g. yolo11n-pose), local .onnx or .pt")
    parser.add_argument("--pose-input-size", type=int, metavar="PX", help="yolo: network input "
                        "side; rtm: detector input side (default: the model's own)")
    parser.add_argument("--det-every", type=int, metavar="N", help="rtm, mmpose: detect people "
                        "every N frames, follow them from their keypoints in between")
    parser.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=None,
                        help="steady the joints with a One Euro filter per person (default: on "
                        "for yolo, off for mediapipe, whose joints are filtered already)")
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--model", choices=tuple(MODELS),
                       help=f"a shipped classifier by name (default: {DEFAULT_MODEL}): penn = 15 "
                       "sports (Penn Action), daily = 29 everyday and two-person actions")
    model.add_argument("--weights", type=Path, help="any skelcam ONNX classifier file")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--stride", type=int, default=DEFAULT_STRIDE,
                        help=f"classify every N frames (default {DEFAULT_STRIDE})")
    parser.add_argument("--max-people", type=int, default=4)
    parser.add_argument("--no-show", action="store_true",
                        help="no window (automatic when there is no display)")
    parser.add_argument("--verbose", action="store_true")
    return parser


def display_available() -> bool:
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def check_log_path(path: Path) -> Path:
    if path.is_dir():
        raise SkelcamError(f"--log '{path}' is a directory")
    if not path.parent.is_dir():
        raise SkelcamError(f"cannot write log '{path}': folder '{path.parent}' does not exist")
    if not os.access(path.parent, os.W_OK):
        raise SkelcamError(f"cannot write log '{path}': folder is not writable")
    return path


def pose_options(args: argparse.Namespace) -> dict[str, object]:
    """The pose-backend options the user set (a backend that does not take one says so)."""
    given = {"det_model": args.det_model, "pose_model": args.pose_model,
             "input_size": args.pose_input_size, "det_every": args.det_every}
    return {k: v for k, v in given.items() if v is not None}


def run(args: argparse.Namespace, console: Console) -> int:
    """Validate everything, then run the loop; returns the exit code."""
    from skelcam.realtime.action_log import ActionLog
    from skelcam.realtime.capture import open_source
    from skelcam.realtime.classifier import ActionClassifier
    from skelcam.realtime.loop import Overlay, run_loop
    from skelcam.realtime.pose import create_backend
    from skelcam.realtime.pose.smoothing import KeypointSmoother, smoothing_wanted
    from skelcam.realtime.recognizer import ActionRecognizer
    from skelcam.realtime.signals import graceful_interrupts
    from skelcam.realtime.writer import VideoWriter, check_output_path

    if args.stride < 1:
        raise SkelcamError("--stride must be at least 1")
    if args.max_people < 1:
        raise SkelcamError(f"--max-people must be at least 1 (got {args.max_people})")
    if args.reconnect_timeout < 0:
        raise SkelcamError("--reconnect-timeout must be 0 or more seconds")
    save = check_output_path(args.save) if args.save else None
    log_path = check_log_path(args.log) if args.log else None
    weights = args.weights or MODELS[args.model or DEFAULT_MODEL].onnx
    classifier = ActionClassifier(weights, device=args.device)
    source = open_source(args.camera if args.camera is not None else args.video,
                         reconnect_timeout_s=args.reconnect_timeout)
    info = source.info
    backend = create_backend(args.pose, device=args.device, max_people=args.max_people,
                             **pose_options(args))
    classifier.use_pose_backend(backend.name)
    smooth = smoothing_wanted(backend.name, args.smooth)
    if classifier.fallback_warning:
        logging.getLogger("skelcam").warning(classifier.fallback_warning)
    console.print(
        f"source {info.name}: {info.width}x{info.height} @ {info.fps:.1f} fps"
        + (f", {info.frame_count} frames" if info.frame_count else "")
        + f" | pose: {backend.name} ({backend.device})"
        + (f" [auto: {backend.reason}]" if backend.reason else "")
        + (", One Euro smoothing" if smooth else "")
        + f" | classifier: {classifier.path.name} on {classifier.providers[0]}"
        + ", no known action below "
        + ("energy " if classifier.unknown_score == "energy" else "")
        + f"{classifier.unknown_threshold:.2f}"
        + (f" (calibrated on {classifier.threshold_backend})" if classifier.threshold_backend
           else "")
        + ", windows of " + " + ".join(f"{span * classifier.window / DATASET_FPS:.1f}"
                                      for span in classifier.time_spans) + " s",
        soft_wrap=True,
    )
    show = not args.no_show and display_available()
    smoother = KeypointSmoother(info.fps) if smooth else None
    recognizer = ActionRecognizer(backend, classifier, info.fps, args.stride, smoother=smoother)
    overlay = Overlay(classifier.labels, backend.name, classifier.device)

    with ExitStack() as stack:
        stack.enter_context(graceful_interrupts())
        stack.enter_context(source)
        stack.callback(backend.close)
        writer = stack.enter_context(VideoWriter(save, info.fps, (info.width, info.height))) \
            if save else None
        log = stack.enter_context(ActionLog(log_path)) if log_path else None
        progress = stack.enter_context(_progress(console, info.frame_count))
        task = progress.add_task("frames", total=info.frame_count)

        def on_frame(image: np.ndarray) -> bool:
            progress.update(task, advance=1)
            return _show(image) if show else True

        try:
            stats = run_loop(source, recognizer, overlay, classifier, writer, log, on_frame)
        finally:
            if show:
                cv2.destroyAllWindows()
    _summary(console, stats, source.info, save, log_path, _clip_decision(recognizer, classifier))
    return 130 if stats.status == "interrupted" else 0


def _show(image: np.ndarray) -> bool:
    """Show the frame; False when the user pressed q or Esc."""
    try:
        cv2.imshow("skelcam", image)
        return (cv2.waitKey(1) & 0xFF) not in QUIT_KEYS
    except cv2.error as exc:
        raise SkelcamError(f"cannot open a window ({exc.err}); use --no-show") from None


def _progress(console: Console, total: int | None) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, disable=total is None)


def _clip_decision(recognizer, classifier) -> str:
    """The whole run's verdict by the clip rule of `realtime.decision`, for the summary."""
    from skelcam.realtime.draw import NO_KNOWN_ACTION_TEXT

    scores = recognizer.vote.scores
    if scores is None:
        return "nobody classified"
    label = recognizer.vote.decide(classifier.unknown_threshold)
    best = float(scores.max())
    return f"{NO_KNOWN_ACTION_TEXT} (best {classifier.labels[int(scores.argmax())]} {best:.2f})" \
        if label is None else f"{classifier.labels[label]} ({best:.2f})"


def _summary(console: Console, stats, info, save: Path | None, log_path: Path | None,
             decision: str) -> None:
    table = Table(title=f"skelcam: {stats.status}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("frames", str(stats.frames))
    table.add_row("end-to-end FPS", f"{stats.fps:.1f}")
    for stage, ms in stats.stage_ms.items():
        table.add_row(f"{stage} ms (mean)", f"{ms:.1f}")
    table.add_row("capture->overlay latency ms (median / p90)",
                  f"{stats.latency(50):.0f} / {stats.latency(90):.0f}")
    table.add_row("main person's action (whole run)", decision)
    if info.is_camera:
        table.add_row("camera frames dropped (stale)", str(stats.dropped))
    if save:
        table.add_row("video", str(save))
    if log_path:
        table.add_row("log", str(log_path))
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = Console(stderr=False)
    errors = Console(stderr=True)
    if argv and argv[0] == "replay":
        from skelcam.realtime.replay import build_replay_parser, run_replay

        args = build_replay_parser().parse_args(argv[1:])
        runner = run_replay
    else:
        args = build_parser().parse_args(argv)
        runner = run
    # OpenCV logs its own probing (e.g. every camera backend it tries) on stderr; errors that
    # matter reach the user as SkelcamError lines instead.
    cv2.setLogLevel(0 if not args.verbose else 3)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(message)s", handlers=[RichHandler(console=errors, show_time=False,
                                                                    show_path=False)])
    try:
        return runner(args, console)
    except SkelcamError as exc:
        print_error(str(exc))
        return 2
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
