"""`train.data`: loading real PYSKL pickles, splitting, and building training windows.

The loader is checked on the real custom16 pickle (labels 1..16, float16 keypoints, one person)
against the raw file's own contents, and every malformed input a user can hand it must come back
as one SkelcamError line that names the problem.
"""

from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from skelcam.train.data import (
    Augment,
    SkeletonDataset,
    WindowDataset,
    load_pyskl,
    repeat_rare,
    stratified_split,
)
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import JOINT_NAMES, NUM_JOINTS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def custom16_raw(custom16_path: Path) -> dict:
    with custom16_path.open("rb") as f:
        return pickle.load(f)


@pytest.fixture(scope="module")
def custom16(custom16_path: Path) -> SkeletonDataset:
    return load_pyskl(custom16_path)


def write_pickle(path: Path, obj: object) -> Path:
    with path.open("wb") as f:
        pickle.dump(obj, f)
    return path


def synthetic_annotation(name: str, label: int, persons: int, frames: int, joints: int = 17,
                         seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "frame_dir": name,
        "label": label,
        "img_shape": (480, 640),
        "original_shape": (480, 640),
        "total_frames": frames,
        "keypoint": (rng.random((persons, frames, joints, 2)) * 400).astype(np.float32),
        "keypoint_score": rng.uniform(0.3, 1.0, (persons, frames, joints)).astype(np.float32),
    }


# --- load_pyskl on the real custom16 pickle ------------------------------------------------------


def test_custom16_labels_are_remapped_to_zero_based(custom16: SkeletonDataset,
                                                    custom16_raw: dict) -> None:
    """Labels 1..16 become 0..15 in sorted order, `original_labels` keeps 1..16 and the default
    class names are `class_<original label>`; every clip's label is its raw label minus one."""
    assert custom16.original_labels == list(range(1, 17))
    assert custom16.num_classes == 16
    assert custom16.class_names == [f"class_{i}" for i in range(1, 17)]
    assert len(custom16.clips) == len(custom16_raw["annotations"]) == 486
    for clip, ann in zip(custom16.clips, custom16_raw["annotations"], strict=True):
        assert clip.name == ann["frame_dir"]
        assert clip.label == ann["label"] - 1
    assert Counter(c.label for c in custom16.clips).keys() == set(range(16))


def test_custom16_keypoints_become_float32(custom16: SkeletonDataset, custom16_raw: dict) -> None:
    """float16 keypoints and scores are returned as float32 with the same values and shapes."""
    assert custom16_raw["annotations"][0]["keypoint"].dtype == np.float16
    for clip, ann in zip(custom16.clips[:50], custom16_raw["annotations"][:50], strict=True):
        assert clip.keypoints.dtype == np.float32 and clip.scores.dtype == np.float32
        assert clip.keypoints.shape == ann["keypoint"].shape
        assert clip.keypoints.shape[2] == NUM_JOINTS
        np.testing.assert_array_equal(clip.keypoints, ann["keypoint"].astype(np.float32))
        np.testing.assert_array_equal(clip.scores, ann["keypoint_score"].astype(np.float32))


def test_custom16_splits_and_persons(custom16: SkeletonDataset, custom16_raw: dict) -> None:
    """Splits are clip indices pointing at exactly the frame_dirs the file lists; one person."""
    assert set(custom16.splits) == {"xsub_train", "xsub_test"}
    for name, members in custom16_raw["split"].items():
        indices = custom16.split(name)
        assert [custom16.clips[i].name for i in indices] == list(members)
    assert len(custom16.split("xsub_train")) == 388 and len(custom16.split("xsub_test")) == 98
    assert custom16.num_persons == 1


def test_unknown_split_lists_the_known_ones(custom16: SkeletonDataset) -> None:
    """Asking for a split the file does not have names it and lists the splits that exist."""
    with pytest.raises(SkelcamError) as exc:
        custom16.split("xsub_val")
    message = str(exc.value)
    assert "xsub_val" in message and "xsub_test, xsub_train" in message
    assert "\n" not in message


def test_label_names_file(custom16_path: Path, tmp_path: Path) -> None:
    """Names read from a file (one per line) name the classes of a 1-based pickle in order
    (label 1 -> first line); too few names for the labels is one error line."""
    names_file = tmp_path / "labels.txt"
    names_file.write_text("".join(f"action {i:02d}\n" for i in range(1, 17)))
    names = names_file.read_text().splitlines()
    data = load_pyskl(custom16_path, names)
    assert data.class_names == [f"action {i:02d}" for i in range(1, 17)]
    with pytest.raises(SkelcamError) as exc:
        load_pyskl(custom16_path, names[:10])
    assert "10 label names" in str(exc.value) and "16" in str(exc.value)


def test_zero_based_labels_take_names_by_index(tmp_path: Path) -> None:
    """In a 0-based pickle with labels 0 and 2 present, names are looked up by label value
    (0 -> names[0], 2 -> names[2]) and the labels become 0 and 1."""
    anns = [synthetic_annotation("a", 0, 1, 5), synthetic_annotation("b", 2, 1, 5)]
    path = write_pickle(tmp_path / "x.pkl", {"split": {"all": ["a", "b"]}, "annotations": anns})
    data = load_pyskl(path, ["zero", "one", "two"])
    assert data.class_names == ["zero", "two"]
    assert [c.label for c in data.clips] == [0, 1]
    assert data.original_labels == [0, 2]


def test_score_as_third_keypoint_channel(tmp_path: Path) -> None:
    """Files that store the score as keypoint[..., 2] (no keypoint_score) are read as such."""
    ann = synthetic_annotation("a", 0, 2, 6)
    kp3 = np.concatenate([ann["keypoint"], ann["keypoint_score"][..., None]], axis=-1)
    del ann["keypoint_score"]
    ann["keypoint"] = kp3
    path = write_pickle(tmp_path / "x.pkl", {"split": {"all": ["a"]}, "annotations": [ann]})
    clip = load_pyskl(path).clips[0]
    np.testing.assert_array_equal(clip.keypoints, kp3[..., :2])
    np.testing.assert_array_equal(clip.scores, kp3[..., 2])
    assert load_pyskl(path).num_persons == 2


# --- bad input -----------------------------------------------------------------------------------


def bad_pickles(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each malformed input and a fragment its error message must contain."""
    rng = np.random.default_rng(1)
    corrupt = tmp_path / "corrupt.pkl"
    corrupt.write_bytes(b"\x8f" + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(pickle.dumps({"split": {}, "annotations": list(range(100))})[:40])
    ann25 = [synthetic_annotation("a", 0, 1, 8, joints=25)]
    no_frames = [synthetic_annotation("a", 0, 1, 0)]
    bad_scores = [synthetic_annotation("a", 0, 1, 8)]
    bad_scores[0]["keypoint_score"] = bad_scores[0]["keypoint_score"][:, :4]
    no_label = [synthetic_annotation("a", 0, 1, 8)]
    del no_label[0]["label"]
    flat = [synthetic_annotation("a", 0, 1, 8)]
    flat[0]["keypoint"] = flat[0]["keypoint"][0]
    cases = {
        "missing": (tmp_path / "does_not_exist.pkl", "does not exist"),
        "corrupt": (corrupt, "cannot read"),
        "truncated": (truncated, "cannot read"),
        "list": (write_pickle(tmp_path / "list.pkl", [1, 2, 3]), "not a PYSKL skeleton pickle"),
        "no-split": (write_pickle(tmp_path / "nosplit.pkl", {"annotations": ann25}),
                     "not a PYSKL skeleton pickle"),
        "empty": (write_pickle(tmp_path / "empty.pkl", {"split": {}, "annotations": []}),
                  "no annotations"),
        "25-joints": (write_pickle(tmp_path / "j25.pkl",
                                   {"split": {"all": ["a"]}, "annotations": ann25}),
                      "uses 25 joints"),
        "no-frames": (write_pickle(tmp_path / "t0.pkl",
                                   {"split": {"all": ["a"]}, "annotations": no_frames}),
                      "no frames"),
        "score-shape": (write_pickle(tmp_path / "sc.pkl",
                                     {"split": {"all": ["a"]}, "annotations": bad_scores}),
                        "scores that do not match"),
        "no-label": (write_pickle(tmp_path / "nolabel.pkl",
                                  {"split": {"all": ["a"]}, "annotations": no_label}),
                     "lacks a field"),
        "3d-keypoints": (write_pickle(tmp_path / "flat.pkl",
                                      {"split": {"all": ["a"]}, "annotations": flat}),
                         "expected [M, T, V, 2]"),
    }
    return cases


CASES = ["missing", "corrupt", "truncated", "list", "no-split", "empty", "25-joints", "no-frames",
         "score-shape", "no-label", "3d-keypoints"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_error_line(tmp_path: Path, case: str) -> None:
    """Each malformed file raises SkelcamError (not a numpy/pickle exception) whose single-line
    message names the file and the problem."""
    path, fragment = bad_pickles(tmp_path)[case]
    with pytest.raises(SkelcamError) as exc:
        load_pyskl(path)
    message = str(exc.value)
    assert "\n" not in message
    assert fragment in message and path.name in message


# --- stratified_split ----------------------------------------------------------------------------


def test_stratified_split_keeps_class_proportions() -> None:
    """Each class contributes round(fraction * its size) to validation; singletons stay in
    training; the two parts are disjoint and cover every position."""
    labels = [0] * 40 + [1] * 20 + [2] * 10 + [3] * 1
    rng = np.random.default_rng(0)
    labels = list(rng.permutation(labels))
    train, val = stratified_split(labels, 0.2, seed=3)
    assert not set(train) & set(val)
    assert sorted(train + val) == list(range(len(labels)))
    assert Counter(labels[i] for i in val) == {0: 8, 1: 4, 2: 2}
    assert train == sorted(train) and val == sorted(val)


def test_stratified_split_on_real_labels(custom16: SkeletonDataset) -> None:
    """On custom16's 388 training clips, each class's validation share is within one clip of
    15 % of that class."""
    train_idx = custom16.split("xsub_train")
    labels = [custom16.clips[i].label for i in train_idx]
    _, val = stratified_split(labels, 0.15, seed=0)
    counts, val_counts = Counter(labels), Counter(labels[i] for i in val)
    for lab, n in counts.items():
        assert abs(val_counts[lab] - 0.15 * n) <= 0.5 + 1e-9


def test_stratified_split_is_deterministic_per_seed() -> None:
    """The same seed gives the same split; another seed gives another one."""
    labels = [i % 5 for i in range(200)]
    assert stratified_split(labels, 0.15, 7) == stratified_split(labels, 0.15, 7)
    assert stratified_split(labels, 0.15, 7) != stratified_split(labels, 0.15, 8)


# --- WindowDataset and Augment -------------------------------------------------------------------

# The estimator-noise augmentations off, so a test sees the geometry alone.
NO_NOISE = {"shear": 0.0, "jitter": 0.0, "offset": 0.0, "frame_drop": 0.0, "swap": 0.0,
            "cut": 0.0, "hip_width": (1.0, 1.0)}


@pytest.mark.parametrize("augment", [None, Augment()], ids=["plain", "augmented"])
@pytest.mark.parametrize("num_persons", [1, 2])
def test_window_shapes_and_dtypes(custom16: SkeletonDataset, augment: Augment | None,
                                  num_persons: int) -> None:
    """Items are float32 keypoints [M, W, 17, 2], float32 scores [M, W, 17] and the int label,
    for clips shorter and longer than the window; a second person slot is absent padding."""
    lengths = [c.keypoints.shape[1] for c in custom16.clips]
    short, long_ = int(np.argmin(lengths)), int(np.argmax(lengths))
    assert lengths[short] < 32 < lengths[long_]
    ds = WindowDataset(custom16, [short, long_], 32, num_persons, augment, seed=0)
    assert len(ds) == 2
    for i, clip_index in enumerate([short, long_]):
        kp, sc, label = ds[i]
        assert kp.dtype == torch.float32 and sc.dtype == torch.float32
        assert kp.shape == (num_persons, 32, NUM_JOINTS, 2)
        assert sc.shape == (num_persons, 32, NUM_JOINTS)
        assert isinstance(label, int) and label == custom16.clips[clip_index].label
        assert torch.isfinite(kp).all()
        if num_persons == 2:
            # The padding person stays absent (score 0; augmentation may move its zero
            # coordinates, which the normalizer masks out).
            assert not sc[1].any()
            assert augment is not None or not kp[1].any()


def test_plain_window_is_the_clip_resampled(custom16: SkeletonDataset) -> None:
    """Without augmentation an item is the clip's own frames, centre-sampled, untouched."""
    ds = WindowDataset(custom16, [0], 8, 1)
    kp, sc, _ = ds[0]
    clip = custom16.clips[0]
    frames = clip.keypoints.shape[1]
    idx = np.floor((np.arange(8) + 0.5) * frames / 8).astype(int)
    np.testing.assert_array_equal(kp.numpy(), clip.keypoints[:, idx])
    np.testing.assert_array_equal(sc.numpy(), clip.scores[:, idx])


def test_augmentation_is_deterministic_per_seed_epoch_item(custom16: SkeletonDataset) -> None:
    """An augmented item depends only on (seed, epoch, item): the same triple gives the same
    tensors in any access order and in a fresh dataset; changing any one of them changes it."""
    indices = custom16.split("xsub_train")[:5]
    indices = [*indices, indices[0]]  # item 5 is the same clip as item 0

    def make(seed: int = 0, epoch: int = 0) -> WindowDataset:
        ds = WindowDataset(custom16, indices, 24, 1, Augment(), seed=seed)
        ds.epoch = epoch
        return ds

    a, b = make(), make()
    forward = [a[i] for i in range(6)]
    backward = [b[i] for i in reversed(range(6))][::-1]
    for (ka, sa, la), (kb, sb, lb) in zip(forward, backward, strict=True):
        assert torch.equal(ka, kb) and torch.equal(sa, sb) and la == lb
    assert not torch.equal(make(epoch=1)[2][0], forward[2][0])
    assert not torch.equal(make(seed=1)[2][0], forward[2][0])
    assert not torch.equal(forward[5][0], forward[0][0])


def test_repeat_rare_repeats_only_the_rare_classes(custom16: SkeletonDataset) -> None:
    """On the real custom16 train split with its smallest class thinned out to 5 clips: that
    class's clips come round(sqrt(threshold / share)) times each, every other class once, the
    order of first appearance is kept, and threshold 0 is the plain split."""
    train = custom16.split("xsub_train")
    labels = [custom16.clips[i].label for i in train]
    rare = Counter(labels).most_common()[-1][0]
    first_rare = [i for i, lab in zip(train, labels, strict=True) if lab == rare][:5]
    indices = [i for i, lab in zip(train, labels, strict=True) if lab != rare or i in first_rare]
    kept_labels = [custom16.clips[i].label for i in indices]
    threshold = 0.05
    repeats = round(float(np.sqrt(threshold / (5 / len(indices)))))
    assert repeats >= 2
    out = repeat_rare(indices, kept_labels, threshold)
    counts = Counter(out)
    assert all(counts[i] == (repeats if lab == rare else 1)
               for i, lab in zip(indices, kept_labels, strict=True))
    assert list(dict.fromkeys(out)) == indices
    assert repeat_rare(indices, kept_labels, 0.0) == indices


def test_flip_keeps_a_left_wrist_a_left_wrist(custom16: SkeletonDataset) -> None:
    """A pure flip mirrors x about the skeleton's centre and swaps sides: the flipped joint 9
    (left wrist) is the mirror of the original joint 10 (right wrist), scores follow their joints,
    and flipping twice gives the original back."""
    assert (JOINT_NAMES[9], JOINT_NAMES[10]) == ("left_wrist", "right_wrist")
    clip = custom16.clips[0]
    kp, sc = clip.keypoints[:, :20].copy(), clip.scores[:, :20].copy()
    flip = Augment(flip=1.0, rotate_deg=0.0, scale=0.0, joint_drop=0.0, min_crop=1.0, **NO_NOISE)
    fkp, fsc = flip(kp, sc, np.random.default_rng(0))
    centre_x = kp[sc > 0][:, 0].mean()
    np.testing.assert_allclose(fkp[:, :, 9, 0], 2 * centre_x - kp[:, :, 10, 0], atol=1e-3)
    np.testing.assert_allclose(fkp[:, :, 9, 1], kp[:, :, 10, 1], atol=1e-3)
    np.testing.assert_allclose(fkp[:, :, 10, 0], 2 * centre_x - kp[:, :, 9, 0], atol=1e-3)
    np.testing.assert_array_equal(fsc[:, :, 9], sc[:, :, 10])
    np.testing.assert_array_equal(fsc[:, :, 0], sc[:, :, 0])
    np.testing.assert_allclose(fkp[:, :, 0, 0], 2 * centre_x - kp[:, :, 0, 0], atol=1e-3)
    back, back_sc = flip(fkp, fsc, np.random.default_rng(1))
    np.testing.assert_allclose(back, kp, atol=1e-2)
    np.testing.assert_array_equal(back_sc, sc)


def test_no_flip_and_rotation_keep_the_shape(custom16: SkeletonDataset) -> None:
    """Without flip or scaling, an augmentation is a rotation about the centre: distances between
    joints are kept, and joint dropout zeroes a joint's score for the whole window."""
    clip = custom16.clips[1]
    kp, sc = clip.keypoints[:, :16].copy(), clip.scores[:, :16].copy()
    rotate = Augment(flip=0.0, rotate_deg=30.0, scale=0.0, joint_drop=0.0, **NO_NOISE)
    rkp, rsc = rotate(kp, sc, np.random.default_rng(5))
    assert not np.allclose(rkp, kp, atol=1e-2)
    np.testing.assert_array_equal(rsc, sc)
    dist = np.linalg.norm(kp[:, :, 9] - kp[:, :, 5], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(rkp[:, :, 9] - rkp[:, :, 5], axis=-1), dist,
                               rtol=1e-4, atol=1e-2)
    drop_all = Augment(flip=0.0, rotate_deg=0.0, scale=0.0, joint_drop=1.0, **NO_NOISE)
    _, dsc = drop_all(kp, sc, np.random.default_rng(0))
    assert not dsc.any()


@pytest.mark.parametrize("split", [["a"], {"all": 5}], ids=["list", "int-members"])
def test_malformed_split_table_is_one_error(tmp_path: Path, split: object) -> None:
    """A pickle whose 'split' is not a {name: [frame_dir, ...]} table is one SkelcamError."""
    anns = [synthetic_annotation("a", 0, 1, 5)]
    path = write_pickle(tmp_path / "x.pkl", {"split": split, "annotations": anns})
    with pytest.raises(SkelcamError, match="split"):
        load_pyskl(path)
