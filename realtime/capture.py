"""Frames from a webcam or a video file, read on a background thread.

Decoding a 1080p frame costs several milliseconds; doing it on its own thread lets the pipeline
detect and classify one frame while the next one is being read. The two kinds of source want
opposite policies, so `FrameSource` has two modes:

* camera: the world does not wait for us. Only the newest frame is kept and older unconsumed ones
  are dropped (and counted), so a slow pipeline shows a lower frame rate but never a growing lag.
* file: every frame matters (the output video and the predictions must cover the whole clip), so
  frames go through a bounded queue and the reader blocks while the consumer is behind.

`open_source` validates the source up front, by actually opening it and reading a first frame,
so a bad path or a dead camera is reported as one `SkelcamError` line before any model is loaded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from train.errors import SkelcamError

# Frame rates outside this range are what broken containers and drivers report (0, -1, 90000);
# 30 is what webcams deliver by default.
_MIN_SANE_FPS = 1.0
_MAX_SANE_FPS = 240.0
_DEFAULT_FPS = 30.0

# How often threads blocked on a queue or an event wake up to check whether they were stopped.
_POLL_S = 0.1


@dataclass(frozen=True)
class Frame:
    """One image of the source.

    `timestamp` is `time.perf_counter()` when the frame was read; the pipeline subtracts it from
    the time the overlay is drawn to report capture-to-overlay latency. For frame 0 of a file,
    which is decoded during validation, it is the time the reader thread started.
    """

    index: int
    image: np.ndarray
    timestamp: float


@dataclass(frozen=True)
class SourceInfo:
    """What the rest of the pipeline needs to know about a source before the first frame.

    `width` and `height` come from the first decoded frame, not from container metadata, because
    that is the size every later frame (and so the output video) will have. `frame_count` is None
    for cameras and for files whose container does not state a believable count.
    """

    width: int
    height: int
    fps: float
    frame_count: int | None
    is_camera: bool
    name: str


class _End:
    """Marks the end of the file queue, so the consumer can tell it from a frame."""


_END = _End()


class FrameSource:
    """An iterable of `Frame`s fed by a reader thread; create it with `open_source`.

    The reader starts on first iteration, not at construction or `__enter__`, so that time spent
    loading models before the loop does not count every camera frame meanwhile as dropped.
    Iteration is single-pass: when it ends, for any reason (end of file, camera stopped, consumer
    broke out of the loop), the source is closed.
    """

    def __init__(
        self,
        capture: cv2.VideoCapture,
        first_image: np.ndarray | None,
        info: SourceInfo,
        *,
        queue_size: int = 8,
        stall_timeout_s: float = 2.0,
        max_read_failures: int = 10,
        live: bool = False,
    ) -> None:
        """Wrap an opened capture; `first_image` is frame 0 when it was read during validation.

        `live` plays a file like a camera: frames are read at the file's frame rate and only the
        newest is kept, which is how the benchmark measures capture-to-overlay latency.
        """
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        self.info = info
        self._capture = capture
        self._first_image = first_image
        self._stall_timeout_s = stall_timeout_s
        self._max_read_failures = max_read_failures
        self._live = info.is_camera or live
        self._queue: queue.Queue[Frame | _End] = queue.Queue(maxsize=queue_size)
        self._latest: Frame | None = None
        self._latest_changed = threading.Condition()
        self._reader_done = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._error: BaseException | None = None
        self._dropped = 0
        self._read_count = 0
        self._read_total_ms = 0.0

    @property
    def dropped(self) -> int:
        """Camera frames replaced by a newer one before the consumer took them (0 for files)."""
        return self._dropped

    @property
    def read_ms(self) -> float:
        """Mean time of one `VideoCapture.read` so far, for the HUD's capture figure.

        For a camera this includes waiting for the device to produce the frame, so it is close to
        the frame interval; for a file it is the decode time.
        """
        return self._read_total_ms / self._read_count if self._read_count else 0.0

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._closed:
            return
        self._start()
        try:
            if self._live:
                yield from self._iter_camera()
            else:
                yield from self._iter_file()
        finally:
            self.close()
        if self._error is not None:
            raise self._error

    def close(self, join_timeout_s: float = 5.0) -> None:
        """Stop the reader thread, wait for it and release the capture. Safe to call twice.

        The reader releases the capture itself when it exits, because releasing it while the
        thread is inside `read()` is not safe. A camera driver stuck in `read()` can outlive
        `join_timeout_s`; the thread is a daemon, so it cannot keep the process alive.
        """
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        if thread is None:
            self._capture.release()
            return
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        thread.join(join_timeout_s)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"skelcam-capture-{self.info.name}", daemon=True
            )
            self._thread.start()

    def _read(self) -> np.ndarray | None:
        start = time.perf_counter()
        ok, image = self._capture.read()
        if not ok or image is None:
            return None
        self._read_total_ms += (time.perf_counter() - start) * 1000.0
        self._read_count += 1
        return image

    def _run(self) -> None:
        try:
            if self._live:
                self._read_camera()
            else:
                self._read_file()
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._error = error
        finally:
            with self._latest_changed:
                self._reader_done = True
                self._latest_changed.notify_all()
            if not self.info.is_camera:
                self._put(_END)
            self._capture.release()

    def _read_camera(self) -> None:
        index = 0
        failures = 0
        started = time.perf_counter()
        while not self._stop.is_set():
            if not self.info.is_camera:
                # A file played live: wait for the moment this frame would leave a camera.
                time.sleep(max(0.0, started + index / self.info.fps - time.perf_counter()))
            image = self._read()
            if image is None:
                failures += 1
                if failures >= self._max_read_failures:
                    return
                time.sleep(0.01)
                continue
            failures = 0
            frame = Frame(index=index, image=image, timestamp=time.perf_counter())
            index += 1
            with self._latest_changed:
                if self._latest is not None:
                    self._dropped += 1
                self._latest = frame
                self._latest_changed.notify_all()

    def _read_file(self) -> None:
        index = 0
        if self._first_image is not None:
            first = Frame(index=0, image=self._first_image, timestamp=time.perf_counter())
            self._first_image = None
            if not self._put(first):
                return
            index = 1
        while not self._stop.is_set():
            image = self._read()
            if image is None:
                return
            if not self._put(Frame(index=index, image=image, timestamp=time.perf_counter())):
                return
            index += 1

    def _put(self, item: Frame | _End) -> bool:
        """Block until the queue has room (back-pressure) or the source is closed."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _iter_file(self) -> Iterator[Frame]:
        while True:
            try:
                item = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive():
                    return
                continue
            if isinstance(item, _End):
                return
            yield item

    def _iter_camera(self) -> Iterator[Frame]:
        """Newest frames until the camera fails repeatedly or delivers nothing for a while."""
        while True:
            with self._latest_changed:
                deadline = time.monotonic() + self._stall_timeout_s
                while self._latest is None and not self._reader_done:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._latest_changed.wait(remaining)
                frame, self._latest = self._latest, None
            if frame is None:
                return
            yield frame


def open_source(
    source: str | int,
    *,
    camera_timeout_s: float = 5.0,
    queue_size: int = 8,
    stall_timeout_s: float = 2.0,
    live: bool = False,
) -> FrameSource:
    """Open a camera (an int or a digit string such as "0") or a video file, and check it works.

    `camera_timeout_s` bounds how long opening a camera and getting its first frame may take.
    `queue_size` is how many decoded file frames may wait for the consumer. `stall_timeout_s` is
    how long a camera may go without a new frame before iteration ends. `live` plays a file
    at its own frame rate, keeping only the newest frame, as a camera would deliver it.
    """
    if isinstance(source, int) or source.isdigit():
        return _open_camera(int(source), camera_timeout_s, stall_timeout_s)
    return _open_file(Path(source), queue_size, live)


def _sane_fps(fps: float) -> float:
    return fps if _MIN_SANE_FPS <= fps <= _MAX_SANE_FPS else _DEFAULT_FPS


def _open_file(path: Path, queue_size: int, live: bool = False) -> FrameSource:
    where = f"cannot open video '{path}'"
    if not path.exists():
        raise SkelcamError(f"{where}: file does not exist")
    if path.is_dir():
        raise SkelcamError(f"{where}: it is a directory, not a video file")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SkelcamError(
            f"{where}: not a video OpenCV can decode (unknown format, or a recording that was "
            "never finalized)"
        )
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise SkelcamError(f"{where}: the video has no frames")
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    info = SourceInfo(
        width=first.shape[1],
        height=first.shape[0],
        fps=_sane_fps(capture.get(cv2.CAP_PROP_FPS)),
        # Some containers report 0, negative or absurd counts; those mean "unknown".
        frame_count=int(count) if 0 < count < 2**31 else None,
        is_camera=False,
        name=path.name,
    )
    return FrameSource(capture, None if live else first, info, queue_size=queue_size, live=live)


class _CameraOpener:
    """Opens a camera on a thread, because `VideoCapture(index)` and the first `read` can block
    for a long time (or forever) on a busy or broken device, and the user must get an error
    instead of a frozen program. If the caller gives up, the thread releases what it opened."""

    def __init__(self, index: int, timeout_s: float) -> None:
        self._index = index
        self._timeout_s = timeout_s
        self._lock = threading.Lock()
        self._abandoned = False
        self._opened = False
        self._result: tuple[cv2.VideoCapture, np.ndarray] | None = None

    def open(self) -> tuple[cv2.VideoCapture, np.ndarray]:
        thread = threading.Thread(
            target=self._run, name=f"skelcam-camera-open-{self._index}", daemon=True
        )
        thread.start()
        thread.join(self._timeout_s)
        with self._lock:
            self._abandoned = True
            result, opened = self._result, self._opened
        where = f"cannot open camera {self._index}"
        if result is not None:
            return result
        if thread.is_alive() and not opened:
            raise SkelcamError(f"{where}: the device did not respond within {self._timeout_s:g} s")
        if opened:
            raise SkelcamError(f"{where}: it delivered no frame within {self._timeout_s:g} s")
        raise SkelcamError(f"{where}: no such device, or it is in use by another program")

    def _run(self) -> None:
        deadline = time.monotonic() + self._timeout_s
        capture = cv2.VideoCapture(self._index)
        if not capture.isOpened():
            capture.release()
            return
        with self._lock:
            self._opened = True
        image = None
        # Many webcams fail the first few reads while they start streaming.
        while image is None and time.monotonic() < deadline:
            ok, frame = capture.read()
            if ok and frame is not None:
                image = frame
            else:
                time.sleep(0.01)
        with self._lock:
            if image is not None and not self._abandoned:
                self._result = (capture, image)
                return
        capture.release()


def _open_camera(index: int, timeout_s: float, stall_timeout_s: float) -> FrameSource:
    capture, first = _CameraOpener(index, timeout_s).open()
    info = SourceInfo(
        width=first.shape[1],
        height=first.shape[0],
        fps=_sane_fps(capture.get(cv2.CAP_PROP_FPS)),
        frame_count=None,
        is_camera=True,
        name=f"camera {index}",
    )
    # The validation frame is stale by the time the loop starts; a camera source only ever
    # serves the newest frame, so it is not handed on.
    return FrameSource(capture, None, info, stall_timeout_s=stall_timeout_s)
