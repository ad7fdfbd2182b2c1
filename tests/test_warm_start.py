"""`fit --init`: warm starts from the shipped Penn checkpoint, the real file.

A model for another label set (the daily model: 29 classes, two people) takes the checkpoint's
backbone and keeps its own new head; the same label set takes everything; another architecture
is refused in one line. A two-person model with a pair head takes the backbone of a checkpoint
without one and a fresh pair layer and head.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from skelcam.train.checkpoint import read_checkpoint
from skelcam.train.errors import SkelcamError
from skelcam.train.fit import _warm_start
from skelcam.train.model import ModelConfig, build_model
from skelcam.train.shipped import CHECKPOINT, MODELS


@pytest.fixture(scope="module")
def shipped() -> dict:
    return read_checkpoint(CHECKPOINT)


def test_other_classes_take_the_backbone_only(shipped: dict) -> None:
    penn = ModelConfig.from_dict(shipped["config"])
    config = ModelConfig(num_classes=29, window=penn.window, num_persons=2,
                         used_joints=penn.used_joints)
    torch.manual_seed(0)
    model = build_model(config)
    fresh_head = model.head.weight.detach().clone()
    message = _warm_start(model, CHECKPOINT, config)
    assert "backbone only" in message and "15 classes there, 29 here" in message
    state = model.state_dict()
    backbone = [k for k in shipped["model"] if not k.startswith("head.")]
    assert len(backbone) > 100
    for key in backbone:
        assert torch.equal(state[key], shipped["model"][key]), key
    assert torch.equal(model.head.weight, fresh_head)
    assert model.head.weight.shape == (29, shipped["model"]["head.weight"].shape[1])


def test_same_classes_take_everything(shipped: dict) -> None:
    config = ModelConfig.from_dict({**shipped["config"], "window": 32})
    model = build_model(config)
    assert _warm_start(model, CHECKPOINT, config) == f"warm start from {CHECKPOINT}"
    assert torch.equal(model.head.weight, shipped["model"]["head.weight"])


def test_another_architecture_is_refused(shipped: dict) -> None:
    config = ModelConfig.from_dict({**shipped["config"], "channels": [32] * 6})
    with pytest.raises(SkelcamError, match=r"another model config \(channels differ\)"):
        _warm_start(build_model(config), CHECKPOINT, config)


def test_a_pair_head_starts_from_a_backbone_without_one(shipped: dict) -> None:
    penn = ModelConfig.from_dict(shipped["config"])
    config = ModelConfig(num_classes=15, window=penn.window, num_persons=2,
                         used_joints=penn.used_joints, pair_head=True)
    model = build_model(config)
    message = _warm_start(model, CHECKPOINT, config)
    assert "backbone only" in message and "a pair head here" in message
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in shipped["model"].items()
               if not k.startswith("head."))
    assert model.pair is not None and model.pair[0].in_features == 2 * model.head.in_features


def test_the_pair_head_tells_the_subject_from_the_partner(tmp_path: Path) -> None:
    """A pair-head model warm-started from the shipped daily model's backbone, on a real SBU
    hug (pair s01s02): it gives other logits when the two people trade slots, live as each
    person of a pair is classified in turn, its ONNX export agrees with PyTorch on both
    orders, and a person alone (the partner slot empty) still gets a probability
    distribution."""
    from skelcam.export.to_onnx import export_onnx
    from skelcam.realtime.classifier import ActionClassifier
    from skelcam.train.data import load_pyskl
    from skelcam.train.windowing import sample_window, select_persons
    from tests.test_kinect_convert import convert, copy, source

    folder = source("sbu")
    convert("sbu", copy(folder, ["s01s02/06/001/skeleton_pos.txt"], tmp_path / "sbu"),
            tmp_path / "sbu.pkl")
    clip = load_pyskl(tmp_path / "sbu.pkl").clips[0]
    daily = MODELS["daily"].checkpoint
    # Another class count, so that only the backbone comes from the shipped (pair-head) model.
    config = ModelConfig.from_dict({**read_checkpoint(daily)["config"], "num_classes": 15})
    assert config.pair_head
    torch.manual_seed(0)
    model = build_model(config)
    assert "a pair head here" in _warm_start(model, daily, config)
    model.eval()
    kp, sc = sample_window(*select_persons(clip.keypoints, clip.scores, 2), config.window)
    pair = (kp[None], sc[None])
    swapped = (kp[None, [1, 0]], sc[None, [1, 0]])
    with torch.no_grad():
        logits = [model(torch.from_numpy(k), torch.from_numpy(s)) for k, s in (pair, swapped)]
    assert (logits[0] - logits[1]).abs().max() > 1e-2
    export_onnx(model, [f"c{i}" for i in range(15)], tmp_path / "pair.onnx", 18, "test")
    classifier = ActionClassifier(tmp_path / "pair.onnx", device="cpu")
    for (k, s), expected in zip((pair, swapped), logits, strict=True):
        np.testing.assert_allclose(classifier.logits(k, s), expected.numpy(), atol=1e-4)
    alone = sc[None].copy()
    alone[:, 1] = 0
    probabilities = classifier.probabilities(kp[None], alone)
    assert probabilities.shape == (1, 15) and abs(float(probabilities.sum()) - 1.0) < 1e-4
