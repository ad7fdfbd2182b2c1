"""Classification metrics for an evaluation run, computed with plain numpy.

Why numpy and not scikit-learn: sklearn is not one of our dependencies and every number here is a
few lines over the confusion matrix, so pulling it in would buy nothing but install weight.

Conventions (they decide what the headline numbers mean, so they are fixed here once):

* Predictions are `argmax` over the scores; ties go to the lowest class index (numpy's rule).
  Top-k uses the same tie rule, so top-1 from the ranking always equals the argmax accuracy.
* Top-5 is top-k with k = min(5, num_classes); `top5_k` records the k actually used, because with
  five classes or fewer "top-5" is trivially 100 %.
* A ratio with a zero denominator is 0.0: precision of a class that is never predicted, recall of a
  class that never occurs (scikit-learn's `zero_division=0`). Such a class is still *counted*.
* `mean_class_accuracy` averages recall over classes that occur in the labels: a class absent from
  the evaluation split has no accuracy to average.
* `macro_f1` averages F1 over classes that occur in the labels *or* the predictions, so predicting
  a class that is absent from the split is penalised (it adds an F1 of 0). A class with neither
  support nor predictions is excluded: there is nothing to measure, and counting it as 0 would make
  the score depend on how many unused classes the label map happens to list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TOP_K = 5


@dataclass
class ClassificationMetrics:
    """Headline and per-class numbers for one evaluation; all accuracies are fractions in [0, 1].

    `per_class[i]` holds `name`, `support` (true samples), `predicted` (samples predicted as the
    class), `precision`, `recall` and `f1` for class `i`. `confusion[t, p]` counts samples of true
    class `t` predicted as `p`.
    """

    top1: float
    top5: float
    top5_k: int
    mean_class_accuracy: float
    macro_f1: float
    num_samples: int
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    class_names: list[str]

    def to_json_dict(self) -> dict[str, Any]:
        """Return plain Python types only, so `json.dump` works without a custom encoder."""
        return {
            "top1": float(self.top1),
            "top5": float(self.top5),
            "top5_k": int(self.top5_k),
            "mean_class_accuracy": float(self.mean_class_accuracy),
            "macro_f1": float(self.macro_f1),
            "num_samples": int(self.num_samples),
            "per_class": [
                {
                    "name": str(row["name"]),
                    "support": int(row["support"]),
                    "predicted": int(row["predicted"]),
                    "precision": float(row["precision"]),
                    "recall": float(row["recall"]),
                    "f1": float(row["f1"]),
                }
                for row in self.per_class
            ],
            "confusion": self.confusion.astype(int).tolist(),
            "class_names": [str(name) for name in self.class_names],
        }


def _validate(scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> None:
    """Reject inputs that would otherwise produce plausible-looking but wrong numbers."""
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [N, K], got shape {scores.shape}")
    if not np.issubdtype(scores.dtype, np.number):
        raise ValueError(f"scores must be numeric, got dtype {scores.dtype}")
    num_samples, num_classes = scores.shape
    if num_classes == 0:
        raise ValueError("scores must have at least one class column (K >= 1)")
    if num_samples == 0:
        raise ValueError("cannot compute metrics on zero samples")
    if len(class_names) != num_classes:
        raise ValueError(
            f"got {len(class_names)} class names for {num_classes} score columns; they must match"
        )
    if labels.ndim != 1 or labels.shape[0] != num_samples:
        raise ValueError(f"labels must be 1-D with {num_samples} entries, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in 0..{num_classes - 1}, got range {labels.min()}..{labels.max()}"
        )
    if np.isnan(scores).any():
        # argmax of a NaN row is the NaN's position, which would silently count as a prediction.
        raise ValueError("scores contain NaN (did the model diverge?)")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, 0.0 where the denominator is 0 (see module doc)."""
    out = np.zeros(numerator.shape, dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def compute_metrics(
    scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str]
) -> ClassificationMetrics:
    """Score a model's outputs against the true labels.

    `scores` is [N, K] logits or probabilities (only their order matters, so softmax is not
    needed); `labels` is [N] integer class indices in 0..K-1; `class_names` has K entries.
    Raises ValueError on mismatched shapes, out-of-range or non-integer labels, or NaN scores.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    _validate(scores, labels, class_names)
    num_samples, num_classes = scores.shape
    labels = labels.astype(np.int64)  # uint8 labels would overflow in labels * K below

    predictions = scores.argmax(axis=1)
    confusion = np.bincount(
        labels * num_classes + predictions, minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)

    # Rank of the true class = classes scoring strictly higher, plus equal-scoring classes with a
    # lower index (argmax's tie rule). O(N*K) and no sort; rank 0 is exactly the argmax.
    true_scores = scores[np.arange(num_samples), labels][:, None]
    earlier = np.arange(num_classes)[None, :] < labels[:, None]
    rank = (scores > true_scores).sum(axis=1) + ((scores == true_scores) & earlier).sum(axis=1)
    top5_k = min(TOP_K, num_classes)

    true_positives = np.diag(confusion)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _ratio(true_positives, predicted)
    recall = _ratio(true_positives, support)
    # 2TP / (support + predicted) equals 2PR / (P + R) but stays exact when P + R == 0.
    f1 = _ratio(2 * true_positives, support + predicted)

    present = support > 0
    scored = present | (predicted > 0)
    per_class = [
        {
            "name": str(class_names[k]),
            "support": int(support[k]),
            "predicted": int(predicted[k]),
            "precision": float(precision[k]),
            "recall": float(recall[k]),
            "f1": float(f1[k]),
        }
        for k in range(num_classes)
    ]
    return ClassificationMetrics(
        top1=float((predictions == labels).mean()),
        top5=float((rank < top5_k).mean()),
        top5_k=top5_k,
        mean_class_accuracy=float(recall[present].mean()),
        macro_f1=float(f1[scored].mean()),
        num_samples=int(num_samples),
        per_class=per_class,
        confusion=confusion,
        class_names=[str(name) for name in class_names],
    )
