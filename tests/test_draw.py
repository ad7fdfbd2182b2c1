"""Each overlay annotator draws where it should and nowhere else, at webcam and full-HD sizes."""

from __future__ import annotations

import numpy as np
import pytest

from skelcam.realtime.draw import (
    BoxAnnotator,
    HudAnnotator,
    NoticeAnnotator,
    SkeletonAnnotator,
    TopKAnnotator,
)

SIZES = [(480, 640), (1080, 1920)]
CLASSES = ["walking", "hugging other person", "waving"] + [
    f"a very long action name number {i} that cannot fit in any panel" for i in range(5)
]


def blank(size: tuple[int, int]) -> np.ndarray:
    return np.full((*size, 3), 120, np.uint8)


def scene(size: tuple[int, int]):
    """One person in the left third of the frame: box [1, 4], keypoints [1, 17, 2], scores.

    The joints lie on the box's diagonal from top-left to bottom-right.
    """
    h, w = size
    box = np.array([[0.15 * w, 0.2 * h, 0.3 * w, 0.9 * h]], np.float32)
    t = np.linspace(0.1, 0.9, 17)[:, None]
    xy = (box[0, :2] + t * (box[0, 2:] - box[0, :2]))[None].astype(np.float32)
    scores = np.full((1, 17), 0.9, np.float32)
    return box, xy, scores


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Mask [H, W] of pixels that differ."""
    return np.any(before != after, axis=-1)


def probabilities(n: int) -> np.ndarray:
    p = np.linspace(1.0, 2.0, len(CLASSES))
    return np.tile(p / p.sum(), (n, 1))


@pytest.mark.parametrize("size", SIZES)
def test_skeleton_drawn_on_joints_only(size):
    box, xy, scores = scene(size)
    x0, y0, x1, y1 = box[0]
    xy[0, 3] = (x1 - 0.05 * (x1 - x0), y0 + 0.05 * (y1 - y0))  # top-right, away from the rest
    scores[0, 3] = 0.1  # a joint below min_score is not drawn
    frame = blank(size)
    out = SkeletonAnnotator(min_score=0.3).annotate(frame, xy, scores, [4])
    assert out is frame
    diff = changed(blank(size), frame)
    for j in (0, 8, 16):
        x, y = np.rint(xy[0, j]).astype(int)
        assert diff[y, x]
    x, y = np.rint(xy[0, 3]).astype(int)
    assert not diff[y - 2 : y + 3, x - 2 : x + 3].any()
    outside = diff.copy()
    outside[int(y0) - 10 : int(y1) + 10, int(x0) - 10 : int(x1) + 10] = False
    assert not outside.any()


@pytest.mark.parametrize("size", SIZES)
def test_box_and_label_drawn_around_the_box(size):
    box, _, _ = scene(size)
    frame = blank(size)
    BoxAnnotator().annotate(frame, box, [3])
    diff = changed(blank(size), frame)
    x0, y0, x1, y1 = np.rint(box[0]).astype(int)
    assert diff[(y0 + y1) // 2, x0] and diff[(y0 + y1) // 2, x1]
    assert diff[y0 - 5, x0 + 5]  # the label sits on top of the box
    assert not diff[(y0 + y1) // 2, (x0 + x1) // 2]  # the inside stays clear
    assert not diff[:, x1 + int(0.05 * size[0]) :].any()


@pytest.mark.parametrize("size", SIZES)
def test_top_k_panel_beside_the_box(size):
    h, w = size
    box, _, _ = scene(size)
    frame = blank(size)
    TopKAnnotator(CLASSES, k=5).annotate(frame, box, probabilities(1), [1])
    diff = changed(blank(size), frame)
    x1, y0 = int(box[0, 2]), int(box[0, 1])
    assert diff[y0 + 5, x1 + int(0.05 * h)]  # right of the box, level with its top
    # Long names are cut to the panel: far to the right of the box nothing changes.
    assert not diff[:, x1 + int(0.5 * h) :].any()
    assert not diff[:, : int(box[0, 0])].any()


@pytest.mark.parametrize("size", SIZES)
def test_top_k_panel_stays_inside_the_frame(size):
    h, w = size
    # A person cut by the bottom-right corner: the panel goes left of the box, inside the frame.
    box = np.array([[0.8 * w, 0.9 * h, 1.1 * w, 1.2 * h]], np.float32)
    frame = blank(size)
    TopKAnnotator(CLASSES).annotate(frame, box, probabilities(1))
    diff = changed(blank(size), frame)
    assert diff[h - 1, int(0.8 * w) - int(0.05 * h)]  # pushed up to end at the bottom edge
    assert not diff[:, int(0.8 * w) :].any()
    assert not diff[: h // 2].any()


@pytest.mark.parametrize("size", SIZES)
def test_top_k_panels_of_people_side_by_side_do_not_overlap(size):
    h, w = size
    boxes = np.array([[0.3 * w, 0.2 * h, 0.4 * w, 0.6 * h], [0.35 * w, 0.2 * h, 0.45 * w, 0.6 * h]])
    single = [blank(size), blank(size)]
    for i in (0, 1):
        TopKAnnotator(CLASSES).annotate(single[i], boxes[i : i + 1], probabilities(1))
    both = blank(size)
    TopKAnnotator(CLASSES).annotate(both, boxes, probabilities(2))
    assert changed(blank(size), both).sum() > 1.8 * changed(blank(size), single[0]).sum()


@pytest.mark.parametrize("size", SIZES)
def test_hud_top_left(size):
    h, w = size
    frame = blank(size)
    stages = {"capture": 1.2, "pose": 30.0, "track": 0.3, "classify": 2.0, "draw": 1.0}
    HudAnnotator("onnxruntime CPUExecutionProvider", "cpu").annotate(frame, 29.7, stages)
    diff = changed(blank(size), frame)
    assert diff[2, 2] and diff[: h // 4, : w // 4].mean() > 0.5
    assert not diff[h // 2 :].any() and not diff[:, w // 2 :].any()


@pytest.mark.parametrize("size", [*SIZES, (120, 160)])
def test_notice_banner_top_centre_and_red(size):
    """The source's notice ("stream lost, reconnecting (2)") sits centred at the top, red, and
    fits even a tiny frame (the text is cut, never drawn past the edges)."""
    h, w = size
    frame = blank(size)
    NoticeAnnotator().annotate(frame, "stream lost, reconnecting (2)")
    diff = changed(blank(size), frame)
    rows, cols = np.nonzero(diff)
    assert rows.max() < h // 4
    assert abs((cols.min() + cols.max()) / 2 - w / 2) <= 2
    assert cols.min() > 0 and cols.max() < w - 1
    panel = frame[rows.min():rows.max() + 1, cols.min():cols.max() + 1].reshape(-1, 3)
    b, _, r = np.median(panel, axis=0)
    assert r > b + 60


@pytest.mark.parametrize("size", SIZES)
def test_no_persons_draws_nothing(size):
    frame = blank(size)
    SkeletonAnnotator().annotate(frame, np.zeros((0, 17, 2)), np.zeros((0, 17)))
    BoxAnnotator().annotate(frame, np.zeros((0, 4)), [])
    TopKAnnotator(CLASSES).annotate(frame, np.zeros((0, 4)), np.zeros((0, len(CLASSES))))
    assert np.array_equal(frame, blank(size))


def test_top_k_rejects_wrong_number_of_classes():
    with pytest.raises(ValueError):
        TopKAnnotator(CLASSES).annotate(blank(SIZES[0]), np.zeros((1, 4)), np.ones((1, 3)))
