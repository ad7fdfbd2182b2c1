"""`train.evaluate` with several windows per clip (PYSKL's test protocol), on real Penn clips
and the shipped checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import PennSubset

from skelcam.train.checkpoint import load_model
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.evaluate import evaluate
from skelcam.train.shipped import CHECKPOINT
from skelcam.train.windowing import sample_window, select_persons


def test_one_clip_is_the_centred_window_and_more_average_probabilities(
        penn_subset: PennSubset) -> None:
    data = load_pyskl(penn_subset.pickle)
    split = "train"
    indices = data.split(split)[:20]
    data.splits[split] = indices
    _, one = evaluate(data, split, checkpoint=CHECKPOINT)
    model, _, _ = load_model(CHECKPOINT)
    clip = data.clips[indices[3]]
    kp, sc = sample_window(*select_persons(clip.keypoints, clip.scores, 1), model.config.window)
    with torch.no_grad():
        reference = model(torch.from_numpy(kp[None]), torch.from_numpy(sc[None])).numpy()[0]
    np.testing.assert_allclose(one[3], reference, atol=1e-4)

    metrics, three = evaluate(data, split, checkpoint=CHECKPOINT, clips=3)
    assert metrics.num_samples == len(indices)
    probabilities = np.exp(three)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # The random windows are other frames of the same clips: the mean moves away from the
    # centred window's own probabilities, and is the same on every run (seeded).
    centred = torch.from_numpy(one).softmax(dim=1).numpy()
    assert np.abs(probabilities - centred).max() > 1e-3
    np.testing.assert_array_equal(three, evaluate(data, split, checkpoint=CHECKPOINT, clips=3)[1])
    with pytest.raises(SkelcamError, match="at least 1"):
        evaluate(data, split, checkpoint=CHECKPOINT, clips=0)
