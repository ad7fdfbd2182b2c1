"""Save the annotated frames to a video file on a background thread, in a form that survives a kill.

Encoding a 1080p frame takes about 10-15 ms, a large share of a 33 ms frame budget, so it runs on
its own thread behind a bounded queue: `write` returns at once while the encoder keeps up and
blocks when it falls behind, so a file run never drops a frame and memory stays bounded.

The container is chosen by the extension, and every frame is encoded with FFmpeg through PyAV:

* `.mp4`: fragmented MP4 (`movflags=frag_keyframe+empty_moov+default_base_moof`, the layout
  browsers stream). The header and an empty index come first; then each second of video is a
  self-contained fragment (`moof` + `mdat`) that starts on a keyframe.
* `.mkv`: Matroska, a cluster per keyframe.
* `.avi`: AVI with MPEG-4 part 2 (tagged XVID, as before) for old tools. Not crash-safe: FFmpeg
  reads a killed AVI without its index, but other players may not.

`.mp4` and `.mkv` use H.264 (yuv420p, the profile browsers and phones decode) from the first
encoder of `H264_ENCODERS` that this FFmpeg build has; without one they fall back to MPEG-4 part
2 with one warning. A keyframe every second and x264's zero-latency tuning (no lookahead, no
B-frames) keep the encoder from holding frames back, and the I/O buffer is flushed after every
packet, so each finished fragment is in the file, not in this process, as soon as it is muxed.

Where the bytes go: straight to the final path, not to a temporary file renamed at the end. A
rename only happens in a process that lives to do it; after SIGKILL (the OOM killer, a crash in
native code) a temporary file would be left under a name the user never asked for, and the path
they gave would be missing. Writing in place means the file at that
path is readable at every moment of the run, up to its last complete fragment: all but the last
second or so, plus the frames still queued for the encoder (at most `queue_size`, normally none
because the encoder keeps up). `close` writes the last fragment and the trailer (the fragment
index), and runs on normal exit, on exceptions, on Ctrl-C and, inside
`realtime.signals.graceful_interrupts`, on SIGTERM, so a stopped run keeps every frame.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np

from skelcam.realtime.signals import deferred_interrupts
from skelcam.train.errors import SkelcamError

log = logging.getLogger(__name__)

# H.264 encoders in order of preference: x264 (in PyAV's own wheels) and Cisco's OpenH264 (in some
# LGPL FFmpeg builds). Hardware encoders are left out: they are listed whether or not the device
# exists, and then fail to open.
H264_ENCODERS: tuple[str, ...] = ("libx264", "libopenh264")
FALLBACK_ENCODER = "mpeg4"

# x264 at its fastest preset costs less per frame than OpenCV's MPEG-4 part 2 did, for a smaller
# file of higher quality. Measured on 2 busy cores: 60 raw 1080p NTU frames, 12-15 ms a frame
# against 15-21 ms, 35 % smaller, PSNR 42.1 against 39.9 dB; the annotated ntu_sample.avi run,
# 38 against 60 ms and 1.7 against 3.4 MB. `zerolatency` turns off lookahead and B-frames, so
# every frame leaves the encoder as soon as it is sent and a kill loses no frames inside x264.
_X264_OPTIONS = {"preset": "ultrafast", "tune": "zerolatency", "crf": "26"}
# MPEG-4 part 2 at a fixed quantizer (qmin = qmax), so quality does not depend on the size and
# frame rate. At 4, the 60 NTU frames above: half the size of OpenCV's mp4v, PSNR 41.7 dB.
_MPEG4_QUANTIZER = 4

# How often a thread blocked on the queue wakes up to check that its partner is still alive.
_POLL_S = 0.1


@dataclass(frozen=True)
class _Container:
    """How one extension is written: the FFmpeg muxer, its options and the video codec."""

    muxer: str
    options: dict[str, str]
    h264: bool  # H.264 when an encoder exists; False: always MPEG-4 part 2
    codec_tag: str | None = None


# `flush_packets` writes FFmpeg's I/O buffer out after every packet: without it the header and
# the tail of each finished fragment wait in that buffer (measured: 28 bytes on disk, not the
# header, after 25 frames). `frag_keyframe` starts an MP4 fragment at each keyframe; Matroska
# starts a cluster at a keyframe by itself once the cluster holds 4 KB, and `cluster_time_limit`
# also closes one after a second when the frames are tinier than that.
CONTAINERS: dict[str, _Container] = {
    ".avi": _Container("avi", {"flush_packets": "1"}, h264=False, codec_tag="XVID"),
    ".mkv": _Container("matroska", {"flush_packets": "1", "cluster_time_limit": "1000"},
                       h264=True),
    ".mp4": _Container("mp4", {"flush_packets": "1",
                               "movflags": "frag_keyframe+empty_moov+default_base_moof"},
                       h264=True),
}


class _End:
    """Marks the end of the queue, so the writer thread can tell it from a frame."""


_END = _End()


@functools.cache
def h264_encoder() -> str | None:
    """The first of `H264_ENCODERS` that this PyAV build has; or None, with one warning line.

    Cached, so a run warns once however many files it checks and opens.
    """
    for name in H264_ENCODERS:
        if name in av.codecs_available:
            try:
                av.Codec(name, "w")
            except av.FFmpegError:
                continue
            return name
    log.warning("no H.264 encoder; saving MPEG-4 part 2 (browsers will not play it)")
    return None


def encoder_for(suffix: str) -> str:
    """The encoder used for a file with this (lower-case) extension."""
    if CONTAINERS[suffix].h264:
        return h264_encoder() or FALLBACK_ENCODER
    return FALLBACK_ENCODER


def encoded_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size of the saved video: `size` rounded up to even sides, as yuv420p needs.

    An odd side gets one more column or row, a copy of the last one, so no pixel is lost.
    """
    width, height = size
    return width + width % 2, height + height % 2


def frame_rate(fps: float) -> Fraction:
    """`fps` as the exact fraction video containers store: 29.97002997 -> 30000/1001."""
    return Fraction(fps).limit_denominator(1001)


def _open(path: Path, fps: float, size: tuple[int, int]) -> tuple[av.container.OutputContainer,
                                                                  av.VideoStream]:
    """Open the container at `path` with one video stream of `size` (even) at `fps`."""
    suffix = path.suffix.lower()
    spec = CONTAINERS[suffix]
    encoder = encoder_for(suffix)
    container = av.open(str(path), "w", format=spec.muxer, container_options=spec.options)
    try:
        rate = frame_rate(fps)
        stream = container.add_stream(
            encoder, rate=rate, options=_X264_OPTIONS if encoder == "libx264" else {}
        )
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, round(rate))  # a keyframe, so a fragment, a second
        if encoder == FALLBACK_ENCODER:
            stream.codec_context.qmin = stream.codec_context.qmax = _MPEG4_QUANTIZER
        if spec.codec_tag is not None:
            stream.codec_tag = spec.codec_tag
        stream.codec_context.open()
    except BaseException:
        container.close()
        raise
    return container, stream


def check_output_path(path: str | Path) -> Path:
    """Check that a video can be saved at `path`, before any work starts; return it as a Path.

    A run that processes a whole video and then fails to save it wastes the user's time, so this
    checks everything up front, finally by encoding a real frame into a scratch file next to the
    target (the target itself is left alone, in case the run fails before writing).
    """
    path = Path(path)
    where = f"cannot save video to '{path}'"
    if path.is_dir():
        raise SkelcamError(f"{where}: it is a directory; give a file name such as out.mp4")
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        supported = ", ".join(CONTAINERS)
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
        container, stream = _open(probe, 30, (64, 64))
        with container:
            for packet in stream.encode(_to_video_frame(np.zeros((64, 64, 3), np.uint8), 0)):
                container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except OSError as error:  # FFmpeg's I/O errors are OSErrors too
        raise SkelcamError(f"{where}: cannot write to '{parent}' ({error.strerror or error})"
                           ) from None
    except av.FFmpegError as error:
        raise SkelcamError(f"{where}: FFmpeg cannot encode {encoder_for(suffix)} video ({error})"
                           ) from None
    finally:
        probe.unlink(missing_ok=True)
    return path


def _to_video_frame(image: np.ndarray, index: int) -> av.VideoFrame:
    """A BGR uint8 image (even sides) as a yuv420p frame with presentation time `index`.

    OpenCV's BT.601 limited-range conversion is the one swscale would do, at a third of the cost
    (about 4 ms against 12 ms for 1080p).
    """
    frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420),
                                       format="yuv420p")
    frame.pts = index
    return frame


class VideoWriter:
    """A PyAV encoder and muxer fed through a bounded queue by a writer thread.

    Every frame must be exactly `size` (width, height), BGR uint8. A mismatch raises ValueError
    instead of being resized: resizing would hide a pipeline bug and distort the aspect ratio.
    The size comes from the source, so a mismatch is a bug, not user input. The saved video has
    `encoded_size(size)`; frame `i` is shown at `i / fps` seconds. `codec` names the encoder
    (`libx264`, or `mpeg4` for .avi and where there is no H.264 encoder).
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
        self.codec = encoder_for(self.path.suffix.lower())
        try:
            self._container, self._stream = _open(self.path, fps, encoded_size(self.size))
        except (av.FFmpegError, OSError) as error:
            raise SkelcamError(f"cannot save video to '{self.path}': {error}") from None
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
        an interrupted run is saving does not cut off its last second.
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

    def _encode(self, frame: av.VideoFrame | None) -> None:
        """Encode one frame (None: drain the encoder) and mux what comes out."""
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def _run(self) -> None:
        width, height = self.size
        pad = ((0, height % 2), (0, width % 2), (0, 0))
        try:
            while True:
                item = self._queue.get()
                if isinstance(item, _End):
                    break
                start = time.perf_counter()
                if width % 2 or height % 2:
                    item = np.pad(item, pad, mode="edge")
                self._encode(_to_video_frame(item, self._frames_written))
                self._write_total_ms += (time.perf_counter() - start) * 1000.0
                self._frames_written += 1
            self._encode(None)
        except (av.FFmpegError, OSError) as error:  # a full disk, a vanished folder
            self._error = SkelcamError(f"cannot save video to '{self.path}': {error}")
        except BaseException as error:  # handed to the producer, which re-raises it
            self._error = error
        finally:
            try:
                self._container.close()
            except (av.FFmpegError, OSError) as error:
                if self._error is None:
                    self._error = SkelcamError(f"cannot save video to '{self.path}': {error}")
