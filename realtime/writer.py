"""Save the annotated frames to a video file on a background thread.

Encoding a 1080p frame takes 10-15 ms, a large share of a 33 ms frame budget, so it runs on its
own thread behind a bounded queue: `write` returns at once while the encoder keeps up and blocks
when it falls behind, so a file run never drops a frame and memory stays bounded.

The file is only playable after `cv2.VideoWriter.release()` has written the container's index
(the mp4 `moov` atom), so `close` always runs it: on normal exit, on exceptions, on Ctrl-C and,
inside `realtime.signals.graceful_interrupts`, on SIGTERM.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from realtime.signals import deferred_interrupts
from train.errors import SkelcamError

# Codecs that the pip OpenCV wheels' FFmpeg can encode and common players decode. H.264 ('avc1')
# is not in those wheels, so .mp4 uses MPEG-4 part 2. For .avi, XVID is the same codec: files
# about 4x smaller than MJPG at the same speed.
CODECS: dict[str, str] = {".avi": "XVID", ".mp4": "mp4v"}

# How often a thread blocked on the queue wakes up to check that its partner is still alive.
_POLL_S = 0.1


class _End:
    """Marks the end of the queue, so the writer thread can tell it from a frame."""


_END = _End()


def check_output_path(path: str | Path) -> Path:
    """Check that a video can be saved at `path`, before any work starts; return it as a Path.

    A run that processes a whole video and then fails to save it wastes the user's time, so this
    checks everything up front, finally by opening a real `cv2.VideoWriter` on a scratch file
    next to the target (the target itself is left alone, in case the run fails before writing).
    """
    path = Path(path)
    where = f"cannot save video to '{path}'"
    if path.is_dir():
        raise SkelcamError(f"{where}: it is a directory; give a file name such as out.mp4")
    suffix = path.suffix.lower()
    if suffix not in CODECS:
        supported = ", ".join(CODECS)
        raise SkelcamError(
            f"{where}: unsupported extension '{path.suffix}' (supported: {supported})"
        )
    parent = path.parent
    if not parent.is_dir():
        raise SkelcamError(f"{where}: directory '{parent}' does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SkelcamError(f"{where}: directory '{parent}' is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise SkelcamError(f"{where}: the existing file is not writable")
    probe = parent / f".{path.stem}.skelcam-check{suffix}"
    try:
        writer = cv2.VideoWriter(str(probe), cv2.VideoWriter_fourcc(*CODECS[suffix]), 30, (64, 64))
        opened = writer.isOpened()
        writer.release()
    finally:
        probe.unlink(missing_ok=True)
    if not opened:
        raise SkelcamError(f"{where}: OpenCV cannot create a '{CODECS[suffix]}' video there")
    return path


class VideoWriter:
    """A `cv2.VideoWriter` fed through a bounded queue by a writer thread.

    Every frame must be exactly `size` (width, height), BGR uint8. A mismatch raises ValueError
    instead of being resized: `cv2.VideoWriter` silently skips frames of the wrong size (leaving
    a short or empty file and no error), and resizing would hide a pipeline bug and distort the
    aspect ratio. The size comes from the source, so a mismatch is a bug, not user input.
    """

    def __init__(
        self, path: str | Path, fps: float, size: tuple[int, int], *, queue_size: int = 32
    ) -> None:
        """Open the output file (after `check_output_path`) and start the writer thread."""
        width, height = size
        if fps <= 0 or width <= 0 or height <= 0:
            raise ValueError(f"fps and size must be positive, got fps={fps}, size={size}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.path = check_output_path(path)
        self.fps = fps
        self.size = (width, height)
        fourcc = cv2.VideoWriter_fourcc(*CODECS[self.path.suffix.lower()])
        self._writer = cv2.VideoWriter(str(self.path), fourcc, fps, self.size)
        if not self._writer.isOpened():
            raise SkelcamError(f"cannot save video to '{self.path}': OpenCV cannot open it")
        self._queue: queue.Queue[np.ndarray | _End] = queue.Queue(maxsize=queue_size)
        self._error: BaseException | None = None
        self._error_reported = False
        self._closed = False
        self._frames_written = 0
        self._write_total_ms = 0.0
        self._thread = threading.Thread(target=self._run, name="skelcam-writer", daemon=True)
        self._thread.start()

    @property
    def frames_written(self) -> int:
        """Frames the encoder has finished; equals the frames passed to `write` after `close`."""
        return self._frames_written

    @property
    def write_ms(self) -> float:
        """Mean encode time per frame so far, for the HUD and the benchmark."""
        return self._write_total_ms / self._frames_written if self._frames_written else 0.0

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, image: np.ndarray) -> None:
        """Queue a copy of `image` for encoding; blocks while the queue is full.

        The copy lets the caller keep drawing on its buffer; it costs about 1 ms for a 1080p
        frame against 10-15 ms of encoding.
        """
        if self._closed:
            raise ValueError(f"write to closed VideoWriter '{self.path}'")
        width, height = self.size
        if image.shape != (height, width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"frame of shape {image.shape} and dtype {image.dtype} does not match the video "
                f"'{self.path}' ({height}, {width}, 3) uint8"
            )
        self._put(image.copy())

    def close(self) -> None:
        """Encode every queued frame, finalize the file and join the thread. Safe to call twice.

        Signals are held back meanwhile (`deferred_interrupts`), so pressing Ctrl-C again while
        an interrupted run is saving does not leave a file without its index.
        """
        if self._closed:
            return
        self._closed = True
        with deferred_interrupts():
            self._put(_END)
            self._thread.join()
        if self._error is not None and not self._error_reported:
            self._error_reported = True
            raise self._error

    def _put(self, item: np.ndarray | _End) -> None:
        """Block until the queue has room; fail instead of waiting on a dead writer thread."""
        while self._thread.is_alive():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue
        if isinstance(item, _End):
            return
        if self._error is not None:
            self._error_reported = True
            raise self._error
        raise RuntimeError(f"the writer thread of '{self.path}' has stopped")

    def _run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _End):
                    return
                start = time.perf_counter()
                self._writer.write(item)
                self._write_total_ms += (time.perf_counter() - start) * 1000.0
                self._frames_written += 1
        except BaseException as error:  # handed to the producer, which re-raises it
            self._error = error
        finally:
            self._writer.release()
