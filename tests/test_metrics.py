"""Metrics against hand-computed values, plus the report writers (JSON, PNG, terminal table).

Every expected number below is worked out by hand in the comments, not by re-running the code
under test, so a wrong formula cannot pass by agreeing with itself.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from rich.console import Console

from skelcam.train.metrics import ClassificationMetrics, compute_metrics
from skelcam.train.report import print_metrics, save_confusion_png, save_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def one_hot_scores(predictions: list[int], num_classes: int) -> np.ndarray:
    """Logits whose argmax is exactly `predictions`."""
    return np.eye(num_classes, dtype=np.float32)[predictions]


@pytest.fixture
def three_class() -> ClassificationMetrics:
    # labels      0 0 0 1 1 2
    # predictions 0 1 0 1 2 2
    return compute_metrics(
        one_hot_scores([0, 1, 0, 1, 2, 2], 3), np.array([0, 0, 0, 1, 1, 2]), ["a", "b", "c"]
    )


def test_three_classes_match_hand_computation(three_class: ClassificationMetrics) -> None:
    m = three_class
    # Confusion (rows true, cols predicted):
    #        a  b  c     support
    #   a  [ 2, 1, 0 ]   3
    #   b  [ 0, 1, 1 ]   2
    #   c  [ 0, 0, 1 ]   1
    # predicted: 2  2  2
    np.testing.assert_array_equal(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 0, 1]])
    # a: P = 2/2 = 1,   R = 2/3, F1 = 2*1*(2/3) / (1 + 2/3) = 4/5
    # b: P = 1/2,       R = 1/2, F1 = 1/2
    # c: P = 1/2,       R = 1/1, F1 = 2*(1/2)*1 / (3/2) = 2/3
    expected = [
        ("a", 3, 2, 1.0, 2 / 3, 4 / 5),
        ("b", 2, 2, 1 / 2, 1 / 2, 1 / 2),
        ("c", 1, 2, 1 / 2, 1.0, 2 / 3),
    ]
    for row, (name, support, predicted, precision, recall, f1) in zip(
        m.per_class, expected, strict=True
    ):
        assert row["name"] == name
        assert row["support"] == support
        assert row["predicted"] == predicted
        assert row["precision"] == pytest.approx(precision)
        assert row["recall"] == pytest.approx(recall)
        assert row["f1"] == pytest.approx(f1)
    # top-1 = 4 correct / 6 = 2/3
    assert m.top1 == pytest.approx(2 / 3)
    # mean class accuracy = (2/3 + 1/2 + 1) / 3 = 13/18
    assert m.mean_class_accuracy == pytest.approx(13 / 18)
    # macro F1 = (4/5 + 1/2 + 2/3) / 3 = (24 + 15 + 20) / 30 / 3 = 59/90
    assert m.macro_f1 == pytest.approx(59 / 90)
    # With K = 3 "top-5" is top-3, which always contains the true class.
    assert m.top5_k == 3
    assert m.top5 == 1.0
    assert m.num_samples == 6
    assert m.class_names == ["a", "b", "c"]


def test_top5_counts_true_class_ranked_within_five() -> None:
    # 8 classes. Sample 0: true class 2 ranks 3rd (behind 7 and 0): top-1 wrong, top-5 right.
    # Sample 1: true class 1 ranks 6th (behind 7, 6, 5, 4, 3): wrong in both.
    # Sample 2: true class 4 ranks 1st: right in both.
    scores = np.array(
        [
            [0.8, 0.1, 0.7, 0.0, 0.0, 0.0, 0.0, 0.9],
            [0.0, 0.3, 0.0, 0.4, 0.5, 0.6, 0.7, 0.8],
            [0.0, 0.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0],
        ]
    )
    m = compute_metrics(scores, np.array([2, 1, 4]), [f"c{i}" for i in range(8)])
    assert m.top5_k == 5
    assert m.top1 == pytest.approx(1 / 3)
    assert m.top5 == pytest.approx(2 / 3)


def test_ties_follow_argmax_first_index() -> None:
    # All scores equal: argmax picks class 0, so only the sample labelled 0 is top-1 correct,
    # and top-5 (first five indices under the same tie rule) covers labels 0..4 but not 5.
    scores = np.zeros((3, 6))
    m = compute_metrics(scores, np.array([0, 4, 5]), list("abcdef"))
    assert m.top1 == pytest.approx(1 / 3)
    assert m.top5 == pytest.approx(2 / 3)


def test_classes_without_predictions_or_support() -> None:
    # Classes a b c d e; labels 0 0 1 2, predictions 0 3 1 1.
    #        a  b  c  d  e    support
    #   a  [ 1, 0, 0, 1, 0 ]  2
    #   b  [ 0, 1, 0, 0, 0 ]  1
    #   c  [ 0, 1, 0, 0, 0 ]  1
    #   d  [ 0, 0, 0, 0, 0 ]  0
    #   e  [ 0, 0, 0, 0, 0 ]  0
    # predicted: 1  2  0  1  0
    m = compute_metrics(one_hot_scores([0, 3, 1, 1], 5), np.array([0, 0, 1, 2]), list("abcde"))
    rows = {row["name"]: row for row in m.per_class}
    # a: P 1/1, R 1/2, F1 2/3.  b: P 1/2, R 1/1, F1 2/3.
    assert rows["a"]["f1"] == pytest.approx(2 / 3)
    assert rows["b"]["f1"] == pytest.approx(2 / 3)
    # c is never predicted: precision 0/0 -> 0, recall 0/1 = 0, F1 0; it still counts.
    assert (rows["c"]["precision"], rows["c"]["recall"], rows["c"]["f1"]) == (0.0, 0.0, 0.0)
    # d is predicted once but never occurs: precision 0/1 = 0, recall 0/0 -> 0, F1 0; counts.
    assert (rows["d"]["precision"], rows["d"]["recall"], rows["d"]["f1"]) == (0.0, 0.0, 0.0)
    # e has neither support nor predictions: all 0 and excluded from both averages.
    assert (rows["e"]["support"], rows["e"]["predicted"]) == (0, 0)
    # macro F1 over a, b, c, d = (2/3 + 2/3 + 0 + 0) / 4 = 1/3   (e excluded; /5 would be 4/15)
    assert m.macro_f1 == pytest.approx(1 / 3)
    # mean class accuracy over classes with support a, b, c = (1/2 + 1 + 0) / 3 = 1/2
    assert m.mean_class_accuracy == pytest.approx(1 / 2)
    assert m.top1 == pytest.approx(2 / 4)


def test_accepts_small_integer_label_dtypes() -> None:
    # uint8 labels must not overflow when combined with K into a flat confusion index.
    labels = np.arange(200, dtype=np.uint8) % 120
    m = compute_metrics(one_hot_scores(labels.tolist(), 120), labels, [str(i) for i in range(120)])
    assert m.top1 == 1.0
    np.testing.assert_array_equal(np.diag(m.confusion), m.confusion.sum(axis=1))


@pytest.mark.parametrize(
    ("scores", "labels", "names", "message"),
    [
        (np.zeros(3), np.array([0]), ["a"], "2-D"),
        (np.zeros((2, 3)), np.array([0, 1]), ["a", "b"], "class names"),
        (np.zeros((2, 2)), np.array([0, 1, 1]), ["a", "b"], "labels must be 1-D"),
        (np.zeros((2, 2)), np.array([[0, 1]]), ["a", "b"], "labels must be 1-D"),
        (np.zeros((2, 2)), np.array([0.0, 1.0]), ["a", "b"], "integers"),
        (np.zeros((2, 2)), np.array([0, 2]), ["a", "b"], r"0\.\.1"),
        (np.zeros((2, 2)), np.array([-1, 0]), ["a", "b"], r"0\.\.1"),
        (np.zeros((0, 2)), np.zeros(0, dtype=int), ["a", "b"], "zero samples"),
        (np.zeros((2, 0)), np.array([0, 0]), [], "at least one class"),
        (np.array([[np.nan, 0.0]]), np.array([0]), ["a", "b"], "NaN"),
        (np.array([["x", "y"]]), np.array([0]), ["a", "b"], "numeric"),
    ],
)
def test_invalid_input_raises(
    scores: np.ndarray, labels: np.ndarray, names: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compute_metrics(scores, labels, names)


def test_json_round_trip(three_class: ClassificationMetrics, tmp_path: Path) -> None:
    extra = {
        "checkpoint": tmp_path / "best.pt",
        "split": "xsub_val",
        "date": dt.datetime(2024, 5, 1, 12, 30),
        "command": ["python", "-m", "skelcam.train.evaluate"],
        "seed": np.int64(7),
    }
    path = save_json(three_class, tmp_path / "metrics.json", extra)
    data = json.loads(path.read_text())
    expected = three_class.to_json_dict()
    for key in ("top1", "top5", "mean_class_accuracy", "macro_f1", "num_samples"):
        assert key in data
    assert {key: data[key] for key in expected} == expected
    assert data["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert data["provenance"] == {
        "checkpoint": str(tmp_path / "best.pt"),
        "split": "xsub_val",
        "date": "2024-05-01T12:30:00",
        "command": ["python", "-m", "skelcam.train.evaluate"],
        "seed": 7,
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_failed_json_write_keeps_old_file_and_no_temporaries(
    three_class: ClassificationMetrics, tmp_path: Path
) -> None:
    path = save_json(three_class, tmp_path / "metrics.json", {"run": 1})
    before = path.read_bytes()
    with pytest.raises(TypeError, match="object"):
        save_json(three_class, path, {"run": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


@pytest.mark.parametrize("num_classes", [3, 120])
def test_confusion_png_is_a_real_png(num_classes: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(2 * num_classes) % num_classes
    m = compute_metrics(
        rng.normal(size=(labels.size, num_classes)),
        labels,
        [f"action {i}" for i in range(num_classes)],
    )
    path = save_confusion_png(m, tmp_path / "out" / "confusion.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    pixels = mpimg.imread(path)
    height, width = pixels.shape[:2]
    # Readable needs room: at least ~8 px per class on each axis, and never a thumbnail.
    assert min(height, width) >= max(400, 8 * num_classes)
    assert pixels.std() > 0.05  # not a blank canvas
    assert sorted(p.name for p in path.parent.iterdir()) == ["confusion.png"]


def test_print_metrics_shows_summary_and_classes(three_class: ClassificationMetrics) -> None:
    console = Console(file=io.StringIO(), width=120, record=True)
    print_metrics(console, three_class, "val [xsub]")
    text = console.export_text()
    assert "val [xsub]" in text  # the title is escaped, not parsed as markup
    assert "66.67%" in text  # top-1
    assert "72.22%" in text  # mean class accuracy 13/18
    assert "65.56%" in text  # macro F1 59/90
    assert "Top-3" in text
    for name in ("a", "b", "c"):
        assert f" {name} " in text
