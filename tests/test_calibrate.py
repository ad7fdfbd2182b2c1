"""Calibration: the temperature fit, the threshold choice and skeleton files replayed as poses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from skelcam.train.calibrate import (
    Scored,
    choose_threshold,
    fit_temperature,
    merge_calibration,
    recording_from_clip,
)
from skelcam.train.shipped import ONNX_MODEL
from tests.conftest import SHARED


def test_temperature_fit_recovers_a_known_temperature() -> None:
    """Labels drawn from softmax(z / 2.5) are best explained by T = 2.5."""
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, (4000, 10))
    p = np.exp(logits / 2.5)
    p /= p.sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in p])
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)


def test_threshold_keeps_the_false_rejection_budget() -> None:
    """The largest threshold that rejects at most the budgeted share of dev clips wins."""
    def scored(top: float, group: str) -> Scored:
        return Scored("x", group, np.array([top, (1 - top) / 2, (1 - top) / 2]), False)

    dev = [scored(t, "dev") for t in (0.9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.42, 0.4, 0.38)]
    unknown = [scored(t, "u") for t in (0.5, 0.52, 0.6, 0.9)]
    threshold, table = choose_threshold(dev, unknown, max_false_rejection=0.2)
    assert threshold == pytest.approx(0.42)
    row = next(r for r in table if r["threshold"] == threshold)
    assert row["dev_false_rejection"] == pytest.approx(0.2)
    assert row["unknown_rejection"] == 0.0
    threshold, table = choose_threshold(dev, unknown, 0.5)
    assert threshold == pytest.approx(0.55)
    row = next(r for r in table if r["threshold"] == threshold)
    assert row["dev_false_rejection"] == pytest.approx(0.5) and row["unknown_rejection"] == 0.5


def test_energy_thresholds_may_be_negative_and_nobody_found_counts_as_rejected() -> None:
    """With energies as scores the same budget rule holds on any scale, and a dev clip where
    nobody was found is rejected at every threshold (it uses up budget, never sets the scale)."""
    def scored(energy: float | None, group: str) -> Scored:
        if energy is None:
            return Scored("x", group, None, False)
        return Scored("x", group, np.array([0.5, 0.5]), False, energy)

    dev = [scored(e, "dev") for e in (None, -3.0, -1.0, 0.5, 1.0)]
    unknown = [scored(e, "u") for e in (-5.0, -2.0, 2.0)]
    threshold, _ = choose_threshold(dev, unknown, max_false_rejection=0.2)
    assert threshold == pytest.approx(-3.0)
    threshold, table = choose_threshold(dev, unknown, max_false_rejection=0.4)
    assert threshold == pytest.approx(-1.0)
    row = next(r for r in table if r["threshold"] == threshold)
    assert row["dev_false_rejection"] == pytest.approx(0.4)
    assert row["unknown_rejection"] == pytest.approx(2 / 3)
    # Even a budget of nothing keeps the lowest score seen, as the rule cannot do better.
    assert choose_threshold(dev, unknown, max_false_rejection=0.0)[0] == pytest.approx(-5.0)


def test_each_backend_keeps_its_threshold_until_the_model_changes() -> None:
    """Calibrating on a second backend adds its threshold; recalibrating one replaces only its
    own; a new temperature (another model or split) or new time spans start over. The general
    threshold is the lowest."""
    first = merge_calibration(None, 0.62, "mediapipe", 0.27)
    assert first == {"temperature": 0.62, "unknown_threshold": 0.27,
                     "unknown_thresholds": {"mediapipe": 0.27}, "time_spans": [1.0],
                     "unknown_score": "probability"}
    both = merge_calibration(first, 0.62, "yolo", 0.22)
    assert both["unknown_thresholds"] == {"mediapipe": 0.27, "yolo": 0.22}
    assert both["unknown_threshold"] == 0.22
    again = merge_calibration(both, 0.62, "yolo", 0.3)
    assert again["unknown_thresholds"] == {"mediapipe": 0.27, "yolo": 0.3}
    assert again["unknown_threshold"] == 0.27
    retrained = merge_calibration(again, 0.7, "yolo", 0.25)
    assert retrained["unknown_thresholds"] == {"yolo": 0.25}
    # Other time spans give other clip scores: the thresholds chosen under the old ones go.
    spans = merge_calibration(again, 0.62, "yolo", 0.24, (1.0, 2.0))
    assert spans["unknown_thresholds"] == {"yolo": 0.24} and spans["time_spans"] == [1.0, 2.0]
    both = merge_calibration(spans, 0.62, "mediapipe", 0.28, (1.0, 2.0))
    assert both["unknown_thresholds"] == {"mediapipe": 0.28, "yolo": 0.24}
    # Energies are not probabilities: switching the score starts over as well.
    energy = merge_calibration(both, 0.62, "yolo", 2.2, (1.0, 2.0), "energy")
    assert energy["unknown_thresholds"] == {"yolo": 2.2} and energy["unknown_score"] == "energy"
    # A checkpoint calibrated before thresholds were kept per backend has no table to keep.
    legacy = merge_calibration({"temperature": 0.62, "unknown_threshold": 0.27}, 0.62, "yolo",
                               0.22)
    assert legacy["unknown_thresholds"] == {"yolo": 0.22}


KINECT = SHARED / "kinect" / "nw_ucla"


@pytest.mark.skipif(not KINECT.is_dir(), reason=f"Kinect recordings not found at {KINECT}")
def test_skeleton_sequences_replay_through_the_live_recognizer(tmp_path: Path) -> None:
    """A converted real Kinect sequence becomes a pose recording at its frame rate, and the live
    recognizer classifies it window by window into clip scores."""
    from skelcam.realtime.classifier import ActionClassifier
    from skelcam.train.data import load_pyskl
    from skelcam.train.kinect_convert import convert_skeletons
    from skelcam.train.video_eval import classify_recording

    folder = tmp_path / "ucla"
    folder.mkdir()
    lengths = {p: len(json.loads(p.read_text())["skeletons"]) for p in sorted(KINECT.glob(
        "a08_s0[12]_e0*_v03.json"))}
    shutil.copy(max(lengths, key=lengths.get), folder)
    convert_skeletons("nw-ucla", folder, tmp_path / "ucla.pkl", warn=pytest.fail)
    clip = load_pyskl(tmp_path / "ucla.pkl").clips[0]
    assert clip.keypoints.shape[1] > 48
    recording = recording_from_clip(clip.keypoints, clip.scores, 30.0, clip.img_shape)
    assert len(recording) == clip.keypoints.shape[1] and (recording.height, recording.width) == (
        480, 640)
    assert all(len(p) == 1 for p in recording.frames)
    classifier = ActionClassifier(ONNX_MODEL, device="cpu")
    vote, windows, labels, _, with_people = classify_recording(recording, classifier, 4, 0.5)
    assert with_people == len(recording) and len(windows) == len(labels) > 0
    assert vote.scores is not None and vote.scores.sum() == pytest.approx(1.0, abs=1e-4)


def test_known_sequences_are_the_false_rejection_side(penn_subset) -> None:
    """`--known-split`: sequences of the model's own classes are replayed like unknown ones and
    counted right when the clip's argmax is their label; the Penn model gets most of its own
    annotated clips right, and an unknown set stays on the other side."""
    from skelcam.train.calibrate import score_all
    from skelcam.train.data import load_pyskl
    from skelcam.train.video_eval import LiveSettings

    data = load_pyskl(penn_subset.pickle)
    picks = [i for i in range(len(data.clips)) if i % 7 == 0]
    dev, unknown = score_all(ONNX_MODEL, 1.0, None, [], [("u", data, picks[:2])],
                             LiveSettings("mediapipe", {}, None, 4, 0.5), None,
                             [("penn", data, picks)])
    assert {s.group for s in dev} == {"penn"} and len(dev) == len(picks)
    assert sum(s.right for s in dev) >= 0.8 * len(dev)
    assert len(unknown) == 2 and not any(s.right for s in unknown)
