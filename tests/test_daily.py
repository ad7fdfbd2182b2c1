"""`python -m train merge-daily`: the everyday-action label set over real converted Kinect files.

A few real files per set are converted (as in test_kinect_convert) and merged. The checks are
on what a user of the daily model relies on: the required labels exist, each dataset's classes
land on the right daily label, the standard splits stay apart, the non-daily classes go to the
unknown pickle, and what `fit` needs (two-person clips, 3D joints, frame rates) survives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelcam.train.__main__ import main
from skelcam.train.daily import DAILY_LABELS, DAILY_MAP, merge_daily
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from tests.test_kinect_convert import convert, copy, source

REQUIRED = ("wave", "clap", "sit_down", "stand_up", "walk", "pick_up", "throw", "push", "kick",
            "punch", "hug", "handshake")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real subsets: NW-UCLA subject 1 (all views), UTD-MHAD swipes, bowling and squats of
    subjects 1-2, one UTKinect sequence of each half, SBU pair s01s02 (fold 1's test pair)."""
    root = tmp_path_factory.mktemp("daily")
    picks = {
        "nw-ucla": (source("nw_ucla"), None),
        "utd-mhad": (source("utd_mhad"), [f"a{a}_s{s}_t1_skeleton.mat" for a in (1, 2, 12, 27)
                                          for s in (1, 2)]),
        "utkinect": (source("utkinect"), ["actionLabel.txt", "joints_s01_e01.txt",
                                          "joints_s06_e01.txt"]),
        "sbu": (source("sbu"), None),
    }
    out = {}
    for name, (folder, names) in picks.items():
        if name == "nw-ucla":
            names = sorted(p.name for p in folder.glob("a*_s01_e00_v0*.json"))
        if name == "sbu":
            names = [str(p.relative_to(folder)) for p in
                     sorted((folder / "s01s02").glob("*/001/skeleton_pos.txt"))]
        out[name] = root / f"{name}.pkl"
        convert(name, copy(folder, names, root / name), out[name])
    return out


def test_required_labels_and_every_source_class_is_mapped() -> None:
    assert set(REQUIRED) <= set(DAILY_LABELS) and len(set(DAILY_LABELS)) == len(DAILY_LABELS)
    for classes, mapping, _ in DAILY_MAP.values():
        assert set(mapping) == set(classes)
        assert {v for v in mapping.values() if v is not None} <= set(DAILY_LABELS)


def test_merge_keeps_splits_labels_and_unknowns(converted: dict[str, Path],
                                                tmp_path: Path) -> None:
    summary = merge_daily(list(converted.values()), tmp_path / "daily.pkl",
                          tmp_path / "unknown.pkl")
    data = load_pyskl(tmp_path / "daily.pkl")
    assert data.class_names == list(DAILY_LABELS) or set(data.class_names) <= set(DAILY_LABELS)
    names = {c.name: data.class_names[c.label] for c in data.clips}
    # NW-UCLA view 3 is test, views 1-2 train; both pick-ups are one label.
    train = {data.clips[i].name for i in data.split("train")}
    test = {data.clips[i].name for i in data.split("test")}
    assert not train & test
    per_set = [{data.clips[i].name for i in data.split(f"test_{d}")}
               for d in ("nw_ucla", "utd_mhad", "utkinect", "sbu")]
    assert set().union(*per_set) == test and sum(map(len, per_set)) == len(test)
    assert all(n.startswith("sbu/") for n in per_set[3])
    assert all(n.endswith("_v03") for n in test if n.startswith("nw_ucla/"))
    assert names["nw_ucla/a01_s01_e00_v01"] == names["nw_ucla/a02_s01_e00_v01"] == "pick_up"
    # UTD-MHAD: both swipes are `swipe`, odd subjects train; bowling is not an everyday action.
    assert names["utd_mhad/a1_s1_t1"] == names["utd_mhad/a2_s2_t1"] == "swipe"
    assert "utd_mhad/a1_s1_t1" in train and "utd_mhad/a1_s2_t1" in test
    assert not any(n.startswith("utd_mhad/a12_") for n in names)
    unknown = load_pyskl(tmp_path / "unknown.pkl")
    assert unknown.class_names == ["utd_mhad/bowling"] and len(unknown.clips) == 2
    # UTKinect subject 1 trains, subject 6 tests; its wave_hands is `wave`.
    assert names["utkinect/s01_e01_wave_hands"] == "wave" and "utkinect/s06_e01_walk" in test
    # SBU's pair s01s02 is fold 1's test pair; two people, 15 fps, 3D kept.
    hug = next(c for c in data.clips if c.name == "sbu/s01s02_06_001")
    assert names[hug.name] == "hug" and hug.name in test
    assert hug.keypoints.shape[0] == 2 and hug.fps == 15.0 and hug.keypoints_3d is not None
    assert data.num_persons == 2
    counts = np.bincount([c.label for c in data.clips], minlength=data.num_classes)
    assert counts.sum() == summary["clips"] == len(train) + len(test)
    assert "jog" in summary["missing_labels"]


def test_wrong_and_repeated_inputs_are_one_line(converted: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SkelcamError, match="given twice"):
        merge_daily([converted["sbu"], converted["sbu"]], tmp_path / "d.pkl")
    with pytest.raises(SkelcamError, match="missing: utkinect"):
        merge_daily([converted["sbu"], converted["nw-ucla"], converted["utd-mhad"]],
                    tmp_path / "d.pkl")
    assert main(["merge-daily", str(tmp_path / "nope.pkl"), "--out", str(tmp_path / "d.pkl")]) == 2
    assert "does not exist" in capsys.readouterr().err
