"""`python -m train evaluate-videos`: accuracy on real footage, through the live loop's own code.

Annotated joints flatter a skeleton model: real footage brings pose-estimator jitter, missed and
swapped joints, people cut by the frame, slow motion, camera cuts and bystanders. This evaluation
runs every clip of a manifest through exactly what `skelcam --video` runs (the pose backend, the
tracker, the per-person window, the ONNX classifier, the stride, the smoothing, the
"no known action" rule and the clip decision of `realtime.decision`) and scores the result.

Poses are cached per (clip content, backend configuration) as `realtime.pose.recording` files,
so classifier experiments replay recorded poses instead of rerunning pose estimation.

A manifest is tab-separated with a header naming at least the columns `class` and `file` (file
relative to the manifest). A class of `unknown` marks a clip of none of the model's actions: it
counts as right when the clip is rejected as "no known action".
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from skelcam.train.errors import SkelcamError

UNKNOWN_CLASS = "unknown"


@dataclass(frozen=True)
class LiveSettings:
    """What makes a replay run exactly what `skelcam` would: the pose backend and its options
    (e.g. `max_people`, `pose_model`), where recorded poses are cached (None: never), the
    recognizer's stride and probability smoothing, and whether joints pass through the One Euro
    filter (`skelcam --smooth`; the cache keeps the raw poses, so one recording serves both)."""

    pose: str
    pose_options: dict[str, Any]
    cache_dir: Path | None
    stride: int
    smoothing: float
    smooth: bool = False


@dataclass(frozen=True)
class ManifestClip:
    label: str
    path: Path
    note: str = ""
    # Clips from one source (the manifest's `source_repo`, else the file) share a camera and a
    # style, so folds for training on real clips keep a source together (`train.video_poses`).
    source: str = ""


def read_manifest(path: Path) -> list[ManifestClip]:
    """The clips of a manifest; every problem (missing file, column, clip) is one line."""
    if not path.is_file():
        raise SkelcamError(f"manifest '{path}' does not exist")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows or not {"class", "file"} <= set(rows[0]):
        raise SkelcamError(
            f"manifest '{path}' needs a tab-separated header with 'class' and 'file'")
    clips = []
    for n, row in enumerate(rows, start=2):
        if not row.get("class") or not row.get("file"):
            raise SkelcamError(f"manifest '{path}' line {n}: empty class or file")
        clip = path.parent / row["file"]
        if not clip.is_file():
            raise SkelcamError(f"manifest '{path}' line {n}: video '{clip}' does not exist")
        clips.append(ManifestClip(row["class"].strip(), clip, row.get("note") or "",
                                  row.get("source_repo") or row["file"]))
    return clips


@dataclass
class ClipResult:
    """What the live loop decided on one clip."""

    clip: ManifestClip
    frames: int
    fps: float
    pose_seconds: float  # 0 when the poses came from the cache
    classify_seconds: float
    cached: bool
    frames_with_people: int
    window_probabilities: np.ndarray  # [W, K] the subject's smoothed probabilities per step
    window_labels: list[int | None]  # the label shown at each step (None = no known action)
    clip_probabilities: np.ndarray | None  # [K] the clip decision's scores; None if nobody
    clip_label: int | None  # None: no known action, or nobody found
    # The clip's known-action score when it is not its top-1 probability (the energy).
    clip_confidence: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def recording_for(clip: Path, live: LiveSettings,
                  on_frame: Callable[[int], None] | None = None):
    """The clip's poses, from the cache or recorded now (and cached).

    Returns (recording, seconds spent on pose estimation, whether it came from the cache).
    """
    from skelcam.realtime.pose import create_backend
    from skelcam.realtime.pose.recording import (
        PoseRecording,
        backend_description,
        cache_path,
        record_video,
    )

    description = backend_description(live.pose, live.pose_options)
    cached = cache_path(live.cache_dir, clip, description) if live.cache_dir is not None else None
    if cached is not None and cached.is_file():
        return PoseRecording.load(cached), 0.0, True
    started = time.perf_counter()
    with create_backend(live.pose, device="cpu", **live.pose_options) as backend:
        recording = record_video(backend, clip, description, on_frame)
    seconds = time.perf_counter() - started
    if cached is not None:
        recording.save(cached)
    return recording, seconds, False


def classify_recording(recording, classifier, stride: int, smoothing: float,
                       smooth: bool = False):
    """Replay recorded poses through the live recognizer; returns (vote, windows, labels, s).

    `windows` are the subject's smoothed probabilities at each classification step and `labels`
    the decision shown for the subject at that step (None = no known action).
    """
    from skelcam.realtime.decision import label_for
    from skelcam.realtime.pose.smoothing import KeypointSmoother
    from skelcam.realtime.recognizer import ActionRecognizer

    smoother = KeypointSmoother(recording.fps) if smooth else None
    recognizer = ActionRecognizer(recording.replay(), classifier, recording.fps, stride,
                                  smoothing, smoother=smoother)
    blank = np.zeros((recording.height, recording.width, 3), np.uint8)
    started = time.perf_counter()
    with_people = 0
    windows, confidences = [], []
    for index in range(len(recording)):
        result = recognizer.step(blank, index)
        with_people += len(result.track_ids) > 0
        if result.classified:
            windows.append(recognizer.vote.last)
            confidences.append(recognizer.vote.last_confidence)
    labels = [label_for(p, classifier.unknown_threshold, c)
              for p, c in zip(windows, confidences, strict=True)]
    return recognizer.vote, windows, labels, time.perf_counter() - started, with_people


def evaluate_clip(clip: ManifestClip, classifier, live: LiveSettings,
                  on_frame: Callable[[int], None] | None = None) -> ClipResult:
    recording, pose_seconds, cached = recording_for(clip.path, live, on_frame)
    vote, windows, labels, seconds, with_people = classify_recording(
        recording, classifier, live.stride, live.smoothing, live.smooth)
    k = len(classifier.labels)
    return ClipResult(
        clip=clip, frames=len(recording), fps=recording.fps, pose_seconds=pose_seconds,
        classify_seconds=seconds, cached=cached, frames_with_people=with_people,
        window_probabilities=np.array(windows).reshape(-1, k), window_labels=labels,
        clip_probabilities=vote.scores, clip_label=vote.decide(classifier.unknown_threshold),
        clip_confidence=vote.confidence,
    )


NO_KNOWN_ACTION = "(no known action)"


def summarize(results: list[ClipResult], class_names: list[str]) -> dict[str, Any]:
    """Clip-level and window-level figures, per class, plus the rejection rates.

    Definitions (fixed here once): a clip is right when its decision (`ClipVote.decide`) equals
    its class, or is "no known action" for an `unknown` clip; top-5 asks whether the class is
    among the five highest clip scores (rejection aside); `window_top1` is the share of the
    subject's windows, over all known clips, whose top-1 is right (rejection aside), and
    `clip_top1_no_reject` is clip top-1 with the threshold at 0.
    """
    index = {name: i for i, name in enumerate(class_names)}
    known = [r for r in results if r.clip.label != UNKNOWN_CLASS]
    unknown = [r for r in results if r.clip.label == UNKNOWN_CLASS]
    for r in known:
        if r.clip.label not in index:
            raise SkelcamError(f"class '{r.clip.label}' of clip '{r.clip.path}' is not one of "
                               f"the model's classes ({', '.join(class_names)})")

    def rank_ok(r: ClipResult, k: int) -> bool:
        if r.clip_probabilities is None:
            return False
        return index[r.clip.label] in np.argsort(-r.clip_probabilities, kind="stable")[:k]

    per_class = []
    for name in class_names:
        rows = [r for r in known if r.clip.label == name]
        if rows:
            per_class.append({
                "class": name, "clips": len(rows),
                "top1": sum(r.clip_label == index[name] for r in rows) / len(rows),
                "top5": sum(rank_ok(r, 5) for r in rows) / len(rows),
                "rejected": sum(r.clip_label is None for r in rows),
            })
    windows_right = windows_total = 0
    for r in known:
        if len(r.window_probabilities):
            windows_right += int((r.window_probabilities.argmax(1) == index[r.clip.label]).sum())
            windows_total += len(r.window_probabilities)
    clips = [_clip_row(r, class_names) for r in results]
    summary: dict[str, Any] = {
        "clips": len(known),
        "clip_top1": _mean([r.clip_label == index[r.clip.label] for r in known]),
        "clip_top5": _mean([rank_ok(r, 5) for r in known]),
        "clip_top1_no_reject": _mean([rank_ok(r, 1) for r in known]),
        "window_top1": windows_right / windows_total if windows_total else 0.0,
        "windows": windows_total,
        "false_rejections": sum(r.clip_label is None for r in known),
        "false_rejection_rate": _mean([r.clip_label is None for r in known]),
        "unknown_clips": len(unknown),
        "unknown_rejected": sum(r.clip_label is None for r in unknown),
        "unknown_rejection_rate": _mean([r.clip_label is None for r in unknown]),
        "nobody_found": [str(r.clip.path.name) for r in results if r.clip_probabilities is None],
        "seconds_per_clip": _mean([r.pose_seconds + r.classify_seconds for r in results]),
        "pose_seconds": sum(r.pose_seconds for r in results),
        "classify_seconds": sum(r.classify_seconds for r in results),
        "per_class": per_class,
        "per_clip": clips,
    }
    return summary


def decision_metrics(results: list[ClipResult], class_names: list[str]):
    """`ClassificationMetrics` of the clip decisions over the model's classes plus "no known
    action" (for the confusion PNG)."""
    from skelcam.train.metrics import compute_metrics

    names = [*class_names, NO_KNOWN_ACTION]
    index = {name: i for i, name in enumerate(class_names)}
    none = len(class_names)
    labels = [index.get(r.clip.label, none) for r in results]
    decisions = [none if r.clip_label is None else r.clip_label for r in results]
    return compute_metrics(np.eye(len(names))[decisions], np.array(labels), names)


def _clip_row(r: ClipResult, class_names: list[str]) -> dict[str, Any]:
    top = [] if r.clip_probabilities is None else [
        {"label": class_names[i], "probability": round(float(r.clip_probabilities[i]), 4)}
        for i in np.argsort(-r.clip_probabilities, kind="stable")[:5]
    ]
    return {
        "file": str(r.clip.path.name), "class": r.clip.label,
        "decision": None if r.clip_label is None else class_names[r.clip_label],
        "top5": top,
        **({} if r.clip_confidence is None else {"energy": round(r.clip_confidence, 4)}),
        "frames": r.frames, "fps": round(r.fps, 3),
        "frames_with_people": r.frames_with_people, "windows": len(r.window_probabilities),
        "pose_seconds": round(r.pose_seconds, 2), "classify_seconds": round(r.classify_seconds, 2),
        "cached_poses": r.cached,
    }


def _mean(values: list[bool] | list[float]) -> float:
    return float(np.mean(values)) if values else 0.0


def run_evaluation(
    manifest: Path,
    weights: Path,
    live: LiveSettings,
    console,
    threshold: float | None = None,
    temperature: float | None = None,
) -> tuple[list[ClipResult], list[str], Any]:
    """Evaluate every clip of `manifest` with rich progress; returns (results, classes, model).

    `threshold` and `temperature` override the model's calibration (None keeps it).
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from skelcam.realtime.classifier import ActionClassifier

    clips = read_manifest(manifest)
    classifier = ActionClassifier(weights, device="cpu")
    classifier.use_pose_backend(live.pose)
    if threshold is not None:
        classifier.unknown_threshold, classifier.threshold_backend = threshold, None
    if temperature is not None:
        classifier.temperature = temperature
    results = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        clips_task = progress.add_task("clips", total=len(clips))
        for clip in clips:
            frames_task = progress.add_task(f"  {clip.path.name}", total=None)
            result = evaluate_clip(
                clip, classifier, live,
                on_frame=lambda _i, t=frames_task: progress.update(t, advance=1),
            )
            progress.remove_task(frames_task)
            progress.update(clips_task, advance=1)
            results.append(result)
    return results, classifier.labels, classifier


def print_summary(console, summary: dict[str, Any], title: str) -> None:
    from rich.table import Table

    head = Table(title=title)
    head.add_column("measure")
    head.add_column("value", justify="right")
    n = summary["clips"]
    rows = [
        ("clip top-1", f"{summary['clip_top1']:.1%} ({round(summary['clip_top1'] * n)}/{n})"),
        ("clip top-5", f"{summary['clip_top5']:.1%} ({round(summary['clip_top5'] * n)}/{n})"),
        ("clip top-1, no rejection", f"{summary['clip_top1_no_reject']:.1%}"),
        ("window top-1", f"{summary['window_top1']:.1%} of {summary['windows']}"),
        ("known clips rejected", f"{summary['false_rejections']}/{n}"),
    ]
    if summary["unknown_clips"]:
        rows.append(("unknown clips rejected",
                     f"{summary['unknown_rejected']}/{summary['unknown_clips']}"))
    rows += [
        ("clips with nobody found", str(len(summary["nobody_found"]))),
        ("seconds per clip (pose + classify)", f"{summary['seconds_per_clip']:.1f}"),
    ]
    for name, value in rows:
        head.add_row(name, value)
    console.print(head)
    per_class = Table(title="per class")
    for col in ("class", "clips", "top-1", "top-5", "rejected"):
        per_class.add_column(col, justify="left" if col == "class" else "right")
    for row in summary["per_class"]:
        per_class.add_row(row["class"], str(row["clips"]), f"{row['top1']:.0%}",
                          f"{row['top5']:.0%}", str(row["rejected"]))
    console.print(per_class)
    wrong = [c for c in summary["per_clip"] if c["decision"] != (
        None if c["class"] == UNKNOWN_CLASS else c["class"])]
    if wrong:
        table = Table(title="clips decided wrongly")
        for col in ("file", "class", "decision", "top-3"):
            table.add_column(col)
        for c in wrong:
            top3 = ", ".join(f"{t['label']} {t['probability']:.2f}" for t in c["top5"][:3])
            table.add_row(c["file"], c["class"], str(c["decision"]), top3)
        console.print(table)
