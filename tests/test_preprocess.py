"""`train.preprocess` and the model's input contract, on real skeletons.

The live loop feeds raw pixel keypoints from a webcam that frames people nothing like the
datasets, so the features (and therefore the logits) must not depend on where the person is in
the image or how large; joints the detector missed, joints the model never saw in training and
an absent second person must not inject anything either.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import PennSubset

from skelcam.train.checkpoint import load_model
from skelcam.train.data import SkeletonDataset, load_pyskl
from skelcam.train.model import ModelConfig, SkeletonClassifier, build_model
from skelcam.train.preprocess import FEATURE_GROUPS, SkeletonNormalizer
from skelcam.train.shipped import CHECKPOINT
from skelcam.train.skeleton import NUM_JOINTS, PARENT
from skelcam.train.windowing import (
    resample_indices,
    sample_window,
    select_persons,
    span_indices,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIFT = torch.tensor([300.0, -120.0])
SCALE = 2.7
WINDOW = 32
PENN_JOINTS = [0, *range(5, 17)]


@pytest.fixture(scope="module")
def custom16(custom16_path: Path) -> SkeletonDataset:
    return load_pyskl(custom16_path)


def window_of(data: SkeletonDataset, index: int, window: int = WINDOW,
              persons: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """A real clip as a batch of one: keypoints [1, M, W, 17, 2], scores [1, M, W, 17]."""
    clip = data.clips[index]
    kp, sc = select_persons(clip.keypoints, clip.scores, persons)
    kp, sc = sample_window(kp, sc, window)
    return torch.from_numpy(kp)[None], torch.from_numpy(sc)[None]


def eval_model(seed: int, **config: object) -> SkeletonClassifier:
    torch.manual_seed(seed)
    cfg = {"num_classes": 16, "window": WINDOW, **config}
    return build_model(ModelConfig(**cfg)).eval()


# --- translation and scale invariance ------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 100, 300])
def test_features_ignore_position_and_size(custom16: SkeletonDataset, index: int) -> None:
    """Moving a real skeleton by (+300, -120) px and scaling it by 2.7 leaves every feature
    channel (joints, bones, motion, mask) unchanged within 1e-4."""
    kp, sc = window_of(custom16, index)
    norm = SkeletonNormalizer(range(NUM_JOINTS))
    base = norm(kp, sc)
    moved = norm(kp * SCALE + SHIFT, sc)
    assert base.shape == (1, 1, WINDOW, NUM_JOINTS, norm.num_features)
    assert base[..., :2].abs().max() > 0.1  # not trivially zero
    torch.testing.assert_close(moved, base, atol=1e-4, rtol=0)


def test_features_are_body_relative(custom16: SkeletonDataset) -> None:
    """The normalized skeleton is centred on the hips and about one body-extent in size."""
    kp, sc = window_of(custom16, 0)
    feats = SkeletonNormalizer(range(NUM_JOINTS))(kp, sc)
    mask = feats[..., -1] > 0
    hips = feats[0, 0, :, 11:13, :2][mask[0, 0, :, 11:13]]
    torch.testing.assert_close(hips.mean(dim=0), torch.zeros(2), atol=1e-4, rtol=0)
    xy = feats[0, 0, ..., :2]  # the joint group comes first
    extent = (xy.amax(dim=1) - xy.amin(dim=1)).amax(dim=-1)
    assert 0.5 < float(extent.mean()) < 1.5


def test_shipped_model_logits_ignore_position_and_size(penn_subset: PennSubset) -> None:
    """The shipped Penn model (eval mode) gives the same logits for a real Penn clip moved and
    scaled in the image; a randomly initialised model does too."""
    if not CHECKPOINT.is_file():
        pytest.skip(f"shipped checkpoint {CHECKPOINT} not present")
    data = load_pyskl(penn_subset.pickle)
    model, _, _ = load_model(CHECKPOINT)
    for m in (model, eval_model(0, num_classes=15, window=model.config.window)):
        for index in (0, 50, 104):
            kp, sc = window_of(data, index, model.config.window)
            with torch.no_grad():
                base = m(kp, sc)
                moved = m(kp * SCALE + SHIFT, sc)
            torch.testing.assert_close(moved, base, atol=1e-4, rtol=1e-4)


# --- missing joints ------------------------------------------------------------------------------


def test_missing_joints_give_zero_features_and_mask(custom16: SkeletonDataset) -> None:
    """A joint scored 0 (or below min_score) in some frames has all nine channels zero there,
    its child's bone and the motions touching those frames are zero, and its (garbage)
    coordinates change no other feature."""
    kp, sc = window_of(custom16, 5)
    assert (sc[0, 0, :, 7] > 0.05).all() and (sc[0, 0, :, 9] > 0.05).all()
    elbow, wrist = 7, 9
    assert PARENT[wrist] == elbow
    gone = [10, 11, 12]
    sc_missing = sc.clone()
    sc_missing[0, 0, gone[:2], elbow] = 0.0
    sc_missing[0, 0, gone[2], elbow] = 0.04  # below the default min_score 0.05
    norm = SkeletonNormalizer(range(NUM_JOINTS), features=FEATURE_GROUPS)
    ch = {g: slice(2 * i, 2 * i + 2) for i, g in enumerate(norm.features)}
    feats = norm(kp, sc_missing)
    garbage = kp.clone()
    garbage[0, 0, gone, elbow] = torch.tensor([1e5, -3e4])
    feats_garbage = norm(garbage, sc_missing)
    torch.testing.assert_close(feats_garbage, feats, atol=0, rtol=0)

    f = feats[0, 0]
    assert not f[gone, elbow].any()  # all nine channels, the mask included
    assert (f[:, elbow, -1] == 0).sum() == 3 and (f[:, wrist, -1] == 1).all()
    assert f[gone, wrist, ch["joint"]].abs().sum() > 0  # the wrist itself is still there
    assert not f[gone, wrist, ch["bone"]].any()  # but its bone to the missing elbow is not
    assert not f[gone, wrist, ch["bone_motion"]].any()  # nor that bone's motion
    motion_zero = [gone[0] - 1, *gone]  # x[t+1] - x[t] needs both frames
    assert not f[motion_zero, elbow, ch["joint_motion"]].any()
    assert not f[-1, :, ch["joint_motion"]].any()
    assert not f[-1, :, ch["bone_motion"]].any()  # the last frame has no next frame


def test_all_missing_person_is_finite_zero(custom16: SkeletonDataset) -> None:
    """A window with no visible joint at all yields zero features and finite logits, not NaN."""
    kp, sc = window_of(custom16, 0)
    feats = SkeletonNormalizer(range(NUM_JOINTS))(kp, torch.zeros_like(sc))
    assert not feats.any()
    with torch.no_grad():
        logits = eval_model(0)(kp, torch.zeros_like(sc))
    assert torch.isfinite(logits).all()


# --- a second person -----------------------------------------------------------------------------


def test_absent_second_person_is_ignored_by_pooling(custom16: SkeletonDataset) -> None:
    """In a two-person model, an empty second slot gives finite logits equal to those with the
    first person duplicated (presence-weighted pooling over persons: an absent person does not
    dilute the average); a real second person changes the logits."""
    model = eval_model(1, num_persons=2)
    kp0, sc0 = window_of(custom16, 3)
    kp1, sc1 = window_of(custom16, 200)
    empty_kp, empty_sc = torch.zeros_like(kp0), torch.zeros_like(sc0)
    with torch.no_grad():
        alone = model(torch.cat([kp0, empty_kp], 1), torch.cat([sc0, empty_sc], 1))
        doubled = model(torch.cat([kp0, kp0], 1), torch.cat([sc0, sc0], 1))
        pair = model(torch.cat([kp0, kp1], 1), torch.cat([sc0, sc1], 1))
    assert torch.isfinite(alone).all()
    torch.testing.assert_close(alone, doubled, atol=1e-5, rtol=1e-5)
    assert (pair - alone).abs().max() > 1e-3


# --- joints the model does not use ---------------------------------------------------------------


def test_unused_joints_do_not_change_logits(custom16: SkeletonDataset) -> None:
    """With used_joints = Penn's 13 joints, moving and re-scoring the eyes and ears (1-4) leaves
    the logits unchanged; a model that uses all 17 joints does see the change."""
    kp, sc = window_of(custom16, 7)
    kp2, sc2 = kp.clone(), sc.clone()
    kp2[..., 1:5, :] += torch.tensor([37.0, -52.0])
    sc2[..., 1:5] = 1.0 - sc2[..., 1:5] * 0.5
    penn = eval_model(2, used_joints=PENN_JOINTS)
    full = eval_model(2)
    with torch.no_grad():
        torch.testing.assert_close(penn(kp2, sc2), penn(kp, sc), atol=0, rtol=0)
        assert (full(kp2, sc2) - full(kp, sc)).abs().max() > 1e-4
    assert not SkeletonNormalizer(PENN_JOINTS)(kp2, sc2)[..., 1:5, :].any()


# --- resample_indices / sample_window / select_persons -------------------------------------------


def test_resample_centre_sampling_by_hand() -> None:
    """Without a generator, frames sit at the centres of equal segments (worked by hand)."""
    # 10 frames, 5 segments of 2: centres 1, 3, 5, 7, 9.
    np.testing.assert_array_equal(resample_indices(10, 5), [1, 3, 5, 7, 9])
    # 3 frames, 6 segments of 0.5: centres 0.25, 0.75, ..., 2.75 -> floor 0 0 1 1 2 2.
    np.testing.assert_array_equal(resample_indices(3, 6), [0, 0, 1, 1, 2, 2])
    # 100 frames, 4 segments of 25: centres 12.5, 37.5, 62.5, 87.5.
    np.testing.assert_array_equal(resample_indices(100, 4), [12, 37, 62, 87])
    np.testing.assert_array_equal(resample_indices(1, 8), np.zeros(8))
    assert resample_indices(57, 48).dtype == np.int64
    np.testing.assert_array_equal(resample_indices(57, 48), resample_indices(57, 48))
    with pytest.raises(ValueError):
        resample_indices(0, 8)


def test_span_indices_look_back_over_each_span_from_the_newest_frame() -> None:
    """Span 1 is the window alone, at the end of the buffer; span 2 covers the whole buffer of
    twice the length and reads every other frame (worked by hand for 10 frames, 5 per window)."""
    total, (one,) = span_indices(10, 5, (1.0,))
    assert total == 10
    np.testing.assert_array_equal(one, resample_indices(10, 5))
    total, (one, two) = span_indices(10, 5, (1.0, 2.0))
    assert total == 20
    np.testing.assert_array_equal(one, [11, 13, 15, 17, 19])
    np.testing.assert_array_equal(two, [2, 6, 10, 14, 18])
    for bad in [(), (1.0, 0.0), (-1.0,)]:
        with pytest.raises(ValueError):
            span_indices(10, 5, bad)


@pytest.mark.parametrize("frames", [1, 7, 48, 61, 500])
def test_random_sampling_stays_in_bounds(frames: int) -> None:
    """Random crops stay inside the clip, are sorted, cover at least about `min_crop` of it,
    are reproducible for one seed and vary between seeds."""
    window, min_crop = 16, 0.6
    draws = []
    for seed in range(30):
        idx = resample_indices(frames, window, np.random.default_rng(seed), min_crop)
        assert idx.shape == (window,) and idx.min() >= 0 and idx.max() <= frames - 1
        assert (np.diff(idx) >= 0).all()
        # Each index lies in its own sub-segment of a crop >= min_crop * frames long.
        assert idx[-1] - idx[0] >= min_crop * frames * (window - 2) / window - 1
        again = resample_indices(frames, window, np.random.default_rng(seed), min_crop)
        np.testing.assert_array_equal(idx, again)
        draws.append(tuple(idx))
    if frames > window:
        assert len(set(draws)) > 20


def test_random_full_clip_jitters_within_segments() -> None:
    """With min_crop=1 the whole clip is used and frame i is drawn from segment i only."""
    frames, window = 90, 9
    seen = set()
    for seed in range(20):
        idx = resample_indices(frames, window, np.random.default_rng(seed), 1.0)
        np.testing.assert_array_equal(idx // 10, np.arange(window))
        seen.add(tuple(idx))
    assert len(seen) > 1


def test_sample_window_casts_and_picks_frames() -> None:
    """sample_window returns float32 copies of the chosen frames of every person."""
    kp = np.arange(2 * 10 * 17 * 2, dtype=np.float16).reshape(2, 10, 17, 2)
    sc = np.linspace(0, 1, 2 * 10 * 17, dtype=np.float16).reshape(2, 10, 17)
    wkp, wsc = sample_window(kp, sc, 5)
    assert wkp.dtype == np.float32 and wsc.dtype == np.float32
    np.testing.assert_array_equal(wkp, kp[:, [1, 3, 5, 7, 9]].astype(np.float32))
    np.testing.assert_array_equal(wsc, sc[:, [1, 3, 5, 7, 9]].astype(np.float32))


def test_select_persons_orders_by_score_and_pads() -> None:
    """Persons are ordered by total score (ties keep file order), cut to `num_persons`, and
    missing slots are zero keypoints with zero scores."""
    kp = np.stack([np.full((4, 17, 2), i + 1, np.float32) for i in range(4)])
    totals = [1.0, 3.0, 2.0, 3.0]
    sc = np.stack([np.full((4, 17), t / 68, np.float32) for t in totals])
    two_kp, two_sc = select_persons(kp, sc, 2)
    assert two_kp.shape == (2, 4, 17, 2) and two_sc.shape == (2, 4, 17)
    assert [int(two_kp[i, 0, 0, 0]) for i in range(2)] == [2, 4]
    six_kp, six_sc = select_persons(kp, sc, 6)
    assert [int(six_kp[i, 0, 0, 0]) for i in range(6)] == [2, 4, 3, 1, 0, 0]
    assert not six_kp[4:].any() and not six_sc[4:].any()
    np.testing.assert_array_equal(six_sc[0], sc[1])
    assert six_kp.dtype == np.float32 and six_sc.dtype == np.float32
