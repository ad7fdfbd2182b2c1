"""Tests of `realtime.capture` on the shared NTU clips and on fake cameras.

No test asserts how fast anything is; timeouts are generous and only prove that nothing hangs.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from skelcam.realtime import capture
from skelcam.realtime.capture import open_source
from skelcam.train.errors import SkelcamError

VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "videos"
TWO_PEOPLE = VIDEOS / "ntu_sample.avi"
ONE_PERSON = VIDEOS / "S001C001P001R001A001_rgb.avi"

needs_videos = pytest.mark.skipif(
    not TWO_PEOPLE.exists() or not ONE_PERSON.exists(), reason=f"shared clips not in {VIDEOS}"
)


def capture_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("skelcam-capture")]


@needs_videos
@pytest.mark.parametrize(("path", "frame_count"), [(TWO_PEOPLE, 72), (ONE_PERSON, 103)])
def test_source_info_of_shared_clips(path: Path, frame_count: int) -> None:
    with open_source(str(path)) as source:
        info = source.info
    assert info.width == 1920
    assert info.height == 1080
    assert info.fps == pytest.approx(30.0)
    assert info.frame_count == frame_count
    assert not info.is_camera
    assert info.name == path.name


@needs_videos
def test_file_source_yields_every_frame_in_order() -> None:
    indices, timestamps, kinds = [], [], set()
    with open_source(str(TWO_PEOPLE)) as source:
        for frame in source:  # keeps no images: 72 full-HD frames would take 450 MB
            indices.append(frame.index)
            timestamps.append(frame.timestamp)
            kinds.add((frame.image.shape, frame.image.dtype))
    assert indices == list(range(72))
    assert kinds == {((1080, 1920, 3), np.dtype(np.uint8))}
    assert timestamps == sorted(timestamps)
    assert source.dropped == 0
    assert source.read_ms > 0
    assert not capture_threads()


@needs_videos
def test_slow_consumer_still_gets_every_frame() -> None:
    indices = []
    with open_source(str(ONE_PERSON), queue_size=2) as source:
        for frame in source:
            time.sleep(0.005)
            indices.append(frame.index)
    assert indices == list(range(103))
    assert source.dropped == 0


@needs_videos
def test_leaving_the_with_block_mid_stream_joins_the_reader() -> None:
    with open_source(str(ONE_PERSON), queue_size=2) as source:
        frames = iter(source)
        assert [next(frames).index for _ in range(3)] == [0, 1, 2]
        assert capture_threads()
    assert not capture_threads()


@needs_videos
def test_breaking_out_of_the_loop_closes_the_source() -> None:
    source = open_source(str(ONE_PERSON), queue_size=2)
    for frame in source:
        if frame.index == 2:
            break
    assert not capture_threads()
    assert list(source) == []


@needs_videos
def test_keyboard_interrupt_in_the_loop_joins_the_reader() -> None:
    with pytest.raises(KeyboardInterrupt), open_source(str(ONE_PERSON)) as source:
        for frame in source:
            if frame.index == 5:
                raise KeyboardInterrupt
    assert not capture_threads()


@needs_videos
def test_closing_an_unread_source_starts_no_thread() -> None:
    source = open_source(str(TWO_PEOPLE))
    source.close()
    source.close()
    assert list(source) == []
    assert not capture_threads()


def write_empty_video(path: Path) -> Path:
    """A finalized video file with a header and no frames."""
    codec = "MJPG" if path.suffix == ".avi" else "mp4v"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 30, (64, 48))
    writer.release()
    return path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SkelcamError, match="file does not exist") as error:
        open_source(str(tmp_path / "nope.mp4"))
    assert "nope.mp4" in str(error.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(SkelcamError, match="is a directory"):
        open_source(str(tmp_path))


def test_text_file_renamed_to_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("these are not the frames you are looking for\n")
    with pytest.raises(SkelcamError, match="not a video"):
        open_source(str(path))


def test_video_with_zero_frames(tmp_path: Path) -> None:
    path = write_empty_video(tmp_path / "empty.avi")
    with pytest.raises(SkelcamError, match="has no frames"):
        open_source(str(path))


def test_mp4_with_zero_frames(tmp_path: Path) -> None:
    """OpenCV writes no index for an empty mp4, so FFmpeg cannot even open it."""
    path = write_empty_video(tmp_path / "empty.mp4")
    with pytest.raises(SkelcamError, match="cannot open video"):
        open_source(str(path))


@pytest.mark.parametrize("index", [99, "99"])
def test_unknown_camera_fails_without_hanging(index: int | str) -> None:
    start = time.monotonic()
    with pytest.raises(SkelcamError, match="cannot open camera 99"):
        open_source(index, camera_timeout_s=5.0)
    assert time.monotonic() - start < 15.0


class FakeCamera:
    """Stands in for `cv2.VideoCapture(index)`: `frames` quick frames, then failed reads."""

    def __init__(self, index: int, frames: int = 100, fps: float = 0.0, delay_s: float = 0.002):
        self.frames_left = frames
        self.fps = fps
        self.delay_s = delay_s
        self.released = False

    def isOpened(self) -> bool:
        return True

    def get(self, prop: int) -> float:
        return self.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(self.delay_s)
        if self.frames_left <= 0:
            return False, None
        self.frames_left -= 1
        return True, np.zeros((48, 64, 3), np.uint8)

    def release(self) -> None:
        self.released = True


def test_camera_keeps_only_the_newest_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    cameras: list[FakeCamera] = []

    def make(index: int) -> FakeCamera:
        cameras.append(FakeCamera(index, frames=101))
        return cameras[-1]

    monkeypatch.setattr(capture.cv2, "VideoCapture", make)
    received = []
    with open_source(0) as source:
        assert source.info == capture.SourceInfo(64, 48, 30.0, None, True, "camera 0")
        for frame in source:
            time.sleep(0.05)
            received.append(frame.index)
    # One frame went to validation; every later one was either consumed or dropped, and the
    # end of the stream (reads failing) ended the loop without an error.
    assert source.dropped > 0
    assert len(received) + source.dropped == 100
    assert received == sorted(received)
    assert received[-1] == 99
    assert cameras[0].released
    assert not capture_threads()


def test_camera_fps_is_used_when_sane(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture.cv2, "VideoCapture", lambda index: FakeCamera(index, fps=15.0))
    with open_source("0") as source:
        assert source.info.fps == 15.0


def test_camera_that_stops_delivering_ends_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    class StalledCamera(FakeCamera):
        def read(self) -> tuple[bool, np.ndarray | None]:
            if self.frames_left <= 0:
                time.sleep(0.5)  # a driver blocking inside read()
            return super().read()

    monkeypatch.setattr(capture.cv2, "VideoCapture", lambda index: StalledCamera(index, frames=4))
    with open_source(0, stall_timeout_s=0.3) as source:
        received = [frame.index for frame in source]
    assert received
    assert not capture_threads()


def test_camera_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    class HangingCamera(FakeCamera):
        def __init__(self, index: int) -> None:
            time.sleep(3.0)
            super().__init__(index)

    monkeypatch.setattr(capture.cv2, "VideoCapture", HangingCamera)
    start = time.monotonic()
    with pytest.raises(SkelcamError, match="did not respond within 0.3 s"):
        open_source(0, camera_timeout_s=0.3)
    assert time.monotonic() - start < 2.5


def test_camera_that_opens_but_delivers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture.cv2, "VideoCapture", lambda index: FakeCamera(index, frames=0))
    with pytest.raises(SkelcamError, match="delivered no frame"):
        open_source(0, camera_timeout_s=0.3)
