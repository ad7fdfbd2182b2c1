"""`fit --init`: warm starts from the shipped Penn checkpoint, the real file.

A model for another label set (the daily model: 29 classes, two people) takes the checkpoint's
backbone and keeps its own new head; the same label set takes everything; another architecture
is refused in one line.
"""

from __future__ import annotations

import pytest
import torch

from skelcam.train.checkpoint import read_checkpoint
from skelcam.train.errors import SkelcamError
from skelcam.train.fit import _warm_start
from skelcam.train.model import ModelConfig, build_model
from skelcam.train.shipped import CHECKPOINT


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
