"""The live recognizer's windows: real Penn Action skeletons replayed through the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.recognizer import ActionRecognizer
from skelcam.train.calibrate import recording_from_clip
from skelcam.train.data import load_pyskl
from skelcam.train.shipped import ONNX_MODEL
from skelcam.train.windowing import resample_indices


@pytest.fixture(scope="module")
def long_clip(penn_subset):
    """The longest clip of the subset in which a person is seen in every frame."""
    clips = [c for c in load_pyskl(penn_subset.pickle).clips
             if (c.scores[0].sum(axis=1) > 0).all()]
    clip = max(clips, key=lambda c: c.keypoints.shape[1])
    assert clip.keypoints.shape[1] > 2 * 48
    return clip


def _replay_to_end(clip, classifier: ActionClassifier) -> np.ndarray:
    """The one person's probabilities after the clip's last frame (stride 1, no smoothing)."""
    recording = recording_from_clip(clip.keypoints[:1], clip.scores[:1], 30.0, clip.img_shape)
    recognizer = ActionRecognizer(recording.replay(), classifier, 30.0, stride=1, smoothing=1.0)
    blank = np.zeros((recording.height, recording.width, 3), np.uint8)
    for index in range(len(recording)):
        result = recognizer.step(blank, index)
    (probabilities,) = result.probabilities.values()
    return probabilities


def _window(clip, last: int, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The model's window over the `frames` frames ending at `last`, built from the clip."""
    idx = last - frames + 1 + resample_indices(frames, 48)
    return clip.keypoints[None, :1, idx], clip.scores[None, :1, idx]


def test_time_spans_average_a_window_and_one_twice_as_long(long_clip) -> None:
    """With spans (1, 2) the recognizer's probabilities pool (normalised geometric mean) the
    model on the last 1.6 s and on the last 3.2 s read every other frame, both built here from
    the clip's own arrays; with the window alone they are the model on the last 1.6 s."""
    classifier = ActionClassifier(ONNX_MODEL, device="cpu")
    last = long_clip.keypoints.shape[1] - 1
    short = classifier.probabilities(*_window(long_clip, last, 48))[0]
    long = classifier.probabilities(*_window(long_clip, last, 96))[0]
    classifier.time_spans = (1.0,)
    np.testing.assert_allclose(_replay_to_end(long_clip, classifier), short, atol=1e-5)
    classifier.time_spans = (1.0, 2.0)
    both = _replay_to_end(long_clip, classifier)
    pooled = np.sqrt(short * long)
    np.testing.assert_allclose(both, pooled / pooled.sum(), atol=1e-5)
    assert np.abs(short - long).max() > 1e-3
