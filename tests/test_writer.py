"""Tests of `realtime.writer` and `realtime.signals`: round trips, bad paths, interrupted and
killed runs. Every video is decoded back, with OpenCV (as the rest of the suite reads videos) and
with PyAV (to see the codec and the container's layout)."""

from __future__ import annotations

import logging
import signal
import struct
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from skelcam.realtime import writer as writer_module
from skelcam.realtime.signals import deferred_interrupts, graceful_interrupts
from skelcam.realtime.writer import VideoWriter, check_output_path, h264_encoder
from skelcam.train.errors import SkelcamError

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 160, 120


def grey_frame(level: int) -> np.ndarray:
    return np.full((HEIGHT, WIDTH, 3), level, np.uint8)


def read_back(path: Path) -> tuple[list[np.ndarray], float]:
    """Every frame cv2 can decode from `path` (counted by reading, not from metadata), and fps."""
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"cv2 cannot open {path}"
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames, fps


def codec_of(path: Path) -> str:
    """The video codec of `path` as FFmpeg names it (h264, mpeg4)."""
    with av.open(str(path)) as container:
        return container.streams.video[0].codec_context.name


def expected_codec(name: str) -> str:
    """What the writer should use for `name` with the FFmpeg this test runs on."""
    if Path(name).suffix.lower() == ".avi" or h264_encoder() is None:
        return "mpeg4"
    return "h264"


def mp4_boxes(path: Path) -> list[str]:
    """The types of the complete top-level boxes of an MP4 file, in order."""
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size < 8 or offset + size > len(data):
            break
        boxes.append(kind.decode("ascii"))
        offset += size
    return boxes


def test_pyav_has_an_h264_encoder() -> None:
    """PyAV's wheels bundle x264; without it every other test here would only see the fallback."""
    assert h264_encoder() == "libx264"


@pytest.mark.parametrize(
    ("name", "fps"), [("out.mp4", 30.0), ("out.avi", 25.0), ("OUT.MP4", 15), ("out.mkv", 24.0)]
)
def test_round_trip(tmp_path: Path, name: str, fps: float) -> None:
    levels = [20 * i for i in range(12)]
    with VideoWriter(tmp_path / name, fps, (WIDTH, HEIGHT), queue_size=2) as writer:
        for level in levels:
            writer.write(grey_frame(level))
    assert writer.frames_written == len(levels)
    assert writer.write_ms > 0
    assert codec_of(tmp_path / name) == expected_codec(name)

    frames, read_fps = read_back(tmp_path / name)
    assert len(frames) == len(levels)
    assert read_fps == pytest.approx(fps)
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in frames)
    # Lossy codecs, so only check that each frame is the one that was written.
    assert [float(frame.mean()) for frame in frames] == pytest.approx(levels, abs=6)


def test_mp4_is_fragmented_with_a_keyframe_every_second(tmp_path: Path) -> None:
    """Header and empty index first, then one fragment per second: what survives a kill."""
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 10, (WIDTH, HEIGHT)) as writer:
        for level in range(35):
            writer.write(grey_frame(level))
    boxes = mp4_boxes(path)
    assert boxes[:2] == ["ftyp", "moov"]
    assert boxes[2:-1] == ["moof", "mdat"] * 4, boxes  # frames 0-9, 10-19, 20-29, 30-34
    assert boxes[-1] == "mfra"  # the fragment index, written by a clean close
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        keyframes = [i for i, packet in enumerate(container.demux(stream))
                     if packet.size and packet.is_keyframe]
    assert keyframes == [0, 10, 20, 30]


def test_ntsc_frame_rate_is_stored_exactly(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoWriter(path, 30000 / 1001, (WIDTH, HEIGHT)) as writer:
        for level in range(5):
            writer.write(grey_frame(level))
    with av.open(str(path)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    assert read_back(path)[1] == pytest.approx(29.97, abs=0.001)


@pytest.mark.parametrize("name", ["out.mp4", "out.avi"])
def test_odd_frame_size_gets_one_copied_column_and_row(tmp_path: Path, name: str) -> None:
    """yuv420p needs even sides: 161x121 is saved as 162x122, the last column and row repeated."""
    image = np.zeros((121, 161, 3), np.uint8)
    image[:, -1] = 250  # a bright last column and a mid-grey last row
    image[-1, :] = 120
    with VideoWriter(tmp_path / name, 30, (161, 121)) as writer:
        writer.write(image)
    (frame,), _ = read_back(tmp_path / name)
    assert frame.shape == (122, 162, 3)
    assert float(frame[:100, -2:].mean()) == pytest.approx(250, abs=12)
    assert float(frame[-2:, :100].mean()) == pytest.approx(120, abs=12)
    assert float(frame[:100, :100].mean()) == pytest.approx(0, abs=6)


def test_without_h264_mp4_and_mkv_fall_back_to_mpeg4_with_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(writer_module, "H264_ENCODERS", ("no-such-h264-encoder",))
    h264_encoder.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="skelcam.realtime.writer"):
            for name in ("out.mp4", "out.mkv", "again.mp4"):
                with VideoWriter(tmp_path / name, 30, (WIDTH, HEIGHT)) as writer:
                    for level in (0, 100, 200):
                        writer.write(grey_frame(level))
                assert writer.codec == "mpeg4"
                assert codec_of(tmp_path / name) == "mpeg4"
                frames, _ = read_back(tmp_path / name)
                assert [float(f.mean()) for f in frames] == pytest.approx([0, 100, 200], abs=6)
    finally:
        h264_encoder.cache_clear()  # monkeypatch restores the list; the next call re-checks
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "no H.264 encoder" in warnings[0] and "MPEG-4 part 2" in warnings[0]
    assert "\n" not in warnings[0] and len(warnings[0]) < 70  # one line, even in a narrow terminal


def test_writer_copies_the_frame(tmp_path: Path) -> None:
    """The caller may reuse its buffer as soon as `write` returns."""
    buffer = grey_frame(0)
    with VideoWriter(tmp_path / "out.avi", 30, (WIDTH, HEIGHT)) as writer:
        for level in (0, 200):
            buffer[:] = level
            writer.write(buffer)
    frames, _ = read_back(tmp_path / "out.avi")
    assert [float(frame.mean()) for frame in frames] == pytest.approx([0, 200], abs=6)


def test_wrong_frame_size_is_refused_and_the_file_still_closes(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with (
        pytest.raises(ValueError, match="does not match"),
        VideoWriter(path, 30, (WIDTH, HEIGHT)) as writer,
    ):
        writer.write(grey_frame(100))
        writer.write(np.zeros((HEIGHT, WIDTH + 1, 3), np.uint8))
    frames, _ = read_back(path)
    assert len(frames) == 1


def test_close_is_idempotent_and_write_after_close_fails(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", 30, (WIDTH, HEIGHT))
    writer.write(grey_frame(0))
    writer.close()
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(grey_frame(0))
    assert writer.frames_written == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing/out.mp4", "directory .* does not exist"),
        ("a_directory", "is a directory"),
        ("out.webm", r"unsupported extension '\.webm' \(supported: \.avi, \.mkv, \.mp4\)"),
        ("out", r"unsupported extension '' \(supported: \.avi, \.mkv, \.mp4\)"),
    ],
)
def test_unusable_output_path_fails_before_writing(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "a_directory").mkdir()
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(SkelcamError, match=message):
        check_output_path(tmp_path / name)
    with pytest.raises(SkelcamError, match=message):
        VideoWriter(tmp_path / name, 30, (WIDTH, HEIGHT))
    assert sorted(tmp_path.rglob("*")) == before


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_one_error_line(tmp_path: Path) -> None:
    """A write that fails mid-run (here: every write, ENOSPC) ends the run with a SkelcamError."""
    path = tmp_path / "full.mp4"
    path.symlink_to("/dev/full")
    with (
        pytest.raises(SkelcamError, match=r"cannot save video to '.*full\.mp4': .*space"),
        VideoWriter(path, 10, (WIDTH, HEIGHT)) as writer,
    ):
        for level in range(100):
            writer.write(grey_frame(level))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_folder_that_refuses_new_files_is_one_error_line() -> None:
    """/proc refuses new files even to root, for whom `os.access` says every folder is writable."""
    with pytest.raises(SkelcamError, match=r"^cannot save video to '/proc/out\.mp4': cannot "
                                           r"write to '/proc' \(No such file or directory\)$"):
        check_output_path("/proc/out.mp4")


def test_output_path_check_leaves_an_existing_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous run")
    assert check_output_path(str(path)) == path
    assert path.read_bytes() == b"previous run"
    assert sorted(tmp_path.iterdir()) == [path]


def test_graceful_interrupts_turns_sigterm_into_keyboard_interrupt() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"), graceful_interrupts():
        signal.raise_signal(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is previous


def test_deferred_interrupts_holds_a_signal_until_the_block_ends() -> None:
    finished = False
    with pytest.raises(KeyboardInterrupt), graceful_interrupts(), deferred_interrupts():
        signal.raise_signal(signal.SIGTERM)
        finished = True
    assert finished


INTERRUPTED_RUN = textwrap.dedent(
    """
    import itertools
    import sys
    import time

    import numpy as np

    from skelcam.realtime.signals import graceful_interrupts
    from skelcam.realtime.writer import VideoWriter

    frame = np.zeros((120, 160, 3), np.uint8)
    try:
        with graceful_interrupts(), VideoWriter(sys.argv[1], 30, (160, 120)) as writer:
            for i in itertools.count():
                frame[:] = i % 256
                writer.write(frame)
                if i == 10:
                    print("writing", flush=True)
                time.sleep(0.005)
    except KeyboardInterrupt:
        sys.exit(130)
    """
)


@contextmanager
def writing_process(script: str, path: Path) -> Iterator[subprocess.Popen]:
    """`script` run on `path` in a child Python, killed at the end and after 60 s whatever goes
    wrong (no hung test)."""
    process = subprocess.Popen([sys.executable, "-c", script, str(path)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        yield process
    finally:
        watchdog.cancel()
        process.kill()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", ["out.mp4", "out.mkv", "out.avi"])
def test_interrupted_run_leaves_a_playable_file(
    tmp_path: Path, signum: signal.Signals, name: str
) -> None:
    path = tmp_path / name
    with writing_process(INTERRUPTED_RUN, path) as process:
        if process.stdout.readline() != "writing\n":
            process.kill()
            pytest.fail(f"the writing process failed: {process.communicate()[1]}")
        process.send_signal(signum)
        _, stderr = process.communicate()
    assert process.returncode == 130, stderr
    frames, _ = read_back(path)
    assert len(frames) > 10


KILLED_RUN = textwrap.dedent(
    """
    import itertools
    import sys
    import time

    import numpy as np

    from skelcam.realtime.writer import VideoWriter

    frame = np.zeros((120, 160, 3), np.uint8)
    with VideoWriter(sys.argv[1], 30, (160, 120)) as writer:
        for i in itertools.count():
            frame[:] = i % 256
            writer.write(frame)
            print(writer.frames_written, flush=True)
            time.sleep(0.01)
    """
)


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv"])
def test_sigkill_loses_at_most_the_last_second(tmp_path: Path, name: str) -> None:
    """SIGKILL runs no cleanup at all: the file must already hold every finished fragment."""
    path = tmp_path / name
    encoded = 0
    with writing_process(KILLED_RUN, path) as process:
        for line in process.stdout:
            encoded = int(line)
            if encoded >= 80:
                break
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    assert encoded >= 80, f"the writing process failed: {stderr}"
    assert process.returncode == -signal.SIGKILL
    assert codec_of(path) == expected_codec(name)
    frames, fps = read_back(path)
    assert fps == pytest.approx(30)
    # At least every frame up to the last keyframe before `encoded` (a fragment a second).
    assert len(frames) >= encoded - 30
    levels = [float(frame.mean()) for frame in frames]
    assert levels == pytest.approx(list(range(len(frames))), abs=6)
