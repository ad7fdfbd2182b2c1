"""Can the pipeline learn at all? The sanity check the original project never ran.

A classifier that cannot even memorise ~100 real clips has a broken pipeline (labels detached
from their clips, features that are all zero, a joint mapping that scrambles the body, gradients
that do not flow), whatever its validation number says. So: real Penn Action clips through the
real converter, loader, window sampler, normalizer, model, optimizer settings and LR schedule, and
the training accuracy must reach 95 %. Then `train.fit.fit` itself runs end to end, writes its
checkpoints and summary, and resumes.

Both tests run torch on one thread (the two cores are shared). The overfit test uses a narrower
network than the default (4 blocks of 32-64 channels instead of 6 of 64-128) and a 32-frame window:
the default takes about 70 s to reach 100 % here, this one under 30 s, and what is being tested
(the data and training path) is the same code for both widths.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from conftest import PennSubset
from rich.console import Console
from torch.utils.data import DataLoader

from skelcam.train.checkpoint import load_model, read_checkpoint, save_checkpoint
from skelcam.train.data import SkeletonDataset, WindowDataset, load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.fit import FitOptions, _warmup_cosine, evaluate_accuracy, fit
from skelcam.train.model import ModelConfig, build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

OVERFIT_EPOCHS = 20
OVERFIT_BATCH = 16


def test_overfits_100_real_penn_clips(penn_subset: PennSubset) -> None:
    """On 105 real Penn Action clips (15 classes), the real model and optimizer settings reach
    >= 95 % training accuracy (eval mode, deterministic windows) within 20 epochs, and the
    training loss falls to well under half of the first epoch's."""
    data = load_pyskl(penn_subset.pickle)
    indices = data.split("train")
    assert len(indices) == 105 and data.num_classes == 15
    options = FitOptions()
    torch.manual_seed(0)
    config = ModelConfig(
        num_classes=data.num_classes,
        window=32,
        num_persons=data.num_persons,
        used_joints=data.used_joints(indices),
        channels=[32, 32, 64, 64],
        strides=[1, 1, 2, 1],
    )
    model = build_model(config)
    train_set = WindowDataset(data, indices, config.window, config.num_persons)
    loader = DataLoader(train_set, OVERFIT_BATCH, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    # The optimizer, loss and schedule exactly as `train.fit.fit` builds them.
    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9, nesterov=True,
                                weight_decay=options.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(len(loader), OVERFIT_EPOCHS * len(loader))
    )
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=options.label_smoothing)

    epoch_losses = []
    for _ in range(OVERFIT_EPOCHS):
        model.train()
        total, seen = 0.0, 0
        for keypoints, scores, labels in loader:
            loss = criterion(model(keypoints, scores), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(labels)
            seen += len(labels)
        epoch_losses.append(total / seen)

    eval_loader = DataLoader(train_set, 64)
    accuracy = evaluate_accuracy(model, eval_loader, torch.device("cpu"))
    losses = ", ".join(f"{v:.2f}" for v in epoch_losses)
    assert accuracy >= 0.95, f"training accuracy {accuracy:.1%}; epoch losses {losses}"
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], f"epoch losses {losses}"


@pytest.fixture
def small_custom16(custom16_path: Path) -> SkeletonDataset:
    """custom16 with `xsub_train` cut to its first 80 clips, to keep fit() fast."""
    data = load_pyskl(custom16_path)
    data.splits["xsub_train"] = data.splits["xsub_train"][:80]
    return data


def parameters_of(path: Path) -> dict[str, torch.Tensor]:
    """The learnable weights of a checkpoint (no BatchNorm running statistics)."""
    model, _, _ = load_model(path)
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return float(sum(((a[k] - b[k]) ** 2).sum() for k in a) ** 0.5)


def test_fit_end_to_end_and_resume(small_custom16: SkeletonDataset, tmp_path: Path) -> None:
    """fit() on custom16 (no validation split given, so 15 % of xsub_train is carved) writes
    best.pt, last.pt and summary.json; resume=True continues from last.pt: the history keeps the
    first epochs, the LR schedule goes on where it stopped (reaching 0 at the new last epoch) and
    the weights continue from last.pt's instead of starting over."""
    out = tmp_path / "run"
    options = FitOptions(epochs=2, batch_size=16, window=16, warmup_epochs=1, device="cpu")
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    summary = fit(small_custom16, "xsub_train", None, out, options, console)

    assert {p.name for p in out.iterdir()} == {"best.pt", "last.pt", "summary.json"}
    assert json.loads((out / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["val_split"] == "15% of xsub_train"
    assert summary["train_clips"] + summary["val_clips"] == 80
    assert 8 <= summary["val_clips"] <= 16
    assert [h["epoch"] for h in summary["history"]] == [1, 2]
    assert all(h["loss"] > 0 and 0 <= h["val_top1"] <= 1 for h in summary["history"])
    assert summary["best_val_top1"] == max(h["val_top1"] for h in summary["history"])

    model, names, best_state = load_model(out / "best.pt")
    assert names == [f"class_{i}" for i in range(1, 17)]
    assert model.config.window == 16 and model.config.num_classes == 16
    assert not model.training
    assert best_state["val_top1"] == summary["best_val_top1"]
    keypoints = torch.rand(3, 1, 16, 17, 2) * 500
    with torch.no_grad():
        assert model(keypoints, torch.ones(3, 1, 16, 17)).shape == (3, 16)
    last = read_checkpoint(out / "last.pt")
    assert last["epoch"] == 2 and len(last["history"]) == 2
    assert {"optimizer", "scheduler", "loader_rng"} <= last.keys()
    val_names = {small_custom16.clips[i].name for i in last["val_indices"]}
    assert len(val_names) == summary["val_clips"]

    weights_epoch2 = parameters_of(out / "last.pt")
    resumed = fit(small_custom16, "xsub_train", None, out,
                  FitOptions(**{**options.__dict__, "epochs": 3}), console, resume=True)
    assert "resuming from epoch 2" in buffer.getvalue()
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    assert resumed["history"][:2] == summary["history"]
    # Continued schedule: after 3 of 3 epochs the cosine is at 0; a restart would be at its peak.
    assert resumed["history"][2]["lr"] < 0.01 * options.lr
    last3 = read_checkpoint(out / "last.pt")
    assert last3["epoch"] == 3
    weights_epoch3 = parameters_of(out / "last.pt")
    torch.manual_seed(options.seed)
    fresh = {n: p.detach() for n, p in build_model(ModelConfig(**last3["config"]))
             .named_parameters()}
    assert distance(weights_epoch3, weights_epoch2) < 0.5 * distance(weights_epoch3, fresh)


def test_same_seed_gives_the_same_model(small_custom16: SkeletonDataset, tmp_path: Path) -> None:
    """Two runs with the same seed train bit-identical weights and histories: the shipped numbers
    can be reproduced by re-running the README's `fit` command."""
    options = FitOptions(epochs=1, batch_size=16, window=16, warmup_epochs=1, device="cpu")
    console = Console(file=io.StringIO())
    first = fit(small_custom16, "xsub_train", None, tmp_path / "a", options, console)
    second = fit(small_custom16, "xsub_train", None, tmp_path / "b", options, console)
    assert first["history"] == second["history"]
    a, b = parameters_of(tmp_path / "a" / "last.pt"), parameters_of(tmp_path / "b" / "last.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_another_config_and_missing_checkpoint(
    small_custom16: SkeletonDataset, tmp_path: Path
) -> None:
    """Resuming into a folder without last.pt, or with a different window than last.pt was
    trained with, is one SkelcamError line and leaves the folder as it was."""
    console = Console(file=io.StringIO())
    with pytest.raises(SkelcamError, match="does not exist"):
        fit(small_custom16, "xsub_train", None, tmp_path / "empty",
            FitOptions(epochs=1, window=16, device="cpu"), console, resume=True)

    out = tmp_path / "run"
    out.mkdir()
    config = ModelConfig(num_classes=16, window=24,
                         used_joints=small_custom16.used_joints(small_custom16.split("xsub_train")))
    save_checkpoint(out / "last.pt", build_model(config), small_custom16.class_names)
    before = (out / "last.pt").read_bytes()
    with pytest.raises(SkelcamError) as exc:
        fit(small_custom16, "xsub_train", None, out,
            FitOptions(epochs=1, window=16, device="cpu"), console, resume=True)
    assert "another data set or model config" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert (out / "last.pt").read_bytes() == before


def test_fit_rejects_unknown_splits(small_custom16: SkeletonDataset, tmp_path: Path) -> None:
    """An unknown train or validation split is one error listing the file's splits, raised
    before any checkpoint is written."""
    console = Console(file=io.StringIO())
    options = FitOptions(epochs=1, window=16, device="cpu")
    for train_split, val_split in (("train", None), ("xsub_train", "xsub_val")):
        with pytest.raises(SkelcamError) as exc:
            fit(small_custom16, train_split, val_split, tmp_path / "run", options, console)
        assert "xsub_test, xsub_train" in str(exc.value)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
