"""Presenting evaluation metrics: a terminal table, a JSON record and a confusion-matrix PNG.

Both files are written atomically (a temporary file in the target directory, then `os.replace`),
so an interrupted run leaves either the previous file or the complete new one, never a truncated
file that looks like a finished result.

The PNG is drawn on a bare `Figure` with an explicit Agg canvas instead of `pyplot`: no display is
needed (training runs on headless machines) and no global backend state is touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from skelcam.train.files import atomic_write
from skelcam.train.metrics import ClassificationMetrics

# Above this many classes the per-cell percentages are unreadable, so only colour is drawn.
MAX_CLASSES_WITH_CELL_TEXT = 30


def _percent(fraction: float) -> str:
    return f"{100.0 * fraction:.2f}%"


def print_metrics(console: Console, metrics: ClassificationMetrics, title: str) -> None:
    """Print a summary table and a per-class table to `console`.

    Classes with neither samples nor predictions show "-" instead of 0 %, because they are
    excluded from the averages (see `train.metrics`) and a 0 would suggest a failure.
    """
    summary = Table(title=escape(title), show_header=False)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row("Top-1", _percent(metrics.top1))
    summary.add_row(f"Top-{metrics.top5_k}", _percent(metrics.top5))
    summary.add_row("Mean class accuracy", _percent(metrics.mean_class_accuracy))
    summary.add_row("Macro F1", _percent(metrics.macro_f1))
    summary.add_row("Samples (N)", str(metrics.num_samples))
    console.print(summary)

    per_class = Table(title=f"{escape(title)}: per class")
    per_class.add_column("#", justify="right")
    per_class.add_column("class")
    for column in ("support", "precision", "recall", "F1"):
        per_class.add_column(column, justify="right")
    for index, row in enumerate(metrics.per_class):
        if row["support"] == 0 and row["predicted"] == 0:
            precision = recall = f1 = "-"
        else:
            precision, recall, f1 = (_percent(row[key]) for key in ("precision", "recall", "f1"))
        # Text() rather than str: a class name such as "[x]" must not be parsed as rich markup.
        per_class.add_row(str(index), Text(row["name"]), str(row["support"]), precision, recall, f1)
    console.print(per_class)


def _json_default(value: Any) -> Any:
    """Encode the non-JSON types that provenance typically holds (paths, dates, numpy scalars)."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON: {value!r}")


def save_json(metrics: ClassificationMetrics, path: str | Path, extra: Mapping[str, Any]) -> Path:
    """Write the metrics plus provenance to `path` as JSON, atomically; return the path.

    The file holds every key of `metrics.to_json_dict()` at the top level and `extra` (checkpoint,
    data path, split, date, command line, ...) under "provenance", so a result can always be
    traced back to what produced it. Raises TypeError, leaving any old file intact, if `extra`
    holds something JSON cannot represent.
    """
    return save_record(path, {**metrics.to_json_dict(), "provenance": dict(extra)})


def save_record(path: str | Path, record: Mapping[str, Any]) -> Path:
    """Write any JSON record (paths, dates and numpy scalars allowed) to `path`, atomically."""
    path = Path(path)
    # Encode before opening anything, so a bad value never even creates a temporary file.
    payload = json.dumps(dict(record), indent=2, default=_json_default, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: handle.write((payload + "\n").encode("utf-8")))
    return path


def save_confusion_png(
    metrics: ClassificationMetrics, path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Draw the row-normalised confusion matrix to a PNG at `path`, atomically; return the path.

    Rows are true classes and sum to 100 %, so the diagonal reads directly as per-class recall.
    Cells show percentages when K <= 30. Beyond that (NTU120) cells carry colour only, and the
    figure grows with K (about 0.3 inch per class) so every class name stays legible.
    """
    path = Path(path)
    confusion = metrics.confusion.astype(np.float64)
    support = confusion.sum(axis=1, keepdims=True)
    normalised = np.divide(confusion, support, out=np.zeros_like(confusion), where=support > 0)
    num_classes = len(metrics.class_names)

    # ~0.3 inch (30 px at 100 dpi) per class leaves room for an 8 pt name on every row and column
    # at NTU120's 120 classes; headings grow with the figure so they stay visible when zoomed out.
    side = max(6.0, 0.3 * num_classes + 3.0)
    tick_size = 9.0 if num_classes <= MAX_CLASSES_WITH_CELL_TEXT else 8.0
    heading_size = float(np.clip(side * 1.5, 12.0, 28.0))
    figure = Figure(figsize=(side + 1.5, side), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    image = axes.imshow(normalised * 100.0, cmap="Blues", vmin=0.0, vmax=100.0)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.8)
    colorbar.set_label("% of true class", fontsize=heading_size * 0.8)
    colorbar.ax.tick_params(labelsize=heading_size * 0.7)

    ticks = np.arange(num_classes)
    axes.set_xticks(ticks, metrics.class_names, rotation=90, fontsize=tick_size)
    axes.set_yticks(ticks, metrics.class_names, fontsize=tick_size)
    axes.set_xlabel("Predicted class", fontsize=heading_size * 0.8)
    axes.set_ylabel("True class", fontsize=heading_size * 0.8)
    axes.set_title(
        f"{title}\ntop-1 {_percent(metrics.top1)}, "
        f"mean class acc {_percent(metrics.mean_class_accuracy)}, N={metrics.num_samples}",
        fontsize=heading_size,
    )

    if num_classes <= MAX_CLASSES_WITH_CELL_TEXT:
        cell_size = min(9.0, max(6.0, 210.0 / num_classes))
        for true_class, predicted_class in zip(*np.nonzero(confusion), strict=True):
            value = normalised[true_class, predicted_class] * 100.0
            axes.text(
                predicted_class,
                true_class,
                f"{value:.0f}",
                ha="center",
                va="center",
                fontsize=cell_size,
                color="white" if value > 50.0 else "black",
            )

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda handle: figure.savefig(handle, format="png", dpi=100))
    return path
