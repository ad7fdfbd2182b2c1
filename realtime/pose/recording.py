"""Recorded poses: a pose backend's output for every frame of a video, saved once, replayed often.

Pose estimation is most of a live run's cost, and it does not change when only the classifier,
its window or its decision rule does. So the real-video evaluation records each (clip, backend)
pair once into a small `.npz` file and replays it through the same recognizer the live loop uses:
`PoseRecording.replay()` is a `PoseBackend` that hands out the recorded `Poses` frame by frame.

A recording's cache key is the video's content hash plus the backend's description, so a changed
clip or a differently configured backend never reuses stale poses.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.files import atomic_write
from skelcam.train.skeleton import NUM_JOINTS

from .base import PoseBackend
from .keypoints import Poses

RECORDING_FORMAT = "skelcam-poses-v1"


@dataclass(frozen=True)
class PoseRecording:
    """Every frame's `Poses` of one video, with the video's frame rate and size."""

    frames: tuple[Poses, ...]
    fps: float
    width: int
    height: int
    backend: str  # description of the backend that produced it, e.g. "mediapipe"

    def __len__(self) -> int:
        return len(self.frames)

    def replay(self) -> RecordedBackend:
        return RecordedBackend(self)

    def save(self, path: Path) -> None:
        """Write as one compressed `.npz` (all people of all frames concatenated)."""
        counts = np.array([len(p) for p in self.frames], np.int32)

        def cat(field: str, shape: tuple[int, ...]) -> np.ndarray:
            parts = [getattr(p, field) for p in self.frames]
            return np.concatenate(parts) if parts else np.zeros((0, *shape), np.float32)

        meta = {"format": RECORDING_FORMAT, "fps": self.fps, "width": self.width,
                "height": self.height, "backend": self.backend}
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, meta=np.array(json.dumps(meta)), counts=counts,
            boxes=cat("boxes", (4,)), xy=cat("xy", (NUM_JOINTS, 2)),
            scores=cat("scores", (NUM_JOINTS,)), box_scores=cat("box_scores", ()),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(buffer.getvalue()))

    @classmethod
    def load(cls, path: Path) -> PoseRecording:
        try:
            with np.load(path) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format") != RECORDING_FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}")
                counts = data["counts"]
                arrays = [data[k] for k in ("boxes", "xy", "scores", "box_scores")]
        except Exception as exc:  # noqa: BLE001 - any failure means the file is not a recording
            raise SkelcamError(f"'{path}' is not a skelcam pose recording ({exc})") from None
        edges = np.concatenate([[0], np.cumsum(counts)])
        frames = tuple(
            Poses(*(a[lo:hi] for a in arrays)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        )
        return cls(frames, float(meta["fps"]), int(meta["width"]), int(meta["height"]),
                   str(meta["backend"]))


class RecordedBackend(PoseBackend):
    """Replays a recording: the n-th call returns the n-th frame's poses.

    The recognizer calls its backend once per frame in order, exactly as during recording, so
    tracking, windows and classification see what they saw live.
    """

    name: ClassVar[str] = "recorded"

    def __init__(self, recording: PoseRecording) -> None:
        self.device = "cpu"
        self.recording = recording
        self._next = 0

    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        if self._next >= len(self.recording):
            raise IndexError("the recording has no more frames")
        poses = self.recording.frames[self._next]
        self._next += 1
        return poses

    def close(self) -> None:
        self._next = len(self.recording)


def record_video(
    backend: PoseBackend,
    video: Path,
    description: str,
    on_frame: Callable[[int], None] | None = None,
) -> PoseRecording:
    """Run `backend` over every frame of `video` (in order, as the live loop does)."""
    from skelcam.realtime.capture import open_source

    frames: list[Poses] = []
    with open_source(str(video)) as source:
        info = source.info
        for frame in source:
            frames.append(backend(frame.image))
            if on_frame is not None:
                on_frame(frame.index)
    if not frames:
        raise SkelcamError(f"video '{video}' has no frames")
    return PoseRecording(tuple(frames), info.fps, info.width, info.height, description)


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes: the recording cache keys on content, not on the file's name."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_path(cache_dir: Path, video: Path, description: str) -> Path:
    """Where the recording of `video` by the backend `description` is cached."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in description)
    return cache_dir / safe / f"{file_digest(video)[:20]}.npz"


def backend_description(name: str, options: dict[str, object]) -> str:
    """A stable text for a backend and the options that change its output.

    A model file is named by its file name and a prefix of its content hash, so another file
    under the same name never reuses the first one's recordings.
    """
    parts: Sequence[str] = [name] + [
        f"{k}={_model_id(v) if k.endswith('model') else v}"
        for k, v in sorted(options.items()) if v is not None
    ]
    return "-".join(parts)


def _model_id(value: object) -> str:
    path = Path(str(value))
    return f"{path.name}@{file_digest(path)[:8]}" if path.is_file() else path.name
