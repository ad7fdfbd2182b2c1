"""Checkpoint files: the model's weights with everything needed to use them.

A checkpoint is a dict saved by `torch.save` holding `format` (so a foreign file is recognised),
the model config, the class names, the weights and, for `last.pt`, the optimizer state needed to
resume. Files are written to a temporary name and renamed, so an interrupted save never leaves a
truncated checkpoint where a good one was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import torch

from skelcam.train.errors import SkelcamError
from skelcam.train.files import atomic_write
from skelcam.train.model import ModelConfig, SkeletonClassifier, build_model

FORMAT = "skelcam-checkpoint-v1"


def save_checkpoint(path: str | Path, model: SkeletonClassifier, class_names: list[str],
                    **extra: object) -> None:
    path = Path(path)
    state = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "class_names": list(class_names),
        "model": model.state_dict(),
        **extra,
    }
    atomic_write(path, lambda handle: torch.save(state, handle))


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict's names, dtypes, shapes and values, wherever the tensors live.

    Equal digests mean bit-identical weights: distributed training checks its ranks agree with
    it every epoch, and its summary records it so that a run can be compared with its checkpoint.
    """
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_checkpoint(path: str | Path) -> dict:
    """The raw checkpoint dict, after checking it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise SkelcamError(f"checkpoint '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any load failure means an unusable file
        raise SkelcamError(f"cannot read checkpoint '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise SkelcamError(f"'{path}' is not a skelcam checkpoint (no '{FORMAT}' marker)")
    return state


def load_model(path: str | Path) -> tuple[SkeletonClassifier, list[str], dict]:
    """Rebuild the model in eval mode; returns (model, class names, raw checkpoint)."""
    state = read_checkpoint(path)
    model = build_model(ModelConfig.from_dict(state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, list(state["class_names"]), state
