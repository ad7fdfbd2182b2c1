"""Sources beyond files and cameras: URLs, image sequences, and network streams that drop.

Every server here is the test's own, on 127.0.0.1: an MJPEG-over-HTTP server (threading
`http.server`, multipart/x-mixed-replace JPEGs, as IP cameras serve them) and a real RTSP server
from PyPI (`aio-rtsp-toolkit`, RTSP over interleaved TCP), both fed with frames of a shared NTU
clip. Outages are real: the server closes its port and opens it again, or never does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from skelcam.realtime.capture import open_source, redact
from skelcam.train.errors import SkelcamError

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
ONE_PERSON = VIDEOS / "S001C001P001R001A001_rgb.avi"
SKELCAM = [sys.executable, "-m", "skelcam.realtime.cli"]
SIZE = (320, 180)

needs_clip = pytest.mark.skipif(not ONE_PERSON.is_file(), reason=f"shared clip not in {VIDEOS}")


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("skelcam-capture")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def clip_frames() -> list[np.ndarray]:
    """The first 30 frames of the one-person NTU clip, shrunk so the tests stay fast."""
    if not ONE_PERSON.is_file():
        pytest.skip(f"shared clip not in {VIDEOS}")
    capture = cv2.VideoCapture(str(ONE_PERSON))
    frames = []
    while len(frames) < 30:
        ok, image = capture.read()
        assert ok
        frames.append(cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA))
    capture.release()
    return frames


class MjpegServer:
    """An MJPEG camera on 127.0.0.1: each GET gets the clip's JPEGs, looped, at `fps`.

    `script` plays outages: one (frames, downtime_s) per connection. After sending `frames` on
    that connection the server closes it and its port (the client sees the stream end, then
    refused connections), and opens the same port again `downtime_s` later, or never when it is
    None. Connections past the script, and frames None, stream until `stop()`. With `hang`,
    a connection that has sent its frames stays open and silent instead, as a hung camera does.
    """

    def __init__(self, frames: list[np.ndarray], fps: float = 30.0,
                 script: list[tuple[int | None, float | None]] = (), hang: bool = False) -> None:
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.fps = fps
        self.script = list(script)
        self.hang = hang
        self.connections = 0
        self.stopped_at: list[float] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/video.mjpg"
        self._server: ThreadingHTTPServer | None = None
        self._running = threading.Event()

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                """Quiet: the test output is for the test."""

            def do_GET(self) -> None:
                turn = owner.connections
                owner.connections += 1
                limit, downtime = owner.script[turn] if turn < len(owner.script) else (None, 0)
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                sent = 0
                while owner._running.is_set() and (limit is None or sent < limit):
                    jpeg = owner.jpegs[sent % len(owner.jpegs)]
                    try:
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                         b"Content-Length: %d\r\n\r\n%s\r\n" % (len(jpeg), jpeg))
                    except OSError:
                        return
                    sent += 1
                    time.sleep(1 / owner.fps)
                if limit is not None and sent == limit and owner.hang:
                    while owner._running.is_set():
                        time.sleep(0.05)
                elif limit is not None and sent == limit:
                    threading.Thread(target=owner.outage, args=(downtime,), daemon=True).start()

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._running.set()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def outage(self, downtime_s: float | None) -> None:
        """Close the port; open it again after `downtime_s` (never when None)."""
        self.stop()
        if downtime_s is not None:
            time.sleep(downtime_s)
            self.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        self._running.clear()
        if server is not None:
            self.stopped_at.append(time.perf_counter())
            server.shutdown()
            server.server_close()


def mjpeg_server(frames: list[np.ndarray], script: list[tuple[int | None, float | None]] = (),
                 hang: bool = False) -> MjpegServer:
    server = MjpegServer(frames, script=script, hang=hang)
    server.start()
    return server


def test_mjpeg_stream_is_a_live_source(clip_frames: list[np.ndarray]) -> None:
    server = mjpeg_server(clip_frames)
    try:
        with open_source(server.url) as source:
            info = source.info
            frames = []
            for frame in source:
                frames.append(frame)
                if len(frames) == 15:
                    break
    finally:
        server.stop()
    assert info.is_stream and not info.is_camera
    assert (info.width, info.height) == SIZE
    assert info.frame_count is None
    assert info.name == server.url
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert all(b.timestamp > a.timestamp for a, b in zip(frames, frames[1:], strict=False))
    assert {f.image.shape for f in frames} == {(SIZE[1], SIZE[0], 3)}
    # The shared clip's pictures came through (JPEG-compressed), not a blank or garbled frame.
    sent = [cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) for j in server.jpegs]
    assert min(np.abs(frames[-1].image.astype(int) - s).mean() for s in sent) < 3
    assert not capture_threads()


def test_dropped_stream_is_reopened_and_keeps_real_timestamps(
    clip_frames: list[np.ndarray], capfd: pytest.CaptureFixture[str]
) -> None:
    """The server goes away for 1.5 s after 20 frames: the source reconnects with backoff, the
    frames after the outage carry their real read times, and the index skips the outage."""
    downtime = 1.5
    server = mjpeg_server(clip_frames, script=[(20, downtime)])
    before: list[tuple[int, float]] = []
    after: list[tuple[int, float]] = []
    notices = []
    try:
        with open_source(server.url, reconnect_timeout_s=10.0) as source:
            for frame in source.frames(idle_s=0.1):
                if frame is None:
                    notices.append(source.notice)
                elif source.outages:
                    after.append((frame.index, frame.timestamp))
                    if len(after) == 10:
                        break
                else:
                    before.append((frame.index, frame.timestamp))
            outages, fps, gone = source.outages, source.info.fps, source.gone
    finally:
        server.stop()
    assert not gone and len(outages) == 1
    outage = outages[0]
    assert not outage.gave_up and outage.attempts >= 2  # 0.5 s: refused; 1.5 s or 3.5 s: back
    assert outage.lost_at >= server.stopped_at[0] - 0.2
    # Back within one backoff step (0.5, 1, 2, 4 s) of the server's return.
    assert downtime <= outage.duration_s < downtime + 3.0
    assert before and len(after) == 10
    stamps = [t for _, t in before + after]
    assert stamps == sorted(stamps)
    gap = after[0][1] - before[-1][1]
    assert gap >= downtime
    assert after[0][0] - before[-1][0] == pytest.approx(gap * fps, abs=1)
    assert "stream lost, reconnecting" in notices
    assert "stream lost, reconnecting (1)" in notices
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2, err
    assert f"stream '{server.url}' lost: reconnecting for up to 10 s" in lines[0]
    assert "back after" in lines[1]
    assert not capture_threads()


def test_hung_stream_counts_as_dropped(clip_frames: list[np.ndarray]) -> None:
    """The connection stays open but no frame comes: after `read_timeout_s` the read fails,
    and the source reconnects as for any outage."""
    server = mjpeg_server(clip_frames, script=[(10, None)], hang=True)
    try:
        with open_source(server.url, reconnect_timeout_s=5.0, read_timeout_s=1.0) as source:
            previous = None
            for frame in source:
                if source.outages:
                    break
                previous = frame
            outages = source.outages
    finally:
        server.stop()
    (outage,) = outages
    assert not outage.gave_up and outage.attempts == 1
    assert server.connections == 2
    assert previous is not None
    assert 0.9 <= outage.lost_at - previous.timestamp < 2.0  # the 1 s read timeout
    assert 0.5 <= frame.timestamp - outage.lost_at < 2.0  # the first attempt, 0.5 s later
    assert not capture_threads()


def test_stream_that_never_returns_ends_iteration(clip_frames: list[np.ndarray]) -> None:
    server = mjpeg_server(clip_frames, script=[(10, None)])
    start = time.monotonic()
    with open_source(server.url, reconnect_timeout_s=1.0) as source:
        received = sum(1 for _ in source)
    assert received >= 1
    assert source.gone
    (outage,) = source.outages
    assert outage.gave_up and outage.attempts == 2  # at 0.5 s, and at the 1 s deadline
    assert 1.0 <= outage.duration_s < 3.0
    assert time.monotonic() - start < 10
    assert not capture_threads()


def test_cli_run_on_a_stream_that_drops_then_goes(tmp_path: Path,
                                                  clip_frames: list[np.ndarray]) -> None:
    """The real `skelcam` on an MJPEG URL that drops 1 s into the run, is back 0.3 s later and
    gone for good 1.5 s after that. The run ends by itself, normally, with one "gone" line;
    the saved video is playable and shows the reconnect banner; the log has both outages."""
    server = mjpeg_server(clip_frames)
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    proc = subprocess.Popen(
        [*SKELCAM, "--video", server.url, "--save", str(out), "--log", str(log), "--no-show",
         "--pose", "mediapipe", "--reconnect-timeout", "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The "source ..." line comes once the models are loaded, right before the loop starts.
        assert proc.stdout is not None and proc.stdout.readline().startswith("source ")
        time.sleep(1.0)
        server.outage(0.3)
        time.sleep(1.5)
        server.stop()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
        server.stop()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    stream = f"warning: stream '{server.url}'"
    assert [w.removeprefix(stream).split()[0] for w in warnings] == \
        ["lost:", "back", "lost:", "gone:"], result.stderr
    assert warnings[-1].endswith(", 2 reconnect attempts; ending the run")
    assert "skelcam: stream gone" in result.stdout

    capture = cv2.VideoCapture(str(out))
    banners = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        assert image.shape == (SIZE[1], SIZE[0], 3)
        # "stream back after ...": a red panel at the top centre, after the outage only.
        top = image[6:22, SIZE[0] // 2 - 30:SIZE[0] // 2 + 30].reshape(-1, 3).mean(axis=0)
        banners.append(bool(top[2] > 110 and top[2] > top[0] + 50))
    capture.release()
    assert banners and not banners[0] and any(banners)

    records = [json.loads(line) for line in log.read_text().splitlines()]
    events = [r for r in records if "event" in r]
    assert [e["event"] for e in events] == ["stream_resumed", "stream_gone"]
    resumed, gone = events
    assert 0.3 <= resumed["outage_s"] < 2.0 and resumed["attempts"] >= 1
    assert gone["outage_s"] >= 1.5 and gone["attempts"] == 2  # at 0.5 s and at the deadline
    assert resumed["time"] == pytest.approx(resumed["lost_at"] + resumed["outage_s"], abs=0.01)
    assert resumed["time"] < gone["lost_at"] and records[-1] == gone
    frames = [r["frame"] for r in records]
    assert frames == sorted(frames)


class RtspServer:
    """aio-rtsp-toolkit's RTSP file server on 127.0.0.1, on an event loop of its own thread.

    It serves the files of `folder` over interleaved TCP (a UDP SETUP gets 461) and plays a
    file once per session, then closes the session: to the client, the stream drops. It records
    the Transport header of every SETUP. `close_port()` refuses new sessions and lets the ones
    under way finish; `shutdown()` ends everything.
    """

    def __init__(self, folder: Path) -> None:
        toolkit = pytest.importorskip("aio_rtsp_toolkit.server", reason="aio-rtsp-toolkit "
                                      "(the dev extra) is not installed")
        import aio_sockets.aio_sockets

        quiet = logging.getLogger("aio_rtsp_toolkit")
        aio_sockets.aio_sockets.logger = quiet
        self.port = free_port()
        self.transports: list[str] = []
        self._server = toolkit.RtspServer(str(folder), "127.0.0.1", self.port)
        self._server.logger = quiet
        parse = self._server.parse_interleaved_channels

        def record(transport: str) -> tuple[int, int] | None:
            self.transports.append(transport)
            return parse(transport)

        self._server.parse_interleaved_channels = record
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._server.start(), self._loop).result(10)

    def url(self, name: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{name}"

    def close_port(self) -> None:
        asyncio.run_coroutine_threadsafe(self._server.close(), self._loop).result(10)

    def shutdown(self) -> None:
        async def end_sessions() -> None:
            await self._server.close()
            sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in sessions:
                task.cancel()
            await asyncio.gather(*sessions, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(end_sessions(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def write_h264(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    """An H.264 mp4 of `frames`, as an RTSP camera would stream it (key frame every 10)."""
    av = pytest.importorskip("av", reason="PyAV (with aio-rtsp-toolkit's server) not installed")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return path


def test_rtsp_over_tcp_reconnects_and_ends_when_the_server_is_gone(
    tmp_path: Path, clip_frames: list[np.ndarray]
) -> None:
    """A real RTSP server (aio-rtsp-toolkit): each session plays the 1 s clip and ends, so the
    source sees the stream drop, reopens it (RTSP over TCP, as OpenCV asks FFmpeg by default)
    and plays on; once the server has closed its port the run ends after the reconnect
    timeout."""
    write_h264(tmp_path / "cam.mp4", clip_frames)
    server = RtspServer(tmp_path)
    sessions: list[list[tuple[int, float]]] = [[]]
    try:
        with open_source(server.url("cam.mp4"), reconnect_timeout_s=1.5) as source:
            info = source.info
            for frame in source:
                while len(sessions) <= len(source.outages):
                    sessions.append([])
                sessions[-1].append((frame.index, frame.timestamp))
                if len(sessions) == 2 and len(sessions[1]) == 1:
                    server.close_port()
            outages, gone, dropped = source.outages, source.gone, source.dropped
    finally:
        server.shutdown()
    assert info.is_stream and (info.width, info.height) == SIZE and info.fps == 30.0
    assert server.transports and all("RTP/AVP/TCP" in t for t in server.transports)
    assert len(outages) == 2 and gone
    assert not outages[0].gave_up and outages[1].gave_up
    assert len(sessions[0]) >= 5 and len(sessions[1]) >= 5
    first, second = sessions
    stamps = [t for _, t in first + second]
    assert stamps == sorted(stamps)
    gap = second[0][1] - first[-1][1]
    assert gap >= outages[0].duration_s
    # The reader sets the index after the outage from its own last frame before and first frame
    # after it. Under load the consumer may not have seen those (a live source keeps only the
    # newest frame), and each frame it missed adds one to the index step it sees; `dropped`
    # counts them. The step is then at least the outage and at most the seen gap plus the
    # missed frames; with nothing missed, it is the seen gap.
    jump = second[0][0] - first[-1][0]
    assert outages[0].duration_s * info.fps - 1 <= jump <= gap * info.fps + 1 + dropped
    if dropped == 0:
        assert jump == pytest.approx(gap * info.fps, abs=1)
    assert not capture_threads()


@pytest.mark.parametrize("url", ["rtsp://127.0.0.1:{port}/cam", "http://127.0.0.1:{port}/x.mjpg"])
def test_a_url_is_never_a_path(url: str) -> None:
    """Nothing listens there: the error names the whole URL, slashes included."""
    url = url.format(port=free_port())
    with pytest.raises(SkelcamError) as error:
        open_source(url)
    assert str(error.value).startswith(f"cannot open stream '{url}': nothing answered")
    assert "does not exist" not in str(error.value)


def test_unsupported_scheme_and_password_stay_out_of_messages() -> None:
    with pytest.raises(SkelcamError, match="unsupported URL scheme 'ftp'.*rtsp, rtsps, http"):
        open_source("ftp://127.0.0.1/clip.mp4")
    url = f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/live"
    assert redact(url) == url.replace("s3cret", "***")
    assert redact("rtsp://127.0.0.1/live") == "rtsp://127.0.0.1/live"
    with pytest.raises(SkelcamError) as error:
        open_source(url)
    assert "s3cret" not in str(error.value) and "admin:***@" in str(error.value)


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A plain HTTP file server (no range requests) on 127.0.0.1 for `tmp_path`."""
    handler = functools.partial(QuietFileHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietFileHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        """Quiet: the test output is for the test."""


def test_video_file_over_http_plays_like_a_file(http_folder: tuple[Path, str],
                                                clip_frames: list[np.ndarray]) -> None:
    """A container that states its frame count is a file, wherever it lives: every frame, in
    order, through the bounded queue; it is not reopened."""
    folder, base = http_folder
    writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, SIZE)
    for image in clip_frames:
        writer.write(image)
    writer.release()
    with open_source(f"{base}/clip.avi") as source:
        info = source.info
        indices = [frame.index for frame in source]
    assert not info.is_stream and not info.is_camera
    assert info.frame_count == len(clip_frames) == len(indices)
    assert indices == list(range(len(clip_frames)))


def test_image_sequence(tmp_path: Path, clip_frames: list[np.ndarray]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, image in enumerate(clip_frames[:12], start=1):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), image)
    with open_source(str(folder / "%05d.jpg")) as source:
        info = source.info
        images = [frame.image for frame in source]
    assert (info.width, info.height, info.frame_count) == (*SIZE, 12)
    assert info.fps == 25.0 and info.name == "%05d.jpg" and not info.is_stream
    assert len(images) == 12
    assert np.abs(images[3].astype(int) - clip_frames[3]).mean() < 3  # JPEG-close, in order

    with pytest.raises(SkelcamError, match="no file in .* matches it"):
        open_source(str(folder / "%03d.jpg"))
    with pytest.raises(SkelcamError, match="folder '.*nowhere' does not exist"):
        open_source(str(tmp_path / "nowhere" / "%05d.jpg"))


def test_cli_takes_a_url_as_given(capsys: pytest.CaptureFixture[str]) -> None:
    """The bug this fixes: `--video rtsp://host:port/cam` used to become a Path and lose a
    slash ("rtsp:/host:port/cam: file does not exist")."""
    from skelcam.realtime import cli

    url = f"rtsp://127.0.0.1:{free_port()}/cam"
    assert cli.build_parser().parse_args(["--video", url]).video == url
    assert cli.main(["--video", url, "--no-show", "--device", "cpu"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith(f"error: cannot open stream '{url}'")
    assert cli.main(["--video", url, "--reconnect-timeout", "-1"]) == 2
    assert "--reconnect-timeout must be 0 or more" in capsys.readouterr().err
