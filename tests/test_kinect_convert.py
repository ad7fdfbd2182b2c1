"""`python -m train convert nw-ucla|utd-mhad|utkinect|sbu|ntu-skeleton` on real files.

A few real files per data set are copied from ../shared/data into pytest's temporary folders and
converted there. Beyond shapes, labels and splits, the sides are checked against the recordings
themselves rather than against the converter's own tables: for a person facing the camera
(Kinect's foot joints point where the person faces) the left shoulder must appear on the image's
right, and in throws and handshakes the right hand must be the one that acts (most people are
right-handed). A converter that mirrored the image, or swapped the names, fails one of the two.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from skelcam.train.action_labels import NTU_RGBD_120, NW_UCLA, SBU, UTD_MHAD, UTKINECT
from skelcam.train.data import load_pyskl
from skelcam.train.errors import SkelcamError
from skelcam.train.kinect_convert import convert_skeletons
from skelcam.train.skeleton import JOINT_NAMES, NUM_JOINTS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
KINECT = SHARED / "kinect"
NTU = SHARED / "ntu_skeleton"
COCO = {name: i for i, name in enumerate(JOINT_NAMES)}
EYES_AND_EARS = [COCO[n] for n in ("left_eye", "right_eye", "left_ear", "right_ear")]
# Kinect v1 joint indices by name (NW-UCLA, UTKinect; NTU's Kinect v2 keeps them).
HEAD, L_SHOULDER, R_SHOULDER, L_ANKLE, L_FOOT, R_ANKLE, R_FOOT = 3, 4, 8, 14, 15, 18, 19


def source(name: str) -> Path:
    folder = NTU if name == "ntu_skeleton" else KINECT / name
    if not folder.is_dir():
        pytest.skip(f"real {name} data not found at {folder}")
    return folder


def copy(folder: Path, names: list[str], dest: Path) -> Path:
    for name in names:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / name, dest / name)
    return dest


def convert(dataset: str, folder: Path, out: Path) -> tuple[dict, dict, list[str]]:
    warnings: list[str] = []
    summary = convert_skeletons(dataset, folder, out, warnings.append)
    with out.open("rb") as f:
        return summary, pickle.load(f), warnings


def check_layout(raw: dict, persons: int, img_shape: tuple[int, int]) -> None:
    """Every clip has the PYSKL fields with COCO-17 shapes, float32, and no eyes or ears."""
    for a in raw["annotations"]:
        t = a["total_frames"]
        assert a["keypoint"].shape == (persons, t, NUM_JOINTS, 2)
        assert a["keypoint_score"].shape == (persons, t, NUM_JOINTS)
        assert a["keypoint_3d"].shape == (persons, t, NUM_JOINTS, 3)
        for key in ("keypoint", "keypoint_score", "keypoint_3d"):
            assert a[key].dtype == np.float32 and np.isfinite(a[key]).all()
        assert tuple(a["img_shape"]) == img_shape
        assert not a["keypoint_score"][..., EYES_AND_EARS].any()
        assert 0 <= a["label"] < len(raw["label_names"])


@pytest.fixture(scope="module")
def nw_ucla(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict, dict]:
    """The first repetition of subject 1 for each of the ten actions, from all three views."""
    folder = source("nw_ucla")
    names = sorted(p.name for p in folder.glob("a*_s01_e00_v0*.json"))
    root = tmp_path_factory.mktemp("nw_ucla")
    summary, raw, _ = convert("nw-ucla", copy(folder, names, root / "in"), root / "out.pkl")
    return names, summary, raw


def test_nw_ucla_layout_labels_views_and_values(nw_ucla: tuple[list[str], dict, dict]) -> None:
    """Ten classes in a01..a12 order, views 1-2 train and 3 test, and each COCO joint is the
    Kinect joint of the same name turned into the OpenCV frame (x, y negated) and projected by
    the default 525 px camera at 640x480."""
    names, summary, raw = nw_ucla
    assert raw["label_names"] == list(NW_UCLA) and len(NW_UCLA) == 10
    assert summary["clips"] == len(names) == 30 and summary["skipped"] == 0
    check_layout(raw, 1, (480, 640))
    by_name = {a["frame_dir"]: a for a in raw["annotations"]}
    assert sorted(raw["split"]["xview_test"]) == sorted(n[:-5] for n in names if "_v03" in n)
    assert len(raw["split"]["xview_train"]) == 20
    ann = by_name["a11_s01_e00_v01"]
    assert raw["label_names"][ann["label"]] == "throw"
    joints = np.asarray(json.loads((KINECT / "nw_ucla" / "a11_s01_e00_v01.json").read_text())
                        ["skeletons"])
    for coco, kinect in (("nose", HEAD), ("left_shoulder", L_SHOULDER),
                         ("right_shoulder", R_SHOULDER), ("left_ankle", L_ANKLE)):
        expected = joints[:, kinect] * [-1, -1, 1]
        np.testing.assert_allclose(ann["keypoint_3d"][0, :, COCO[coco]], expected, atol=1e-6)
        u = 320 + 525 * expected[:, 0] / expected[:, 2]
        v = 240 + 525 * expected[:, 1] / expected[:, 2]
        np.testing.assert_allclose(ann["keypoint"][0, :, COCO[coco]], np.c_[u, v], atol=1e-3)
    data = load_pyskl(summary["out"])
    assert data.class_names == list(NW_UCLA) and data.num_persons == 1
    assert data.used_joints(range(len(data.clips))) == sorted(
        set(range(NUM_JOINTS)) - set(EYES_AND_EARS))


def facing_camera(joints: np.ndarray) -> np.ndarray:
    """Frames [T] where Kinect's feet (ankle -> foot, in depth) point towards the camera."""
    toes = (joints[:, L_FOOT] - joints[:, L_ANKLE]) + (joints[:, R_FOOT] - joints[:, R_ANKLE])
    return toes[:, 2] < -0.03


def left_shoulder_on_image_right(ann: dict, frames: np.ndarray) -> np.ndarray:
    kp = ann["keypoint"][0][frames]
    return kp[:, COCO["left_shoulder"], 0] > kp[:, COCO["right_shoulder"], 0]


def test_nw_ucla_sides_on_front_facing_frames(nw_ucla: tuple[list[str], dict, dict]) -> None:
    """Whenever the feet point at the camera, COCO's left shoulder is on the image's right.
    Measured on all 1,484 files: 99.9% of such frames (7,396 in every third file)."""
    _, _, raw = nw_ucla
    hits = []
    for ann in raw["annotations"]:
        path = KINECT / "nw_ucla" / f"{ann['frame_dir']}.json"
        joints = np.asarray(json.loads(path.read_text())["skeletons"])
        hits.append(left_shoulder_on_image_right(ann, facing_camera(joints)))
    hits = np.concatenate(hits)
    assert len(hits) > 300 and hits.mean() > 0.95


def test_utd_mhad_sides_right_handed_throws_and_splits(tmp_path: Path) -> None:
    """UTD-MHAD subjects face the camera: COCO's left shoulder is on the image's right in every
    frame (100% of 46k frames measured), and in throws, bowling and tennis the COCO right wrist
    travels further than the left (95% of 160 clips measured; all 12 here). Odd subjects train."""
    folder = source("utd_mhad")
    names = [f"a{a}_s{s}_t1_skeleton.mat" for a in (5, 12, 15) for s in (1, 2, 3, 4)]
    summary, raw, _ = convert("utd-mhad", copy(folder, names, tmp_path / "in"), tmp_path / "o.pkl")
    assert raw["label_names"] == list(UTD_MHAD) and len(UTD_MHAD) == 27
    check_layout(raw, 1, (480, 640))
    assert sorted(raw["split"]["xsub_train"]) == sorted(
        f"a{a}_s{s}_t1" for a in (5, 12, 15) for s in (1, 3))
    assert len(raw["split"]["xsub_test"]) == 6
    assert {raw["label_names"][a["label"]] for a in raw["annotations"]} == {
        "throw", "bowling", "tennis_forehand_swing"}
    for ann in raw["annotations"]:
        kp = ann["keypoint"][0]
        assert (kp[:, COCO["left_shoulder"], 0] > kp[:, COCO["right_shoulder"], 0]).all()
        travel = [np.linalg.norm(np.diff(ann["keypoint_3d"][0, :, COCO[w]], axis=0), axis=1).sum()
                  for w in ("left_wrist", "right_wrist")]
        assert travel[1] > travel[0], ann["frame_dir"]
    mat = scipy.io.loadmat(str(folder / names[0]))["d_skel"]
    ann = next(a for a in raw["annotations"] if a["frame_dir"] == names[0][:-13])
    np.testing.assert_allclose(ann["keypoint_3d"][0, :, COCO["nose"]], mat[0].T * [-1, -1, 1],
                               atol=1e-6)
    assert load_pyskl(summary["out"]).num_classes == 3


def test_utkinect_segments_splits_and_a_missing_range(tmp_path: Path) -> None:
    """Each actionLabel.txt segment becomes a clip of the frames whose ids lie in its range;
    s10_e02 has `carry: NaN NaN`, reported and skipped; subjects 1-5 are `half_train`."""
    folder = source("utkinect")
    names = ["actionLabel.txt", "joints_s01_e01.txt", "joints_s10_e02.txt"]
    summary, raw, warnings = convert("utkinect", copy(folder, names, tmp_path / "in"),
                                     tmp_path / "o.pkl")
    assert raw["label_names"] == list(UTKINECT)
    check_layout(raw, 1, (480, 640))
    assert summary["clips"] == 19 and summary["skipped"] == 1
    assert len(warnings) == 1 and "carry" in warnings[0] and "NaN" in warnings[0]
    assert sorted(raw["split"]["half_train"]) == sorted(f"s01_e01_{n}" for n in UTKINECT)
    assert "s10_e02_carry" not in raw["split"]["half_test"]
    rows = np.loadtxt(folder / "joints_s01_e01.txt")
    walk = next(a for a in raw["annotations"] if a["frame_dir"] == "s01_e01_walk")
    assert walk["total_frames"] == int(((rows[:, 0] >= 252) & (rows[:, 0] <= 390)).sum())
    assert load_pyskl(summary["out"]).num_classes == 10


def test_sbu_two_people_folds_and_handshakes(tmp_path: Path) -> None:
    """SBU keeps both people (M = 2) and the five folds over subject pairs; in a handshake the
    hands that meet are both COCO right wrists (94% of the 18 shaking-hands clips measured)."""
    folder = source("sbu")
    names = [str(p.relative_to(folder)) for pair in ("s01s02", "s04s02")
             for p in sorted((folder / pair).glob("*/001/skeleton_pos.txt"))]
    summary, raw, _ = convert("sbu", copy(folder, names, tmp_path / "in"), tmp_path / "o.pkl")
    assert raw["label_names"] == list(SBU) and summary["clips"] == 16
    check_layout(raw, 2, (480, 640))
    split = raw["split"]
    assert set(split) == {f"fold{k}_{p}" for k in range(1, 6) for p in ("train", "test")}
    assert {n[:6] for n in split["fold1_test"]} == {"s01s02"}
    assert {n[:6] for n in split["fold5_test"]} == {"s04s02"}
    assert {n[:6] for n in split["fold3_train"]} == {"s01s02", "s04s02"}
    assert split["fold2_test"] == []
    for pair in ("s01s02", "s04s02"):
        shake = next(a for a in raw["annotations"] if a["frame_dir"] == f"{pair}_05_001")
        kp = shake["keypoint_3d"]

        def gap(joint: str, kp: np.ndarray = kp) -> float:
            return float(np.linalg.norm(kp[0, :, COCO[joint]] - kp[1, :, COCO[joint]], axis=-1)
                         .min())

        assert gap("right_wrist") < gap("left_wrist")
    data = load_pyskl(summary["out"])
    assert data.num_persons == 2 and data.class_names == list(SBU)
    assert {a["fps"] for a in raw["annotations"]} == {15.0}
    assert {c.fps for c in data.clips} == {15.0}


def test_ntu_skeleton_two_bodies_mirror_and_splits(tmp_path: Path) -> None:
    """All five raw NTU files: the handshake keeps two bodies; 2D is colorX/colorY mirrored
    (1919 - colorX), which puts the left shoulder on the image's right in every frame of these
    front-facing subjects; the official xsub and xview splits."""
    folder = source("ntu_skeleton")
    summary, raw, _ = convert("ntu-skeleton", folder, tmp_path / "o.pkl")
    assert raw["label_names"] == list(NTU_RGBD_120) and len(NTU_RGBD_120) == 120
    by_name = {a["frame_dir"]: a for a in raw["annotations"]}
    assert summary["clips"] == 5
    assert raw["label_names"][by_name["S001C003P008R002A058"]["label"]] == "handshaking"
    assert by_name["S001C003P008R002A058"]["keypoint"].shape[0] == 2
    for name, ann in by_name.items():
        persons = ann["keypoint"].shape[0]
        check_layout({"annotations": [ann], "label_names": NTU_RGBD_120}, persons, (1080, 1920))
        seen = ann["keypoint_score"][0, :, COCO["left_shoulder"]] > 0
        assert left_shoulder_on_image_right(ann, seen).all(), name
    # Line 8 of the file is frame 1, body 1, joint 3 (Head): x y z depthX depthY colorX colorY.
    head = [float(v) for v in (folder / "S001C001P001R001A011.skeleton").read_text()
            .splitlines()[7].split()]
    ann = by_name["S001C001P001R001A011"]
    np.testing.assert_allclose(ann["keypoint_3d"][0, 0, COCO["nose"]],
                               [-head[0], -head[1], head[2]], atol=1e-6)
    np.testing.assert_allclose(ann["keypoint"][0, 0, COCO["nose"]], [1919 - head[5], head[6]],
                               atol=1e-3)
    split = raw["split"]
    # Subjects 1, 8 and 15 are official training subjects, 3 is not.
    assert sorted(split["xsub_train"]) == ["S001C001P001R001A011", "S001C003P008R002A058",
                                           "S003C001P015R001A034"]
    assert sorted(split["xview_train"]) == ["S001C003P008R002A058", "S004C002P003R001A017"]
    assert len(split["xsub_val"]) == 2 and len(split["xview_val"]) == 3
    assert load_pyskl(summary["out"]).num_persons == 2


def one_line(exc: pytest.ExceptionInfo[SkelcamError], *fragments: str) -> None:
    message = str(exc.value)
    assert message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(("dataset", "folder_name", "good", "bad", "empty"), [
    ("nw-ucla", "nw_ucla", "a01_s01_e00_v01.json", "a02_s01_e00_v01.json",
     "a03_s01_e00_v01.json"),
    ("utd-mhad", "utd_mhad", "a1_s1_t1_skeleton.mat", "a2_s1_t1_skeleton.mat",
     "a3_s1_t1_skeleton.mat"),
    ("sbu", "sbu", "s01s02/01/001/skeleton_pos.txt", "s01s02/02/001/skeleton_pos.txt",
     "s01s02/03/001/skeleton_pos.txt"),
    ("ntu-skeleton", "ntu_skeleton", "S001C001P001R001A011.skeleton",
     "S002C001P003R001A003.skeleton", "S001C001P001R001A001.skeleton"),
])
def test_bad_and_empty_files_are_skipped_with_one_warning_each(
    tmp_path: Path, dataset: str, folder_name: str, good: str, bad: str, empty: str
) -> None:
    """Beside a real file, a truncated copy of another and an empty file are each one warning
    line naming the file, counted in the summary; the real one is still converted."""
    folder = copy(source(folder_name), [good, bad], tmp_path / "in")
    content = (folder / bad).read_bytes()
    (folder / bad).write_bytes(content[: len(content) // 3])
    empty = folder / empty
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    summary, raw, warnings = convert(dataset, folder, tmp_path / "o.pkl")
    assert summary["clips"] == 1 and summary["skipped"] == 2 and len(warnings) == 2
    assert all("\n" not in w for w in warnings)
    assert any(Path(bad).name in w and Path(bad).parent.name in w for w in warnings)
    assert any(str(empty) in w and "empty" in w for w in warnings)
    assert [a["total_frames"] > 0 for a in raw["annotations"]] == [True]


def test_missing_empty_and_unusable_folders(tmp_path: Path) -> None:
    """No folder, a folder without data files, or one whose only file is broken: one
    SkelcamError line each, and no output written."""
    with pytest.raises(SkelcamError) as exc:
        convert_skeletons("utd-mhad", tmp_path / "nope", tmp_path / "o.pkl", print)
    one_line(exc, "nope", "does not exist")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkelcamError) as exc:
        convert_skeletons("nw-ucla", tmp_path / "empty", tmp_path / "o.pkl", print)
    one_line(exc, "empty", "no *.json files")
    (tmp_path / "empty" / "a01_s01_e00_v01.json").write_text("{}")
    with pytest.raises(SkelcamError) as exc:
        convert_skeletons("nw-ucla", tmp_path / "empty", tmp_path / "o.pkl", lambda line: None)
    one_line(exc, "no usable nw-ucla clips", "1 skipped")
    with pytest.raises(SkelcamError) as exc:
        convert_skeletons("kinect", tmp_path, tmp_path / "o.pkl", print)
    one_line(exc, "unknown data set")
    assert not (tmp_path / "o.pkl").exists()


def test_command_line_prints_one_summary_line(tmp_path: Path, capsys: pytest.CaptureFixture) \
        -> None:
    """`python -m train convert sbu DIR OUT` prints clips, classes, splits and skipped."""
    from skelcam.train.__main__ import main

    folder = copy(source("sbu"), ["s01s02/05/001/skeleton_pos.txt"], tmp_path / "in")
    (folder / "s01s02/05/002").mkdir()
    (folder / "s01s02/05/002/skeleton_pos.txt").write_text("1,2,3\n")
    assert main(["convert", "sbu", str(folder), str(tmp_path / "o.pkl")]) == 0
    out, err = capsys.readouterr()
    assert "1 clips, 1 classes" in out and "fold1_test 1" in out and "1 skipped" in out
    assert "warning:" in err and "91 columns" in err
    assert main(["convert", "sbu", str(tmp_path / "nope"), str(tmp_path / "o.pkl")]) == 2
    assert "does not exist" in capsys.readouterr().err
