"""Overlay annotators for the live view and the saved video.

Each annotator is a small class with one `annotate(frame, ...) -> frame` method that draws in place
on a BGR uint8 frame (the style of Roboflow's `supervision`), so the live loop composes them in
whatever order it likes. Every size (line width, joint radius, font, padding) is derived from the
frame height, so the overlay reads the same at 640x480 and at 1920x1080. Text always sits on a
dark translucent panel so it stays readable on any background.

Drawn with cv2 directly rather than with `supervision`: that library would add a dependency tree
for what are a few cv2 calls here, and it has neither a top-k probability panel nor a timing HUD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from skelcam.train.skeleton import EDGES

Colour = tuple[int, int, int]

# Tableau 10, as BGR: distinct hues that stay visible on video. A track keeps its colour for life.
PALETTE: tuple[Colour, ...] = (
    (167, 121, 78),
    (43, 142, 242),
    (89, 87, 225),
    (178, 183, 118),
    (79, 161, 89),
    (72, 201, 237),
    (161, 122, 176),
    (167, 157, 255),
    (95, 117, 156),
    (172, 176, 186),
)
WHITE: Colour = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX
# The frame height at which the sizes below are used as written; other heights scale linearly.
_REFERENCE_HEIGHT = 720


def track_colour(track_id: int) -> Colour:
    """The palette colour of a track, fixed by its ID."""
    return PALETTE[int(track_id) % len(PALETTE)]


@dataclass(frozen=True)
class _Sizes:
    """Pixel sizes for one frame height."""

    line: int
    radius: int
    font_scale: float
    text_thickness: int
    pad: int
    text_height: int


@lru_cache(maxsize=8)
def _sizes(height: int) -> _Sizes:
    s = height / _REFERENCE_HEIGHT
    font_scale = max(0.45, 0.65 * s)
    thickness = max(1, round(1.5 * s))
    (_, text_height), _ = cv2.getTextSize("Ag", FONT, font_scale, thickness)
    line = max(2, round(2.5 * s))
    return _Sizes(line, line + 1, font_scale, thickness, max(3, round(6 * s)), text_height)


def _text_width(text: str, sizes: _Sizes) -> int:
    return cv2.getTextSize(text, FONT, sizes.font_scale, sizes.text_thickness)[0][0]


@lru_cache(maxsize=1024)
def _fit(text: str, max_width: int, sizes: _Sizes) -> str:
    """`text`, cut and ended with '..' if needed to fit `max_width` pixels (Hershey has no '…')."""
    if _text_width(text, sizes) <= max_width:
        return text
    for end in range(len(text) - 1, 0, -1):
        short = text[:end].rstrip() + ".."
        if _text_width(short, sizes) <= max_width:
            return short
    return ""


def _shade(frame: np.ndarray, x0: int, y0: int, x1: int, y1: int, alpha: float = 0.6) -> None:
    """Darken a rectangle (clipped to the frame) in place: a translucent panel behind text."""
    h, w = frame.shape[:2]
    x0, x1 = max(0, x0), min(w, x1)
    y0, y1 = max(0, y0), min(h, y1)
    if x1 > x0 and y1 > y0:
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - alpha)).astype(np.uint8)


def _put_text(
    frame: np.ndarray, text: str, x: int, baseline: int, sizes: _Sizes, colour: Colour = WHITE
) -> None:
    cv2.putText(
        frame,
        text,
        (x, baseline),
        FONT,
        sizes.font_scale,
        colour,
        sizes.text_thickness,
        cv2.LINE_AA,
    )


_Rect = tuple[int, int, int, int]


def _overlaps(a: _Rect, b: _Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _place_beside(
    box: np.ndarray, width: int, height: int, shape: tuple[int, ...], gap: int, taken: list[_Rect]
) -> tuple[int, int]:
    """Top-left corner for a `width` x `height` panel beside `box`, inside the frame.

    Tries the right of the box, then the left, starting level with the box top and sliding down
    past panels already `taken`: people who hug stand close, and overlapping panels are unreadable.
    When nothing is free the panel goes right of the box (or against the frame edge) anyway.
    """
    frame_h, frame_w = shape[:2]
    x0, y0, x1, _ = box.tolist()
    top = min(max(round(y0), 0), max(frame_h - height, 0))
    sides = [round(x1) + gap, round(x0) - gap - width]
    fits = [x for x in sides if 0 <= x <= frame_w - width]
    for x in fits:
        y = top
        while y + height <= frame_h:
            hit = next((r for r in taken if _overlaps((x, y, x + width, y + height), r)), None)
            if hit is None:
                return x, y
            y = hit[3] + gap
    return (fits[0] if fits else max(frame_w - width, 0)), top


def _bar_height(sizes: _Sizes) -> int:
    return max(2, round(sizes.text_height / 3))


def _bar_row_height(sizes: _Sizes) -> int:
    """Height of one top-k row: a line of text, a gap, a bar and a gap."""
    return sizes.text_height + _bar_height(sizes) + 2 * sizes.pad


def _ids(track_ids: Sequence[int] | np.ndarray | None, n: int) -> list[int]:
    """Track IDs for colours; without them persons are coloured by their order."""
    return list(range(n)) if track_ids is None else [int(t) for t in track_ids]


class SkeletonAnnotator:
    """COCO-17 skeletons, one palette colour per track; joints scored below `min_score` are
    left out, together with their bones, because a guessed joint drawn confidently misleads."""

    def __init__(self, min_score: float = 0.3) -> None:
        self.min_score = min_score

    def annotate(
        self,
        frame: np.ndarray,
        xy: np.ndarray,
        scores: np.ndarray,
        track_ids: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Draw persons' keypoints xy [N, 17, 2] (pixels) with scores [N, 17] onto `frame`."""
        sizes = _sizes(frame.shape[0])
        xy = np.asarray(xy, dtype=np.float64).reshape(-1, 17, 2)
        shown = (np.asarray(scores).reshape(-1, 17) >= self.min_score) & np.isfinite(xy).all(-1)
        points = np.rint(np.where(np.isfinite(xy), xy, 0.0)).astype(np.int64)
        for person, track_id in enumerate(_ids(track_ids, len(xy))):
            colour = track_colour(track_id)
            pts, ok = points[person], shown[person]
            for a, b in EDGES:
                if ok[a] and ok[b]:
                    cv2.line(
                        frame, pts[a].tolist(), pts[b].tolist(), colour, sizes.line, cv2.LINE_AA
                    )
            for j in np.flatnonzero(ok):
                cv2.circle(frame, pts[j].tolist(), sizes.radius, colour, -1, cv2.LINE_AA)
                cv2.circle(frame, pts[j].tolist(), sizes.radius, WHITE, 1, cv2.LINE_AA)
        return frame


class BoxAnnotator:
    """Person boxes in the track's colour, labelled 'ID <n>' at the top-left corner."""

    def annotate(
        self, frame: np.ndarray, boxes: np.ndarray, track_ids: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """Draw boxes [N, 4] (xyxy pixels) with their track IDs [N] onto `frame`."""
        sizes = _sizes(frame.shape[0])
        h, w = frame.shape[:2]
        boxes = np.rint(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)).astype(np.int64)
        for box, track_id in zip(boxes, _ids(track_ids, len(boxes)), strict=True):
            x0, y0, x1, y1 = box.tolist()
            cv2.rectangle(frame, (x0, y0), (x1, y1), track_colour(track_id), sizes.line)
            label = f"ID {track_id}"
            label_w = _text_width(label, sizes) + 2 * sizes.pad
            label_h = sizes.text_height + 2 * sizes.pad
            # Above the box when there is room, else just inside it; always inside the frame.
            lx = min(max(x0, 0), max(w - label_w, 0))
            ly = y0 - label_h if y0 - label_h >= 0 else max(y0, 0)
            ly = min(ly, max(h - label_h, 0))
            _shade(frame, lx, ly, lx + label_w, ly + label_h, alpha=0.7)
            _put_text(frame, label, lx + sizes.pad, ly + sizes.pad + sizes.text_height, sizes)
        return frame


NO_KNOWN_ACTION_TEXT = "no known action"
DECISION_GREY: Colour = (170, 170, 170)


class TopKAnnotator:
    """Beside each person's box, the decision shown for them and their `k` most likely actions
    with probability bars.

    The first row is the decision (`realtime.decision.label_for`): the action's name in the
    person's colour, or "no known action" in grey when nothing reaches the model's threshold; the
    bars below stay, so a user sees what the model was unsure between. The panel goes to the
    right of the box, or to the left, clear of the other panels where the frame allows, and
    always inside the frame. Names too long for the panel end in '..'.
    """

    def __init__(self, class_names: Sequence[str], k: int = 5) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.class_names = list(class_names)
        self.k = min(k, len(self.class_names))

    def annotate(
        self,
        frame: np.ndarray,
        boxes: np.ndarray,
        probabilities: np.ndarray,
        track_ids: Sequence[int] | np.ndarray | None = None,
        labels: Sequence[int | None] | None = None,
    ) -> np.ndarray:
        """Draw the top-k of probabilities [N, num_classes] beside boxes [N, 4] (xyxy pixels).

        Pass only the persons that have a prediction; `track_ids` colours the bars like the
        person's skeleton; `labels` (class index or None per person) adds the decision row.
        """
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        probabilities = np.asarray(probabilities, dtype=np.float64)
        if probabilities.shape != (len(boxes), len(self.class_names)):
            raise ValueError(
                f"probabilities of shape {probabilities.shape} for {len(boxes)} boxes and "
                f"{len(self.class_names)} classes"
            )
        sizes = _sizes(frame.shape[0])
        width = min(round(0.4 * frame.shape[0]), frame.shape[1])
        header = 0 if labels is None else sizes.text_height + 2 * sizes.pad
        height = self.k * _bar_row_height(sizes) + sizes.pad + header
        decisions = [None] * len(boxes) if labels is None else list(labels)
        if len(decisions) != len(boxes):
            raise ValueError(f"{len(decisions)} labels for {len(boxes)} boxes")
        taken: list[_Rect] = []
        for box, probs, track_id, label in zip(
            boxes, probabilities, _ids(track_ids, len(boxes)), decisions, strict=True
        ):
            x, y = _place_beside(box, width, height, frame.shape, sizes.pad, taken)
            taken.append((x, y, x + width, y + height))
            _shade(frame, x, y, x + width, y + height, alpha=0.65)
            colour = track_colour(track_id)
            if header:
                text, text_colour = (NO_KNOWN_ACTION_TEXT, DECISION_GREY) if label is None \
                    else (self.class_names[label], colour)
                _put_text(frame, _fit(text, width - 2 * sizes.pad, sizes), x + sizes.pad,
                          y + sizes.pad + sizes.text_height, sizes, text_colour)
            self._rows(frame, (x, y + header, x + width, y + height), probs, colour)
        return frame

    def _rows(self, frame: np.ndarray, panel: _Rect, probs: np.ndarray, colour: Colour) -> None:
        """One row per top-k class: name and percentage, with a bar below them."""
        sizes = _sizes(frame.shape[0])
        pad, text_h, bar_h = sizes.pad, sizes.text_height, _bar_height(sizes)
        left, right = panel[0] + pad, panel[2] - pad
        for row, c in enumerate(np.argsort(-probs, kind="stable")[: self.k]):
            p = float(np.clip(probs[c], 0.0, 1.0))
            percent = f"{100 * p:.0f}%"
            percent_w = _text_width(percent, sizes)
            baseline = panel[1] + pad + row * _bar_row_height(sizes) + text_h
            name = _fit(self.class_names[c], max(right - left - percent_w - pad, 0), sizes)
            _put_text(frame, name, left, baseline, sizes)
            _put_text(frame, percent, right - percent_w, baseline, sizes)
            bar_y = baseline + pad
            cv2.rectangle(frame, (left, bar_y), (right, bar_y + bar_h), (80, 80, 80), -1)
            if p > 0:
                fill = left + round((right - left) * p)
                cv2.rectangle(frame, (left, bar_y), (fill, bar_y + bar_h), colour, -1)


class HudAnnotator:
    """Top-left panel: frames per second, milliseconds per pipeline stage, backend and device.

    The backend and device are fixed for a run, so they are given once here.
    """

    def __init__(self, backend: str, device: str) -> None:
        self.backend = backend
        self.device = device

    def annotate(self, frame: np.ndarray, fps: float, stage_ms: Mapping[str, float]) -> np.ndarray:
        """Draw the HUD; `stage_ms` maps stage names ('pose', 'classify', ...) to milliseconds."""
        sizes = _sizes(frame.shape[0])
        h, w = frame.shape[:2]
        pad, line_h = sizes.pad, sizes.text_height + sizes.pad
        max_w = w // 2 - 2 * pad
        rows: list[tuple[str, str]] = [("FPS", f"{fps:.1f}")]
        rows += [(name, f"{ms:.1f} ms") for name, ms in stage_ms.items()]
        footer = [
            _fit(f"backend {self.backend}", max_w, sizes),
            _fit(f"device {self.device}", max_w, sizes),
        ]

        label_w = max(_text_width(name, sizes) for name, _ in rows)
        value_w = max(_text_width(value, sizes) for _, value in rows)
        table_w = label_w + 2 * pad + value_w
        width = 2 * pad + max([table_w, *(_text_width(t, sizes) for t in footer)])
        height = pad + line_h * (len(rows) + len(footer))
        _shade(frame, 0, 0, min(width, w), min(height, h), alpha=0.6)

        baseline = pad + sizes.text_height
        for name, value in rows:
            _put_text(frame, _fit(name, max_w, sizes), pad, baseline, sizes)
            _put_text(frame, value, pad + table_w - _text_width(value, sizes), baseline, sizes)
            baseline += line_h
        for text in footer:
            _put_text(frame, text, pad, baseline, sizes, colour=(200, 200, 200))
            baseline += line_h
        return frame


NOTICE_RED: Colour = (40, 40, 200)


class NoticeAnnotator:
    """A one-line banner at the top centre, on a red panel, for the state of the source
    ("stream lost, reconnecting (2)"): a frozen picture must not pass for a quiet scene."""

    def annotate(self, frame: np.ndarray, text: str) -> np.ndarray:
        """Draw `text` (cut to fit the frame) centred at the top of `frame`."""
        sizes = _sizes(frame.shape[0])
        w = frame.shape[1]
        text = _fit(text, w - 4 * sizes.pad, sizes)
        width = _text_width(text, sizes) + 2 * sizes.pad
        height = sizes.text_height + 3 * sizes.pad
        x0 = max((w - width) // 2, 0)
        y0 = sizes.pad
        roi = frame[y0:y0 + height, x0:x0 + width]
        roi[:] = (0.35 * roi + 0.65 * np.array(NOTICE_RED)).astype(np.uint8)
        _put_text(frame, text, x0 + sizes.pad, y0 + sizes.pad + sizes.text_height, sizes)
        return frame
