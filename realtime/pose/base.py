"""The pose-backend interface and the one place that picks and builds a backend.

A backend turns a BGR frame into `Poses`. Which ones can run depends on what is installed (the
OpenMMLab stack, onnxruntime plus downloaded ONNX files, mediapipe), so the registry below names,
for each backend, the packages it imports, the pip extra that installs them and the devices it
runs on; `create_backend` checks those before importing anything heavy, so a missing package is
one clear line instead of an ImportError from deep inside a backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar

import numpy as np

from skelcam.train.errors import SkelcamError

from .keypoints import Poses


class PoseBackend(ABC):
    """Detects people and their COCO-17 keypoints in one frame at a time.

    Backends may keep state between calls (the mediapipe one tracks people from frame to frame),
    so feed one video's frames in order to one backend, and `close()` it to free native resources.
    """

    name: ClassVar[str]
    device: str  # "cpu" or "cuda": where it actually runs, after "auto" was resolved
    reason: str = ""  # why `auto` chose it (empty when the caller named the backend)

    @abstractmethod
    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        """The people in `frame_bgr` (uint8 [H, W, 3], BGR as OpenCV reads it)."""

    @abstractmethod
    def close(self) -> None:
        """Release models and native resources; the backend is unusable afterwards."""

    def __enter__(self) -> PoseBackend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class BackendSpec:
    """How to build one backend and what it needs."""

    module: str  # module inside this package that defines the class
    cls: str
    requires: tuple[str, ...]  # import names that must be installed
    extra: str  # pip extra of this project that installs them


BACKENDS: dict[str, BackendSpec] = {
    "mmpose": BackendSpec("mmpose_backend", "MMPoseBackend", ("mmcv", "mmdet", "mmpose"), "mmpose"),
    "rtm": BackendSpec("rtm_backend", "RTMBackend", ("onnxruntime",), "rtm"),
    "mediapipe": BackendSpec("mediapipe_backend", "MediaPipeBackend", ("mediapipe",), "mediapipe"),
    "yolo": BackendSpec("yolo_backend", "YoloBackend", ("onnxruntime",), "yolo"),
}

# The runtime each backend uses on each device: a torch device for mmpose, an onnxruntime
# execution provider for rtm. mediapipe's Python wheels run BlazePose on the CPU only.
RUNTIMES: dict[tuple[str, str], str] = {
    ("mmpose", "cpu"): "cpu",
    ("mmpose", "cuda"): "cuda:0",
    ("rtm", "cpu"): "CPUExecutionProvider",
    ("rtm", "cuda"): "CUDAExecutionProvider",
    ("mediapipe", "cpu"): "cpu",
    ("yolo", "cpu"): "CPUExecutionProvider",
    ("yolo", "cuda"): "CUDAExecutionProvider",
}

# What `auto` tries, best first, and why: the measured merit of each on what it was measured on
# (bench/pose.py and bench/pipeline.py; README "Pose backends"). yolo is tried after mediapipe:
# on the CPU mediapipe is faster for one person near a webcam than yolo at its default 640 input
# (17.9 against 32.9 ms a frame, idle), needs no model file, and decides more dev clips right
# with the shipped threshold (51 against 47 of 66; as many before it); yolo finds crowds and
# small people, so it is chosen when the user names its model, or when mediapipe is absent.
AUTO_ORDER = ("mmpose", "rtm", "mediapipe", "yolo")
AUTO_REASONS = {
    "mmpose": "the OpenMMLab top-down stack is installed (built for a GPU)",
    "rtm": "RTMDet + RTMPose files present; its detector also finds vtest's 60-80 px walkers",
    "mediapipe": "fastest on a CPU for one person near the camera; misses small people",
    "yolo": "one-stage multi-person, cost flat in the number of people",
}


def runtime_for(backend: str, device: str) -> str:
    """The runtime for an explicit device ("cpu" or "cuda"); SkelcamError if it has none."""
    runtime = RUNTIMES.get((backend, device))
    if runtime is None:
        devices = sorted(d for b, d in RUNTIMES if b == backend)
        raise SkelcamError(
            f"pose backend '{backend}' cannot run on device '{device}'; "
            f"use one of: auto, {', '.join(devices)}"
        )
    return runtime


def missing_packages(name: str) -> list[str]:
    """The packages backend `name` imports that are not installed."""
    return [p for p in BACKENDS[name].requires if importlib.util.find_spec(p) is None]


def available_backends(**options: Any) -> list[str]:
    """Backends that can run here without downloading anything, best first.

    mmpose and mediapipe count when their packages are installed; rtm also needs its two ONNX
    files, either passed as `det_model`/`pose_model` options or already in the model cache; yolo
    its model, as a `pose_model` file or the default one cached (and, for a `.pt`, converted).
    When a `pose_model` is given, the backends that take one come first.
    (mmpose's checkpoints are fetched by mmengine on first use, which this does not check.)
    """
    names = []
    for name in AUTO_ORDER:
        if missing_packages(name):
            continue
        if name == "rtm":
            from .rtm_backend import models_present

            if not models_present(options.get("det_model"), options.get("pose_model")):
                continue
        if name == "yolo":
            from .yolo_backend import model_present

            if not model_present(options.get("pose_model"), options.get("input_size")):
                continue
        names.append(name)
    if options.get("pose_model") is not None:
        # a model file the user named is what they want run: backends that open one go first
        names.sort(key=lambda name: not _accepts(name, "pose_model"))
    return names


def _accepts(name: str, option: str) -> bool:
    """Whether backend `name`'s constructor takes `option` (its module is imported to see)."""
    spec = BACKENDS[name]
    module = importlib.import_module(f"{__package__}.{spec.module}")
    return option in inspect.signature(getattr(module, spec.cls)).parameters


def create_backend(name: str = "auto", device: str = "auto", **options: Any) -> PoseBackend:
    """Build pose backend `name` ("auto" or a key of `BACKENDS`) on `device`.

    `device` is "auto" (a GPU when the backend can use one, else the CPU), "cpu" or "cuda".
    `options` go to the backend's constructor; an option it does not take is an error, except
    under "auto", which passes each candidate only the options it takes (so a caller can hand
    over rtm's model paths and mediapipe's settings together). "auto" takes the first of
    `available_backends()` that builds; read `.name` and `.reason` on the result to tell the
    user which and why.
    """
    if name == "auto":
        reasons = []
        for candidate in available_backends(**options):
            try:
                backend = _build(candidate, device, options, strict=False)
            except SkelcamError as error:
                reasons.append(f"{candidate}: {error}")
                continue
            backend.reason = AUTO_REASONS[candidate]
            return backend
        detail = "; ".join(reasons) or (
            "mmpose and mediapipe are not installed, rtm's models are not downloaded"
        )
        raise SkelcamError(
            f"no pose backend can run here ({detail}); "
            'e.g. pip install -e ".[mediapipe]", or name a backend to download its models'
        )
    if name not in BACKENDS:
        raise SkelcamError(f"unknown pose backend '{name}'; valid: auto, {', '.join(BACKENDS)}")
    return _build(name, device, options, strict=True)


def _build(name: str, device: str, options: dict[str, Any], strict: bool) -> PoseBackend:
    spec = BACKENDS[name]
    missing = missing_packages(name)
    if missing:
        raise SkelcamError(
            f"pose backend '{name}' needs {', '.join(missing)}: pip install -e \".[{spec.extra}]\""
        )
    if device != "auto":
        runtime_for(name, device)
    module = importlib.import_module(f"{__package__}.{spec.module}")
    cls = getattr(module, spec.cls)
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown and strict:
        raise SkelcamError(
            f"pose backend '{name}' does not take option(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(sorted(accepted - {'device'}))}"
        )
    backend: PoseBackend = cls(device=device, **{k: v for k, v in options.items() if k in accepted})
    return backend
