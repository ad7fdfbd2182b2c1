"""The `skelcam` command end to end: real clips, the offline pose backend, the shipped ONNX model.

Runs the installed console script as a user would (subprocess), so argument parsing, the one-line
error promise and signal handling are tested as they ship.
"""

from __future__ import annotations

import json
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from skelcam.train.shipped import LABELS, MODELS, ONNX_MODEL

VIDEOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "videos"
TWO_PEOPLE = VIDEOS / "ntu_sample.avi"
ONE_PERSON = VIDEOS / "S001C001P001R001A001_rgb.avi"
CUSTOM16 = VIDEOS.parent / "pyskl" / "custom16_coco17.pkl"
SKELCAM = [sys.executable, "-m", "skelcam.realtime"]

pytestmark = pytest.mark.skipif(not TWO_PEOPLE.is_file(), reason="shared/ clips not present")


def skelcam(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*SKELCAM, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def video_props(path: Path) -> tuple[int, float, int, int]:
    capture = cv2.VideoCapture(str(path))
    frames = 0
    while capture.read()[0]:
        frames += 1
    props = (frames, capture.get(cv2.CAP_PROP_FPS), int(capture.get(3)), int(capture.get(4)))
    capture.release()
    return props


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def two_people_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    out = tmp_path_factory.mktemp("run") / "out.mp4"
    log = out.with_suffix(".jsonl")
    result = skelcam("--video", TWO_PEOPLE, "--save", out, "--log", log, "--pose", "mediapipe",
                     "--no-show")
    assert result.returncode == 0, result.stderr
    return out, log, result.stdout


def test_saved_video_has_the_inputs_frames_fps_and_size(two_people_run) -> None:
    out, _, stdout = two_people_run
    assert video_props(out) == video_props(TWO_PEOPLE)
    assert "end-to-end FPS" in stdout and "pose ms" in stdout
    # BlazePose filters its own landmarks: no second filter by default.
    assert "pose: mediapipe (cpu) |" in stdout and "One Euro" not in stdout


def test_log_has_valid_top5_for_both_people(two_people_run) -> None:
    _, log, _ = two_people_run
    labels = LABELS.read_text().split()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records, "no classification was logged"
    assert len({r["track_id"] for r in records}) >= 2, "both people should be classified"
    for r in records:
        assert set(r) == {"time", "frame", "track_id", "box", "label", "top5"}
        probs = [p["probability"] for p in r["top5"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1.0001
        assert all(p["label"] in labels for p in r["top5"])
        x1, y1, x2, y2 = r["box"]
        assert 0 <= x1 < x2 <= 1920 and 0 <= y1 < y2 <= 1080
        assert r["time"] == pytest.approx(r["frame"] / 30, abs=1e-3)


def test_model_daily_runs_the_everyday_model_and_rejects_drinking(tmp_path: Path) -> None:
    """`--model daily` runs the shipped everyday-action model (29 labels, pairs) on the real
    drinking clip: every top-5 label is one of its labels, and drinking, which is none of them,
    ends as "no known action" for the run (the everyday-action issue's real-clip check)."""
    log = tmp_path / "drink.jsonl"
    result = skelcam("--video", ONE_PERSON, "--model", "daily", "--log", log, "--pose",
                     "mediapipe", "--no-show")
    assert result.returncode == 0, result.stderr
    assert "classifier: skelcam_daily29.onnx" in result.stdout
    labels = MODELS["daily"].labels.read_text().split()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and all(p["label"] in labels for r in records for p in r["top5"])
    summary = next(line for line in result.stdout.splitlines() if "main person's action" in line)
    assert "no known action" in summary


def test_log_label_is_the_decision_shown(two_people_run) -> None:
    """Each line's `label` is the top-1 shown or null ("no known action"); the shipped model
    rejects by the energy of its logits with the threshold calibrated for the run's pose backend
    (named at start-up), the NTU hug is none of its actions, and the run's summary names the
    whole clip's decision."""
    from skelcam.realtime.classifier import ActionClassifier

    _, log, stdout = two_people_run
    classifier = ActionClassifier(ONNX_MODEL, device="cpu")
    classifier.use_pose_backend("mediapipe")
    assert classifier.unknown_score == "energy"
    threshold = classifier.unknown_threshold
    assert f"no known action below energy {threshold:.2f} (calibrated on mediapipe)" in stdout
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(r["label"] in (None, r["top5"][0]["label"]) for r in records)
    assert any(r["label"] is None for r in records), "the hug is shown as no known action"
    assert "main person's action" in stdout


def test_overlay_is_drawn_on_people_and_leaves_the_rest(two_people_run) -> None:
    out, log, _ = two_people_run
    record = json.loads(log.read_text().splitlines()[-1])
    original = cv2.VideoCapture(str(TWO_PEOPLE))
    annotated = cv2.VideoCapture(str(out))
    for capture in (original, annotated):
        capture.set(cv2.CAP_PROP_POS_FRAMES, record["frame"])
    raw, drawn = original.read()[1], annotated.read()[1]
    diff = np.abs(raw.astype(int) - drawn.astype(int)).sum(axis=2) > 60
    x1, y1, x2, y2 = (int(v) for v in record["box"])
    assert diff[y1:y2, x1:x2].mean() > 0.02, "no skeleton or box drawn on the person"
    assert diff[:200, :300].mean() > 0.2, "no HUD in the top-left corner"
    # The bottom-right corner is floor, far from both people: only compression noise there.
    assert diff[-150:, -300:].mean() < 0.01


def test_one_person_clip(tmp_path: Path) -> None:
    out, log = tmp_path / "one.avi", tmp_path / "one.jsonl"
    result = skelcam("--video", ONE_PERSON, "--save", out, "--log", log, "--no-show")
    assert result.returncode == 0, result.stderr
    assert "pose: mediapipe" in result.stdout, "auto should pick the offline backend here"
    assert video_props(out) == video_props(ONE_PERSON)
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records and {r["track_id"] for r in records} == {records[0]["track_id"]}


def test_frames_without_people_are_normal(tmp_path: Path) -> None:
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    for _ in range(20):
        writer.write(np.full((240, 320, 3), 40, np.uint8))
    writer.release()
    out, log = tmp_path / "out.mp4", tmp_path / "out.jsonl"
    result = skelcam("--video", empty, "--save", out, "--log", log, "--no-show")
    assert result.returncode == 0, result.stderr
    assert video_props(out)[0] == 20
    assert log.read_text() == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_save_leaves_a_playable_file(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "interrupted.mp4"
    proc = subprocess.Popen([*SKELCAM, "--video", str(ONE_PERSON), "--save", str(out),
                             "--no-show"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 200_000):
        time.sleep(0.2)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted" in stdout
    frames = video_props(out)[0]
    assert 0 < frames < 103


def mp4_fragments(path: Path) -> int:
    """How many complete `moof` fragments the MP4 file at `path` holds (0 if it is missing)."""
    data = path.read_bytes() if path.exists() else b""
    fragments, offset = 0, 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size < 8 or offset + size > len(data):
            break
        fragments += kind == b"moof"
        offset += size
    return fragments


def test_sigkill_leaves_a_readable_video_and_whole_log_lines(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup: what was saved must already be readable when it arrives."""
    out, log = tmp_path / "killed.mp4", tmp_path / "killed.jsonl"
    proc = subprocess.Popen([*SKELCAM, "--video", str(ONE_PERSON), "--save", str(out), "--log",
                             str(log), "--pose", "mediapipe", "--no-show"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = 0
    while time.monotonic() < deadline and proc.poll() is None and seen < 1:
        seen = mp4_fragments(out)
        time.sleep(0.05)
    running = proc.poll() is None
    proc.kill()
    _, stderr = proc.communicate(timeout=60)
    assert running and seen >= 1, f"no fragment before the run ended or timed out: {stderr}"
    assert proc.returncode == -signal.SIGKILL
    frames, fps, width, height = video_props(out)
    # Every fragment seen before the kill (a second, 30 frames, each), and not the whole clip.
    assert 30 * seen <= frames < 103
    assert (fps, width, height) == (30, 1920, 1080)
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert all(0 <= r["frame"] < 103 for r in records)


def test_replay_draws_a_dataset_sample(tmp_path: Path, penn_subset) -> None:
    out = tmp_path / "replay.mp4"
    result = skelcam("replay", "--data", penn_subset.pickle, "--index", "3", "--save", out)
    assert result.returncode == 0, result.stderr
    assert "truth baseball_pitch" in result.stdout
    frames, fps, width, height = video_props(out)
    assert fps == 30 and frames > 0
    capture = cv2.VideoCapture(str(out))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frames // 2)
    image = capture.read()[1]
    assert image.mean() > 1, "the skeleton and top-5 should be drawn on the black canvas"


def test_replay_on_its_video(tmp_path: Path, penn_subset) -> None:
    """A sample as long as the video is drawn on it (a real Penn clip resampled to the NTU
    clip's frame count stands in for a sample recorded from that video)."""
    frames = video_props(ONE_PERSON)[0]
    with penn_subset.pickle.open("rb") as f:
        raw = pickle.load(f)
    ann = dict(raw["annotations"][0])
    idx = np.linspace(0, ann["total_frames"] - 1, frames).round().astype(int)
    ann.update(keypoint=ann["keypoint"][:, idx], keypoint_score=ann["keypoint_score"][:, idx],
               total_frames=frames)
    sample = tmp_path / "sample.pkl"
    with sample.open("wb") as f:
        pickle.dump({"split": {}, "annotations": [ann], "label_names": raw["label_names"]}, f)
    out = tmp_path / "replay.mp4"
    result = skelcam("replay", "--data", sample, "--index", "0", "--video", ONE_PERSON,
                     "--save", out)
    assert result.returncode == 0, result.stderr
    assert video_props(out)[2:] == (1920, 1080)


def test_replay_refuses_another_clips_video_and_foreign_labels(tmp_path: Path,
                                                               penn_subset) -> None:
    """A video of another length is someone else's clip; a label the model does not know
    cannot be compared with its prediction. Both are one line, and nothing is written."""
    out = tmp_path / "replay.mp4"
    result = skelcam("replay", "--data", penn_subset.pickle, "--index", "3", "--video",
                     ONE_PERSON, "--save", out)
    assert_one_line_error(result, "not this sample's video")
    result = skelcam("replay", "--data", CUSTOM16, "--index", "0", "--save", out)
    assert_one_line_error(result, "class_6", "not one of the 15 classes", "--labels")
    assert not out.exists()


def test_bad_inputs_get_one_clear_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    foreign = tmp_path / "foreign.onnx"
    shutil.copyfile(ONNX_MODEL, foreign)
    foreign.write_bytes(foreign.read_bytes()[:1000])
    cases = [
        (["--video", tmp_path / "missing.mp4"], "does not exist"),
        (["--video", tmp_path], "directory"),
        (["--video", text], "not a video"),
        (["--video", ONE_PERSON, "--save", tmp_path / "no" / "out.mp4"], "out.mp4"),
        (["--video", ONE_PERSON, "--save", tmp_path / "out.webm"], ".webm"),
        (["--video", ONE_PERSON, "--weights", foreign], "foreign.onnx"),
        (["--video", ONE_PERSON, "--weights", tmp_path / "none.onnx"], "does not exist"),
        (["--video", ONE_PERSON, "--pose", "openpose"], "openpose"),
        (["--video", ONE_PERSON, "--pose", "mmpose"], "pip install"),
        (["--video", ONE_PERSON, "--log", tmp_path / "no" / "log.jsonl"], "log.jsonl"),
        (["--camera", "57"], "camera"),
        (["--video", ONE_PERSON, "--max-people", "0"], "--max-people must be at least 1"),
        (["replay", "--data", tmp_path / "none.pkl", "--index", "0", "--save",
          tmp_path / "r.mp4"], "none.pkl"),
    ]
    for args, needle in cases:
        result = skelcam(*args, timeout=60)
        assert_one_line_error(result, needle)
    assert not (tmp_path / "out.webm").exists()
