"""`python -m train convert <dataset>` for the everyday-action skeleton sets -> a PYSKL pickle.

Output: `{'split', 'annotations', 'label_names'}` as `train.data.load_pyskl` reads it, each clip
with `keypoint` [M, T, 17, 2] pixels, `keypoint_score` [M, T, 17] and `keypoint_3d`
[M, T, 17, 3] metres in the OpenCV camera frame (x right, y down, z forward), so training can
also re-project the 3D joints through random virtual cameras (`train.projection`).

Real releases contain broken files; one bad file must not cost the whole data set, so each is
reported as one warning line and skipped. A folder with no data files at all is an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skelcam.train import action_labels
from skelcam.train.convert import write_pickle_atomic
from skelcam.train.errors import SkelcamError
from skelcam.train.kinect import (
    SBU_SPLITS,
    Sample,
    Warn,
    read_nw_ucla,
    read_sbu,
    read_utd_mhad,
    read_utkinect,
)
from skelcam.train.ntu_skeleton import NTU_SPLITS, read_ntu


@dataclass(frozen=True)
class SkeletonSet:
    """Where a data set's files are, how one is read, its class names and its standard splits."""

    pattern: str
    read: Callable[[Path, Path, Warn], list[Sample]]
    label_names: tuple[str, ...]
    split_names: tuple[str, ...]


DATASETS: dict[str, SkeletonSet] = {
    "nw-ucla": SkeletonSet("*.json", read_nw_ucla, action_labels.NW_UCLA,
                           ("xview_train", "xview_test")),
    "utd-mhad": SkeletonSet("*_skeleton.mat", read_utd_mhad, action_labels.UTD_MHAD,
                            ("xsub_train", "xsub_test")),
    "utkinect": SkeletonSet("joints_*.txt", read_utkinect, action_labels.UTKINECT,
                            ("half_train", "half_test")),
    "sbu": SkeletonSet("*/*/*/skeleton_pos.txt", read_sbu, action_labels.SBU, SBU_SPLITS),
    "ntu-skeleton": SkeletonSet("*.skeleton", read_ntu, action_labels.NTU_RGBD_120, NTU_SPLITS),
}


def convert_skeletons(dataset: str, folder: str | Path, out: str | Path, warn: Warn) -> dict:
    """Convert every file of `dataset` under `folder` into `out`; returns a summary.

    `warn` receives one line per skipped file (or skipped segment); the summary counts them.
    """
    if dataset not in DATASETS:
        raise SkelcamError(f"unknown data set '{dataset}' (known: {', '.join(DATASETS)})")
    spec, folder, out = DATASETS[dataset], Path(folder), Path(out)
    if not folder.is_dir():
        raise SkelcamError(f"{dataset} folder '{folder}' does not exist")
    files = sorted(folder.glob(spec.pattern))
    if not files:
        raise SkelcamError(f"{dataset} folder '{folder}' has no {spec.pattern} files")
    skipped: list[str] = []

    def skip(message: str) -> None:
        skipped.append(message)
        warn(message)

    samples: list[Sample] = []
    for path in files:
        if path.stat().st_size == 0:
            skip(f"skipped '{path}': the file is empty")
            continue
        try:
            samples.extend(spec.read(path, folder, skip))
        except SkelcamError as exc:
            skip(f"skipped {exc}")
    if not samples:
        raise SkelcamError(f"no usable {dataset} clips in '{folder}' ({len(skipped)} skipped)")
    split: dict[str, list[str]] = {name: [] for name in spec.split_names}
    for sample in samples:
        for name in sample.splits:
            split[name].append(sample.annotation["frame_dir"])
    data = {"split": split, "annotations": [s.annotation for s in samples],
            "label_names": list(spec.label_names)}
    write_pickle_atomic(data, out)
    return {"out": str(out), "clips": len(samples), "files": len(files),
            "classes": len({s.annotation["label"] for s in samples}),
            "splits": {name: len(members) for name, members in split.items()},
            "skipped": len(skipped)}
