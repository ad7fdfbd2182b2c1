"""Training loop: SGD with a cosine schedule, validation each epoch, best/last checkpoints."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from train.checkpoint import read_checkpoint, save_checkpoint
from train.data import Augment, SkeletonDataset, WindowDataset, stratified_split
from train.errors import SkelcamError
from train.model import ModelConfig, SkeletonClassifier, build_model
from train.preprocess import FEATURE_GROUPS

# The label of training windows of no known action (outlier exposure).
NO_ACTION = -1


@dataclass
class FitOptions:
    """Hyper-parameters of one training run (saved beside the checkpoints)."""

    epochs: int = 60
    batch_size: int = 32
    lr: float = 0.05
    weight_decay: float = 5e-4
    warmup_epochs: int = 3
    label_smoothing: float = 0.1
    window: int = 48
    seed: int = 0
    val_fraction: float = 0.15
    device: str = "auto"
    features: tuple[str, ...] = FEATURE_GROUPS
    augment: Augment = field(default_factory=Augment)
    # Weight of the outlier-exposure term (Hendrycks et al., ICLR 2019): on windows of no known
    # action, the cross-entropy to the uniform distribution, so that the calibrated top-1
    # probability stays low on them and the "no known action" threshold can reject them.
    negative_weight: float = 0.5
    # Negative windows per epoch, as a share of the known-action clips: the negative sets are
    # larger than Penn Action, and a fresh random subset each epoch costs less than all of them.
    negative_share: float = 0.5
    # A checkpoint of the same architecture and classes to start from (fine-tuning), e.g. the
    # shipped model when only the augmentations or the negatives change.
    init: str | None = None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SkelcamError(f"device '{name}' asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_splits(
    data: SkeletonDataset, train_split: str, val_split: str | None, fraction: float, seed: int
) -> tuple[list[int], list[int], str]:
    """Train and validation clip indices; validation is carved from train when not given."""
    train = data.split(train_split)
    if val_split is not None and val_split in data.splits:
        return train, data.split(val_split), val_split
    if val_split is not None:
        data.split(val_split)
    labels = [data.clips[i].label for i in train]
    tr, va = stratified_split(labels, fraction, seed)
    return [train[i] for i in tr], [train[i] for i in va], f"{fraction:.0%} of {train_split}"


def fit(
    data: SkeletonDataset,
    train_split: str,
    val_split: str | None,
    out_dir: Path,
    options: FitOptions,
    console: Console,
    resume: bool = False,
    negatives: list[tuple[SkeletonDataset, list[int]]] | None = None,
) -> dict:
    """Train, validating every epoch; returns the summary also saved as `out_dir/summary.json`.

    `negatives` are clips of none of the data set's actions (data set, clip indices), mixed into
    training with the outlier-exposure loss; validation stays on the data set's own split.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(options.seed)
    device = pick_device(options.device)
    train_idx, val_idx, val_name = resolve_splits(
        data, train_split, val_split, options.val_fraction, options.seed
    )
    if not train_idx or not val_idx:
        raise SkelcamError("the training or validation split is empty")

    config = ModelConfig(
        num_classes=data.num_classes,
        window=options.window,
        num_persons=data.num_persons,
        used_joints=data.used_joints(train_idx),
        features=list(options.features),
    )
    model = build_model(config).to(device)
    if options.init is not None:
        _warm_start(model, Path(options.init), config)
    train_set: Dataset = WindowDataset(data, train_idx, config.window, config.num_persons,
                                       options.augment, options.seed)
    negative_sets = [
        WindowDataset(neg, idx, config.window, config.num_persons, options.augment,
                      options.seed + 1 + n, label=NO_ACTION)
        for n, (neg, idx) in enumerate(negatives or []) if idx
    ]
    epoch_sets = [train_set, *negative_sets]
    if negative_sets:
        train_set = ConcatDataset(epoch_sets)
    val_set = WindowDataset(data, val_idx, config.window, config.num_persons)
    loader_gen = torch.Generator().manual_seed(options.seed)
    sampler = _EpochSampler(len(epoch_sets[0]), len(train_set) - len(epoch_sets[0]),
                            options.negative_share, loader_gen)
    train_loader = DataLoader(train_set, options.batch_size, sampler=sampler, drop_last=True)
    val_loader = DataLoader(val_set, options.batch_size * 2)

    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9, nesterov=True,
                                weight_decay=options.weight_decay)
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _warmup_cosine(options.warmup_epochs * steps_per_epoch,
                                  options.epochs * steps_per_epoch)
    )
    criterion = _Loss(options.label_smoothing, options.negative_weight)

    start_epoch, best, history = 0, -1.0, []
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if resume:
        state = read_checkpoint(last_path)
        if state["config"] != config.to_dict():
            raise SkelcamError(f"'{last_path}' was trained with another data set or model config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        loader_gen.set_state(state["loader_rng"])
        start_epoch, best, history = state["epoch"], state["best_val_top1"], state["history"]
        console.print(f"resuming from epoch {start_epoch} (best val top-1 {best:.2%})")

    console.print(
        f"training on {device}: {len(train_idx)} train / {len(val_idx)} val clips "
        f"+ {sum(len(d) for d in negative_sets)} of no known action "
        f"(val = {val_name}), {data.num_classes} classes, {config.num_persons} person(s), "
        f"window {config.window}"
    )
    started = time.perf_counter()
    with _progress(console) as progress:
        epochs_task = progress.add_task("epochs", total=options.epochs, completed=start_epoch,
                                        stats="")
        for epoch in range(start_epoch, options.epochs):
            for part in epoch_sets:
                part.epoch = epoch
            batch_task = progress.add_task(f"epoch {epoch + 1}", total=steps_per_epoch, stats="")
            loss, acc = _train_epoch(model, train_loader, optimizer, scheduler, criterion, device,
                                     progress, batch_task)
            progress.remove_task(batch_task)
            val_acc = evaluate_accuracy(model, val_loader, device)
            history.append({"epoch": epoch + 1, "loss": loss, "train_top1": acc,
                            "val_top1": val_acc, "lr": scheduler.get_last_lr()[0]})
            extra = {"epoch": epoch + 1, "val_top1": val_acc, "val_split": val_name,
                     "val_indices": val_idx, "fit_options": asdict(options)}
            # Ties go to the later epoch: same validation score, further down the schedule.
            if val_acc >= best:
                best = val_acc
                save_checkpoint(best_path, model, data.class_names, **extra)
            save_checkpoint(last_path, model, data.class_names, **extra,
                            optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                            loader_rng=loader_gen.get_state(), best_val_top1=best,
                            history=history)
            progress.update(epochs_task, advance=1,
                            stats=f"loss {loss:.3f}  train {acc:.1%}  val {val_acc:.1%}  "
                                  f"best {best:.1%}")
    summary = {
        "best_val_top1": best,
        "epochs": options.epochs,
        "train_clips": len(train_idx),
        "negative_clips": sum(len(d) for d in negative_sets),
        "val_clips": len(val_idx),
        "val_split": val_name,
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(device),
        "options": asdict(options),
        "history": history,
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _warm_start(model: SkeletonClassifier, path: Path, config: ModelConfig) -> None:
    """Load `path`'s weights into `model`; its config must match except for the window."""
    state = read_checkpoint(path)
    theirs = {k: v for k, v in state["config"].items() if k != "window"}
    ours = {k: v for k, v in config.to_dict().items() if k != "window"}
    if theirs != ours:
        diff = sorted(k for k in ours if theirs.get(k) != ours[k])
        raise SkelcamError(f"--init '{path}' has another model config ({', '.join(diff)} differ)")
    model.load_state_dict(state["model"])


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class _EpochSampler(Sampler[int]):
    """Every known-action clip once per epoch, plus a fresh random subset of the negatives, in
    a random order drawn from `generator` (whose state the checkpoint keeps for `--resume`)."""

    def __init__(self, known: int, negatives: int, share: float,
                 generator: torch.Generator) -> None:
        self.known = known
        self.negatives = negatives
        self.per_epoch = min(negatives, round(share * known))
        self.generator = generator

    def __len__(self) -> int:
        return self.known + self.per_epoch

    def __iter__(self) -> Iterator[int]:
        chosen = torch.randperm(self.negatives, generator=self.generator)[: self.per_epoch]
        order = torch.cat([torch.arange(self.known), self.known + chosen])
        return iter(order[torch.randperm(len(order), generator=self.generator)].tolist())


class _Loss(nn.Module):
    """Label-smoothed cross-entropy on known actions plus outlier exposure on `NO_ACTION` ones."""

    def __init__(self, label_smoothing: float, negative_weight: float) -> None:
        super().__init__()
        self.known = nn.CrossEntropyLoss(label_smoothing=label_smoothing, reduction="sum")
        self.negative_weight = negative_weight

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        known = labels != NO_ACTION
        loss = self.known(logits[known], labels[known]) if known.any() else logits.sum() * 0
        if (~known).any():
            uniform = -torch.log_softmax(logits[~known], dim=1).mean(dim=1)
            loss = loss + self.negative_weight * uniform.sum()
        return loss / len(labels)


def _train_epoch(model, loader, optimizer, scheduler, criterion, device, progress, task):
    model.train()
    total_loss, correct, seen, seen_known = 0.0, 0, 0, 0
    for keypoints, scores, labels in loader:
        keypoints, scores, labels = keypoints.to(device), scores.to(device), labels.to(device)
        logits = model(keypoints, scores)
        loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(labels)
        known = labels != NO_ACTION
        correct += (logits.argmax(1)[known] == labels[known]).sum().item()
        seen += len(labels)
        seen_known += int(known.sum())
        progress.update(task, advance=1, stats=f"loss {total_loss / seen:.3f}  "
                                               f"acc {correct / max(1, seen_known):.1%}")
    return total_loss / seen, correct / max(1, seen_known)


@torch.no_grad()
def predict(model: SkeletonClassifier, loader: DataLoader, device: torch.device) -> tuple[
        np.ndarray, np.ndarray]:
    """Logits and labels for every clip of a loader."""
    model.eval()
    logits, labels = [], []
    for keypoints, scores, y in loader:
        logits.append(model(keypoints.to(device), scores.to(device)).float().cpu().numpy())
        labels.append(y.numpy())
    return np.concatenate(logits), np.concatenate(labels)


def evaluate_accuracy(model: SkeletonClassifier, loader: DataLoader, device: torch.device) -> float:
    logits, labels = predict(model, loader, device)
    return float((logits.argmax(1) == labels).mean())


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=False,
    )
