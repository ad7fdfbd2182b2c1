"""Frames from a webcam, a video file, an image sequence or a network stream, read on a thread.

Decoding a 1080p frame costs several milliseconds; doing it on its own thread lets the pipeline
detect and classify one frame while the next one is being read. The kinds of source want
opposite policies, so `FrameSource` has two modes:

* live (a camera, or a network stream such as rtsp:// or an MJPEG http:// URL): the world does
  not wait for us. Only the newest frame is kept and older unconsumed ones are dropped (and
  counted), so a slow pipeline shows a lower frame rate but never a growing lag.
* file (a video file, an image sequence such as frames/%05d.jpg, or a video file behind an
  http(s):// URL): every frame matters (the output video and the predictions must cover the
  whole clip), so frames go through a bounded queue and the reader blocks while the consumer is
  behind.

A network stream can drop and come back (a camera rebooting, Wi-Fi, a server restart), so its
reader reopens it with exponential backoff for up to `reconnect_timeout_s` before it gives up;
each outage is reported on stderr, kept in `FrameSource.outages` and described by
`FrameSource.notice` for the overlay. A camera or stream that is gone for good ends iteration
normally, with one line on stderr, so the caller's usual end-of-run path finalizes its outputs.

`open_source` validates the source up front, by actually opening it and reading a first frame,
so a bad path, URL or a dead camera is reported as one `SkelcamError` line before any model is
loaded.
"""

from __future__ import annotations

import queue
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np

from skelcam.train.errors import SkelcamError, print_warning

# Frame rates outside this range are what broken containers and drivers report (0, -1, 90000);
# 30 is what webcams deliver by default.
_MIN_SANE_FPS = 1.0
_MAX_SANE_FPS = 240.0
_DEFAULT_FPS = 30.0

# How often threads blocked on a queue or an event wake up to check whether they were stopped.
_POLL_S = 0.1

# URL schemes passed to FFmpeg as network sources. Anything else with "://" is refused rather
# than treated as a file name (which is how "rtsp://h/cam" used to lose a slash and fail as a
# missing file).
STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# printf-style frame numbers as FFmpeg's image2 demuxer reads them: %d, %05d.
_SEQUENCE_NUMBER = re.compile(r"%0?(\d*)d")

# Opening a URL or reading from it blocks inside FFmpeg; OpenCV's interrupt callback bounds both.
# A read that times out counts as the stream dropping. Connecting to an RTSP server takes about a
# second on loopback (DESCRIBE, SETUP, PLAY and the first key frame).
_OPEN_TIMEOUT_S = 10.0
_MIN_ATTEMPT_S = 1.0
# Reconnect backoff: wait 0.5 s before the first attempt, doubling up to 8 s between attempts.
_BACKOFF_FIRST_S = 0.5
_BACKOFF_MAX_S = 8.0
# How long the overlay says a stream is back after an outage.
_BACK_NOTICE_S = 3.0


@dataclass(frozen=True)
class Frame:
    """One image of the source.

    `timestamp` is `time.perf_counter()` when the frame was read; the pipeline subtracts it from
    the time the overlay is drawn to report capture-to-overlay latency. For frame 0 of a file,
    which is decoded during validation, it is the time the reader thread started. For a live
    source `index` is a clock in frames: after a network outage it jumps by the outage's length
    in frames, so the tracker and the action windows see the gap instead of gluing the poses from
    before and after it together.
    """

    index: int
    image: np.ndarray
    timestamp: float


@dataclass(frozen=True)
class SourceInfo:
    """What the rest of the pipeline needs to know about a source before the first frame.

    `width` and `height` come from the first decoded frame, not from container metadata, because
    that is the size every later frame (and so the output video) will have. `frame_count` is None
    for cameras, network streams and files whose container does not state a believable count.
    `is_stream` marks a live network stream (rtsp, MJPEG over http): like a camera it is read
    live, and it is reopened when it drops. `name` never holds a URL's password.
    """

    width: int
    height: int
    fps: float
    frame_count: int | None
    is_camera: bool
    name: str
    is_stream: bool = False


@dataclass(frozen=True)
class Outage:
    """One time a network stream stopped delivering frames.

    Times are `time.perf_counter()`, like `Frame.timestamp`. `attempts` counts reopen attempts
    so far. `ended_at` is None while the outage lasts; then it is when the first frame after it
    was read, or, for the outage that ended the run (`gave_up`), when the reader gave up.
    """

    lost_at: float
    attempts: int = 0
    ended_at: float | None = None
    gave_up: bool = False

    @property
    def duration_s(self) -> float:
        """Seconds without frames, so far for an outage that still lasts."""
        end = time.perf_counter() if self.ended_at is None else self.ended_at
        return end - self.lost_at


class _End:
    """Marks the end of the file queue, so the consumer can tell it from a frame."""


_END = _End()

# Opens a network stream again within a timeout in seconds; None when it cannot.
Reopen = Callable[[float], cv2.VideoCapture | None]


class FrameSource:
    """An iterable of `Frame`s fed by a reader thread; create it with `open_source`.

    The reader starts on first iteration, not at construction or `__enter__`, so that time spent
    loading models before the loop does not count every camera frame meanwhile as dropped.
    Iteration is single-pass: when it ends, for any reason (end of file, camera stopped, stream
    gone, consumer broke out of the loop), the source is closed.
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
        reopen: Reopen | None = None,
        reconnect_timeout_s: float = 30.0,
    ) -> None:
        """Wrap an opened capture; `first_image` is frame 0 when it was read during validation.

        `live` plays a file like a camera: frames are read at the file's frame rate and only the
        newest is kept, which is how the benchmark measures capture-to-overlay latency. `reopen`
        (network streams) is called when reads fail, with backoff, for up to
        `reconnect_timeout_s` seconds.
        """
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, got {queue_size}")
        if reconnect_timeout_s < 0:
            raise ValueError(f"reconnect_timeout_s must be >= 0, got {reconnect_timeout_s}")
        self.info = info
        self._capture = capture
        self._first_image = first_image
        self._stall_timeout_s = stall_timeout_s
        self._max_read_failures = max_read_failures
        self._live = info.is_camera or info.is_stream or live
        self._reopen = reopen
        self._reconnect_timeout_s = reconnect_timeout_s
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
        # Network streams only, guarded by `_latest_changed`.
        self._outage: Outage | None = None
        self._outages: list[Outage] = []
        self._messages: list[str] = []

    @property
    def dropped(self) -> int:
        """Live frames replaced by a newer one before the consumer took them (0 for files)."""
        return self._dropped

    @property
    def read_ms(self) -> float:
        """Mean time of one `VideoCapture.read` so far, for the HUD's capture figure.

        For a camera this includes waiting for the device to produce the frame, so it is close to
        the frame interval; for a file it is the decode time.
        """
        return self._read_total_ms / self._read_count if self._read_count else 0.0

    @property
    def outages(self) -> list[Outage]:
        """A network stream's finished outages, oldest first: the ones it came back from, and
        last the one it never came back from (`gave_up`), if any."""
        with self._latest_changed:
            return list(self._outages)

    @property
    def gone(self) -> bool:
        """True once a network stream stayed away for the whole reconnect timeout."""
        with self._latest_changed:
            return bool(self._outages) and self._outages[-1].gave_up

    @property
    def notice(self) -> str | None:
        """What the overlay should say about the stream now, or None when all is well.

        "stream lost, reconnecting (n)" during an outage (n: attempts so far), and "stream back
        after X s" for a few seconds after one.
        """
        now = time.perf_counter()
        with self._latest_changed:
            outage, last = self._outage, self._outages[-1] if self._outages else None
        if outage is not None:
            return f"stream lost, reconnecting ({outage.attempts})" if outage.attempts \
                else "stream lost, reconnecting"
        if last is not None and last.ended_at is not None and not last.gave_up \
                and now - last.ended_at < _BACK_NOTICE_S:
            return f"stream back after {last.duration_s:.1f} s"
        return None

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
        for frame in self.frames():
            if frame is not None:
                yield frame

    def frames(self, idle_s: float | None = None) -> Iterator[Frame | None]:
        """Like iterating the source, but a live source also yields None whenever `idle_s`
        seconds pass without a new frame, so a caller can keep its window responsive and show
        `notice` while a network stream is down (a file never yields None)."""
        if self._closed:
            return
        self._start()
        try:
            if self._live:
                yield from self._iter_live(idle_s)
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
                self._read_live()
            else:
                self._read_file()
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._error = error
        finally:
            with self._latest_changed:
                self._reader_done = True
                self._latest_changed.notify_all()
            if not self._live:
                self._put(_END)
            self._capture.release()

    def _read_live(self) -> None:
        index = 0
        failures = 0
        started = time.perf_counter()
        previous: Frame | None = None
        while not self._stop.is_set():
            if not (self.info.is_camera or self.info.is_stream):
                # A file played live: wait for the moment this frame would leave a camera.
                time.sleep(max(0.0, started + index / self.info.fps - time.perf_counter()))
            image = self._read()
            resumed = False
            if image is None and self._reopen is not None:
                image = self._reconnect(self._reopen)
                if image is None:
                    return
                resumed = True
            if image is None:
                failures += 1
                if failures >= self._max_read_failures:
                    return
                time.sleep(0.01)
                continue
            failures = 0
            now = time.perf_counter()
            if resumed and previous is not None:
                # The outage is time in which the stream's frames went by unseen.
                index = previous.index + max(1, round((now - previous.timestamp) * self.info.fps))
            frame = Frame(index=index, image=image, timestamp=now)
            index += 1
            previous = frame
            with self._latest_changed:
                if self._latest is not None:
                    self._dropped += 1
                self._latest = frame
                self._latest_changed.notify_all()

    def _reconnect(self, reopen: Reopen) -> np.ndarray | None:
        """Reopen a stream whose read failed, with backoff; its first frame, or None when it
        stayed away for `reconnect_timeout_s` or the source was closed meanwhile.

        An attempt succeeds only when the reopened stream delivers a frame, so a server that
        accepts connections but sends nothing does not count as back.
        """
        lost_at = time.perf_counter()
        deadline = lost_at + self._reconnect_timeout_s
        self._capture.release()
        self._set_outage(Outage(lost_at=lost_at))
        self._report(f"stream '{self.info.name}' lost: reconnecting for up to "
                     f"{self._reconnect_timeout_s:g} s")
        delay = _BACKOFF_FIRST_S
        attempts = 0
        while True:
            if self._stop.wait(max(0.0, min(delay, deadline - time.perf_counter()))):
                self._set_outage(None)
                return None
            attempts += 1
            self._set_outage(Outage(lost_at=lost_at, attempts=attempts))
            timeout_s = min(_OPEN_TIMEOUT_S, max(_MIN_ATTEMPT_S, deadline - time.perf_counter()))
            capture = reopen(timeout_s)
            if capture is not None:
                self._capture = capture
                image = self._read()
                if image is not None:
                    outage = Outage(lost_at, attempts, ended_at=time.perf_counter())
                    self._finish_outage(outage)
                    self._report(f"stream '{self.info.name}' back after "
                                 f"{outage.duration_s:.1f} s ({_attempts(attempts)})")
                    return image
                capture.release()
            if time.perf_counter() >= deadline:
                outage = Outage(lost_at, attempts, ended_at=time.perf_counter(), gave_up=True)
                self._finish_outage(outage)
                self._report(f"stream '{self.info.name}' gone: no frame for "
                             f"{outage.duration_s:.1f} s, {_attempts(attempts)}; ending the run")
                return None
            delay = min(2 * delay, _BACKOFF_MAX_S)

    def _report(self, message: str) -> None:
        """Queue a one-line warning for the consumer to print (see `_iter_live`)."""
        with self._latest_changed:
            self._messages.append(message)
            self._latest_changed.notify_all()

    def _set_outage(self, outage: Outage | None) -> None:
        with self._latest_changed:
            self._outage = outage
            self._latest_changed.notify_all()

    def _finish_outage(self, outage: Outage) -> None:
        with self._latest_changed:
            self._outage = None
            self._outages.append(outage)
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

    def _iter_live(self, idle_s: float | None) -> Iterator[Frame | None]:
        """Newest frames until the reader ends, or a camera delivers nothing for a while.

        A network stream has no stall timeout here: its reader's reads are bounded by FFmpeg's
        timeout and its outages by the reconnect timeout, so only the reader ends it. The
        reader's messages are printed here, on the consuming thread: while the reader runs,
        another thread may have file descriptor 2 pointed elsewhere (the mediapipe backend
        silences its native logs around every call), and a line printed then would be lost.
        """
        stall_s = None if self.info.is_stream else self._stall_timeout_s
        limits = [s for s in (stall_s, idle_s) if s is not None]
        while True:
            with self._latest_changed:
                waiting_since = time.monotonic()
                idle = stalled = False
                while self._latest is None and not self._reader_done and not self._messages:
                    waited = time.monotonic() - waiting_since
                    if stall_s is not None and waited >= stall_s:
                        stalled = True
                        break
                    if idle_s is not None and waited >= idle_s:
                        idle = True
                        break
                    self._latest_changed.wait(min(limits) - waited if limits else None)
                frame, self._latest = self._latest, None
                messages, self._messages = self._messages, []
                done = self._reader_done
            for message in messages:
                print_warning(message)
            if frame is not None:
                yield frame
            elif idle:
                yield None
            elif stalled or (done and not messages):
                if self.info.is_camera and not self._stop.is_set():
                    how = f"nothing for {self._stall_timeout_s:g} s" if stalled else "reads fail"
                    print_warning(f"{self.info.name} stopped delivering frames ({how}); "
                                  "ending the run")
                return

def _attempts(n: int) -> str:
    return f"{n} reconnect attempt" + ("" if n == 1 else "s")


def open_source(
    source: str | int,
    *,
    camera_timeout_s: float = 5.0,
    queue_size: int = 8,
    stall_timeout_s: float = 2.0,
    live: bool = False,
    reconnect_timeout_s: float = 30.0,
    read_timeout_s: float = 5.0,
) -> FrameSource:
    """Open a camera, a video file, an image sequence or a network stream, and check it works.

    `source` is a camera index (an int or a digit string such as "0"), a URL (`STREAM_SCHEMES`),
    a printf pattern of numbered images (`frames/%05d.jpg`, when no file has that very name) or a
    video file. `camera_timeout_s` bounds how long opening a camera and getting its first frame
    may take. `queue_size` is how many decoded file frames may wait for the consumer.
    `stall_timeout_s` is how long a camera may go without a new frame before iteration ends.
    `live` plays a file at its own frame rate, keeping only the newest frame, as a camera would
    deliver it. A network stream that drops is reopened for up to `reconnect_timeout_s`; a read
    that waits over `read_timeout_s` counts as a drop.
    """
    if isinstance(source, int) or source.isdigit():
        return _open_camera(int(source), camera_timeout_s, stall_timeout_s)
    url = _URL.match(source)
    if url is not None:
        return _open_url(source, url.group(1).lower(), queue_size, reconnect_timeout_s,
                         read_timeout_s)
    path = Path(source)
    if _SEQUENCE_NUMBER.search(path.name) and not path.exists():
        return _open_sequence(path, queue_size)
    return _open_file(path, queue_size, live)


def _sane_fps(fps: float) -> float:
    return fps if _MIN_SANE_FPS <= fps <= _MAX_SANE_FPS else _DEFAULT_FPS


def _frame_count(capture: cv2.VideoCapture) -> int | None:
    """The stated frame count; some containers and every stream report 0, negative or absurd
    counts, which mean "unknown"."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if 0 < count < 2**31 else None


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
    return _file_source(capture, where, path.name, queue_size, live)


def _file_source(capture: cv2.VideoCapture, where: str, name: str, queue_size: int,
                 live: bool = False) -> FrameSource:
    """A source that yields every frame of an opened file-like capture (validated here)."""
    first, info = _first_frame(capture, f"{where}: the video has no frames", name,
                               _frame_count(capture))
    return FrameSource(capture, None if live else first, info, queue_size=queue_size, live=live)


def _first_frame(capture: cv2.VideoCapture, no_frame: str, name: str, frame_count: int | None,
                 is_stream: bool = False) -> tuple[np.ndarray, SourceInfo]:
    """Read the validation frame of a file or stream and describe the source from it (its size
    is what every later frame will have); no frame is the `no_frame` error."""
    ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise SkelcamError(no_frame)
    info = SourceInfo(width=first.shape[1], height=first.shape[0],
                      fps=_sane_fps(capture.get(cv2.CAP_PROP_FPS)), frame_count=frame_count,
                      is_camera=False, name=name, is_stream=is_stream)
    return first, info


def _open_sequence(pattern: Path, queue_size: int) -> FrameSource:
    """Numbered images, read by FFmpeg's image2 demuxer as a video at its 25 frames/s."""
    where = f"cannot open image sequence '{pattern}'"
    folder = pattern.parent
    if not folder.is_dir():
        raise SkelcamError(f"{where}: folder '{folder}' does not exist")
    parts = _SEQUENCE_NUMBER.split(pattern.name)
    # split() alternates literal text and the captured digit count ('' for plain %d).
    regex = "".join(re.escape(part) if i % 2 == 0 else (rf"\d{{{part}}}" if part else r"\d+")
                    for i, part in enumerate(parts))
    if not any(re.fullmatch(regex, child.name) for child in folder.iterdir()):
        raise SkelcamError(f"{where}: no file in '{folder}' matches it")
    capture = cv2.VideoCapture(str(pattern))
    if not capture.isOpened():
        raise SkelcamError(f"{where}: OpenCV cannot read it (the first number must be 0 to 4, "
                           "and the files images it can decode)")
    return _file_source(capture, where, pattern.name, queue_size)


def redact(url: str) -> str:
    """The URL with its password, if any, replaced by '***', for messages and the overlay."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _capture_url(url: str, open_timeout_s: float, read_timeout_s: float) -> cv2.VideoCapture | None:
    """Open a URL with FFmpeg, bounding the connect and every later read; None on failure.

    RTSP goes over TCP: with OPENCV_FFMPEG_CAPTURE_OPTIONS unset, OpenCV asks FFmpeg for
    `rtsp_flags=prefer_tcp` (UDP only if the server refuses TCP). A user who sets that variable
    replaces OpenCV's default and should include `rtsp_transport;tcp` to keep TCP.
    """
    params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, round(open_timeout_s * 1000),
              cv2.CAP_PROP_READ_TIMEOUT_MSEC, round(read_timeout_s * 1000)]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if capture.isOpened():
        return capture
    capture.release()
    return None


def _open_url(url: str, scheme: str, queue_size: int, reconnect_timeout_s: float,
              read_timeout_s: float) -> FrameSource:
    """A network source: a live stream (reopened when it drops), or a video file served over
    http(s), recognised by its container stating a frame count, which plays like a local file."""
    name = redact(url)
    where = f"cannot open stream '{name}'"
    if scheme not in STREAM_SCHEMES:
        raise SkelcamError(f"{where}: unsupported URL scheme '{scheme}' "
                           f"(supported: {', '.join(STREAM_SCHEMES)})")
    capture = _capture_url(url, _OPEN_TIMEOUT_S, read_timeout_s)
    if capture is None:
        raise SkelcamError(f"{where}: nothing answered within {_OPEN_TIMEOUT_S:g} s, or not a "
                           "video stream FFmpeg can read")
    count = _frame_count(capture)
    if scheme.startswith("http") and count is not None:
        return _file_source(capture, where, name, queue_size)
    _, info = _first_frame(capture, f"{where}: it delivered no frame within {read_timeout_s:g} s",
                           name, None, is_stream=True)
    # As for a camera, the validation frame is stale by the time the loop starts.
    return FrameSource(
        capture, None, info,
        reopen=lambda timeout_s: _capture_url(url, timeout_s, read_timeout_s),
        reconnect_timeout_s=reconnect_timeout_s,
    )

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
