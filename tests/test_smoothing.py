"""The One Euro keypoint smoother: steadier still joints, little lag on fast ones, per track."""

from __future__ import annotations

import numpy as np

from skelcam.realtime.pose.smoothing import KeypointSmoother

FPS = 30.0
HEIGHT = 300.0  # person height in pixels
BOX = np.array([[0, 0, 100, HEIGHT]], np.float32)
SCORES = np.ones((1, 17), np.float32)


def run(smoother: KeypointSmoother, track: np.ndarray) -> np.ndarray:
    """Filter a [T, 17, 2] trajectory of one person (track ID 1)."""
    return np.array([
        smoother(np.array([1]), xy[None], SCORES, BOX, frame)[0] for frame, xy in enumerate(track)
    ])  # fmt: skip


def test_jitter_of_a_still_person_is_reduced():
    noise = np.random.default_rng(0).normal(0, 3, (60, 17, 2)).astype(np.float32)
    still = 200 + noise
    out = run(KeypointSmoother(FPS), still)
    assert out[10:].std(axis=0).mean() < 0.5 * still[10:].std(axis=0).mean()  # measured 0.42


def test_fast_motion_is_followed_with_little_lag():
    # a joint crossing the person's height in one second, with the same jitter
    t = np.arange(60, dtype=np.float32)[:, None, None]
    noise = np.random.default_rng(1).normal(0, 3, (60, 17, 2)).astype(np.float32)
    moving = 100 + t * HEIGHT / FPS + noise
    out = run(KeypointSmoother(FPS), moving)
    lag = np.abs(out[20:] - (100 + t[20:] * HEIGHT / FPS)).mean()
    assert lag < 0.05 * HEIGHT  # within 5% of the body height of where the joint truly is
    fixed_lowpass = run(KeypointSmoother(FPS, beta=0.0), moving)
    assert lag < 0.5 * np.abs(fixed_lowpass[20:] - (100 + t[20:] * HEIGHT / FPS)).mean()


def test_tracks_are_independent_and_missing_joints_pass_through():
    smoother = KeypointSmoother(FPS)
    first = np.stack([np.full((17, 2), 10.0), np.full((17, 2), 500.0)]).astype(np.float32)
    boxes = np.repeat(BOX, 2, axis=0)
    smoother(np.array([1, 2]), first, np.ones((2, 17), np.float32), boxes, 0)
    second = first + 30
    scores = np.ones((2, 17), np.float32)
    scores[0, 3] = 0.0  # joint 3 of track 1 goes missing
    out = smoother(np.array([2, 1]), second[::-1].copy(), scores[::-1].copy(), boxes, 1)
    assert (out[0] > 500).all() and (out[0] < 530).all()  # track 2 stays near 500
    np.testing.assert_allclose(out[1, 3], second[0, 3])  # missing: unfiltered
    smoother.drop([1])
    out = smoother(np.array([1]), first[:1], scores[:1], BOX, 2)
    np.testing.assert_allclose(out[0], first[0])  # a dropped track starts afresh
