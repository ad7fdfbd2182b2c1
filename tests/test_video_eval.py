"""The real-video evaluation: real dev clips, the real pose backend, the shipped ONNX model.

Two short real clips of the dev set (a golf swing, a baseball pitch) and one real clip of no
known action (the NTU hug) go through `python -m train evaluate-videos`' code; the poses are
recorded once per session into a temporary cache, which the later tests replay.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from skelcam.train.errors import SkelcamError
from skelcam.train.shipped import ONNX_MODEL
from tests.conftest import SHARED

pytest.importorskip("mediapipe")

DEV = SHARED / "clips" / "penn-dev"
CLIPS = [("golf_swing", DEV / "golf_swing/hsway_MJR_range.mp4"),
         ("baseball_pitch", DEV / "baseball_pitch/beomjin_side_view.mov"),
         ("unknown", SHARED / "videos" / "ntu_sample.avi")]
POSE_OPTIONS = {"max_people": 4}


def live(cache: Path):
    from skelcam.train.video_eval import LiveSettings

    return LiveSettings("mediapipe", POSE_OPTIONS, cache, stride=4, smoothing=0.5)

pytestmark = pytest.mark.skipif(not all(p.is_file() for _, p in CLIPS),
                                reason=f"real dev clips not found under {SHARED}")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifest") / "dev.tsv"
    rows = ["class\tfile"] + [f"{label}\t{clip}" for label, clip in CLIPS]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def recorded(manifest: Path, tmp_path_factory: pytest.TempPathFactory):
    """Each clip evaluated once from scratch (poses recorded into a fresh cache)."""
    from skelcam.train.video_eval import run_evaluation

    cache = tmp_path_factory.mktemp("poses")
    results, names, classifier = run_evaluation(manifest, ONNX_MODEL, live(cache),
                                                Console(quiet=True))
    return cache, results, names, classifier


def test_poses_are_cached_and_replayed_exactly(manifest: Path, recorded) -> None:
    """The second run takes every clip's poses from the cache (no pose time) and decides exactly
    as the first run, window by window."""
    from skelcam.train.video_eval import run_evaluation

    cache, first, _, _ = recorded
    assert not any(r.cached for r in first) and all(r.pose_seconds > 0 for r in first)
    assert len(list(cache.rglob("*.npz"))) == len(CLIPS)
    again, _, _ = run_evaluation(manifest, ONNX_MODEL, live(cache), Console(quiet=True))
    for a, b in zip(first, again, strict=True):
        assert b.cached and b.pose_seconds == 0
        assert a.frames == b.frames and a.frames_with_people == b.frames_with_people
        np.testing.assert_allclose(a.window_probabilities, b.window_probabilities, atol=1e-6)
        assert a.clip_label == b.clip_label


def test_recording_matches_the_clip(recorded) -> None:
    """A recording has one entry per decoded video frame (containers' frame counts can be
    wrong: the golf clip claims 135 and holds 87), and people in most of them."""
    import cv2

    from skelcam.realtime.pose.recording import PoseRecording

    cache, results, _, _ = recorded
    for result in results:
        capture = cv2.VideoCapture(str(result.clip.path))
        frames = 0
        while capture.grab():
            frames += 1
        capture.release()
        assert result.frames == frames
        assert result.frames_with_people > 0.8 * result.frames
    recording = PoseRecording.load(next(cache.rglob("*.npz")))
    assert len(recording) in {r.frames for r in results}


def test_decision_rule_takes_the_largest_person() -> None:
    """At each step the subject is the classified person with the largest box; the clip's scores
    are the mean of the subject's probabilities, and the threshold turns a weak winner into
    "no known action"."""
    from skelcam.realtime.decision import ClipVote

    vote = ClipVote()
    small, big = [0, 0, 10, 10], [0, 0, 100, 200]
    first = [np.array([0.9, 0.1]), np.array([0.3, 0.7])]
    second = [np.array([0.5, 0.5]), np.array([1.0, 0.0])]
    assert vote.add(np.array([small, big], float), first) == 1
    assert vote.add(np.array([big, small], float), second) == 0
    np.testing.assert_allclose(vote.scores, [0.4, 0.6])
    assert vote.decide(0.5) == 1
    assert vote.decide(0.61) is None
    assert ClipVote().decide(0.0) is None


def test_energy_rejection_reads_the_mean_energy_not_the_probability() -> None:
    """A model that rejects by energy: the score is T * logsumexp(logits / T), and the clip's
    decision compares the subject's mean energy with the threshold, whatever its top-1
    probability."""
    from skelcam.realtime.decision import ClipVote, energy, label_for

    logits = np.array([[2.0, 0.0, -1.0], [0.2, 0.1, 0.0]])
    expected = 0.5 * np.log(np.exp(4.0) + np.exp(0.0) + np.exp(-2.0))
    assert energy(logits, 0.5)[0] == pytest.approx(expected)
    assert energy(logits, 1.0)[1] < energy(logits, 1.0)[0]
    sure = np.array([0.9, 0.05, 0.05])
    assert label_for(sure, 2.0, confidence=1.5) is None
    assert label_for(sure, 2.0, confidence=2.5) == 0
    assert label_for(sure, 0.5) == 0
    vote = ClipVote()
    box = np.array([[0, 0, 10, 10]], float)
    vote.add(box, [sure], [3.0])
    vote.add(box, [sure], [1.0])
    assert vote.confidence == pytest.approx(2.0) and vote.last_confidence == 1.0
    assert vote.decide(2.0) == 0 and vote.decide(2.01) is None


def test_smoothing_reaches_the_classifier(recorded) -> None:
    """`--smooth` replays the cached raw poses through the One Euro filter, as `skelcam --smooth`
    does: the same steps, with joints (hence probabilities) that differ."""
    from skelcam.train.video_eval import classify_recording, recording_for

    cache, results, _, classifier = recorded
    recording, _, hit = recording_for(results[0].clip.path, live(cache))
    _, raw, *_ = classify_recording(recording, classifier, 4, 0.5)
    _, smooth, *_ = classify_recording(recording, classifier, 4, 0.5, smooth=True)
    assert hit and len(raw) == len(smooth) == len(results[0].window_probabilities) > 0
    np.testing.assert_allclose(raw, results[0].window_probabilities, atol=1e-6)
    assert np.abs(np.array(raw) - np.array(smooth)).max() > 1e-3


def test_rejection_counts(recorded) -> None:
    """With a threshold above any score every clip is "no known action": the known clips count
    as false rejections, the unknown one as rejected, and top-5 (which ignores rejection) is
    unchanged."""
    from skelcam.train.video_eval import classify_recording, recording_for, summarize

    cache, results, names, classifier = recorded
    threshold = classifier.unknown_threshold
    summary = summarize(results, names)
    assert summary["clips"] == 2 and summary["unknown_clips"] == 1
    assert set(summary) >= {"clip_top1", "clip_top5", "window_top1", "per_class", "per_clip",
                            "nobody_found", "seconds_per_clip", "unknown_rejection_rate"}
    strict = []
    classifier.unknown_threshold = 1e9
    try:
        for r in results:
            recording, _, hit = recording_for(r.clip.path, live(cache))
            vote, _, labels, _, _ = classify_recording(recording, classifier, 4, 0.5)
            assert hit and vote.decide(1e9) is None and all(label is None for label in labels)
            strict.append(replace(r, clip_label=vote.decide(1e9), window_labels=labels))
    finally:
        classifier.unknown_threshold = threshold
    rejected = summarize(strict, names)
    assert rejected["false_rejections"] == 2 and rejected["unknown_rejected"] == 1
    assert rejected["clip_top1"] == 0.0 and rejected["clip_top5"] == summary["clip_top5"]


def test_command_line_writes_json_and_png(manifest: Path, recorded, tmp_path: Path) -> None:
    """`python -m train evaluate-videos` on the cached poses: a results JSON with the figures and
    the per-clip table, and the confusion PNG."""
    cache = recorded[0]
    out = tmp_path / "dev.json"
    done = subprocess.run(
        [sys.executable, "-m", "train", "evaluate-videos", "--manifest", str(manifest),
         "--pose", "mediapipe", "--cache", str(cache), "--json", str(out), "--plots",
         str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert record["clips"] == 2 and len(record["per_clip"]) == 3
    assert all(row["cached_poses"] for row in record["per_clip"])
    assert record["pose"] == "mediapipe" and "clip top-1" in done.stdout
    assert (tmp_path / "video_confusion_matrix.png").stat().st_size > 10_000


def test_bad_manifests_are_one_line(tmp_path: Path) -> None:
    """A missing manifest, one without the columns, and a row naming a missing video."""
    from skelcam.train.video_eval import read_manifest

    with pytest.raises(SkelcamError, match="does not exist"):
        read_manifest(tmp_path / "none.tsv")
    (tmp_path / "cols.tsv").write_text("label\tpath\nsquat\tx.mp4\n")
    with pytest.raises(SkelcamError, match="'class' and 'file'"):
        read_manifest(tmp_path / "cols.tsv")
    (tmp_path / "gone.tsv").write_text("class\tfile\nsquat\tgone.mp4\n")
    done = subprocess.run([sys.executable, "-m", "train", "evaluate-videos", "--manifest",
                           str(tmp_path / "gone.tsv"), "--pose", "mediapipe"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "gone.mp4' does not exist" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_corrupt_cache_file_is_one_line(tmp_path: Path) -> None:
    from skelcam.realtime.pose.recording import PoseRecording

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a recording")
    with pytest.raises(SkelcamError, match="not a skelcam pose recording"):
        PoseRecording.load(bad)


def test_videos_become_training_clips_of_their_main_person(
    manifest: Path, recorded, penn_subset, tmp_path: Path
) -> None:
    """`convert videos`: each known clip's main track (from the cached poses: no pose estimation
    here) becomes training clips at the video's frame rate, cut into segments, one source per
    fold, added to a real Penn pickle with Penn's joints only; `a+b` trains on both."""
    from skelcam.train.data import Augment, WindowDataset, load_pyskl
    from skelcam.train.video_eval import recording_for
    from skelcam.train.video_poses import convert_videos, main_track, segments

    cache, results, names, _ = recorded
    out = tmp_path / "penn_plus_videos.pkl"
    summary = convert_videos(manifest, out, names, live(cache), folds=2,
                             add_to=penn_subset.pickle, segment_s=1.0)
    data = load_pyskl(out)
    videos = [data.clips[i] for i in data.split("videos")]
    known = [r for r in results if r.clip.label != "unknown"]
    assert summary["clips"] == len(videos) and not summary["skipped"]
    for result in known:
        parts = [c for c in videos if c.name.startswith(f"video/{result.clip.path.name}#")]
        length = round(result.fps)
        recording, _, cached = recording_for(result.clip.path, live(cache))
        track, _ = main_track(recording)
        assert cached and len(parts) == len(segments(len(track), length)) > 1
        assert sum(c.keypoints.shape[1] for c in parts) == len(track) > 0.8 * result.frames
        assert {c.label for c in parts} == {names.index(result.clip.label)}
        assert all(c.fps == pytest.approx(result.fps) for c in parts)
        assert all(0.5 * length <= c.keypoints.shape[1] < 2 * length for c in parts)
    assert {c.name.split("#")[0] for c in videos} == {f"video/{r.clip.path.name}" for r in known}
    # Penn Action has no eyes or ears; the video clips keep only the joints Penn has.
    penn = load_pyskl(penn_subset.pickle)
    assert data.used_joints(data.split("videos")) == penn.used_joints(range(len(penn.clips)))
    folds = [set(data.split(f"videos_fold{k}")) for k in (1, 2)]
    assert folds[0] and folds[1] and not folds[0] & folds[1]
    assert len({data.clips[i].name.split("#")[0] for i in folds[0]}) == 1
    union = data.split("train+videos_fold1")
    assert len(union) == len(penn.split("train")) + len(folds[0])
    windows = WindowDataset(data, union, 48, 1, Augment())
    kp, sc, label = windows[len(union) - 1]
    assert kp.shape[-3:] == (48, 17, 2) and int(label) == data.clips[union[-1]].label


def test_segments_cover_every_frame_once() -> None:
    from skelcam.train.video_poses import segments

    for frames, length in [(10, 0), (100, 30), (119, 60), (120, 60), (1402, 120)]:
        parts = segments(frames, length)
        assert parts[0][0] == 0 and parts[-1][1] == frames
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))
        if length > 0 and frames >= 2 * length:
            assert all(0.5 * length <= b - a < 1.5 * length for a, b in parts)
        else:
            assert parts == [(0, frames)]
