"""Evaluate a checkpoint or an exported ONNX model on one split of a PYSKL pickle.

Both paths build exactly the same input (deterministic uniform window over the whole clip, the
model's number of persons) so that the checkpoint's and the ONNX file's numbers are comparable,
and the ONNX numbers describe exactly what ships.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from skelcam.train.checkpoint import load_model
from skelcam.train.data import SkeletonDataset
from skelcam.train.errors import SkelcamError
from skelcam.train.metrics import ClassificationMetrics, compute_metrics
from skelcam.train.windowing import sample_window, select_persons

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _checkpoint_scorer(path: Path) -> tuple[Scorer, list[str], int, int]:
    model, names, _ = load_model(path)

    @torch.no_grad()
    def score(keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        return model(torch.from_numpy(keypoints), torch.from_numpy(scores)).numpy()

    return score, names, model.config.window, model.config.num_persons


def _onnx_scorer(path: Path) -> tuple[Scorer, list[str], int, int]:
    # Imported here: the ONNX session wrapper lives with the live loop, which is its main user.
    from skelcam.realtime.classifier import ActionClassifier

    classifier = ActionClassifier(path, device="auto")
    return classifier.logits, classifier.labels, classifier.window, classifier.num_persons


def evaluate(
    data: SkeletonDataset,
    split: str,
    checkpoint: Path | None = None,
    model: Path | None = None,
    batch_size: int = 64,
    clips: int = 1,
) -> tuple[ClassificationMetrics, np.ndarray]:
    """Metrics and raw scores [N, K] of a checkpoint or ONNX model on `split`.

    With `clips` = 1 (the default, and what calibration uses) each clip is one deterministic
    window over its whole length and the scores are logits. With more, as in PYSKL's test
    protocol (`num_clips`, ten for its NTU figures), the first window is that one and each
    other one takes a seeded random frame inside each of the window's segments; the scores are
    then the log of the clips' mean probability, the same mean the live loop's clip decision takes.
    """
    indices = data.split(split)
    if not indices:
        raise SkelcamError(f"split '{split}' is empty")
    if (checkpoint is None) == (model is None):
        raise SkelcamError("give exactly one of --checkpoint or --model")
    if clips < 1:
        raise SkelcamError(f"--clips must be at least 1, got {clips}")
    if checkpoint is not None:
        scorer, names, window, persons = _checkpoint_scorer(checkpoint)
    else:
        scorer, names, window, persons = _onnx_scorer(model)
    if len(names) != data.num_classes:
        raise SkelcamError(
            f"the model has {len(names)} classes but {data.source} has {data.num_classes}"
        )
    labels = np.asarray([data.clips[i].label for i in indices])
    logits = _score_windows(scorer, data, indices, window, persons, None, batch_size)
    if clips == 1:
        return compute_metrics(logits, labels, names), logits
    probabilities = torch.from_numpy(logits).softmax(dim=1)
    for view in range(1, clips):
        more = _score_windows(scorer, data, indices, window, persons, view, batch_size)
        probabilities += torch.from_numpy(more).softmax(dim=1)
    scores = (probabilities / clips).log().numpy()
    return compute_metrics(scores, labels, names), scores


def _score_windows(scorer: Scorer, data: SkeletonDataset, indices: list[int], window: int,
                   persons: int, view: int | None, batch_size: int) -> np.ndarray:
    """Logits [N, K] of one window per clip: the centred one (`view` None) or random view `view`."""
    outputs = []
    for start in range(0, len(indices), batch_size):
        keypoints, scores = [], []
        for i in indices[start:start + batch_size]:
            clip = data.clips[i]
            kp, sc = select_persons(clip.keypoints, clip.scores, persons)
            rng = None if view is None else np.random.default_rng((view, i))
            kp, sc = sample_window(kp, sc, window, rng)
            keypoints.append(kp)
            scores.append(sc)
        outputs.append(scorer(np.stack(keypoints), np.stack(scores)))
    return np.concatenate(outputs)
