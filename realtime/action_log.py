"""`--log out.jsonl`: one JSON line per person per classification.

Each line: `time` (s), `frame`, `track_id`, `box`, `label` (the decision shown for that person
at that moment: a class name, or null for "no known action"; `realtime.decision`) and `top5`.

Each line is flushed to the file as soon as it is written, so a run that is killed (even with
SIGKILL, which runs no cleanup) keeps every line so far and never leaves half a line, and another
program can follow the file while skelcam runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType

from skelcam.realtime.classifier import ActionClassifier
from skelcam.realtime.recognizer import FrameResult


class ActionLog:
    """Appends a record per classified person: time, frame, track, box, label and top-5."""

    def __init__(self, path: Path, k: int = 5) -> None:
        self.path = path
        self.k = k
        self._file = path.open("w", encoding="utf-8")
        self.lines = 0

    def write(self, frame_index: int, time_s: float, result: FrameResult,
              classifier: ActionClassifier) -> None:
        rows = {int(t): i for i, t in enumerate(result.track_ids)}
        for track in result.classified:
            if track not in rows or track not in result.probabilities:
                continue
            top = classifier.top_k(result.probabilities[track][None], self.k)[0]
            label = result.labels.get(track)
            record = {
                "time": round(time_s, 3),
                "frame": frame_index,
                "track_id": track,
                "box": [round(float(v), 1) for v in result.poses.boxes[rows[track]]],
                "label": None if label is None else classifier.labels[label],
                "top5": [{"label": label, "probability": round(p, 4)}
                         for label, p in zip(top.labels, top.probabilities, strict=True)],
            }
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            self.lines += 1

    def event(self, frame_index: int, time_s: float, name: str, **fields: object) -> None:
        """A line about the run rather than a person, e.g. a network stream's outage:
        `{"time", "frame", "event": name, ...fields}`; it has no `track_id`, which tells it
        from the person records."""
        record = {"time": round(time_s, 3), "frame": frame_index, "event": name, **fields}
        self._file.write(json.dumps(record) + "\n")
        self.lines += 1
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> ActionLog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
