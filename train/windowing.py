"""Which frames make up the model's fixed-length window: the time half of preprocessing.

Training, evaluation, export and the live loop all choose frames with these functions; the other
half, how the chosen frames become the model's input features, is `train.preprocess`. This half is
numpy only, so that the live loop, which runs the model in ONNX Runtime, never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# The frame rate a model's window is counted in: Penn Action, NTU and the Kinect sets are 30
# frames/s, so a 48-frame window is 1.6 s. The live loop spans the same seconds at any rate.
DATASET_FPS = 30.0


def resample_indices(
    num_frames: int,
    window: int,
    rng: np.random.Generator | None = None,
    min_crop: float = 1.0,
) -> np.ndarray:
    """Indices of `window` frames spread evenly over a clip of `num_frames` frames.

    Without `rng` the whole clip is used and frames sit at the centre of equal segments, which is
    deterministic (evaluation, the live loop). With `rng` a random segment covering at least
    `min_crop` of the clip is chosen and each frame is drawn at random inside its sub-segment
    (PYSKL's UniformSampleFrames): the model then sees each action at many speeds, which is what a
    live window of fixed duration delivers.
    """
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    start, length = 0.0, float(num_frames)
    if rng is not None and min_crop < 1.0:
        length = num_frames * rng.uniform(min_crop, 1.0)
        start = rng.uniform(0.0, num_frames - length)
    edges = start + length * np.arange(window + 1) / window
    # Centres of the segments for a deterministic window, a random point in each when training.
    centres = (edges[:-1] + edges[1:]) / 2
    positions = centres if rng is None else rng.uniform(edges[:-1], edges[1:])
    return np.clip(np.floor(positions), 0, num_frames - 1).astype(np.int64)


def checked_spans(spans: Sequence[float]) -> tuple[float, ...]:
    """Time spans as a tuple of floats; ValueError unless there is one or more, all positive."""
    spans = tuple(float(span) for span in spans)
    if not spans or min(spans) <= 0:
        raise ValueError("spans must be positive multiples of the window")
    return spans


def span_indices(
    base_frames: int, window: int, spans: Sequence[float]
) -> tuple[int, list[np.ndarray]]:
    """Frames for classifying one buffer over several time spans: (buffer length, indices).

    The live buffer holds `base_frames` frames for a span of 1 (the window's own 1.6 s at the
    source's rate); a span of 2 looks twice as far back and reads every other frame, which the
    model sees as the action done twice as fast (training covers 0.5x to 2x). Averaging spans
    helps actions slower than 1.6 s (a golf swing, a snatch, slow-motion files), whose window of
    one span holds only part of the movement. Each span's indices are `resample_indices` of its
    own length, counted back from the newest frame of a buffer of the longest span's length.
    """
    lengths = [max(2, round(span * base_frames)) for span in checked_spans(spans)]
    total = max(lengths)
    return total, [total - n + resample_indices(n, window) for n in lengths]


def live_window_indices(
    num_frames: int,
    window: int,
    rng: np.random.Generator,
    speed: float = 1.0,
    filled: int | None = None,
    loop: bool = False,
) -> np.ndarray:
    """Indices of a training window sampled the way the live buffer sees time.

    Live, a window always spans `window` frames of the dataset's rate (1.6 s for 48 frames at
    30 fps), whatever the clip's length, and at the start of a track it is only partly filled
    and left-padded with the first frame (`realtime.window.WindowBuffer.batch`). This draws
    such a window from a clip of `num_frames` frames: `speed` source frames per window frame
    (an action done faster or slower, or a slow-motion file), only the last `filled` frames
    taken from the clip, and a random start. When the clip is shorter than that stretch, the
    window either holds the clip's first and last poses (someone standing before and after a
    swing) or, with `loop`, runs the clip forwards and backwards (a periodic action such as jumping
    jacks that goes on longer than the clip).
    """
    if num_frames < 1:
        raise ValueError("a clip needs at least one frame")
    filled = window if filled is None else int(np.clip(filled, 1, window))
    steps = speed * (np.arange(filled) + rng.uniform(0.0, 1.0))
    if loop and num_frames > 1 and filled * speed > num_frames:
        # Reflect at both ends: frame 0, 1, .., n-1, n-2, .., 1, 0, 1, ... (period 2(n-1)).
        period = 2 * (num_frames - 1)
        positions = (rng.uniform(0.0, period) + steps) % period
        positions = np.where(positions > num_frames - 1, period - positions, positions)
    else:
        lo, hi = sorted((0.0, num_frames - filled * speed))
        positions = rng.uniform(lo, hi) + steps
    idx = np.clip(np.floor(positions), 0, num_frames - 1).astype(np.int64)
    return np.concatenate([np.full(window - filled, idx[0], np.int64), idx])


def sample_window(
    keypoints: np.ndarray,
    scores: np.ndarray,
    window: int,
    rng: np.random.Generator | None = None,
    min_crop: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Resample persons' keypoints [M, T, V, 2] and scores [M, T, V] to `window` frames."""
    idx = resample_indices(keypoints.shape[1], window, rng, min_crop)
    return keypoints[:, idx].astype(np.float32), scores[:, idx].astype(np.float32)


def select_persons(
    keypoints: np.ndarray, scores: np.ndarray, num_persons: int
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the `num_persons` most confident persons, padding with empty ones.

    Datasets list persons in arbitrary order and sometimes more than the model takes; the person
    with the highest total score becomes slot 0, whose body defines the normalization.
    """
    order = np.argsort(-scores.reshape(scores.shape[0], -1).sum(axis=1), kind="stable")
    order = order[:num_persons]
    kp = np.zeros((num_persons, *keypoints.shape[1:]), np.float32)
    sc = np.zeros((num_persons, *scores.shape[1:]), np.float32)
    kp[: len(order)] = keypoints[order]
    sc[: len(order)] = scores[order]
    return kp, sc
