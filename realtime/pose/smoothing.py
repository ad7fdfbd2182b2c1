"""Keypoint smoothing with the One Euro filter, one filter per tracked person.

Pose models place each joint anew in every frame, so a still person's joints jitter by a few
pixels, which the overlay shows as a trembling skeleton. A fixed low-pass filter would steady it
but make a fast punch trail behind. The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) adapts
its cutoff frequency to the speed: slow joints are smoothed hard (cutoff `min_cutoff`), fast
ones hardly at all (the cutoff rises by `beta` per unit of speed), so jitter goes without lag.

Written here (about 40 lines) rather than taken from a package: the PyPI implementations filter
one scalar per object in pure Python, and a frame holds people x 17 joints x 2 coordinates.
Speed is measured in person heights per second (the box height), so one setting works for a
person near the camera and one far away, at any frame size. Filters are kept per track ID, so
that each person's history stays with that person; a joint that goes missing (score below
`min_score`) restarts its filter when it comes back, rather than sliding in from where it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The exponential-smoothing weight of a first-order low-pass at `cutoff` Hz over `dt` s."""
    tau = 1.0 / (2 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


# The backends whose joints are filtered unless `--no-smooth` says otherwise, chosen on the
# real-video dev set (66 clips, README "Smoothing"): YOLO places every joint anew in each frame
# and jitters 1.7x more than BlazePose; with the filter the shipped Penn model decides 53/66
# clips right on YOLO's joints instead of 51 (the previous one 51 instead of 49). BlazePose's own
# landmark tracking already filters its joints, and a second filter lags them: the previous
# model got 49/66 with it instead of 53. rtm and mmpose could not be measured here.
SMOOTH_BY_DEFAULT = frozenset({"yolo"})


def smoothing_wanted(backend: str, asked: bool | None) -> bool:
    """Whether this pose backend's joints pass through the One Euro filter: as the user asked
    (`--smooth` / `--no-smooth`), else the backend's default. `skelcam` and the evaluations that
    replay it decide through this one function, so that they run the same joints."""
    return backend in SMOOTH_BY_DEFAULT if asked is None else asked


@dataclass
class _State:
    xy: np.ndarray  # [17, 2] last filtered position
    speed: np.ndarray  # [17, 2] last filtered velocity, heights per second
    frame: int


class KeypointSmoother:
    """One Euro filters over each track's 17 joints, fed once per frame with the tracker's IDs."""

    def __init__(
        self,
        fps: float,
        min_cutoff: float = 1.0,
        beta: float = 10.0,
        d_cutoff: float = 1.0,
        min_score: float = 0.05,
    ) -> None:
        """Args:
        fps: the source's frame rate (frame indices are turned into seconds with it).
        min_cutoff: cutoff in Hz for a still joint; lower = steadier, more lag when slow.
        beta: how fast the cutoff rises with speed (Hz per person height per second).
        d_cutoff: cutoff in Hz of the speed estimate itself.
        min_score: joints scored below this are not filtered (and restart their filter).
        """
        self.fps = fps
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.min_score = min_score
        self._states: dict[int, _State] = {}

    def __call__(
        self, track_ids: np.ndarray, xy: np.ndarray, scores: np.ndarray, boxes: np.ndarray,
        frame: int,
    ) -> np.ndarray:  # fmt: skip
        """The filtered joints [N, 17, 2] of the N people of one frame (same order as `xy`)."""
        out = xy.astype(np.float32, copy=True)
        for i, track in enumerate(int(t) for t in track_ids):
            height = max(float(boxes[i, 3] - boxes[i, 1]), 1.0)
            seen = scores[i] >= self.min_score
            state = self._states.get(track)
            if state is None or frame <= state.frame:
                self._states[track] = _State(out[i].copy(), np.zeros_like(out[i]), frame)
                continue
            dt = (frame - state.frame) / self.fps
            speed = (out[i] - state.xy) / (height * dt)
            a_speed = smoothing_factor(self.d_cutoff, dt)
            speed = a_speed * speed + (1 - a_speed) * state.speed
            cutoff = self.min_cutoff + self.beta * np.abs(speed)
            a = smoothing_factor(cutoff, dt)
            filtered = a * out[i] + (1 - a) * state.xy
            # missing joints pass through unfiltered and restart from their next position
            out[i] = np.where(seen[:, None], filtered, out[i])
            speed = np.where(seen[:, None], speed, 0.0)
            self._states[track] = _State(out[i].copy(), speed.astype(np.float32), frame)
        return out

    def drop(self, track_ids: list[int]) -> None:
        """Forget tracks the tracker dropped."""
        for track in track_ids:
            self._states.pop(track, None)
