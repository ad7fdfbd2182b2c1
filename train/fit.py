"""Training loop: SGD with a cosine schedule, validation each epoch, best/last checkpoints.

Under torchrun (`train.distributed`) the same loop runs on every process with the model in
DistributedDataParallel: each rank trains on its own shard of every epoch's windows, validates
on its shard of the validation clips, and the counts are summed, so every rank sees the same
numbers and picks the same best epoch; rank 0 alone prints and writes. Run alone, every
collective step is a no-op and the loop computes what it always did.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Sampler

from skelcam.train.checkpoint import read_checkpoint, save_checkpoint, weights_digest
from skelcam.train.data import (
    Augment,
    SkeletonDataset,
    WindowDataset,
    repeat_rare,
    stratified_split,
)
from skelcam.train.distributed import Session, session
from skelcam.train.errors import SkelcamError
from skelcam.train.model import ModelConfig, SkeletonClassifier, build_model
from skelcam.train.preprocess import FEATURE_GROUPS

# The label of training windows of no known action (outlier exposure).
NO_ACTION = -1


@dataclass
class FitOptions:
    """Hyper-parameters of one training run (saved beside the checkpoints)."""

    epochs: int = 60
    # Per process: under torchrun with N processes each step trains on N x batch_size windows.
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
    # Repeat the clips of classes holding less than this share of the training clips
    # (`train.data.repeat_rare`); 0: every clip once per epoch. For label sets whose smallest
    # classes have a tenth of the clips of the largest, as the merged daily set's two-person ones.
    repeat_threshold: float = 0.0
    # Two-person data: relate the subject and the partner in the head (`ModelConfig.pair_head`).
    pair_head: bool = False


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
    Started by torchrun, every process calls this with the same arguments (see the module
    docstring); each returns the same summary but for its own `seconds` and `device`.
    """
    with session(options.device) as ranks:
        return _fit(ranks, data, train_split, val_split, out_dir, options,
                    console if ranks.is_main else Console(quiet=True), resume, negatives or [])


def _fit(
    ranks: Session,
    data: SkeletonDataset,
    train_split: str,
    val_split: str | None,
    out_dir: Path,
    options: FitOptions,
    console: Console,
    resume: bool,
    negatives: list[tuple[SkeletonDataset, list[int]]],
) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    # Each rank its own dropout masks; the initial weights are rank 0's (DDP broadcasts them),
    # and the windows' augmentation is drawn per window (`WindowDataset`), whichever rank gets it.
    seed_everything(options.seed + ranks.rank)
    device = ranks.device
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
        pair_head=options.pair_head,
    )
    model = build_model(config).to(device)
    if options.init is not None:
        console.print(_warm_start(model, Path(options.init), config))
    epoch_idx = repeat_rare(train_idx, [data.clips[i].label for i in train_idx],
                            options.repeat_threshold)
    train_set: Dataset = WindowDataset(data, epoch_idx, config.window, config.num_persons,
                                       options.augment, options.seed)
    negative_sets = [
        WindowDataset(neg, idx, config.window, config.num_persons, options.augment,
                      options.seed + 1 + n, label=NO_ACTION)
        for n, (neg, idx) in enumerate(negatives) if idx
    ]
    epoch_sets = [train_set, *negative_sets]
    if negative_sets:
        train_set = ConcatDataset(epoch_sets)
    val_set = WindowDataset(data, val_idx[ranks.rank::ranks.world], config.window,
                            config.num_persons)
    loader_gen = torch.Generator().manual_seed(options.seed)
    sampler = _EpochSampler(len(epoch_sets[0]), len(train_set) - len(epoch_sets[0]),
                            options.negative_share, loader_gen, ranks.rank, ranks.world)
    train_loader = DataLoader(train_set, options.batch_size, sampler=sampler, drop_last=True)
    val_loader = DataLoader(val_set, options.batch_size * 2)
    steps_per_epoch = len(train_loader)
    if steps_per_epoch == 0:
        per_rank = " per process" if ranks.world > 1 else ""
        raise SkelcamError(f"{len(sampler)} training windows per epoch{per_rank} make no batch "
                           f"of {options.batch_size}; lower --batch-size")

    optimizer = torch.optim.SGD(model.parameters(), lr=options.lr, momentum=0.9, nesterov=True,
                                weight_decay=options.weight_decay)
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
        # Another process count would shard the epochs and count the LR schedule's steps
        # differently from the run being continued.
        trained_on = state.get("world_size", 1)
        if trained_on != ranks.world:
            raise SkelcamError(f"'{last_path}' was trained by {trained_on} process(es); resume "
                               f"it with as many (torchrun --nproc-per-node), not {ranks.world}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        loader_gen.set_state(state["loader_rng"])
        start_epoch, best, history = state["epoch"], state["best_val_top1"], state["history"]
        console.print(f"resuming from epoch {start_epoch} (best val top-1 {best:.2%})")
    # The module trains wrapped; the plain module validates and is saved, so checkpoints hold
    # its own state_dict (no "module." prefix), the same file as a single-process run's.
    trainee: nn.Module = model
    if ranks.world > 1:
        trainee = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            forward_sync_buffers=False,
        )

    processes = (f" x {ranks.world} processes (batch {options.batch_size} each)"
                 if ranks.world > 1 else "")
    repeated = (f" ({len(epoch_idx)} with rare classes repeated)"
                if len(epoch_idx) > len(train_idx) else "")
    console.print(
        f"training on {device}{processes}: {len(train_idx)} train{repeated} / {len(val_idx)} "
        f"val clips + {sum(len(d) for d in negative_sets)} of no known action "
        f"(val = {val_name}), {data.num_classes} classes, {config.num_persons} person(s), "
        f"window {config.window}"
    )
    started = time.perf_counter()
    digests: list[str] = []
    with _progress(console) as progress:
        epochs_task = progress.add_task("epochs", total=options.epochs, completed=start_epoch,
                                        stats="")
        for epoch in range(start_epoch, options.epochs):
            for part in epoch_sets:
                part.epoch = epoch
            batch_task = progress.add_task(f"epoch {epoch + 1}", total=steps_per_epoch, stats="")
            sums = _train_epoch(trainee, train_loader, optimizer, scheduler, criterion, device,
                                progress, batch_task)
            total_loss, correct, seen, seen_known = ranks.sum(sums)
            loss, acc = total_loss / seen, correct / max(1, seen_known)
            progress.remove_task(batch_task)
            ranks.average_batchnorm(model)
            digests = _same_weights(ranks, model)
            val_correct, val_seen = ranks.sum(count_correct(model, val_loader, device))
            val_acc = val_correct / val_seen
            history.append({"epoch": epoch + 1, "loss": loss, "train_top1": acc,
                            "val_top1": val_acc, "lr": scheduler.get_last_lr()[0]})
            extra = {"epoch": epoch + 1, "val_top1": val_acc, "val_split": val_name,
                     "val_indices": val_idx, "fit_options": asdict(options)}
            # Ties go to the later epoch: same validation score, further down the schedule.
            # Every rank has the same val_acc (summed counts), so all take the same branch.
            if val_acc >= best:
                best = val_acc
                ranks.write_on_main(partial(save_checkpoint, best_path, model, data.class_names,
                                            **extra))
            ranks.write_on_main(partial(
                save_checkpoint, last_path, model, data.class_names, **extra,
                optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                loader_rng=loader_gen.get_state(), best_val_top1=best, history=history,
                world_size=ranks.world))
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
        "world_size": ranks.world,
        # `train.checkpoint.weights_digest` of each rank's model after the last epoch trained
        # here (the same on every rank, or the run would have stopped), in rank order.
        "rank_weights_sha256": digests,
        "options": asdict(options),
        "history": history,
    }
    ranks.write_on_main(partial((out_dir / "summary.json").write_text,
                                json.dumps(summary, indent=2)))
    return summary


def _same_weights(ranks: Session, model: nn.Module) -> list[str]:
    """Every rank's weights digest, after checking they are all the same.

    DDP keeps the ranks' parameters equal (the same averaged gradients, the same optimizer) and
    `average_batchnorm` their statistics; a rank that drifted anyway would make rank 0's
    checkpoint stand for a model the others do not have, so that stops the run.
    """
    digests = ranks.gather(weights_digest(model.state_dict()))
    if len(set(digests)) > 1:
        raise RuntimeError(f"the ranks' weights differ after an epoch: {digests}")
    return digests


def _warm_start(model: SkeletonClassifier, path: Path, config: ModelConfig) -> str:
    """Load `path`'s weights into `model` and say what was loaded.

    The window and the person count may differ (no weight depends on them). Another class list
    keeps this model's fresh classifier head and takes only the backbone: a model for a new
    label set then starts from features that already learned estimated-pose noise, which on
    this CPU saves most of a from-scratch run.
    """
    state = read_checkpoint(path)
    # Filled with today's defaults, so that checkpoints from before a config field existed
    # compare equal on it.
    their_config = ModelConfig.from_dict(state["config"]).to_dict()
    free = {"window", "num_persons", "num_classes", "pair_head"}
    theirs = {k: v for k, v in their_config.items() if k not in free}
    ours = {k: v for k, v in config.to_dict().items() if k not in free}
    if theirs != ours:
        diff = sorted(k for k in ours if theirs.get(k) != ours[k])
        raise SkelcamError(f"--init '{path}' has another model config ({', '.join(diff)} differ)")
    weights = state["model"]
    same_head = (their_config["num_classes"] == config.num_classes
                 and any(k.startswith("pair.") for k in weights) == (model.pair is not None))
    if same_head:
        model.load_state_dict(weights)
        return f"warm start from {path}"
    backbone = {k: v for k, v in weights.items() if not k.startswith(("head.", "pair."))}
    model.load_state_dict(backbone, strict=False)
    return (f"warm start from {path}: backbone only ({their_config['num_classes']} classes "
            f"there, {config.num_classes} here{', a pair head here' if model.pair else ''}; "
            f"new classifier head)")


def _warmup_cosine(warmup_steps: int, total_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class _EpochSampler(Sampler[int]):
    """Every known-action clip once per epoch, plus a fresh random subset of the negatives, in
    a random order drawn from `generator` (whose state the checkpoint keeps for `--resume`).

    With `world` processes, every rank draws the same epoch plan (its generator starts from the
    same seed and draws the same numbers) and takes every `world`-th window of it from its
    `rank`-th: the ranks share one epoch without overlap, and their generators stay equal for
    a resume. The plan is cut to a multiple of `world` (at most `world - 1` windows, different
    ones each epoch) so that every rank runs the same number of steps, which DDP's gradient
    averaging needs.
    """

    def __init__(self, known: int, negatives: int, share: float, generator: torch.Generator,
                 rank: int = 0, world: int = 1) -> None:
        self.known = known
        self.negatives = negatives
        self.per_epoch = min(negatives, round(share * known))
        self.generator = generator
        self.rank = rank
        self.world = world

    def __len__(self) -> int:
        return (self.known + self.per_epoch) // self.world

    def __iter__(self) -> Iterator[int]:
        chosen = torch.randperm(self.negatives, generator=self.generator)[: self.per_epoch]
        order = torch.cat([torch.arange(self.known), self.known + chosen])
        order = order[torch.randperm(len(order), generator=self.generator)]
        return iter(order[self.rank: len(self) * self.world: self.world].tolist())


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


def _train_epoch(model, loader, optimizer, scheduler, criterion, device, progress,
                 task) -> tuple[float, int, int, int]:
    """One epoch of this process's shard: (summed loss, correct, windows, known-action windows),
    sums so that the ranks' can be added up; the progress bar shows this rank's running figures."""
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
    return total_loss, correct, seen, seen_known


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


def count_correct(model: SkeletonClassifier, loader: DataLoader,
                  device: torch.device) -> tuple[int, int]:
    """(top-1 hits, clips) over a loader: counts, so that the ranks' shards add up exactly; a
    rank can have no validation clips (fewer clips than processes)."""
    if len(loader.dataset) == 0:
        return 0, 0
    logits, labels = predict(model, loader, device)
    return int((logits.argmax(1) == labels).sum()), len(labels)


def evaluate_accuracy(model: SkeletonClassifier, loader: DataLoader, device: torch.device) -> float:
    correct, total = count_correct(model, loader, device)
    return correct / total


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
