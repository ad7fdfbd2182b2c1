"""Tracker IDs across frames and the per-track window buffer, on synthetic poses."""

from __future__ import annotations

import numpy as np
import pytest

from skelcam.realtime.tracking import Tracker
from skelcam.realtime.window import WindowBuffer

# A standing person, x relative to the body centre and y from the top of the head, in heights.
_ARMS_DOWN = np.array(
    [
        (0.0, 0.08), (0.02, 0.06), (-0.02, 0.06), (0.04, 0.07), (-0.04, 0.07),
        (0.10, 0.20), (-0.10, 0.20), (0.15, 0.35), (-0.15, 0.35), (0.17, 0.48), (-0.17, 0.48),
        (0.07, 0.52), (-0.07, 0.52), (0.08, 0.75), (-0.08, 0.75), (0.08, 0.97), (-0.08, 0.97),
    ]
)  # fmt: skip
_ARMS_UP = _ARMS_DOWN.copy()
_ARMS_UP[7:11] = [(0.15, 0.08), (-0.15, 0.08), (0.13, -0.08), (-0.13, -0.08)]


def person(x: float, y: float = 100.0, height: float = 300.0, arms_up: bool = False):
    """Box [4], keypoints [17, 2] and scores [17] of a person centred at x, head top at y.

    The box depends on position and height only, not on the pose, so that two people in the same
    place have the same box and only their keypoints tell them apart.
    """
    xy = (_ARMS_UP if arms_up else _ARMS_DOWN) * height + (x, y)
    box = np.array([x - 0.25 * height, y - 0.1 * height, x + 0.25 * height, y + 1.05 * height])
    return box.astype(np.float32), xy.astype(np.float32), np.full(17, 0.9, np.float32)


def frame(*people):
    """Stack people into the (boxes, xy, scores) arrays of one frame; none gives N = 0."""
    if not people:
        return np.zeros((0, 4), np.float32), np.zeros((0, 17, 2), np.float32), np.zeros((0, 17))
    boxes, xy, scores = zip(*people, strict=True)
    return np.stack(boxes), np.stack(xy), np.stack(scores)


def test_ids_stay_with_people_who_move_slightly():
    tracker = Tracker()
    first = tracker.update(*frame(person(150), person(450)), frame_index=0)
    assert first.dtype.kind == "i" and first.tolist() == [0, 1]
    for t in range(1, 10):
        ids = tracker.update(*frame(person(150 + 3 * t), person(450 - 2 * t)), frame_index=t)
        assert ids.tolist() == first.tolist()


def test_ids_follow_people_when_detection_order_changes():
    tracker = Tracker()
    a, b = tracker.update(*frame(person(150), person(450)), frame_index=0).tolist()
    assert tracker.update(*frame(person(452), person(148)), frame_index=1).tolist() == [b, a]
    assert tracker.update(*frame(person(151), person(455)), frame_index=2).tolist() == [a, b]


def test_person_missing_for_a_few_frames_keeps_id():
    tracker = Tracker(max_missing=15)
    (pid,) = tracker.update(*frame(person(300)), frame_index=0)
    (other,) = tracker.update(*frame(person(302)), frame_index=1)
    assert other == pid
    for t in range(2, 7):  # five empty frames
        assert tracker.update(*frame(), frame_index=t).shape == (0,)
        assert tracker.dropped == []
    assert tracker.update(*frame(person(305)), frame_index=7).tolist() == [pid]


def test_person_missing_too_long_is_dropped_and_gets_a_new_id():
    tracker = Tracker(max_missing=3)
    (pid,) = tracker.update(*frame(person(300)), frame_index=0)
    for t in (1, 2, 3):
        tracker.update(*frame(), frame_index=t)
        assert tracker.dropped == []
    tracker.update(*frame(), frame_index=4)  # the fourth frame in a row without them
    assert tracker.dropped == [pid]
    (new,) = tracker.update(*frame(person(300)), frame_index=5)
    assert new != pid and tracker.dropped == []


def test_gap_in_frame_indices_counts_as_missing_frames():
    tracker = Tracker(max_missing=3)
    (pid,) = tracker.update(*frame(person(300)), frame_index=0)
    assert tracker.update(*frame(person(300)), frame_index=4).tolist() == [pid]  # 3 missed
    (new,) = tracker.update(*frame(person(300)), frame_index=9)  # 4 missed
    assert new != pid and tracker.dropped == [pid]


def test_ids_are_never_reused():
    tracker = Tracker(max_missing=0)
    seen = []
    for t in range(0, 12, 2):  # everyone is dropped between sightings
        seen += tracker.update(*frame(person(150), person(450)), frame_index=t).tolist()
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize("predict", [True, False])
def test_crossing_people_keep_their_ids(predict):
    # Two people walk through each other; at the crossing their boxes nearly coincide, so the
    # box alone cannot tell them apart, but one has their arms up.
    tracker = Tracker(predict=predict)
    ids_a = ids_b = None
    for t in range(13):
        a = person(200 + 20 * t, arms_up=True)
        b = person(440 - 20 * t)
        order = (a, b) if t % 2 else (b, a)  # the detector lists them in any order
        ids = tracker.update(*frame(*order), frame_index=t).tolist()
        got_a, got_b = ids if t % 2 else ids[::-1]
        if ids_a is None:
            ids_a, ids_b = got_a, got_b
        assert (got_a, got_b) == (ids_a, ids_b), f"swap at frame {t}"


def test_far_away_detection_starts_a_new_track():
    tracker = Tracker()
    (pid,) = tracker.update(*frame(person(100)), frame_index=0)
    (new,) = tracker.update(*frame(person(500)), frame_index=1)
    assert new != pid


def test_empty_frames_and_missing_joints():
    tracker = Tracker()
    assert tracker.update(*frame(), frame_index=0).shape == (0,)
    box, xy, scores = person(300)
    scores[:] = 0.0  # no keypoints at all: matched on the box alone
    (pid,) = tracker.update(*frame((box, xy, scores)), frame_index=1)
    assert tracker.update(*frame(person(303)), frame_index=2).tolist() == [pid]


def test_frame_index_must_grow():
    tracker = Tracker()
    tracker.update(*frame(), frame_index=3)
    with pytest.raises(ValueError):
        tracker.update(*frame(), frame_index=3)


def _pose(value: float) -> tuple[np.ndarray, np.ndarray]:
    """A recognisable pose: every coordinate equal to `value`, all joints seen."""
    return np.full((17, 2), value, np.float32), np.ones(17, np.float32)


def _push(buffer: WindowBuffer, frame_index: int, poses: dict[int, float]) -> None:
    """Push one frame with the given track IDs and `_pose` values (their x = y position)."""
    ids = list(poses)
    xy = np.stack([_pose(v)[0] for v in poses.values()]) if ids else np.zeros((0, 17, 2))
    scores = np.ones((len(ids), 17), np.float32)
    buffer.push(frame_index, np.array(ids), xy, scores)


def test_window_shapes_dtypes_and_left_padding():
    buffer = WindowBuffer(window=4, num_persons=1)
    _push(buffer, 0, {7: 10.0})
    _push(buffer, 1, {7: 20.0})
    keypoints, scores = buffer.batch([7])
    assert keypoints.shape == (1, 1, 4, 17, 2) and keypoints.dtype == np.float32
    assert scores.shape == (1, 1, 4, 17) and scores.dtype == np.float32
    # The first frame is repeated into the unseen past.
    assert keypoints[0, 0, :, 0, 0].tolist() == [10.0, 10.0, 10.0, 20.0]
    assert scores[0, 0].min() == 1.0


def test_window_slides_and_records_missing_frames_as_empty():
    buffer = WindowBuffer(window=3, num_persons=1)
    _push(buffer, 0, {1: 10.0})
    _push(buffer, 1, {1: 20.0})
    _push(buffer, 2, {})
    _push(buffer, 3, {1: 40.0})
    keypoints, scores = buffer.batch([1])
    assert keypoints[0, 0, :, 0, 0].tolist() == [20.0, 0.0, 40.0]
    assert scores[0, 0, :, 0].tolist() == [1.0, 0.0, 1.0]


def test_second_slot_holds_the_nearest_other_person_each_frame():
    buffer = WindowBuffer(window=2, num_persons=2)
    # Frame 0: track 1 at 100, track 2 at 150, track 3 at 400. Frame 1: track 3 moves to 110.
    _push(buffer, 0, {1: 100.0, 2: 150.0, 3: 400.0})
    _push(buffer, 1, {1: 100.0, 2: 150.0, 3: 110.0})
    keypoints, scores = buffer.batch([1, 3])
    assert keypoints.shape == (2, 2, 2, 17, 2)
    assert keypoints[0, 0, :, 0, 0].tolist() == [100.0, 100.0]  # slot 0: the track itself
    assert keypoints[0, 1, :, 0, 0].tolist() == [150.0, 110.0]  # nearest other, per frame
    assert keypoints[1, 1, :, 0, 0].tolist() == [150.0, 100.0]
    assert np.array_equal(keypoints[0, 1, 1], _pose(110.0)[0])
    assert scores[0, 1].min() == 1.0


def test_second_slot_is_empty_when_nobody_else_is_there():
    buffer = WindowBuffer(window=2, num_persons=2)
    _push(buffer, 0, {5: 100.0})
    _push(buffer, 1, {5: 100.0, 6: 200.0})
    keypoints, scores = buffer.batch([5])
    assert keypoints[0, 1, 0].max() == 0.0 and scores[0, 1, 0].max() == 0.0
    assert keypoints[0, 1, 1, 0, 0] == 200.0


def test_ready_tracks_and_drop():
    buffer = WindowBuffer(window=8, num_persons=2)
    _push(buffer, 0, {1: 10.0})
    _push(buffer, 1, {1: 10.0, 2: 50.0})
    _push(buffer, 2, {1: 10.0, 2: 50.0})
    assert buffer.ready_tracks(min_frames=3) == [1]
    assert buffer.ready_tracks(min_frames=2) == [1, 2]
    _push(buffer, 3, {2: 50.0})  # track 1 is not in the latest frame
    assert buffer.ready_tracks(min_frames=1) == [2]
    buffer.drop([2, 99])
    assert buffer.ready_tracks(min_frames=1) == []
    with pytest.raises(KeyError):
        buffer.batch([2])
    keypoints, scores = buffer.batch([])
    assert keypoints.shape == (0, 2, 8, 17, 2) and scores.shape == (0, 2, 8, 17)


def test_window_holds_last_pose_over_skipped_frame_indices():
    """A live loop that skipped camera frames still fills its window in camera time."""
    buffer = WindowBuffer(window=10, num_persons=1)
    xy_a = np.full((1, 17, 2), 5.0, np.float32)
    xy_b = np.full((1, 17, 2), 9.0, np.float32)
    scores = np.ones((1, 17), np.float32)
    buffer.push(0, np.array([1]), xy_a, scores)
    buffer.push(4, np.array([1]), xy_b, scores)
    keypoints, _ = buffer.batch([1])
    # Frame 0 was left-padded, frames 1-3 hold frame 0's pose, frame 4 is the new pose.
    assert keypoints.shape == (1, 1, 10, 17, 2)
    np.testing.assert_array_equal(keypoints[0, 0, :9, 0, 0], np.full(9, 5.0))
    assert keypoints[0, 0, 9, 0, 0] == 9.0
    assert buffer.ready_tracks(min_frames=5) == [1]
