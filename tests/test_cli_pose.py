"""`skelcam` with the pose options of the yolo / top-down backends, end to end (subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
YOLO_ONNX = SHARED / "models" / "yolo11n-pose-640.onnx"
VTEST = SHARED / "data" / "videos" / "vtest.avi"
SKELCAM = [sys.executable, "-m", "skelcam.realtime"]

pytestmark = pytest.mark.skipif(not YOLO_ONNX.is_file(), reason="shared/ models not present")


def skelcam(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([*SKELCAM, *map(str, args)], capture_output=True, text=True, timeout=240)


def short_clip(path: Path, frames: int = 12) -> Path:
    """The first frames of vtest.avi (several pedestrians), from frame 500, as a small file."""
    capture = cv2.VideoCapture(str(VTEST))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 500)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(frames):
        writer.write(capture.read()[1])
    writer.release()
    capture.release()
    return path


def test_yolo_with_smoothing_runs_the_whole_loop(tmp_path):
    out = tmp_path / "out.mp4"
    result = skelcam("--video", short_clip(tmp_path / "in.avi"), "--pose", "yolo",
                     "--pose-model", YOLO_ONNX, "--max-people", "8", "--save", out,
                     "--no-show")  # fmt: skip
    assert result.returncode == 0, result.stderr
    # yolo's joints pass through the One Euro filter unless --no-smooth (README, "Smoothing").
    assert "pose: yolo (cpu), One Euro smoothing" in result.stdout
    # The shipped model carries a threshold calibrated on yolo's own replays, and says so.
    assert "(calibrated on yolo)" in result.stdout
    # ... and averages a window of 1.6 s and one of 3.2 s (README, "Time spans").
    assert "windows of 1.6 + 3.2 s" in result.stdout
    capture = cv2.VideoCapture(str(out))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 12


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--pose", "mediapipe", "--det-every", "3"], "does not take option(s) det_every"),
        (["--pose", "yolo", "--pose-model", YOLO_ONNX, "--pose-input-size", "320"],
         "fixed 640x640 input, not 320"),
    ],
)
def test_pose_options_that_do_not_fit_are_one_line(tmp_path, args, needle):
    result = skelcam("--video", VTEST, "--no-show", "--device", "cpu", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], lines
