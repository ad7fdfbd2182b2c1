"""The training augmentations that bring annotated joints closer to live poses.

Run on real Penn Action clips (converted in the session fixture) and on a real converted Kinect
recording, so the numbers are the ones training sees.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from skelcam.train.data import Augment, WindowDataset, load_pyskl
from skelcam.train.skeleton import flip_permutation
from skelcam.train.windowing import live_window_indices
from tests.conftest import SHARED

QUIET = {"flip": 0.0, "rotate_deg": 0.0, "scale": 0.0, "shear": 0.0, "jitter": 0.0,
         "offset": 0.0, "joint_drop": 0.0, "frame_drop": 0.0, "swap": 0.0, "cut": 0.0,
         "hip_width": (1.0, 1.0), "person_swap": 0.0}


@pytest.fixture(scope="module")
def penn_clip(penn_subset):
    data = load_pyskl(penn_subset.pickle)
    clip = max(data.clips, key=lambda c: c.keypoints.shape[1])
    return clip.keypoints[:1], clip.scores[:1]


def test_live_window_spans_real_time() -> None:
    """At speed 1 a full window is `window` consecutive frames; at speed 2 it spans twice as
    many; a partly filled window is left-padded with its first frame, as the live buffer is."""
    rng = np.random.default_rng(0)
    idx = live_window_indices(200, 48, rng, speed=1.0)
    assert len(idx) == 48 and np.all(np.diff(idx) == 1)
    idx = live_window_indices(200, 48, rng, speed=2.0)
    assert np.all(np.diff(idx) == 2) and idx[-1] - idx[0] == 94
    idx = live_window_indices(200, 48, rng, speed=1.0, filled=20)
    assert np.all(idx[:29] == idx[28]) and np.all(np.diff(idx[28:]) == 1)


def test_short_clip_holds_or_loops() -> None:
    """A clip shorter than the window holds its first and last frames, or, looped, runs back and
    forth through the clip without leaving it."""
    rng = np.random.default_rng(1)
    held = live_window_indices(30, 48, rng, speed=1.0)
    assert held.min() >= 0 and held.max() <= 29
    assert np.all(np.diff(held) >= 0) and len(np.unique(held)) <= 30
    looped = live_window_indices(30, 48, rng, speed=1.0, loop=True)
    assert looped.min() >= 0 and looped.max() <= 29
    steps = np.diff(looped)
    assert (steps > 0).any() and (steps < 0).any() and np.all(np.abs(steps) <= 1)


def test_augment_indices_mix_both_time_bases() -> None:
    """`live_window=0` is the benchmark's whole-clip resampling; `live_window=1` real time."""
    whole = Augment(live_window=0.0, min_crop=1.0)
    live = Augment(live_window=1.0, speed=(1.0, 1.0), partial=0.0)
    rng = np.random.default_rng(2)
    spans_whole = [np.ptp(whole.indices(300, 48, rng)) for _ in range(20)]
    spans_live = [np.ptp(live.indices(300, 48, rng)) for _ in range(20)]
    assert min(spans_whole) > 250 and max(spans_live) == 47


def test_live_windows_follow_the_clip_frame_rate() -> None:
    """A window spans the same seconds at any recording rate: 1.6 s of a 15 fps clip (SBU) is
    24 source frames, of a clip with no stated rate the datasets' 30 fps, 48 frames."""
    live = Augment(live_window=1.0, speed=(1.0, 1.0), partial=0.0)
    rng = np.random.default_rng(3)
    assert np.ptp(live.indices(300, 48, rng, fps=15.0)) in (23, 24)
    assert np.ptp(live.indices(300, 48, rng, fps=None)) == 47


def test_jitter_is_the_size_asked_for(penn_clip) -> None:
    """Per-frame noise has a std of at most `jitter` body sizes; nothing else moves."""
    kp, sc = penn_clip
    body = np.ptp(kp[sc > 0], axis=0).max()
    rng = np.random.default_rng(3)
    noisy, nsc = Augment(**{**QUIET, "jitter": 0.02})(kp, sc, rng)
    moved = np.linalg.norm(noisy - kp, axis=-1)[sc > 0] / body
    assert 0 < np.median(moved) < 0.02 * 1.2 * 2
    np.testing.assert_array_equal(nsc, sc)


def test_hips_move_towards_their_centre(penn_clip) -> None:
    """Hip-width augmentation narrows the hips about their centre and moves no other joint."""
    kp, sc = penn_clip
    out, _ = Augment(**{**QUIET, "hip_width": (0.5, 0.5)})(kp, sc, np.random.default_rng(5))
    before = np.linalg.norm(kp[:, :, 11] - kp[:, :, 12], axis=-1)
    after = np.linalg.norm(out[:, :, 11] - out[:, :, 12], axis=-1)
    np.testing.assert_allclose(after, before / 2, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(out[:, :, 11] + out[:, :, 12], kp[:, :, 11] + kp[:, :, 12],
                               atol=1e-2)
    np.testing.assert_allclose(np.delete(out, [11, 12], axis=2), np.delete(kp, [11, 12], axis=2),
                               atol=1e-3)


def test_drift_moves_the_whole_body_smoothly(penn_clip) -> None:
    """Drift translates every joint of a frame by one amount, smoothly from frame to frame and
    within `drift` body sizes (ramp and sine: at most twice that), and leaves the pose as it was."""
    kp, sc = penn_clip
    kp, sc = kp[:, :48], sc[:, :48]
    body = np.ptp(kp[sc > 0], axis=0).max()
    out, osc = Augment(**{**QUIET, "drift": 0.05})(kp, sc, np.random.default_rng(7))
    shift = out - kp
    np.testing.assert_allclose(shift, np.broadcast_to(shift[:, :, :1], shift.shape), atol=1e-3)
    path = shift[0, :, 0]
    assert 0 < np.abs(path).max() <= 2 * 0.05 * body
    # Smooth: its frame-to-frame change itself changes little (noise would double it).
    assert np.abs(np.diff(path, 2, axis=0)).max() < 0.3 * np.abs(np.diff(path, axis=0)).max()
    np.testing.assert_array_equal(osc, sc)
    same, _ = Augment(**QUIET)(kp, sc, np.random.default_rng(7))
    np.testing.assert_allclose(same, kp, atol=1e-3)


def test_cut_and_drops_only_remove_joints(penn_clip) -> None:
    """A frame border cutting the body drops the joints beyond it (legs below a close shot),
    leaves positions alone, and never drops everything."""
    kp, sc = penn_clip
    aug = Augment(**{**QUIET, "cut": 1.0})
    dropped = []
    for seed in range(20):
        out, osc = aug(kp, sc, np.random.default_rng(seed))
        np.testing.assert_allclose(out, kp, atol=1e-3)
        assert np.all(osc <= sc)
        dropped.append(1 - osc[sc > 0].astype(bool).mean())
    assert 0.02 < np.mean(dropped) < 0.6


def test_swap_exchanges_sides_on_single_frames(penn_clip) -> None:
    """A left/right swap on a frame exchanges the joints' labels, not the image: the swapped
    frame's left wrist sits where its right wrist was."""
    kp, sc = penn_clip
    out, _ = Augment(**{**QUIET, "swap": 1.0})(kp, sc, np.random.default_rng(4))
    np.testing.assert_allclose(out, kp[:, :, flip_permutation()], atol=1e-3)


KINECT = SHARED / "kinect" / "nw_ucla"


@pytest.mark.skipif(not KINECT.is_dir(), reason=f"Kinect recordings not found at {KINECT}")
def test_negatives_come_from_virtual_cameras(tmp_path: Path) -> None:
    """A converted 3D recording, used as a negative, is seen from a new camera each epoch and
    carries the no-known-action label."""
    import shutil

    from skelcam.train.kinect_convert import convert_skeletons

    folder = tmp_path / "ucla"
    folder.mkdir()
    for path in sorted(KINECT.glob("a0*_s01_e0*_v0*.json"))[:3]:
        shutil.copy(path, folder)
    convert_skeletons("nw-ucla", folder, tmp_path / "ucla.pkl", warn=pytest.fail)
    data = load_pyskl(tmp_path / "ucla.pkl")
    assert data.clips[0].keypoints_3d is not None
    ds = WindowDataset(data, [0], 48, 1, Augment(**QUIET, virtual_camera=1.0), seed=0, label=-1)
    first, _, label = ds[0]
    ds.epoch = 1
    second, _, _ = ds[0]
    assert label == -1 and not np.allclose(first.numpy(), second.numpy())


@pytest.fixture(scope="module")
def sbu_pairs(tmp_path_factory: pytest.TempPathFactory):
    """Real SBU pair s01s02, one take of each of its 8 interactions, converted."""
    from tests.test_kinect_convert import convert, copy, source

    folder = source("sbu")
    root = tmp_path_factory.mktemp("sbu")
    takes = sorted(folder.glob("s01s02/0[1-8]/001/skeleton_pos.txt"))
    names = [str(p.relative_to(folder)) for p in takes]
    _, _, warnings = convert("sbu", copy(folder, names, root / "sbu"), root / "sbu.pkl")
    assert not warnings
    data = load_pyskl(root / "sbu.pkl")
    assert data.num_persons == 2 and len(data.clips) == 8
    return data


def test_cut_keeps_the_first_person_of_a_pair(sbu_pairs) -> None:
    """On real two-person SBU clips the border crosses the first person's body, so that person
    keeps joints in every window and its normalised features stay body-sized. A border placed
    on both people's extent removed the first person now and then (a side edge between them),
    and the partner, divided by a body size of zero, reached features of 1e5: that broke the
    first daily-model runs."""
    from skelcam.train.model import SkeletonNormalizer

    data = sbu_pairs
    normalise = SkeletonNormalizer(list(range(17)), 0.05, ["joint", "bone"])
    aug = Augment(**{**QUIET, "cut": 1.0})
    largest = 0.0
    for clip in data.clips:
        for seed in range(10):
            kp, sc = aug(clip.keypoints, clip.scores, np.random.default_rng(seed))
            frames = kp.shape[1]
            assert (sc[0] > 0).sum() >= 2 * frames  # two joints a frame, on average
            features = normalise(*(torch.from_numpy(a[None]) for a in (kp, sc)))
            largest = max(largest, float(features[..., :-1].abs().max()))
    assert largest < 5.0


def test_person_swap_trades_the_slots_of_a_pair(sbu_pairs, penn_clip) -> None:
    """Either partner of a real SBU pair can be the subject: with `person_swap` 1 the two
    people trade slots and keep their joints; with 0 they stay. A one-person clip draws no
    number for it, so one-person training keeps the same augmentations as before the option."""
    clip = sbu_pairs.clips[0]
    kp, sc = clip.keypoints[:, :20], clip.scores[:, :20]
    swapped, ssc = Augment(**{**QUIET, "person_swap": 1.0})(kp, sc, np.random.default_rng(0))
    kept, _ = Augment(**QUIET)(kp, sc, np.random.default_rng(0))
    np.testing.assert_allclose(swapped, kp[[1, 0]], atol=1e-3)
    np.testing.assert_array_equal(ssc, sc[[1, 0]])
    np.testing.assert_allclose(kept, kp, atol=1e-3)
    one_kp, one_sc = penn_clip
    noisy = {"jitter": 0.02, "flip": 0.5, "person_swap": 1.0}
    a, _ = Augment(**{**QUIET, **noisy})(one_kp, one_sc, np.random.default_rng(3))
    b, _ = Augment(**{**QUIET, **noisy, "person_swap": 0.0})(one_kp, one_sc,
                                                              np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
