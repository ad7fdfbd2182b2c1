"""What skelcam decides from the classifier's probabilities: a label per person, one per clip.

Two rules, used by the live overlay, the `--log` lines, the end-of-run summary and the real-video
evaluation alike, so that what is measured is what a user sees:

* Per person (`label_for`): the top-1 class when the person's smoothed known-action score
  reaches the model's "no known action" threshold, else `None`: a person doing none of the
  model's actions is shown as such instead of with a confident wrong label. The score is the
  top-1 probability, or for a model calibrated so (`unknown_score` "energy" in its metadata)
  the energy of the logits (`energy`). The threshold is calibrated per model (see
  `train.calibrate`) and stored in the ONNX metadata; a model without one never rejects.
* Per clip (`ClipVote`): at every classification step the subject is the classified person with
  the largest box (a bystander, a spotter or a catcher is usually smaller and farther away); the
  clip's scores are the mean of the subject's probabilities over all steps. Pooling steps rather
  than following one track survives camera cuts, which break tracks, and a passer-by whose track
  has as many windows as the performer's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas [N] of person boxes [N, 4] (x1, y1, x2, y2): how the subject is told apart."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def energy(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Known-action score of logits [N, K] -> [N]: T * logsumexp(logits / T) (the negative
    free energy of Liu et al., "Energy-based Out-of-distribution Detection", 2020).

    Why not the top-1 probability: softmax divides away how strongly the model responds at
    all, and the outlier-exposure training (`train.fit --negatives`) teaches it to respond
    weakly to actions of none of its classes. At the same 5 of 66 dev clips rejected, the
    energy rejects 88.5% of the 695 held-out unknown sequences against 55.5% (one window;
    README, "Time spans and the energy score").
    """
    return temperature * logsumexp(np.asarray(logits, np.float64) / temperature, axis=-1)


def label_for(probabilities: np.ndarray, threshold: float,
              confidence: float | None = None) -> int | None:
    """The class shown for one person: the top-1 index, or None when its known-action score
    is below `threshold`. The score is `confidence` when given (the energy), else the top-1
    probability."""
    best = int(np.argmax(probabilities))
    score = float(probabilities[best]) if confidence is None else confidence
    return best if score >= threshold else None


@dataclass
class ClipVote:
    """Accumulates the subject's probabilities step by step; `decide` gives the clip's label.

    It keeps a running sum, not the steps themselves, so that a camera left on for days holds
    the same memory as a short clip. The threshold is not kept here: it belongs to the model
    (`ActionClassifier.unknown_threshold`) and is passed to `decide`, so there is one copy of it.
    """

    total: np.ndarray | None = None
    count: int = 0
    # The subject's probabilities at the latest step (what a per-window evaluation records).
    last: np.ndarray | None = None
    # The same for the known-action score, when the model's is not the top-1 probability.
    confidence_total: float = 0.0
    last_confidence: float | None = None

    def add(self, boxes: np.ndarray, probabilities: list[np.ndarray],
            confidences: list[float] | None = None) -> int | None:
        """Record one step: the classified people's boxes [N, 4], probabilities and, for a
        model that rejects by energy, their known-action scores.

        Returns the index (into `boxes`) of the person taken as the subject, None if N = 0.
        """
        if len(probabilities) == 0:
            return None
        subject = int(np.argmax(box_areas(boxes)))
        self.last = np.asarray(probabilities[subject], np.float64)
        self.total = self.last.copy() if self.total is None else self.total + self.last
        if confidences is not None:
            self.last_confidence = float(confidences[subject])
            self.confidence_total += self.last_confidence
        self.count += 1
        return subject

    @property
    def scores(self) -> np.ndarray | None:
        """Mean subject probabilities over the steps so far; None before the first step."""
        return None if self.total is None else self.total / self.count

    @property
    def confidence(self) -> float | None:
        """Mean subject known-action score over the steps; None when the model's score is the
        top-1 probability (then it is that of `scores`) or before the first step."""
        return None if self.last_confidence is None else self.confidence_total / self.count

    def decide(self, threshold: float) -> int | None:
        """The clip's label: None when nobody was classified or no known action won."""
        scores = self.scores
        return None if scores is None else label_for(scores, threshold, self.confidence)
