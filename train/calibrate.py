"""`python -m train calibrate`: the softmax temperature and the "no known action" threshold.

A classifier trained on 15 sports gives every input one of those 15 labels. The live loop shows
"no known action" instead when the subject's smoothed top-1 probability stays below a threshold
(`realtime.decision`). This command picks that threshold, and a temperature that makes the
displayed probabilities honest, and stores both in the checkpoint; `export/to_onnx.py` copies
them into the ONNX metadata, which the live loop reads.

* Temperature: fitted on the validation split by minimising the negative log-likelihood
  (Guo et al., "On Calibration of Modern Neural Networks", 2017).
* Threshold: every clip of the real-video dev manifest, and every sequence of no known action
  (skeleton pickles such as the converted Kinect sets, replayed as if a pose backend had produced
  them; real clips from an `unknown` manifest), goes through the live recognizer once with no
  threshold. The threshold is then the largest one that keeps the share of dev clips rejected
  at or below `--max-false-rejection`, i.e. the one that rejects the most unknown sequences
  within that budget. Use sequences held out from training as negatives, so the rejection rate
  it reports is a fair estimate. The dev clips go through `--pose`, and the threshold is kept
  for that backend: run once per backend (`merge_calibration`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.video_eval import LiveSettings
from skelcam.train.windowing import DATASET_FPS


@dataclass
class Scored:
    """One clip or sequence's clip-level scores (None when nobody was classified)."""

    name: str
    group: str  # "dev", or the unknown source it came from
    scores: np.ndarray | None
    right: bool  # dev: the argmax is the true class
    # The clip's known-action score when the model's is not its top-1 probability (energy).
    energy: float | None = None

    @property
    def known_score(self) -> float | None:
        """What the threshold is compared with; None when nobody was classified."""
        if self.scores is None:
            return None
        return float(self.scores.max()) if self.energy is None else self.energy


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) on labelled validation data."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(labels)),
                                                                  labels].mean())

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def merge_calibration(previous: dict[str, Any] | None, temperature: float, pose: str,
                      threshold: float, time_spans: tuple[float, ...] = (1.0,),
                      unknown_score: str = "probability") -> dict[str, Any]:
    """The checkpoint's calibration after calibrating on pose backend `pose`.

    Thresholds of other backends are kept when they were chosen under the same temperature (the
    same model and validation split), the same live time spans and the same known-action score,
    so running `calibrate` once per backend collects them all. `unknown_threshold`, for a
    backend never calibrated on, is the lowest of them: for joints of unmeasured confidence it
    hides the fewest right labels.
    """
    thresholds: dict[str, float] = {}
    if (previous and np.isclose(previous.get("temperature", np.nan), temperature, rtol=1e-4)
            and tuple(previous.get("time_spans", (1.0,))) == tuple(time_spans)
            and previous.get("unknown_score", "probability") == unknown_score):
        thresholds.update(previous.get("unknown_thresholds", {}))
    thresholds[pose] = threshold
    return {"temperature": temperature, "unknown_threshold": min(thresholds.values()),
            "unknown_thresholds": dict(sorted(thresholds.items())),
            "time_spans": [float(s) for s in time_spans], "unknown_score": unknown_score}


def recording_from_clip(keypoints: np.ndarray, scores: np.ndarray, fps: float,
                        image_shape: tuple[int, int] | None):
    """A skeleton clip [M, T, 17, 2] as a pose recording, as if a backend had seen it."""
    from skelcam.realtime.pose import Poses
    from skelcam.realtime.pose.recording import PoseRecording

    frames = []
    for t in range(keypoints.shape[1]):
        seen = scores[:, t].sum(axis=1) > 0
        frames.append(Poses.from_arrays(keypoints[seen, t], scores[seen, t]))
    height, width = image_shape or (480, 640)
    return PoseRecording(tuple(frames), fps, width, height, "skeleton-file")


def _dev_scores(dev: list[Scored]) -> np.ndarray:
    """Known-action scores of the dev clips; a clip where nobody was found counts as rejected
    at any threshold (-inf)."""
    return np.array([-np.inf if s.known_score is None else s.known_score for s in dev])


def choose_threshold(dev: list[Scored], unknown: list[Scored],
                     max_false_rejection: float) -> tuple[float, list[dict[str, float]]]:
    """The threshold and a table of candidate thresholds with their rates."""
    dev_top = _dev_scores(dev)
    unk_top = np.array([s.known_score for s in unknown if s.scores is not None])
    candidates = np.unique(np.concatenate([dev_top, unk_top]))
    candidates = candidates[np.isfinite(candidates)]
    # The lowest score seen rejects nothing seen: the fallback when no candidate fits the budget.
    table, best = [], float(candidates[0]) if len(candidates) else 0.0
    for tau in candidates:
        false_rej = float((dev_top < tau).mean()) if len(dev_top) else 0.0
        rejected = float((unk_top < tau).mean()) if len(unk_top) else 0.0
        table.append({"threshold": float(tau), "dev_false_rejection": false_rej,
                      "unknown_rejection": rejected})
        if false_rej <= max_false_rejection:
            best = float(tau)
    return best, table


def score_all(
    onnx_path: Path,
    temperature: float,
    manifest: Path | None,
    unknown_manifests: list[Path],
    unknown_sets: list[tuple[str, Any, list[int]]],
    live: LiveSettings,
    console,
    known_sets: list[tuple[str, Any, list[int]]] = (),
) -> tuple[list[Scored], list[Scored]]:
    """Clip scores of the dev clips and of every unknown clip or sequence, threshold 0.

    The dev side is the real clips of `manifest` and/or the skeleton sequences of `known_sets`
    (the model's own classes, replayed through the live loop as unknown sequences are).
    """
    from skelcam.realtime.classifier import ActionClassifier
    from skelcam.train.video_eval import UNKNOWN_CLASS, classify_recording, run_evaluation

    dev = []
    if manifest is not None:
        dev_results, names, _ = run_evaluation(manifest, onnx_path, live, console,
                                               threshold=0.0, temperature=temperature)
        index = {n: i for i, n in enumerate(names)}
        dev = [Scored(r.clip.path.name, "dev", r.clip_probabilities,
                      r.clip_probabilities is not None
                      and int(np.argmax(r.clip_probabilities)) == index.get(r.clip.label, -1),
                      r.clip_confidence)
               for r in dev_results if r.clip.label != UNKNOWN_CLASS]
    # Rows of class `unknown` in the dev manifest are real clips of no known action.
    unknown = [Scored(r.clip.path.name, manifest.name, r.clip_probabilities, False,
                      r.clip_confidence)
               for r in dev_results if r.clip.label == UNKNOWN_CLASS] if manifest else []
    for extra in unknown_manifests:
        results, _, _ = run_evaluation(extra, onnx_path, live, console, threshold=0.0,
                                       temperature=temperature)
        unknown += [Scored(r.clip.path.name, extra.name, r.clip_probabilities, False,
                           r.clip_confidence) for r in results]
    classifier = ActionClassifier(onnx_path, device="cpu")
    classifier.temperature, classifier.unknown_threshold = temperature, 0.0
    def replayed(data, i: int):
        clip = data.clips[i]
        recording = recording_from_clip(clip.keypoints, clip.scores, clip.fps or DATASET_FPS,
                                        clip.img_shape)
        vote, *_ = classify_recording(recording, classifier, live.stride, live.smoothing,
                                      live.smooth)
        return clip, vote.scores, vote.confidence

    for group, data, indices in unknown_sets:
        for i in indices:
            clip, scores, energy = replayed(data, i)
            unknown.append(Scored(clip.name, group, scores, False, energy))
    for group, data, indices in known_sets:
        for i in indices:
            clip, scores, energy = replayed(data, i)
            # Too short to classify: nothing is shown, so nothing is wrongly rejected either.
            if scores is not None:
                dev.append(Scored(clip.name, group, scores,
                                  int(np.argmax(scores)) == clip.label, energy))
    return dev, unknown


def calibrate(
    checkpoint: Path,
    data,
    val_split: str,
    manifest: Path | None,
    unknown_manifests: list[Path],
    unknown_sets: list[tuple[str, Any, list[int]]],
    live: LiveSettings,
    max_false_rejection: float,
    console,
    known_split: str | None = None,
    time_spans: tuple[float, ...] | None = None,
    unknown_score: str | None = None,
) -> dict[str, Any]:
    """Fit the temperature, pick the threshold, store both in `checkpoint`; returns a report.

    `time_spans` sets the window spans the live loop averages (None keeps the checkpoint's,
    else the window alone); the threshold is chosen with the dev clips replayed under them.
    `unknown_score` is what the threshold applies to, "energy" or "probability" (None keeps
    the checkpoint's, else "energy", which rejects far more unknown actions at the same cost).
    """
    from skelcam.export.to_onnx import export_onnx, model_version
    from skelcam.train.checkpoint import load_model, save_checkpoint
    from skelcam.train.evaluate import evaluate

    model, class_names, state = load_model(checkpoint)
    if list(data.class_names) != class_names:
        raise SkelcamError(f"'{checkpoint}' was trained on other classes than {data.source}")
    _, logits = evaluate(data, val_split, checkpoint, None)
    labels = np.array([data.clips[i].label for i in data.split(val_split)])
    temperature = fit_temperature(logits, labels)
    previous = state.get("calibration", {})
    if time_spans is None:
        time_spans = tuple(previous.get("time_spans", (1.0,)))
    if unknown_score is None:
        unknown_score = previous.get("unknown_score", "energy")
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "uncalibrated.onnx"
        export_onnx(model, class_names, onnx_path, 18, model_version(checkpoint),
                    {"time_spans": [float(s) for s in time_spans],
                     "unknown_score": unknown_score})
        known = [(f"{Path(data.source).name}:{known_split}", data, data.split(known_split))] \
            if known_split else []
        dev, unknown = score_all(onnx_path, temperature, manifest, unknown_manifests,
                                 unknown_sets, live, console, known)
    if not dev:
        raise SkelcamError("no dev clips or known sequences of the model's classes to measure "
                           "false rejections on (give --manifest and/or --known-split)")
    threshold, table = choose_threshold(dev, unknown, max_false_rejection)
    # A sequence shorter than the live loop's first window (half the buffer) is never classified,
    # so nothing is shown for it either way: it says nothing about rejection and is left out.
    classified = [s for s in unknown if s.scores is not None]
    groups = sorted({s.group for s in unknown})
    per_group = {
        g: float(np.mean([s.known_score < threshold for s in classified if s.group == g]))
        for g in groups if any(s.group == g for s in classified)
    }
    calibration = merge_calibration(previous, temperature, live.pose, threshold, time_spans,
                                    unknown_score)
    extra = {k: v for k, v in state.items()
             if k not in ("format", "config", "class_names", "model")}
    save_checkpoint(checkpoint, model, class_names, **{**extra, "calibration": calibration})
    dev_top = _dev_scores(dev)
    unk_top = np.array([s.known_score for s in classified])
    return {
        "temperature": temperature,
        "unknown_threshold": threshold,
        "pose": live.pose,
        "unknown_thresholds": calibration["unknown_thresholds"],
        "fallback_threshold": calibration["unknown_threshold"],
        "time_spans": calibration["time_spans"],
        "unknown_score": unknown_score,
        "max_false_rejection": max_false_rejection,
        "dev_clips": len(dev),
        "dev_false_rejection": float((dev_top < threshold).mean()),
        "dev_right_rejected": int(sum((t < threshold) and s.right for t, s in zip(
            dev_top, dev, strict=True))),
        "unknown_sequences": len(classified),
        "unknown_too_short": len(unknown) - len(classified),
        "unknown_rejection": float((unk_top < threshold).mean()) if len(unk_top) else 0.0,
        "unknown_rejection_per_source": per_group,
        "thresholds": table,
    }
