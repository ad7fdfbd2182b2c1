"""Penn Action `.mat` joint annotations -> a PYSKL-format pickle in the COCO-17 layout.

Penn Action annotates 13 joints (head, R/L shoulder, R/L elbow, R/L wrist, R/L hip, R/L knee,
R/L ankle; the sides are the person's own, as in COCO). The head goes to COCO's nose; COCO's eyes
and ears have no annotation and get score 0. Penn marks occluded joints `visibility 0` but still
gives the annotator's estimate of where they are (every such coordinate lies inside the frame), so
they keep their position with score 0.5, as a detector would report a low-confidence joint.

Splits: `train` and `test` from each file's own flag, plus `train_fit` / `val`, a stratified
carve of `train` used to train and select models without touching the official test split.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.io

from skelcam.train.data import stratified_split
from skelcam.train.errors import SkelcamError
from skelcam.train.files import atomic_write
from skelcam.train.skeleton import NUM_JOINTS

# Penn Action joint i -> COCO-17 index.
PENN_TO_COCO: tuple[int, ...] = (0, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
OCCLUDED_SCORE = 0.5
# The official test split is the held-out benchmark, so models are selected on `val`, a fixed
# stratified 15% of the official train clips; `train_fit` is the rest.
VAL_FRACTION = 0.15
VAL_SEED = 0


def penn_clip(path: Path) -> dict:
    """One Penn Action `.mat` file as a PYSKL annotation (label left as the action name)."""
    try:
        mat = scipy.io.loadmat(str(path))
        x, y = np.asarray(mat["x"], np.float32), np.asarray(mat["y"], np.float32)
        visibility = np.asarray(mat["visibility"])
        action = str(mat["action"][0])
        height, width = (int(v) for v in np.asarray(mat["dimensions"]).ravel()[:2])
        is_train = int(np.asarray(mat["train"]).ravel()[0]) == 1
    except Exception as exc:  # noqa: BLE001 - any failure here means not a Penn Action file
        raise SkelcamError(f"'{path}' is not a readable Penn Action annotation: {exc!s}") from None
    if x.ndim != 2 or x.shape[1] != len(PENN_TO_COCO) or x.shape != y.shape:
        raise SkelcamError(f"'{path}': expected x and y of shape [T, 13], got {x.shape}")
    # `nframes` is stored in an integer type that varies between files: trust the arrays instead.
    frames = x.shape[0]
    keypoints = np.zeros((1, frames, NUM_JOINTS, 2), np.float32)
    scores = np.zeros((1, frames, NUM_JOINTS), np.float32)
    keypoints[0, :, PENN_TO_COCO, 0] = x.T
    keypoints[0, :, PENN_TO_COCO, 1] = y.T
    scores[0, :, PENN_TO_COCO] = np.where(visibility.T > 0, 1.0, OCCLUDED_SCORE)
    return {
        "frame_dir": path.stem,
        "action": action,
        "is_train": is_train,
        "img_shape": (height, width),
        "original_shape": (height, width),
        "total_frames": frames,
        "keypoint": keypoints,
        "keypoint_score": scores,
    }


def convert_penn_action(labels_dir: str | Path, out: str | Path) -> dict:
    """Convert a folder of Penn Action `.mat` files; returns a summary of what was written."""
    labels_dir, out = Path(labels_dir), Path(out)
    if not labels_dir.is_dir():
        raise SkelcamError(f"labels folder '{labels_dir}' does not exist")
    files = sorted(labels_dir.glob("*.mat"))
    if not files:
        raise SkelcamError(f"labels folder '{labels_dir}' has no .mat files")
    clips = [penn_clip(f) for f in files]
    label_names = sorted({c["action"] for c in clips})
    split: dict[str, list[str]] = {"train": [], "test": []}
    annotations = []
    for c in clips:
        split["train" if c.pop("is_train") else "test"].append(c["frame_dir"])
        c["label"] = label_names.index(c.pop("action"))
        annotations.append(c)
    by_name = {c["frame_dir"]: c for c in annotations}
    fit_part, val_part = stratified_split(
        [by_name[n]["label"] for n in split["train"]], VAL_FRACTION, VAL_SEED
    )
    split["train_fit"] = [split["train"][i] for i in fit_part]
    split["val"] = [split["train"][i] for i in val_part]
    data = {"split": split, "annotations": annotations, "label_names": label_names}
    write_pickle_atomic(data, out)
    return {"out": str(out), "clips": len(annotations), "classes": len(label_names),
            **{name: len(members) for name, members in split.items()}}


def write_pickle_atomic(data: object, out: Path) -> None:
    """Write to a temporary file beside `out`, then rename: never a half-written pickle."""
    if out.is_dir():
        raise SkelcamError(f"output '{out}' is a folder; give a file name such as penn.pkl")
    if not out.parent.is_dir():
        raise SkelcamError(f"output folder '{out.parent}' does not exist")
    atomic_write(out, lambda handle: pickle.dump(data, handle, protocol=pickle.HIGHEST_PROTOCOL))
