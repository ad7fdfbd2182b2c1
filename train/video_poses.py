"""`python -m train convert videos`: labelled real videos as training clips, from their poses.

Annotated joints are not what the live loop sees (README, "How live poses differ from the
annotations"); the poses a live backend estimates on real footage are. This turns the clips of a
manifest (the one `evaluate-videos` reads) into a PYSKL pickle of estimated poses, one clip per
video: the main person's track, as the live loop tracks people (`realtime.tracking.Tracker`),
with the video's frame rate kept so that training windows span the seconds live windows span.
The poses come from the same cache as the evaluation (`video_eval.recording_for`), so a clip
already evaluated costs no pose estimation.

The main person is the track with the largest sum of box areas over the clip: large and long
(the performer, not a passer-by or an umpire who steps into view for a second).

Folds keep each source (the manifest's `source_repo`) whole, so that a model trained on some
folds and measured on another is measured on cameras, people and framings it never saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import NUM_JOINTS
from skelcam.train.video_eval import UNKNOWN_CLASS, LiveSettings, ManifestClip, read_manifest

# A track must be seen in this many frames to count as the clip's main person (one window).
MIN_FRAMES = 24


def main_track(recording) -> tuple[np.ndarray, np.ndarray] | None:
    """The main person's keypoints [T, 17, 2] and scores [T, 17] from their first to their last
    frame (zero scores where the track was not seen), or None if nobody was tracked long enough."""
    from skelcam.realtime.decision import box_areas
    from skelcam.realtime.tracking import Tracker

    tracker = Tracker.for_video(recording.fps)
    tracks: dict[int, dict[int, tuple[np.ndarray, np.ndarray, float]]] = {}
    for index, poses in enumerate(recording.frames):
        ids = tracker.update(poses.boxes, poses.xy, poses.scores, index)
        areas = box_areas(poses.boxes)
        for row, track in enumerate(ids):
            tracks.setdefault(int(track), {})[index] = (poses.xy[row], poses.scores[row],
                                                        float(areas[row]))
    tracks = {t: seen for t, seen in tracks.items() if len(seen) >= MIN_FRAMES}
    if not tracks:
        return None
    best = max(tracks.values(), key=lambda seen: sum(area for _, _, area in seen.values()))
    first, last = min(best), max(best)
    keypoints = np.zeros((last - first + 1, NUM_JOINTS, 2), np.float32)
    scores = np.zeros((last - first + 1, NUM_JOINTS), np.float32)
    for index, (xy, sc, _) in best.items():
        keypoints[index - first], scores[index - first] = xy, sc
    return keypoints, scores


def segments(frames: int, length: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of about `length` frames covering `frames`; a remainder shorter
    than half a segment joins the last one. `length` <= 0: one range."""
    if length <= 0 or frames < 2 * length:
        return [(0, frames)]
    count = max(1, round(frames / length))
    bounds = np.linspace(0, frames, count + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def assign_folds(clips: list[ManifestClip], folds: int) -> list[int]:
    """A fold per clip: whole sources, largest first, each to the fold with the fewest clips
    (ties to the lower fold), so folds are about equal in size and deterministic."""
    sizes: dict[str, int] = {}
    for clip in clips:
        sizes[clip.source] = sizes.get(clip.source, 0) + 1
    counts = [0] * folds
    fold_of: dict[str, int] = {}
    for source in sorted(sizes, key=lambda s: (-sizes[s], s)):
        fold = int(np.argmin(counts))
        fold_of[source] = fold
        counts[fold] += sizes[source]
    return [fold_of[clip.source] for clip in clips]


def convert_videos(
    manifest: Path,
    out: Path,
    class_names: list[str],
    live: LiveSettings,
    folds: int = 2,
    add_to: Path | None = None,
    segment_s: float = 0.0,
) -> dict[str, Any]:
    """Write the manifest's clips (estimated poses) as a PYSKL pickle; returns a summary.

    Splits: `videos` (every converted clip) and `videos_fold1` ... `videos_foldK`. With `add_to`,
    the output also holds that pickle's clips and splits (class names must match), and the video
    clips keep only the joints that pickle has (Penn Action has no eyes or ears), so a model
    trained on both sees one joint set. `segment_s` > 0 cuts each track into clips of about that
    many seconds (`segments`): an epoch draws one window per clip, so a 40-second video should
    weigh more than a 2-second one, as it would as many annotated clips.
    """
    import pickle

    from skelcam.train.convert import write_pickle_atomic
    from skelcam.train.video_eval import recording_for

    if folds < 1:
        raise SkelcamError("--folds must be at least 1")
    clips = [c for c in read_manifest(manifest) if c.label != UNKNOWN_CLASS]
    unknown = sorted({c.label for c in clips} - set(class_names))
    if unknown:
        raise SkelcamError(f"manifest '{manifest}' has classes the label list lacks: "
                           f"{', '.join(unknown)}")
    base: dict[str, Any] = {"split": {}, "annotations": [], "label_names": class_names}
    keep = np.ones(NUM_JOINTS, bool)
    if add_to is not None:
        from skelcam.train.data import load_pyskl

        data = load_pyskl(add_to)
        if list(data.label_names or data.class_names) != class_names:
            raise SkelcamError(f"'{add_to}' has other classes than the label list")
        keep = np.zeros(NUM_JOINTS, bool)
        keep[data.used_joints(range(len(data.clips)))] = True
        with add_to.open("rb") as f:
            base = pickle.load(f)
    fold_of = assign_folds(clips, folds)
    split: dict[str, list[str]] = {"videos": []}
    split.update({f"videos_fold{k + 1}": [] for k in range(folds)})
    annotations, skipped = [], []
    for clip, fold in zip(clips, fold_of, strict=True):
        recording, _, _ = recording_for(clip.path, live)
        track = main_track(recording)
        if track is None:
            skipped.append(clip.path.name)
            continue
        keypoints, scores = track
        scores = scores * keep
        parts = segments(len(keypoints), round(segment_s * recording.fps))
        for k, (start, stop) in enumerate(parts):
            name = f"video/{clip.path.name}" + (f"#{k + 1}" if len(parts) > 1 else "")
            annotations.append({
                "frame_dir": name, "label": class_names.index(clip.label),
                "img_shape": (recording.height, recording.width),
                "original_shape": (recording.height, recording.width),
                "total_frames": stop - start, "fps": float(recording.fps),
                "keypoint": keypoints[None, start:stop], "keypoint_score": scores[None, start:stop],
                "source": clip.source, "pose": recording.backend,
            })
            split["videos"].append(name)
            split[f"videos_fold{fold + 1}"].append(name)
    taken = set(base["split"]) & set(split)
    if taken:
        raise SkelcamError(f"'{add_to}' already has splits {', '.join(sorted(taken))}")
    data = {"split": {**base["split"], **split},
            "annotations": [*base["annotations"], *annotations],
            "label_names": base.get("label_names", class_names)}
    write_pickle_atomic(data, out)
    return {"out": str(out), "clips": len(annotations), "skipped": skipped,
            "splits": {k: len(v) for k, v in split.items()}}
