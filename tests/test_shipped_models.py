"""Every shipped classifier (`skelcam --model NAME`): its files agree with one another.

For each entry of `train.shipped.MODELS` the ONNX file the live loop runs, the checkpoint it was
exported from, the labels file and the metrics file must describe one model: the same class
names in the same order, a calibrated "no known action" threshold in the ONNX metadata, and an
ONNX file that is a fresh export of the checkpoint, byte for byte. The Penn model's export is
checked in more detail in test_export.py; the others get the byte check here, so a retrained
checkpoint shipped without its export fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from skelcam.export.to_onnx import DEFAULT_OPSET, run
from skelcam.realtime.classifier import ActionClassifier
from skelcam.train.checkpoint import read_checkpoint
from skelcam.train.daily import DAILY_LABELS
from skelcam.train.shipped import DEFAULT_MODEL, MODELS, ShippedModel
from tests.test_daily import REQUIRED as REQUIRED_DAILY


@pytest.fixture(params=sorted(MODELS), ids=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> ShippedModel:
    return MODELS[request.param]


def test_files_describe_one_model(model: ShippedModel) -> None:
    classifier = ActionClassifier(model.onnx, device="cpu")
    checkpoint = read_checkpoint(model.checkpoint)
    labels = [line.strip() for line in model.labels.read_text().splitlines() if line.strip()]
    assert classifier.labels == labels == checkpoint["class_names"]
    assert classifier.version.startswith(f"{model.stem}@")
    # A probability threshold lies in (0, 1); an energy threshold is any positive logit scale.
    upper = 1 if classifier.unknown_score == "probability" else np.inf
    assert 0 < classifier.unknown_threshold < upper, "shipped models are calibrated"
    assert checkpoint["calibration"]["unknown_threshold"] == pytest.approx(
        classifier.unknown_threshold)
    metrics = json.loads(model.metrics.read_text())
    assert metrics["class_names"] == labels and 0 < metrics["top1"] <= 1


def test_default_model_is_shipped() -> None:
    assert DEFAULT_MODEL in MODELS and MODELS[DEFAULT_MODEL].onnx.is_file()


def test_daily_model_has_the_everyday_labels_for_pairs() -> None:
    daily = ActionClassifier(MODELS["daily"].onnx, device="cpu")
    assert set(REQUIRED_DAILY) <= set(daily.labels) and daily.labels == list(DAILY_LABELS)
    assert daily.num_persons == 2, "two-person actions take the nearest other person"


@pytest.mark.parametrize("name", sorted(set(MODELS) - {"penn"}))
def test_onnx_is_a_fresh_export(name: str, tmp_path: Path) -> None:
    shipped = MODELS[name]
    out = tmp_path / f"{shipped.stem}.onnx"
    assert run(shipped.checkpoint, out, DEFAULT_OPSET, None, Console(quiet=True))
    assert out.read_bytes() == shipped.onnx.read_bytes(), (
        f"{shipped.onnx.name} is not a fresh export of {shipped.checkpoint.name}: "
        f"python export/to_onnx.py --model {name}")


@pytest.mark.parametrize("report", ["calibration.json", "calibration_yolo640.json"])
def test_penn_thresholds_are_the_calibration_reports(report: str) -> None:
    """Each pose backend's threshold in the shipped Penn ONNX file is the one its calibration
    report (the README's figures) chose, with the same temperature."""
    penn = MODELS["penn"]
    calibration = json.loads((penn.onnx.parent / report).read_text())
    classifier = ActionClassifier(penn.onnx, device="cpu")
    classifier.use_pose_backend(calibration["pose"])
    assert classifier.threshold_backend == calibration["pose"]
    assert classifier.unknown_threshold == pytest.approx(calibration["unknown_threshold"])
    assert classifier.temperature == pytest.approx(calibration["temperature"])
    assert classifier.unknown_score == calibration["unknown_score"]
    assert classifier.time_spans == tuple(calibration["time_spans"])
