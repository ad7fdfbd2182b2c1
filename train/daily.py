"""One everyday-action label set over the Kinect skeleton sets, for the shipped daily model.

`python -m train merge-daily nw_ucla.pkl utd_mhad.pkl utkinect.pkl sbu.pkl --out daily.pkl
--unknown-out daily_unknown.pkl` reads the converters' pickles (`train.kinect_convert`), renames
each dataset's classes onto `DAILY_LABELS` by `DAILY_MAP`, and keeps each dataset's standard
split, so that the merged `train` and `test` splits never put one subject (or view) on both sides
(`train_fit` and `val` are a fixed stratified 15% carve of `train`, for model selection):
NW-UCLA cross-view (views 1-2 / 3), UTD-MHAD cross-subject (odd / even), UTKinect's half split
(subjects 1-5 / 6-10) and SBU's fold 1. `test_nw_ucla`, `test_utd_mhad`, `test_utkinect` and
`test_sbu` are the parts of `test` that each set contributed, to score one model per protocol.

How classes merge, and why:

* Same action under different names becomes one label: NW-UCLA's `walk_around`, UTD-MHAD's
  `walk_in_place` and UTKinect's `walk` are `walk`; `pick_up_one_hand` and `pick_up_two_hands`
  are `pick_up`; UTD-MHAD's `boxing` (punches in the air) and SBU's `punching` are `punch`;
  `pick_up_and_throw` is `throw`; `sit_to_stand` / `stand_to_sit` are `stand_up` / `sit_down`.
* Pairs that are mirror images of each other merge (`swipe_left`, `swipe_right` -> `swipe`),
  because training mirrors people at random: a mirrored left swipe is a right swipe.
* Classes that are not everyday actions leave the label set and become "no known action"
  examples (`--unknown-out`): UTD-MHAD's letter and shape drawing gestures (`draw_x`,
  `draw_circle_*`, `draw_triangle`) and its sports (`bowling`, `baseball_swing`,
  `tennis_forehand_swing`, `tennis_serve`), which are the Penn model's job.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelcam.train import action_labels
from skelcam.train.convert import write_pickle_atomic
from skelcam.train.data import Clip, SkeletonDataset, load_pyskl, stratified_split
from skelcam.train.errors import SkelcamError

VAL_FRACTION, VAL_SEED = 0.15, 0

# The required everyday labels first, then what the data supports besides.
DAILY_LABELS: tuple[str, ...] = (
    "wave", "clap", "sit_down", "stand_up", "walk", "pick_up", "throw", "push", "kick", "punch",
    "hug", "handshake", "carry", "drop", "put_on", "take_off", "jog", "squat", "lunge",
    "approach", "depart", "exchange_object", "pull", "swipe", "arm_cross", "basketball_shoot",
    "arm_curl", "knock", "catch",
)

# Per dataset: its class names (as the converter writes them) -> a daily label, or None for a
# class that is not an everyday action (kept as a "no known action" example), and the standard
# split pair that becomes the merged train / test.
DAILY_MAP: dict[str, tuple[tuple[str, ...], dict[str, str | None], tuple[str, str]]] = {
    "nw_ucla": (action_labels.NW_UCLA, {
        "pick_up_one_hand": "pick_up", "pick_up_two_hands": "pick_up", "drop_trash": "drop",
        "walk_around": "walk", "sit_down": "sit_down", "stand_up": "stand_up",
        "donning": "put_on", "doffing": "take_off", "throw": "throw", "carry": "carry",
    }, ("xview_train", "xview_test")),
    "utd_mhad": (action_labels.UTD_MHAD, {
        "swipe_left": "swipe", "swipe_right": "swipe", "wave": "wave", "clap": "clap",
        "throw": "throw", "arm_cross": "arm_cross", "basketball_shoot": "basketball_shoot",
        "draw_x": None, "draw_circle_clockwise": None, "draw_circle_counter_clockwise": None,
        "draw_triangle": None, "bowling": None, "boxing": "punch", "baseball_swing": None,
        "tennis_forehand_swing": None, "arm_curl": "arm_curl", "tennis_serve": None,
        "push": "push", "knock": "knock", "catch": "catch", "pick_up_and_throw": "throw",
        "jog_in_place": "jog", "walk_in_place": "walk", "sit_to_stand": "stand_up",
        "stand_to_sit": "sit_down", "lunge": "lunge", "squat": "squat",
    }, ("xsub_train", "xsub_test")),
    "utkinect": (action_labels.UTKINECT, {
        "walk": "walk", "sit_down": "sit_down", "stand_up": "stand_up", "pick_up": "pick_up",
        "carry": "carry", "throw": "throw", "push": "push", "pull": "pull", "wave_hands": "wave",
        "clap_hands": "clap",
    }, ("half_train", "half_test")),
    "sbu": (action_labels.SBU, {
        "approaching": "approach", "departing": "depart", "kicking": "kick", "pushing": "push",
        "shaking_hands": "handshake", "hugging": "hug", "exchanging": "exchange_object",
        "punching": "punch",
    }, ("fold1_train", "fold1_test")),
}


def _which_dataset(data: SkeletonDataset, path: Path) -> str:
    for name, (classes, _, _) in DAILY_MAP.items():
        if tuple(data.label_names or ()) == classes:
            return name
    raise SkelcamError(f"'{path}' is none of {', '.join(DAILY_MAP)} (its class names do not "
                       "match; convert it with `python -m train convert`)")


def _annotation(clip: Clip, name: str, label: int) -> dict:
    t = clip.keypoints.shape[1]
    shape = clip.img_shape or (480, 640)
    annotation = {"frame_dir": name, "label": label, "img_shape": shape, "original_shape": shape,
                  "total_frames": t, "keypoint": clip.keypoints,
                  "keypoint_score": clip.scores}
    if clip.keypoints_3d is not None:
        annotation["keypoint_3d"] = clip.keypoints_3d
    if clip.fps is not None:
        annotation["fps"] = clip.fps
    return annotation


def merge_daily(pickles: list[Path], out: Path, unknown_out: Path | None = None) -> dict:
    """Write the merged daily pickle (and the non-daily clips to `unknown_out`); a summary."""
    known: list[dict] = []
    unknown: list[dict] = []
    unknown_names: list[str] = []
    splits: dict[str, list[str]] = {"train": [], "test": []}
    unknown_splits: dict[str, list[str]] = {"train": [], "test": []}
    seen: set[str] = set()
    per_dataset: dict[str, int] = {}
    for path in pickles:
        data = load_pyskl(path)
        dataset = _which_dataset(data, path)
        if dataset in seen:
            raise SkelcamError(f"'{path}': {dataset} is given twice")
        seen.add(dataset)
        _, mapping, (train_split, test_split) = DAILY_MAP[dataset]
        side = {i: "train" for i in data.split(train_split)}
        side.update({i: "test" for i in data.split(test_split)})
        per_dataset[dataset] = 0
        for i, part in sorted(side.items()):
            clip = data.clips[i]
            source = data.class_names[clip.label]
            name = f"{dataset}/{clip.name}"
            daily = mapping[source]
            if daily is None:
                label_name = f"{dataset}/{source}"
                if label_name not in unknown_names:
                    unknown_names.append(label_name)
                unknown.append(_annotation(clip, name, unknown_names.index(label_name)))
                unknown_splits[part].append(name)
            else:
                known.append(_annotation(clip, name, DAILY_LABELS.index(daily)))
                splits[part].append(name)
                # Each set's own test side too, so one model is scored per protocol.
                if part == "test":
                    splits.setdefault(f"test_{dataset}", []).append(name)
                per_dataset[dataset] += 1
    missing = sorted(set(DAILY_MAP) - seen)
    if missing:
        raise SkelcamError(f"merge-daily needs all four sets; missing: {', '.join(missing)}")
    if not known:
        raise SkelcamError("the pickles hold no clips of an everyday action")
    present = {a["label"] for a in known}
    # Model selection and calibration need a validation split that is neither trained on nor
    # the standard test side: a fixed stratified carve of the train side, as for Penn Action.
    train_names = set(splits["train"])
    train_side = [a for a in known if a["frame_dir"] in train_names]
    fit_idx, val_idx = stratified_split([a["label"] for a in train_side], VAL_FRACTION, VAL_SEED)
    splits["train_fit"] = [train_side[i]["frame_dir"] for i in fit_idx]
    splits["val"] = [train_side[i]["frame_dir"] for i in val_idx]
    write_pickle_atomic({"split": splits, "annotations": known,
                         "label_names": list(DAILY_LABELS)}, out)
    if unknown_out is not None and unknown:
        write_pickle_atomic({"split": unknown_splits, "annotations": unknown,
                             "label_names": unknown_names}, unknown_out)
    counts = np.bincount([a["label"] for a in known], minlength=len(DAILY_LABELS))
    return {"out": str(out), "clips": len(known), "classes": len(DAILY_LABELS),
            "train": len(splits["train"]), "test": len(splits["test"]), "val": len(val_idx),
            "unknown_clips": len(unknown), "per_dataset": per_dataset,
            "smallest_class": (DAILY_LABELS[int(counts.argmin())], int(counts.min())),
            "missing_labels": [n for i, n in enumerate(DAILY_LABELS) if i not in present]}
