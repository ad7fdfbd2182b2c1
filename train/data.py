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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from skelcam.train.errors import SkelcamError
from skelcam.train.projection import random_view
from skelcam.train.skeleton import NUM_JOINTS, flip_permutation
from skelcam.train.windowing import (
    DATASET_FPS,
    live_window_indices,
    resample_indices,
    sample_window,
    select_persons,
)

MAX_PERSONS = 2
HIPS = (11, 12)


@dataclass
class Clip:
    """One annotated clip: every person's keypoints over all its frames."""

    name: str
    label: int
    keypoints: np.ndarray  # [M, T, 17, 2] float32 pixels
    scores: np.ndarray  # [M, T, 17] float32
    img_shape: tuple[int, int] | None = None  # (height, width) of the source video
    # [M, T, 17, 3] metres in camera coordinates, for clips converted from 3D recordings
    # (`train.kinect_convert`); training then re-projects them through random virtual cameras.
    keypoints_3d: np.ndarray | None = None
    # Frames per second of the recording, when the pickle says (converters of `train.kinect`
    # write it); None means the datasets' usual 30 (`train.windowing.DATASET_FPS`).
    fps: float | None = None


@dataclass
class SkeletonDataset:
    """A whole pickle in memory: clips, splits and class names."""

    clips: list[Clip]
    splits: dict[str, list[int]]
    class_names: list[str]
    original_labels: list[int]
    source: str
    # The file's whole label table (`class_names` has only the labels that occur), which tells
    # which data set a converted pickle is even when it holds a subset of its classes.
    label_names: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_persons(self) -> int:
        return min(MAX_PERSONS, max(c.keypoints.shape[0] for c in self.clips))

    def split(self, name: str) -> list[int]:
        """The clips of split `name`; `a+b` is the union of splits a and b, in order."""
        if "+" in name and name not in self.splits:
            members: dict[int, None] = {}
            for part in name.split("+"):
                members.update(dict.fromkeys(self.split(part)))
            return list(members)
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
    return SkeletonDataset(clips, splits, class_names, original, str(path),
                           None if names is None else [str(n) for n in names])


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
    points_3d = ann.get("keypoint_3d")
    if points_3d is not None:
        points_3d = np.nan_to_num(np.asarray(points_3d, np.float32))
        if points_3d.shape != (*keypoints.shape[:3], 3):
            raise SkelcamError(f"'{path}': clip '{name}' has keypoint_3d of shape "
                               f"{points_3d.shape}, expected {(*keypoints.shape[:3], 3)}")
    fps = ann.get("fps")
    if fps is not None and not (np.isfinite(fps) and fps > 0):
        raise SkelcamError(f"'{path}': clip '{name}' has fps {fps!r}, expected a positive number")
    return Clip(name, label, keypoints, np.nan_to_num(scores), img_shape, points_3d,
                None if fps is None else float(fps))


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


def repeat_rare(indices: Sequence[int], labels: Sequence[int], threshold: float) -> list[int]:
    """`indices` with the clips of rare classes repeated, for a training epoch.

    Repeat-factor sampling (Gupta et al., LVIS, CVPR 2019): a class holding a share f of the
    clips below `threshold` has each clip repeated round(sqrt(threshold / f)) times, others
    once. Repeating positions rather than sampling with replacement gives every copy its own
    position, hence its own augmentation draw (`WindowDataset` seeds by position), and keeps
    the epoch plan fixed and the same on every rank. `threshold` 0 returns `indices` as given.
    """
    if threshold <= 0:
        return list(indices)
    counts = np.bincount(np.asarray(labels, np.int64))
    share = counts / max(1, counts.sum())
    repeats = {c: max(1, round(float(np.sqrt(threshold / share[c]))))
               for c in np.flatnonzero(counts)}
    return [i for i, label in zip(indices, labels, strict=True) for _ in range(repeats[label])]


@dataclass
class Augment:
    """Training augmentations that make annotated joints look like what the live loop sees.

    Measured on real footage (see README, "Real-video accuracy"): live pose estimators drop
    joints frame by frame (cut by the frame border, occluded, below the score threshold), jitter,
    swap left and right in side views, frame people in portrait or cropped shots, and live
    windows cover a fixed 1.6 s of an action done at any speed, often only partly filled at the
    start of a track. Each field below simulates one of those; all act on pixel keypoints before
    the model's normalization, so the model learns them in the units it runs in.

    Time (`live_window`, `speed`, `partial`, `loop`): with probability `live_window` a window is
    drawn like the live buffer (`train.windowing.live_window_indices`), at a speed drawn
    log-uniformly from `speed`; otherwise the whole clip (a random crop of at least `min_crop`)
    is resampled to the window, the benchmark's protocol.
    Geometry: mirroring (`flip`, which swaps left and right joints so a mirrored left arm is still
    a left arm), rotation, anisotropic scaling and shear (camera angles and aspect ratios).
    Estimator errors: narrower hips (`hip_width`), per-frame noise of a random std up to `jitter`
    body sizes, a per-clip offset per joint (`offset`, other systematic placement differences),
    whole-clip joint loss (`joint_drop`), per-frame joint loss (`frame_drop`), left/right label
    swaps on single frames (`swap`), and a frame border cutting the body (`cut`).
    Camera and body motion (`drift`): a smooth translation of the whole window, as a handheld
    camera, a panning one or a swaying body gives (below).
    """

    flip: float = 0.5
    rotate_deg: float = 20.0
    scale: float = 0.2
    shear: float = 0.2
    jitter: float = 0.02
    offset: float = 0.02
    joint_drop: float = 0.05
    frame_drop: float = 0.03
    swap: float = 0.02
    cut: float = 0.2
    # Penn's annotators mark the hips wider apart than pose estimators do (hip width / shoulder
    # width: 0.91 annotated, 0.59 from BlazePose on the dev clips; bench/pose_vs_annotations.py),
    # so each clip's hips are pulled towards their centre by a factor drawn from this range.
    hip_width: tuple[float, float] = (0.55, 1.0)
    min_crop: float = 0.6
    live_window: float = 0.5
    speed: tuple[float, float] = (0.5, 2.0)
    partial: float = 0.3
    loop: float = 0.5
    # Clips with 3D joints: the share of windows seen through a random virtual camera
    # (`train.projection.random_view`) instead of the converter's fixed front view.
    virtual_camera: float = 0.8
    # Two-person windows: the share whose two people trade slots. The first slot is the person
    # being classified; live, every tracked person takes it in turn, so in training either
    # partner of a pair must be able to be the subject (the converters' order is arbitrary).
    person_swap: float = 0.5
    # Penn Action's static classes hardly move on screen: the hip centre's std over a 1.6 s window
    # is a median 0.003 torso lengths for bench_press (90th percentile 0.023), while the real dev
    # clips of bench presses sway 0.027-0.15 (handheld phones, people settling; measured on the
    # BlazePose dev poses). Each window drifts along a smooth random path (a ramp plus a sine of
    # 0.5-2 cycles per window) whose amplitude is drawn up to `drift` body sizes per axis.
    drift: float = 0.0

    def indices(
        self, num_frames: int, window: int, rng: np.random.Generator, fps: float | None = None
    ) -> np.ndarray:
        """Which frames of a clip recorded at `fps` (None: `DATASET_FPS`) make up one training
        window (see the class docstring)."""
        if rng.random() >= self.live_window:
            return resample_indices(num_frames, window, rng, self.min_crop)
        lo, hi = np.log(self.speed)
        # Live, a window spans the same seconds whatever the source's rate, so a 15 fps clip
        # advances half a source frame per window frame.
        speed = float(np.exp(rng.uniform(lo, hi))) * (fps or DATASET_FPS) / DATASET_FPS
        filled = int(rng.integers(window // 2, window + 1)) if rng.random() < self.partial \
            else window
        return live_window_indices(num_frames, window, rng, speed, filled,
                                   loop=bool(rng.random() < self.loop))

    def __call__(
        self, kp: np.ndarray, sc: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        kp = kp.astype(np.float32, copy=True)
        sc = sc.astype(np.float32, copy=True)
        present = sc > 0
        if not present.any():
            return kp, sc
        # Drawn only for pairs when asked for, so one-person training keeps its random stream.
        if self.person_swap > 0 and len(sc) > 1 and present[1].any() \
                and rng.random() < self.person_swap:
            order = [1, 0, *range(2, len(sc))]
            kp, sc, present = kp[order], sc[order], present[order]
        centre = kp[present].mean(axis=0)
        body = float(np.ptp(kp[present], axis=0).max()) or 1.0
        kp -= centre
        if rng.random() < self.flip:
            perm = flip_permutation()
            kp = kp[:, :, perm]
            sc = sc[:, :, perm]
            kp[..., 0] *= -1
        angle = np.deg2rad(rng.uniform(-self.rotate_deg, self.rotate_deg))
        c, s = np.cos(angle), np.sin(angle)
        sx, sy = rng.uniform(1 - self.scale, 1 + self.scale, size=2)
        shear = rng.uniform(-self.shear, self.shear)
        matrix = np.array([[c, -s], [s, c]], np.float32) @ np.array(
            [[sx, shear * sy], [0.0, sy]], np.float32)
        kp = kp @ matrix.T

        persons, frames, joints = sc.shape
        hips = kp[:, :, list(HIPS)]
        centre_hips = hips.mean(axis=2, keepdims=True)
        kp[:, :, list(HIPS)] = centre_hips + rng.uniform(*self.hip_width) * (hips - centre_hips)
        kp += rng.normal(0.0, self.offset * body, (persons, 1, joints, 2))
        kp += rng.normal(0.0, rng.uniform(0.0, self.jitter) * body, kp.shape)
        # Drawn only when asked for, so that runs without drift keep their random stream.
        if self.drift > 0:
            kp += self._drift_path(frames, body, rng)
        swapped = rng.random((persons, frames)) < self.swap
        if swapped.any():
            perm = flip_permutation()
            kp[swapped] = kp[swapped][:, perm]
            sc[swapped] = sc[swapped][:, perm]
        lost = rng.random((persons, 1, joints)) < self.joint_drop
        lost = lost | (rng.random(sc.shape) < self.frame_drop)
        if rng.random() < self.cut:
            lost = lost | self._beyond_border(kp, sc > 0, rng)
        sc = np.where(lost, 0.0, sc).astype(np.float32)
        return (kp + centre).astype(np.float32), sc

    def _drift_path(self, frames: int, body: float, rng: np.random.Generator) -> np.ndarray:
        """A smooth translation per frame, [1, frames, 1, 2], shared by every person and joint."""
        t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
        amplitude = rng.uniform(0.0, self.drift, 2) * body
        ramp = rng.uniform(-1.0, 1.0, 2) * (t - 0.5)
        cycles, phase = rng.uniform(0.5, 2.0, 2), rng.uniform(0.0, 2 * np.pi, 2)
        wave = np.sin(2 * np.pi * cycles * t + phase)
        return (amplitude * (ramp + wave)).astype(np.float32)[None, :, None, :]

    @staticmethod
    def _beyond_border(kp: np.ndarray, present: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Joints beyond a random frame edge that crosses the body: legs below a close shot's
        bottom edge most often, then a head above the top, then a side.

        The edge crosses the first person's body, the one being classified: live, that person
        is in the frame by definition, while the other one may be cut off entirely. Placed on
        the extent of both people, a side edge could remove the first person altogether, and
        the normaliser would then scale the partner by a body size of zero.
        """
        axis, sign = [(1, 1), (1, -1), (0, 1), (0, -1)][rng.choice(4, p=[0.55, 0.15, 0.15, 0.15])]
        if not present.any():
            return np.zeros(present.shape, bool)
        coord = kp[..., axis] * sign
        subject = coord[0][present[0]] if present[0].any() else coord[present]
        lo, hi = subject.min(), subject.max()
        edge = lo + rng.uniform(0.45, 0.95) * (hi - lo)
        return coord > edge


class WindowDataset(Dataset):
    """Clips resampled to the model's window: random windows and augmentation when training.

    `label` replaces every clip's own label; the training loop uses -1 for clips of no known
    action (outlier exposure: the model learns to spread its probability over them).
    """

    def __init__(
        self,
        data: SkeletonDataset,
        indices: Sequence[int],
        window: int,
        num_persons: int,
        augment: Augment | None = None,
        seed: int = 0,
        label: int | None = None,
    ) -> None:
        self.data = data
        self.indices = list(indices)
        self.window = window
        self.num_persons = num_persons
        self.augment = augment
        self.seed = seed
        self.label = label
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
            idx = self.augment.indices(kp.shape[1], self.window, rng, clip.fps)
            kp, sc = kp[:, idx], sc[:, idx]
            if clip.keypoints_3d is not None and rng.random() < self.augment.virtual_camera:
                points, _ = select_persons(clip.keypoints_3d, clip.scores, self.num_persons)
                kp, _ = random_view(points[:, idx], rng, sc > 0)
            kp, sc = self.augment(kp, sc, rng)
        label = clip.label if self.label is None else self.label
        return torch.from_numpy(kp), torch.from_numpy(sc), label
