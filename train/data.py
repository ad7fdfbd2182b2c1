"""Loading PYSKL-format skeleton pickles and turning them into training batches.

PYSKL's format (`ntu60_hrnet.pkl` and friends) is a pickled dict
`{'split': {name: [frame_dir, ...]}, 'annotations': [{frame_dir, label, img_shape,
total_frames, keypoint [M, T, V, 2], keypoint_score [M, T, V]}, ...]}`. Some files store the
score as a third keypoint channel instead. Labels need not start at 0 (our custom16 file counts
from 1), so they are mapped onto 0..K-1 in sorted order and the mapping is kept in the checkpoint.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from train.errors import SkelcamError
from train.preprocess import sample_window, select_persons
from train.skeleton import NUM_JOINTS, flip_permutation

MAX_PERSONS = 2


@dataclass
class Clip:
    """One annotated clip: every person's keypoints over all its frames."""

    name: str
    label: int
    keypoints: np.ndarray  # [M, T, 17, 2] float32 pixels
    scores: np.ndarray  # [M, T, 17] float32
    img_shape: tuple[int, int] | None = None  # (height, width) of the source video


@dataclass
class SkeletonDataset:
    """A whole pickle in memory: clips, splits and class names."""

    clips: list[Clip]
    splits: dict[str, list[int]]
    class_names: list[str]
    original_labels: list[int]
    source: str
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_persons(self) -> int:
        return min(MAX_PERSONS, max(c.keypoints.shape[0] for c in self.clips))

    def split(self, name: str) -> list[int]:
        if name not in self.splits:
            known = ", ".join(sorted(self.splits)) or "none"
            raise SkelcamError(f"split '{name}' is not in {self.source} (its splits: {known})")
        return self.splits[name]

    def used_joints(self, indices: Sequence[int]) -> list[int]:
        """Joints scored above 0 somewhere in these clips (Penn never has COCO eyes or ears)."""
        seen = np.zeros(NUM_JOINTS, bool)
        for i in indices:
            seen |= (self.clips[i].scores > 0).any(axis=(0, 1))
        return [int(j) for j in np.flatnonzero(seen)]


def load_pyskl(path: str | Path, label_names: Sequence[str] | None = None) -> SkeletonDataset:
    """Read and validate a PYSKL pickle; every problem is one SkelcamError line."""
    path = Path(path)
    if not path.is_file():
        raise SkelcamError(f"data file '{path}' does not exist")
    try:
        with path.open("rb") as f:
            raw = pickle.load(f)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise SkelcamError(f"cannot read '{path}' as a pickle: {exc!s}") from None
    if not isinstance(raw, dict) or "annotations" not in raw or "split" not in raw:
        raise SkelcamError(
            f"'{path}' is not a PYSKL skeleton pickle (expected a dict with 'split' and "
            "'annotations')"
        )
    split_table = raw["split"]
    if not isinstance(split_table, dict) or not all(
        isinstance(members, list | tuple) for members in split_table.values()
    ):
        raise SkelcamError(f"'{path}': 'split' must map split names to lists of frame_dir names")
    annotations = raw["annotations"]
    if not annotations:
        raise SkelcamError(f"'{path}' has no annotations")

    clips = [_clip_from_annotation(a, path) for a in annotations]
    original = sorted({c.label for c in clips})
    remap = {lab: i for i, lab in enumerate(original)}
    for c in clips:
        c.label = remap[c.label]

    names = list(label_names) if label_names is not None else raw.get("label_names")
    class_names = _class_names(names, original, path)
    by_name = {c.name: i for i, c in enumerate(clips)}
    splits = {
        split: [by_name[n] for n in members if n in by_name]
        for split, members in raw["split"].items()
    }
    return SkeletonDataset(clips, splits, class_names, original, str(path))


def _class_names(names: Sequence[str] | None, original: list[int], path: Path) -> list[str]:
    """Names for the labels present, looked up by original label value."""
    if names is None:
        return [f"class_{lab}" for lab in original]
    names = list(names)
    offset = 1 if len(names) == max(original) and min(original) >= 1 else 0
    if max(original) - offset >= len(names):
        raise SkelcamError(
            f"{len(names)} label names for '{path}', but its labels go up to {max(original)}"
        )
    return [names[lab - offset] for lab in original]


def _clip_from_annotation(ann: dict, path: Path) -> Clip:
    try:
        name, label, kp = str(ann["frame_dir"]), int(ann["label"]), np.asarray(ann["keypoint"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SkelcamError(f"'{path}': an annotation lacks a field ({exc!s})") from None
    if kp.ndim != 4 or kp.shape[-1] not in (2, 3):
        raise SkelcamError(
            f"'{path}': clip '{name}' has keypoints of shape {kp.shape}, expected [M, T, V, 2]"
        )
    if kp.shape[2] != NUM_JOINTS:
        raise SkelcamError(
            f"'{path}' uses {kp.shape[2]} joints per person; skelcam needs the COCO-17 layout "
            "(17 joints, e.g. PYSKL's *_hrnet.pkl 2D files)"
        )
    if "keypoint_score" in ann:
        scores = np.asarray(ann["keypoint_score"], np.float32)
    elif kp.shape[-1] == 3:
        scores = kp[..., 2].astype(np.float32)
    else:
        scores = np.ones(kp.shape[:3], np.float32)
    keypoints = np.nan_to_num(kp[..., :2].astype(np.float32))
    if scores.shape != keypoints.shape[:3]:
        raise SkelcamError(f"'{path}': clip '{name}' has scores that do not match its keypoints")
    if keypoints.shape[1] == 0:
        raise SkelcamError(f"'{path}': clip '{name}' has no frames")
    shape = ann.get("img_shape")
    img_shape = (int(shape[0]), int(shape[1])) if shape is not None and len(shape) == 2 else None
    return Clip(name, label, keypoints, np.nan_to_num(scores), img_shape)


def stratified_split(
    labels: Sequence[int], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Positions split into (train, validation), `fraction` of each class held out."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train, val = [], []
    for lab in np.unique(labels):
        members = np.flatnonzero(labels == lab)
        rng.shuffle(members)
        n_val = int(round(len(members) * fraction)) if len(members) > 1 else 0
        val.extend(members[:n_val].tolist())
        train.extend(members[n_val:].tolist())
    return sorted(train), sorted(val)


@dataclass
class Augment:
    """Training augmentations on pixel keypoints, applied before normalization.

    Flipping mirrors x and swaps left and right joints, so a flipped left arm is still labelled
    as a left arm. Rotation, anisotropic scaling and joint dropout make the model robust to
    camera angles and to detectors that miss joints.
    """

    flip: float = 0.5
    rotate_deg: float = 15.0
    scale: float = 0.15
    joint_drop: float = 0.05
    min_crop: float = 0.6

    def __call__(
        self, kp: np.ndarray, sc: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        kp = kp.copy()
        sc = sc.copy()
        present = sc > 0
        centre = kp[present].mean(axis=0) if present.any() else np.zeros(2, np.float32)
        kp -= centre
        if rng.random() < self.flip:
            perm = flip_permutation()
            kp = kp[:, :, perm]
            sc = sc[:, :, perm]
            kp[..., 0] *= -1
        angle = np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg))
        c, s = np.cos(angle), np.sin(angle)
        sx, sy = rng.uniform(1 - self.scale, 1 + self.scale, size=2)
        matrix = np.array([[c * sx, -s * sy], [s * sx, c * sy]], np.float32)
        kp = kp @ matrix.T + centre
        drop = rng.random(sc.shape[:1] + sc.shape[2:]) < self.joint_drop
        sc = np.where(drop[:, None, :], 0.0, sc).astype(np.float32)
        return kp.astype(np.float32), sc


class WindowDataset(Dataset):
    """Clips resampled to the model's window: random crops and augmentation when training."""

    def __init__(
        self,
        data: SkeletonDataset,
        indices: Sequence[int],
        window: int,
        num_persons: int,
        augment: Augment | None = None,
        seed: int = 0,
    ) -> None:
        self.data = data
        self.indices = list(indices)
        self.window = window
        self.num_persons = num_persons
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        clip = self.data.clips[self.indices[i]]
        kp, sc = select_persons(clip.keypoints, clip.scores, self.num_persons)
        if self.augment is None:
            kp, sc = sample_window(kp, sc, self.window)
        else:
            # One generator per (seed, epoch, item): runs are reproducible and resumable.
            rng = np.random.default_rng((self.seed, self.epoch, i))
            kp, sc = sample_window(kp, sc, self.window, rng, self.augment.min_crop)
            kp, sc = self.augment(kp, sc, rng)
        return torch.from_numpy(kp), torch.from_numpy(sc), clip.label
