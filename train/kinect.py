"""Readers for the Kinect v1 everyday-action sets: NW-UCLA, UTD-MHAD, UTKinect-Action3D, SBU.

Each reader turns one raw file into labelled COCO-17 clips (see `train.skeleton3d` for the joint
maps and the camera frame) and says which standard splits each clip belongs to. Anything wrong
with a file is one `SkelcamError` line naming it, so the converter can skip it and go on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from skelcam.train import action_labels
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton3d import (
    KINECT_TO_COCO,
    SBU_TO_COCO,
    UTD_MHAD_TO_COCO,
    coco_clip,
    kinect_to_camera,
)

Warn = Callable[[str], None]


@dataclass
class Sample:
    """One converted clip (a PYSKL annotation with its label) and the splits it belongs to."""

    annotation: dict
    splits: tuple[str, ...]


def _match(pattern: str, path: Path) -> re.Match[str]:
    found = re.fullmatch(pattern, path.stem)
    if found is None:
        raise SkelcamError(f"'{path}': unexpected file name (expected the pattern {pattern})")
    return found


def _labelled(annotation: dict, label: int) -> dict:
    annotation["label"] = label
    return annotation


def _frames(joints: np.ndarray, shape: tuple[int, ...], path: Path) -> np.ndarray:
    """Check a [T, ...] joint array: the expected layout and at least one frame."""
    if joints.ndim != len(shape) + 1 or joints.shape[1:] != shape:
        raise SkelcamError(f"'{path}': expected joints of shape [T, {', '.join(map(str, shape))}]"
                           f", got {list(joints.shape)}")
    if joints.shape[0] == 0:
        raise SkelcamError(f"'{path}' has no frames")
    return joints


def read_nw_ucla(path: Path, folder: Path, warn: Warn) -> list[Sample]:
    """`aXX_sYY_eZZ_vWW.json` with `skeletons` [T][20][3]; cross-view: views 1, 2 train, 3 test."""
    found = _match(r"a(\d+)_s(\d+)_e(\d+)_v(\d+)", path)
    action, view = int(found[1]), int(found[4])
    if action not in action_labels.NW_UCLA_ACTION_IDS:
        raise SkelcamError(f"'{path}': action a{action:02d} is not one of NW-UCLA's ten")
    try:
        joints = np.asarray(json.loads(path.read_text())["skeletons"], np.float64)
    except Exception as exc:  # noqa: BLE001 - any failure here means not an NW-UCLA file
        raise SkelcamError(f"'{path}' is not a readable NW-UCLA skeleton file: {exc!s}") from None
    joints = _frames(joints, (20, 3), path)
    clip = coco_clip(path.stem, kinect_to_camera(joints[None]), KINECT_TO_COCO)
    split = "xview_train" if view in (1, 2) else "xview_test"
    return [Sample(_labelled(clip, action_labels.NW_UCLA_ACTION_IDS.index(action)), (split,))]


def read_utd_mhad(path: Path, folder: Path, warn: Warn) -> list[Sample]:
    """`aA_sS_tT_skeleton.mat` with `d_skel` [20, 3, T]; cross-subject: odd subjects train."""
    found = _match(r"a(\d+)_s(\d+)_t(\d+)_skeleton", path)
    action, subject = int(found[1]), int(found[2])
    if not 1 <= action <= len(action_labels.UTD_MHAD):
        raise SkelcamError(f"'{path}': action a{action} is not one of UTD-MHAD's 27")
    try:
        joints = np.asarray(scipy.io.loadmat(str(path))["d_skel"], np.float64).transpose(2, 0, 1)
    except Exception as exc:  # noqa: BLE001 - any failure here means not a UTD-MHAD file
        raise SkelcamError(f"'{path}' is not a readable UTD-MHAD skeleton file: {exc!s}") from None
    joints = _frames(joints, (20, 3), path)
    clip = coco_clip(path.stem.removesuffix("_skeleton"), kinect_to_camera(joints[None]),
                     UTD_MHAD_TO_COCO)
    split = "xsub_train" if subject % 2 == 1 else "xsub_test"
    return [Sample(_labelled(clip, action - 1), (split,))]


def utkinect_segments(folder: Path) -> dict[str, list[tuple[str, float, float]]]:
    """actionLabel.txt: per sequence (`s01_e01`) the (action, first, last frame id) of each action.

    Frame ids refer to the first column of the joints files. The file writes `NaN NaN` for an
    action a sequence lacks; those come back as NaN for the reader to report.
    """
    path = folder / "actionLabel.txt"
    if not path.is_file():
        raise SkelcamError(f"UTKinect folder '{folder}' has no actionLabel.txt")
    segments: dict[str, list[tuple[str, float, float]]] = {}
    current: list[tuple[str, float, float]] | None = None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if re.fullmatch(r"s\d+_e\d+", line):
            current = segments.setdefault(line, [])
            continue
        parts = re.fullmatch(r"(\w+):\s*(\S+)\s+(\S+)", line)
        if current is None or parts is None or parts[1] not in action_labels.UTKINECT_SOURCE:
            raise SkelcamError(f"'{path}' line {number}: cannot read '{line}'")
        try:
            current.append((parts[1], float(parts[2]), float(parts[3])))
        except ValueError:
            raise SkelcamError(f"'{path}' line {number}: cannot read '{line}'") from None
    return segments


def read_utkinect(path: Path, folder: Path, warn: Warn) -> list[Sample]:
    """`joints_sXX_eYY.txt` (frame id + 20 x 3 per line) cut into actionLabel.txt's segments.

    Split: subjects 1-5 train, 6-10 test (`half_*`), the common fixed alternative to
    leave-one-subject-out. Note actionLabel.txt as released has `push: 2556 3622` for s03_e01
    (about a thousand frames spanning other actions; likely a typo for 3556): it is used as given.
    """
    found = _match(r"joints_(s(\d+)_e\d+)", path)
    sequence, subject = found[1], int(found[2])
    segments = utkinect_segments(folder).get(sequence)
    if segments is None:
        raise SkelcamError(f"'{path}': sequence {sequence} is not in actionLabel.txt")
    try:
        rows = np.loadtxt(path, ndmin=2)
    except Exception as exc:  # noqa: BLE001 - any failure here means not a UTKinect file
        raise SkelcamError(f"'{path}' is not a readable UTKinect joints file: {exc!s}") from None
    if rows.shape[1] != 61:
        raise SkelcamError(f"'{path}': expected 61 columns (frame id, 20 x 3), got {rows.shape[1]}")
    ids = rows[:, 0]
    joints = _frames(rows[:, 1:].reshape(-1, 20, 3), (20, 3), path)
    split = "half_train" if subject <= 5 else "half_test"
    samples = []
    for action, first, last in segments:
        inside = (ids >= first) & (ids <= last)
        if not inside.any():
            given = "NaN" if np.isnan([first, last]).any() else f"{first:g}-{last:g}"
            warn(f"'{path}': skipped {action}, no frames in its range ({given} in actionLabel.txt)")
            continue
        label = action_labels.UTKINECT_SOURCE.index(action)
        name = f"{sequence}_{action_labels.UTKINECT[label]}"
        clip = coco_clip(name, kinect_to_camera(joints[inside][None]), KINECT_TO_COCO)
        samples.append(Sample(_labelled(clip, label), (split,)))
    return samples


# SBU's five folds over subject pairs, from the dataset's paper (Yun et al., CVPR-W 2012).
SBU_FOLDS: tuple[tuple[str, ...], ...] = (
    ("s01s02", "s03s04", "s05s02", "s06s04"),
    ("s02s03", "s02s07", "s03s05", "s05s03"),
    ("s01s03", "s01s07", "s07s01", "s07s03"),
    ("s02s01", "s02s06", "s03s02", "s03s06"),
    ("s04s02", "s04s03", "s04s06", "s06s02", "s06s03"),
)
# SBU's files were captured at 15 frames/s (the dataset's readme), half Kinect's usual rate.
SBU_FPS = 15.0
SBU_SPLITS: tuple[str, ...] = tuple(
    f"fold{k}_{part}" for k in range(1, len(SBU_FOLDS) + 1) for part in ("train", "test")
)


def sbu_camera(values: np.ndarray) -> np.ndarray:
    """SBU's normalised [T, 2, 15, 3] -> metres in the OpenCV camera frame.

    The dataset's own conversion gives millimetres, x = 1280 - 2560 x', y = 960 - 1920 y',
    z = 10000 z' / 7.8125, with x to the sensor's left and y up as in Kinect's camera space;
    measured on the files: with x' growing to the image's right, the label-left shoulder is the
    body's left (from the direction towards the partner) in 92% of frames, and in 94% of the
    shaking-hands clips the hands that meet are both labelled right.
    """
    millimetres = np.stack([1280.0 - 2560.0 * values[..., 0], 960.0 - 1920.0 * values[..., 1],
                            values[..., 2] * 10000.0 / 7.8125], axis=-1)
    return kinect_to_camera(millimetres / 1000.0)


def read_sbu(path: Path, folder: Path, warn: Warn) -> list[Sample]:
    """`sPPsQQ/CC/NNN/skeleton_pos.txt`: two people per frame (M = 2), 5-fold by subject pair."""
    pair, action, take = path.parts[-4], path.parts[-3], path.parts[-2]
    if not re.fullmatch(r"s\d\ds\d\d", pair) or not re.fullmatch(r"\d\d", action):
        raise SkelcamError(f"'{path}': expected a path sPPsQQ/CC/NNN/skeleton_pos.txt")
    label = int(action) - 1
    if not 0 <= label < len(action_labels.SBU):
        raise SkelcamError(f"'{path}': class {action} is not one of SBU's eight")
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
    except Exception as exc:  # noqa: BLE001 - any failure here means not an SBU file
        raise SkelcamError(f"'{path}' is not a readable SBU skeleton file: {exc!s}") from None
    if rows.shape[1] != 91:
        raise SkelcamError(f"'{path}': expected 91 columns (frame, 2 x 15 x 3), "
                           f"got {rows.shape[1]}")
    values = _frames(rows[:, 1:].reshape(-1, 2, 15, 3), (2, 15, 3), path)
    joints = sbu_camera(values).transpose(1, 0, 2, 3)
    clip = coco_clip(f"{pair}_{action}_{take}", joints, SBU_TO_COCO, fps=SBU_FPS)
    if not any(pair in pairs for pairs in SBU_FOLDS):
        warn(f"'{path}': subject pair {pair} is in none of SBU's folds; it is in no split")
        return [Sample(_labelled(clip, label), ())]
    splits = tuple(f"fold{k}_{'test' if pair in pairs else 'train'}"
                   for k, pairs in enumerate(SBU_FOLDS, 1))
    return [Sample(_labelled(clip, label), splits)]
