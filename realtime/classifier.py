"""The action classifier as the live loop runs it: an ONNX model on ONNX Runtime.

The exported graph contains the preprocessing (`train.preprocess.SkeletonNormalizer`), so this
class hands it raw pixel keypoints and scores of one window per person, all persons in one
batched call. Everything the caller needs to build that input (window length, persons per
sample, class names) is read from the model's metadata, written by `export/to_onnx.py`.

Provider choice: `onnxruntime-gpu` lists the CUDA provider even on a machine without a GPU (or
without the CUDA libraries), and a session asked for it silently falls back to the CPU. So we
ask for CUDA then CPU, read back the providers the session really got, and report that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from skelcam.realtime.decision import energy
from skelcam.realtime.pose.onnx_session import cuda_usable
from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import LAYOUT, NUM_JOINTS
from skelcam.train.windowing import checked_spans

ONNX_FORMAT = "skelcam-onnx-v1"
# The scores a "no known action" threshold can apply to (`realtime.decision.label_for`).
UNKNOWN_SCORES = ("probability", "energy")
ORT_DEFAULT_SEVERITY = 2  # onnxruntime's own default: warnings and above

# Which ONNX Runtime providers to ask for on each device setting, best first.
PROVIDERS: dict[str, list[str]] = {
    "auto": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "cpu": ["CPUExecutionProvider"],
}


@dataclass(frozen=True)
class Prediction:
    """The top-k actions of one person."""

    labels: list[str]
    probabilities: list[float]


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def _time_spans(path: Path, text: str) -> tuple[float, ...]:
    """The model's `time_spans` metadata (a JSON list of positive numbers) as a tuple."""
    try:
        return checked_spans(json.loads(text))
    except (ValueError, TypeError):
        raise SkelcamError(f"'{path}': its 'time_spans' metadata is not a JSON list of positive "
                           "numbers; re-export it with python export/to_onnx.py") from None


class ActionClassifier:
    """Loads a skelcam ONNX model and classifies batches of skeleton windows."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        if device not in PROVIDERS:
            raise SkelcamError(f"unknown device '{device}' (choose from {', '.join(PROVIDERS)})")
        if not path.is_file():
            raise SkelcamError(f"classifier model '{path}' does not exist")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        wanted = [p for p in PROVIDERS[device] if p in ort.get_available_providers()]
        if device == "auto" and not cuda_usable(ort):
            # No NVIDIA driver: "auto" could never have used a GPU, so it does not try (and
            # does not warn about a fallback nobody asked for).
            wanted = [p for p in wanted if p != "CUDAExecutionProvider"]
        # A CUDA provider that cannot load its libraries logs a multi-line error before falling
        # back; we report the fallback ourselves, in one line, below.
        ort.set_default_logger_severity(4)
        try:
            self.session = ort.InferenceSession(str(path), options, providers=wanted)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types for bad files
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise SkelcamError(f"'{path}' is not a loadable ONNX model: {first}") from None
        finally:
            ort.set_default_logger_severity(ORT_DEFAULT_SEVERITY)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("format") != ONNX_FORMAT:
            raise SkelcamError(
                f"'{path}' is an ONNX model but not a skelcam classifier (no '{ONNX_FORMAT}' "
                "metadata); export one with: python export/to_onnx.py"
            )
        if meta.get("layout") != LAYOUT:
            raise SkelcamError(f"'{path}' expects keypoint layout '{meta.get('layout')}'")
        self.path = path
        self.labels: list[str] = json.loads(meta["class_names"])
        self.window = int(meta["window"])
        self.num_persons = int(meta["num_persons"])
        self.version = meta.get("model_version", "unknown")
        # Calibration (train.calibrate): softmax temperature and the "no known action" threshold.
        # Models exported before calibration existed have neither: plain softmax, never reject.
        self.temperature = float(meta.get("temperature", 1.0))
        self.unknown_threshold = float(meta.get("unknown_threshold", 0.0))
        # One threshold per pose backend it was calibrated on: the same model is less sure of
        # its top-1 on one estimator's joints than on another's (README, "Per pose backend").
        try:
            self.unknown_thresholds: dict[str, float] = {
                str(name): float(value)
                for name, value in json.loads(meta.get("unknown_thresholds", "{}")).items()
            }
        except (ValueError, TypeError, AttributeError):
            raise SkelcamError(f"'{path}': its 'unknown_thresholds' metadata is not a JSON "
                               "table of numbers; re-export it with python export/to_onnx.py"
                               ) from None
        self.threshold_backend: str | None = None
        self._general_threshold = self.unknown_threshold
        # The time spans, in windows, the live loop classifies and averages (README, "Time
        # spans"); the threshold was calibrated with them. Older models: the window alone.
        self.time_spans: tuple[float, ...] = _time_spans(path, meta.get("time_spans", "[1.0]"))
        # What the threshold applies to: "probability" (the top-1, models calibrated before the
        # energy score) or "energy" (`realtime.decision.energy`).
        self.unknown_score = meta.get("unknown_score", "probability")
        if self.unknown_score not in UNKNOWN_SCORES:
            raise SkelcamError(f"'{path}': unknown_score '{self.unknown_score}' is not one of "
                               f"{', '.join(UNKNOWN_SCORES)}; re-export it with "
                               "python export/to_onnx.py")
        self.providers: list[str] = self.session.get_providers()
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        if device == "cuda" and self.device != "cuda":
            raise SkelcamError("device 'cuda' asked for, but ONNX Runtime could not use a GPU")
        # Set, not logged: the command line reports it once, after every input was checked, so
        # that it never stands in front of an unrelated error.
        self.fallback_warning: str | None = (
            "CUDA provider unavailable (CUDA libraries missing or no usable GPU); the classifier "
            "runs on the CPU"
            if device == "auto" and "CUDAExecutionProvider" in wanted and self.device != "cuda"
            else None
        )

    def use_pose_backend(self, name: str) -> None:
        """Apply the "no known action" threshold calibrated on pose backend `name`, if any;
        a backend the model was not calibrated on gets the model's general threshold."""
        self.threshold_backend = name if name in self.unknown_thresholds else None
        self.unknown_threshold = self.unknown_thresholds.get(name, self._general_threshold)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(persons, frames, joints) of one sample."""
        return self.num_persons, self.window, NUM_JOINTS

    def logits(self, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Raw class scores [N, K] for keypoints [N, M, T, 17, 2] and scores [N, M, T, 17]."""
        expected = (self.num_persons, self.window, NUM_JOINTS)
        if keypoints.shape[1:] != (*expected, 2) or scores.shape[1:] != expected:
            raise ValueError(
                f"expected keypoints [N, {', '.join(map(str, expected))}, 2], got "
                f"{keypoints.shape} and scores {scores.shape}"
            )
        feeds = {"keypoints": keypoints.astype(np.float32, copy=False),
                 "scores": scores.astype(np.float32, copy=False)}
        return self.session.run(["logits"], feeds)[0]

    def probabilities(self, keypoints: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities [N, K]: softmax of the logits over the temperature."""
        return self.calibrated(self.logits(keypoints, scores))

    def calibrated(self, logits: np.ndarray) -> np.ndarray:
        """Class probabilities [N, K] of logits [N, K] already computed (`logits`)."""
        return softmax(logits / self.temperature)

    def known_action_scores(self, logits: np.ndarray) -> np.ndarray | None:
        """Per row of logits [N, K], the score the "no known action" threshold applies to, when
        it is not the top-1 probability (which `label_for` reads itself): the energy; else None.
        """
        if self.unknown_score == "energy":
            return energy(logits, self.temperature)
        return None

    def top_k(self, probabilities: np.ndarray, k: int = 5) -> list[Prediction]:
        """Top-k labels and probabilities for each row of a [N, K] probability matrix."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        k = min(k, len(self.labels))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return [
            Prediction([self.labels[i] for i in row], [float(p[i]) for i in row])
            for row, p in zip(order, probabilities, strict=True)
        ]
