"""`train.convert`: real Penn Action `.mat` files -> a COCO-17 PYSKL pickle.

The expected joint mapping is written out here by joint *name*, from the data's README, and then
checked against the pixels themselves: in clips filmed from the front a person's right shoulder is
on the left of the image, from the back on the right. A converter that swapped the sides would
pass a test that only restated its own index table, but not this one.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import PennFile, PennSubset, copy_files

from skelcam.train.convert import (
    OCCLUDED_SCORE,
    VAL_FRACTION,
    convert_penn_action,
    write_pickle_atomic,
)
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import JOINT_NAMES, NUM_JOINTS

# Penn Action's 13 columns as named in shared/data/README.md; the head becomes COCO's nose.
PENN_COLUMNS = (
    "head", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist",
    "left_wrist", "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle",
)
COLUMN_TO_COCO = {
    col: JOINT_NAMES.index("nose" if name == "head" else name)
    for col, name in enumerate(PENN_COLUMNS)
}
EYES_AND_EARS = [JOINT_NAMES.index(n) for n in
                 ("left_eye", "right_eye", "left_ear", "right_ear")]


def raw_pickle(path: Path) -> dict:
    with path.open("rb") as f:
        return pickle.load(f)


def loadmat(path: Path) -> dict:
    return scipy.io.loadmat(str(path))


def test_layout_scores_and_values_match_the_mat_files(penn_subset: PennSubset) -> None:
    """Every clip is [1, T, 17, 2] float32 with T from the arrays, every Penn column lands on the
    COCO joint of the same name with identical pixels, eyes/ears score 0, visible joints 1.0 and
    occluded ones 0.5 (keeping the annotator's position)."""
    raw = raw_pickle(penn_subset.pickle)
    by_name = {a["frame_dir"]: a for a in raw["annotations"]}
    assert len(by_name) == len(penn_subset.files) == 105
    occluded_checked = 0
    for f in penn_subset.files:
        mat = loadmat(f.path)
        ann = by_name[f.path.stem]
        kp, sc = ann["keypoint"], ann["keypoint_score"]
        frames = mat["x"].shape[0]
        assert kp.shape == (1, frames, NUM_JOINTS, 2) and kp.dtype == np.float32
        assert sc.shape == (1, frames, NUM_JOINTS) and sc.dtype == np.float32
        assert ann["total_frames"] == frames
        height, width = (int(v) for v in mat["dimensions"].ravel()[:2])
        assert tuple(ann["img_shape"]) == (height, width)
        # Head -> nose, exactly.
        np.testing.assert_array_equal(kp[0, :, 0, 0], mat["x"][:, 0].astype(np.float32))
        np.testing.assert_array_equal(kp[0, :, 0, 1], mat["y"][:, 0].astype(np.float32))
        for col, coco in COLUMN_TO_COCO.items():
            np.testing.assert_array_equal(kp[0, :, coco, 0], mat["x"][:, col].astype(np.float32))
            np.testing.assert_array_equal(kp[0, :, coco, 1], mat["y"][:, col].astype(np.float32))
            visible = mat["visibility"][:, col] > 0
            np.testing.assert_array_equal(sc[0, :, coco], np.where(visible, 1.0, OCCLUDED_SCORE))
            occluded_checked += int((~visible).sum())
        assert not sc[0, :, EYES_AND_EARS].any()
        assert not kp[0, :, EYES_AND_EARS].any()
    # The subset really contains occluded joints, so the 0.5 branch was exercised.
    assert occluded_checked > 100


@pytest.mark.parametrize(
    ("pose", "min_right_left_of_left", "max_right_left_of_left"),
    [("front", 0.8, 1.0), ("back", 0.0, 0.4)],
)
def test_sides_are_the_persons_own_on_real_pixels(
    penn_files: list[PennFile], tmp_path: Path, pose: str,
    min_right_left_of_left: float, max_right_left_of_left: float,
) -> None:
    """Seen from the front, the converted right shoulder/hip (COCO 6/12) lie left of the left
    ones (5/11) in most frames; seen from the back, in few. A left/right swap inverts both."""
    chosen = [f for f in penn_files if f.pose == pose][::13]
    assert len(chosen) >= 20
    assert len({f.action for f in chosen}) >= 6
    out = tmp_path / "view.pkl"
    convert_penn_action(copy_files(chosen, tmp_path / "labels"), out)
    for left, right in ((5, 6), (11, 12)):
        right_is_left = np.concatenate([
            a["keypoint"][0, :, right, 0] < a["keypoint"][0, :, left, 0]
            for a in raw_pickle(out)["annotations"]
        ])
        fraction = float(right_is_left.mean())
        assert min_right_left_of_left <= fraction <= max_right_left_of_left, (
            f"{pose}: COCO {JOINT_NAMES[right]} left of {JOINT_NAMES[left]} in {fraction:.0%}"
        )


def test_label_names_and_splits(penn_subset: PennSubset) -> None:
    """Label names are the sorted action names and labels index them; `train` holds every clip
    (all files here are official train), `val` is a stratified 15 % per class, disjoint from
    `train_fit`, and the two together are exactly `train`."""
    raw = raw_pickle(penn_subset.pickle)
    names = raw["label_names"]
    assert names == sorted({f.action for f in penn_subset.files}) and len(names) == 15
    action_of = {f.path.stem: f.action for f in penn_subset.files}
    for a in raw["annotations"]:
        assert names[a["label"]] == action_of[a["frame_dir"]]

    split = raw["split"]
    assert set(split) == {"train", "test", "train_fit", "val"}
    assert sorted(split["train"]) == sorted(action_of) and split["test"] == []
    fit, val = set(split["train_fit"]), set(split["val"])
    assert not fit & val and fit | val == set(split["train"])
    assert len(split["val"]) == len(set(split["val"]))
    per_class_val: dict[str, int] = {}
    for name in val:
        per_class_val[action_of[name]] = per_class_val.get(action_of[name], 0) + 1
    expected = round(7 * VAL_FRACTION)
    assert per_class_val == dict.fromkeys(names, expected)


def test_pickle_loads_with_the_training_loader(penn_subset: PennSubset) -> None:
    """The converter's output is a valid PYSKL pickle for `load_pyskl`, which keeps the stored
    class names and sees exactly the 13 annotated joints as used."""
    data = load_pyskl(penn_subset.pickle)
    assert data.class_names == raw_pickle(penn_subset.pickle)["label_names"]
    assert data.num_classes == 15 and data.num_persons == 1
    assert len(data.split("train")) == 105
    assert data.used_joints(data.split("train")) == sorted(COLUMN_TO_COCO.values())


def test_official_test_flag_and_frame_count_come_from_the_file(
    penn_files: list[PennFile], tmp_path: Path
) -> None:
    """A file flagged `train = -1` lands in `test` only (never in train_fit/val), and T comes from
    the coordinate arrays even when the stored `nframes` is a wrapped uint8."""
    long_clip = next(f for f in penn_files if f.frames > 255)
    others = [f for f in penn_files if f.frames <= 255][:6]
    folder = copy_files(others, tmp_path / "labels")
    mat = {k: v for k, v in loadmat(long_clip.path).items() if not k.startswith("__")}
    mat["train"] = np.array([[-1]], np.int32)
    mat["nframes"] = np.array([[long_clip.frames % 256]], np.uint8)
    scipy.io.savemat(str(folder / "9999.mat"), mat)

    summary = convert_penn_action(folder, tmp_path / "out.pkl")
    raw = raw_pickle(tmp_path / "out.pkl")
    assert raw["split"]["test"] == ["9999"]
    for name in ("train", "train_fit", "val"):
        assert "9999" not in raw["split"][name]
    assert summary["test"] == 1 and summary["train"] == len(others)
    ann = next(a for a in raw["annotations"] if a["frame_dir"] == "9999")
    assert ann["total_frames"] == long_clip.frames
    assert ann["keypoint"].shape[1] == long_clip.frames


def assert_one_line(exc: pytest.ExceptionInfo[SkelcamError], *fragments: str) -> None:
    message = str(exc.value)
    assert message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def assert_nothing_written(out_dir: Path, expected: set[str]) -> None:
    """Only the files that were there before remain: no output, no temporary leftovers."""
    assert {p.name for p in out_dir.iterdir()} == expected


def test_missing_and_empty_labels_folders(tmp_path: Path) -> None:
    """A folder that does not exist, or holds no .mat file, is one SkelcamError line naming it,
    and nothing is written."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(tmp_path / "nope", out_dir / "x.pkl")
    assert_one_line(exc, "nope", "does not exist")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("not an annotation")
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(empty, out_dir / "x.pkl")
    assert_one_line(exc, "empty", "no .mat files")
    assert_nothing_written(out_dir, set())


@pytest.mark.parametrize(
    "content",
    [b"this is not a MATLAB file\nsecond line\n", b"MATLAB 5.0 MAT-file" + bytes(200)],
    ids=["text", "bad-header"],
)
def test_a_non_mat_file_is_one_error_and_leaves_the_old_output(
    penn_files: list[PennFile], tmp_path: Path, content: bytes
) -> None:
    """A file that is not a MAT file, among real ones, fails the whole conversion with one line
    naming it, and an existing output pickle is left untouched (no temporary file left behind)."""
    folder = copy_files(penn_files[:3], tmp_path / "labels")
    (folder / "0000.mat").write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "penn.pkl").write_bytes(b"previous result")
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(folder, out_dir / "penn.pkl")
    assert_one_line(exc, "0000.mat", "not a readable Penn Action annotation")
    assert_nothing_written(out_dir, {"penn.pkl"})
    assert (out_dir / "penn.pkl").read_bytes() == b"previous result"


def test_a_mat_file_without_penn_fields(penn_files: list[PennFile], tmp_path: Path) -> None:
    """A real MAT file that lacks Penn's fields (or has the wrong joint count) is one error."""
    folder = copy_files(penn_files[:2], tmp_path / "labels")
    scipy.io.savemat(str(folder / "0000.mat"), {"a": np.arange(3)})
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(folder, tmp_path / "out.pkl")
    assert_one_line(exc, "0000.mat")

    mat = {k: v for k, v in loadmat(penn_files[0].path).items() if not k.startswith("__")}
    mat["x"], mat["y"] = mat["x"][:, :12], mat["y"][:, :12]
    (folder / "0000.mat").unlink()
    scipy.io.savemat(str(folder / "0001.mat"), mat)
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(folder, tmp_path / "out.pkl")
    assert_one_line(exc, "0001.mat", "[T, 13]")
    assert not (tmp_path / "out.pkl").exists()


def test_missing_output_folder(penn_files: list[PennFile], tmp_path: Path) -> None:
    """Writing into a folder that does not exist is one error, not a traceback."""
    folder = copy_files(penn_files[:2], tmp_path / "labels")
    with pytest.raises(SkelcamError) as exc:
        convert_penn_action(folder, tmp_path / "no" / "such" / "out.pkl")
    assert_one_line(exc, "does not exist")


def test_atomic_write_never_leaves_a_partial_file(tmp_path: Path) -> None:
    """If pickling fails half-way, the previous file is intact and no temporary file remains;
    a successful write replaces the file with the complete new content."""
    out = tmp_path / "data.pkl"
    out.write_bytes(b"previous result")
    unpicklable = {"annotations": list(range(1000)), "oops": lambda: None}
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        write_pickle_atomic(unpicklable, out)
    assert out.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["data.pkl"]

    write_pickle_atomic({"ok": 1}, out)
    assert raw_pickle(out) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.pkl"]


def test_output_path_that_is_a_folder(penn_files: list[PennFile], tmp_path: Path) -> None:
    """Giving an existing folder as the output file is one SkelcamError line, not a crash."""
    folder = copy_files(penn_files[:2], tmp_path / "labels")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(SkelcamError):
        convert_penn_action(folder, out_dir)
