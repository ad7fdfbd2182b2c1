"""`skelcam replay`: one dataset sample drawn with the model's top-5 and its true label.

It draws the sample's skeletons on its video when one is given (as PYSKL's and MMAction2's demos
do), otherwise on a black canvas of the sample's image size, so a user can see what the model was
trained on and check a prediction by eye.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console

from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.draw import SkeletonAnnotator, TopKAnnotator
from skelcam.realtime.signals import graceful_interrupts
from skelcam.realtime.writer import VideoWriter, check_output_path
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.shipped import ONNX_MODEL
from skelcam.train.windowing import sample_window, select_persons

DEFAULT_FPS = 30.0


def build_replay_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skelcam replay", description=__doc__)
    parser.add_argument("--data", type=Path, required=True, help="a PYSKL skeleton pickle")
    parser.add_argument("--index", type=int, required=True, help="annotation index in the pickle")
    parser.add_argument("--video", type=Path, help="the sample's video (default: black canvas)")
    parser.add_argument("--save", type=Path, required=True, help="output video (.mp4 or .avi)")
    parser.add_argument("--weights", type=Path, default=ONNX_MODEL)
    parser.add_argument("--labels", type=Path, help="class names of the pickle, one per line")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--verbose", action="store_true")
    return parser


def _frames(video: Path | None, count: int, size: tuple[int, int]):
    """The sample's video frames, or black frames of `size` (width, height)."""
    if video is None:
        for _ in range(count):
            yield np.zeros((size[1], size[0], 3), np.uint8)
        return
    from skelcam.realtime.capture import open_source

    with open_source(str(video)) as source:
        for frame in source:
            if frame.index >= count:
                return
            yield frame.image


def _banner(image: np.ndarray, text: str) -> None:
    scale = image.shape[0] / 900
    thickness = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(4, round(8 * scale))
    cv2.rectangle(image, (0, 0), (w + 2 * pad, h + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(image, text, (pad, pad + h), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                thickness, cv2.LINE_AA)


def run_replay(args: argparse.Namespace, console: Console) -> int:
    save = check_output_path(args.save)
    classifier = ActionClassifier(args.weights, device=args.device)
    labels = None
    if args.labels is not None:
        labels = [x.strip() for x in args.labels.read_text().splitlines() if x.strip()]
    data = load_pyskl(args.data, labels)
    if not 0 <= args.index < len(data.clips):
        raise SkelcamError(f"--index {args.index} is outside 0..{len(data.clips) - 1}")
    clip = data.clips[args.index]
    truth = data.class_names[clip.label]
    if truth not in classifier.labels:
        raise SkelcamError(
            f"sample {args.index} is '{truth}', which is not one of the {len(classifier.labels)} "
            f"classes of '{classifier.path.name}' ({', '.join(classifier.labels[:4])}, ...): "
            "replay it with the model trained on this data (--weights), or name the pickle's "
            "classes with --labels"
        )

    kp, sc = select_persons(clip.keypoints, clip.scores, classifier.num_persons)
    window_kp, window_sc = sample_window(kp, sc, classifier.window)
    probs = classifier.probabilities(window_kp[None], window_sc[None])
    top = classifier.top_k(probs)[0]

    fps, count = DEFAULT_FPS, clip.keypoints.shape[1]
    if args.video is not None:
        from skelcam.realtime.capture import open_source

        with open_source(str(args.video)) as probe:
            size = (probe.info.width, probe.info.height)
            fps = probe.info.fps
            frames = probe.info.frame_count
        # A sample's skeletons have one frame per video frame; a video of another length is
        # another clip, and drawing on it would show skeletons over someone else.
        if frames is not None and abs(frames - count) > max(1, round(0.02 * count)):
            raise SkelcamError(
                f"--video '{args.video}' has {frames} frames but sample {args.index} "
                f"({clip.name}) has {count}: it is not this sample's video"
            )
    elif clip.img_shape is not None:
        size = (clip.img_shape[1], clip.img_shape[0])
    else:
        size = (int(kp[..., 0].max()) + 20, int(kp[..., 1].max()) + 20)

    persons = clip.keypoints.shape[0]
    ids = np.arange(persons)
    skeletons, topk = SkeletonAnnotator(), TopKAnnotator(classifier.labels)
    with graceful_interrupts(), VideoWriter(save, fps, size) as writer:
        for t, image in enumerate(_frames(args.video, count, size)):
            xy, scores = clip.keypoints[:, t], clip.scores[:, t]
            skeletons.annotate(image, xy, scores, ids)
            seen = scores[0] > 0
            if seen.any():
                box = np.concatenate([xy[0][seen].min(0), xy[0][seen].max(0)])[None]
                topk.annotate(image, box, probs, ids[:1])
            _banner(image, f"#{args.index} {clip.name}  truth: {truth}  predicted: {top.labels[0]}")
            writer.write(image)
    console.print(f"sample {args.index} ({clip.name}): truth {truth}; top-5 "
                  + ", ".join(f"{n} {p:.0%}" for n, p in zip(top.labels, top.probabilities,
                                                             strict=True)))
    console.print(f"wrote {save} ({writer.frames_written} frames)")
    return 0
