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
from skelcam.train.data import SkeletonDataset, WindowDataset
from skelcam.train.errors import SkelcamError
from skelcam.train.metrics import ClassificationMetrics, compute_metrics

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
) -> tuple[ClassificationMetrics, np.ndarray]:
    """Metrics and raw scores [N, K] of a checkpoint or ONNX model on `split`."""
    indices = data.split(split)
    if not indices:
        raise SkelcamError(f"split '{split}' is empty")
    if (checkpoint is None) == (model is None):
        raise SkelcamError("give exactly one of --checkpoint or --model")
    if checkpoint is not None:
        scorer, names, window, persons = _checkpoint_scorer(checkpoint)
    else:
        scorer, names, window, persons = _onnx_scorer(model)
    if len(names) != data.num_classes:
        raise SkelcamError(
            f"the model has {len(names)} classes but {data.source} has {data.num_classes}"
        )
    dataset = WindowDataset(data, indices, window, persons)
    outputs, labels = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        keypoints = np.stack([k.numpy() for k, _, _ in items])
        scores = np.stack([s.numpy() for _, s, _ in items])
        outputs.append(scorer(keypoints, scores))
        labels.extend(label for _, _, label in items)
    scores_all = np.concatenate(outputs)
    return compute_metrics(scores_all, np.asarray(labels), names), scores_all
