"""Tests of `realtime.writer` and `realtime.signals`: round trips, bad paths, interrupted runs."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from realtime.signals import deferred_interrupts, graceful_interrupts
from realtime.writer import VideoWriter, check_output_path
from train.errors import SkelcamError

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


@pytest.mark.parametrize(("name", "fps"), [("out.mp4", 30.0), ("out.avi", 25.0), ("OUT.MP4", 15)])
def test_round_trip(tmp_path: Path, name: str, fps: float) -> None:
    levels = [20 * i for i in range(12)]
    with VideoWriter(tmp_path / name, fps, (WIDTH, HEIGHT), queue_size=2) as writer:
        for level in levels:
            writer.write(grey_frame(level))
    assert writer.frames_written == len(levels)
    assert writer.write_ms > 0

    frames, read_fps = read_back(tmp_path / name)
    assert len(frames) == len(levels)
    assert read_fps == pytest.approx(fps)
    assert all(frame.shape == (HEIGHT, WIDTH, 3) for frame in frames)
    # Lossy codecs, so only check that each frame is the one that was written.
    assert [float(frame.mean()) for frame in frames] == pytest.approx(levels, abs=6)


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
        ("out.mkv", r"unsupported extension '\.mkv' \(supported: \.avi, \.mp4\)"),
        ("out", r"unsupported extension '' \(supported: \.avi, \.mp4\)"),
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

    from realtime.signals import graceful_interrupts
    from realtime.writer import VideoWriter

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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("name", ["out.mp4", "out.avi"])
def test_interrupted_run_leaves_a_playable_file(
    tmp_path: Path, signum: signal.Signals, name: str
) -> None:
    path = tmp_path / name
    process = subprocess.Popen(
        [sys.executable, "-c", INTERRUPTED_RUN, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # no hang, whatever goes wrong
    watchdog.start()
    try:
        assert process.stdout is not None
        if process.stdout.readline() != "writing\n":
            process.kill()
            pytest.fail(f"the writing process failed: {process.communicate()[1]}")
        process.send_signal(signum)
        _, stderr = process.communicate()
    finally:
        watchdog.cancel()
        process.kill()
    assert process.returncode == 130, stderr
    frames, _ = read_back(path)
    assert len(frames) > 10
