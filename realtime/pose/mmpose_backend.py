"""mmdet person detector + mmpose top-down pose, through the OpenMMLab Python APIs.

The optional heavyweight: it needs mmcv (compiled), mmengine, mmdet and mmpose (the `[mmpose]`
extra; see the project README for the versions that build together). The defaults are
RTMDet-tiny (COCO, 80 classes, person = label 0) and RTMPose-m (COCO + AI Challenger, 256x192),
built from the configs that ship inside the packages (`<package>/.mim/configs/...`) and loaded
from OpenMMLab's checkpoint URLs, which mmengine downloads once into torch's hub cache. Any other
config/checkpoint pair can be passed instead. The steps mirror mmpose's
`demo/topdown_demo_with_mmdet.py`: detect, keep confident persons, NMS, `inference_topdown`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pickle
import re
import urllib.error
from pathlib import Path
from typing import Any

import numpy as np

from skelcam.train.errors import SkelcamError

from .base import PoseBackend, runtime_for
from .keypoints import Poses
from .topdown import DetectionSchedule

DET_CONFIG = "mmdet:rtmdet/rtmdet_tiny_8xb32-300e_coco.py"
DET_CHECKPOINT = (
    "https://download.openmmlab.com/mmdetection/v3.0/rtmdet/rtmdet_tiny_8xb32-300e_coco/"
    "rtmdet_tiny_8xb32-300e_coco_20220902_112414-78e30dcc.pth"
)
POSE_CONFIG = "mmpose:body_2d_keypoint/rtmpose/coco/rtmpose-m_8xb256-420e_aic-coco-256x192.py"
POSE_CHECKPOINT = (
    "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
    "rtmpose-m_simcc-aic-coco_pt-aic-coco_420e-256x192-63eb25f7_20230126.pth"
)
PERSON_LABEL = 0  # COCO's first class


class MMPoseBackend(PoseBackend):
    """mmdet finds people, mmpose places their 17 joints (PyTorch, CPU or CUDA)."""

    name = "mmpose"

    def __init__(
        self,
        device: str = "auto",
        *,
        det_config: str = DET_CONFIG,
        det_checkpoint: str | None = DET_CHECKPOINT,
        pose_config: str = POSE_CONFIG,
        pose_checkpoint: str | None = POSE_CHECKPOINT,
        score_threshold: float = 0.3,
        nms_threshold: float = 0.3,
        max_people: int | None = None,
        det_every: int = 1,
    ) -> None:
        """Load both models (downloading checkpoints given as URLs once).

        Args:
            det_config, pose_config: a config file, or 'mmdet:<path>' / 'mmpose:<path>' inside
                that package's bundled configs.
            det_checkpoint, pose_checkpoint: a local .pth file or a URL (mmengine caches a URL's
                file in torch's hub folder and reads it from there on later runs). None builds
                the model with random weights: it runs, but finds nothing meaningful (tests).
            score_threshold, nms_threshold: as in mmpose's demo (bbox_thr, nms_thr).
            max_people: pose only this many people, the most confident first (None: all).
            det_every: detect every this many frames and follow people from their keypoints
                in between (`topdown.DetectionSchedule`); 1 detects on every frame.
        """
        self.schedule = DetectionSchedule(det_every)
        try:
            import torch
            from mmdet.apis import init_detector
            from mmpose.apis import init_model
            from mmpose.utils import adapt_mmdet_pipeline
        except (ImportError, RuntimeError) as error:
            # e.g. xtcocotools built against NumPy 1 under NumPy 2; no pkg_resources (mmengine
            # imports it; setuptools >= 81 dropped it); PyPI's torchvision (a CUDA build) under a
            # CPU-only torch, which fails with "operator torchvision::nms does not exist".
            hint = "see the [mmpose] extra's install notes"
            if "torchvision::" in str(error):
                hint = (
                    "torchvision does not match this torch build: a CPU-only torch needs the "
                    "torchvision from https://download.pytorch.org/whl/cpu"
                )
            elif "pkg_resources" in str(error):
                hint = "mmengine needs setuptools' pkg_resources: pip install 'setuptools<81'"
            raise SkelcamError(
                f"mmpose is installed but does not import ({error}); {hint}"
            ) from error

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_device = runtime_for(self.name, device)
        if device == "cuda" and not torch.cuda.is_available():
            raise SkelcamError(
                f"pose backend 'mmpose' cannot use CUDA: this torch ({torch.__version__}) sees no "
                "CUDA GPU; use device 'cpu' or 'auto'"
            )
        self.device = device
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_people = max_people
        self.detector = _load(init_detector, _config(det_config), det_checkpoint, torch_device)
        self.pose_model = _load(init_model, _config(pose_config), pose_checkpoint, torch_device)
        # mmdet's pipeline must resolve its transforms in mmdet's registry scope, not mmpose's.
        self.detector.cfg = adapt_mmdet_pipeline(self.detector.cfg)

    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        from mmpose.apis import inference_topdown

        boxes, box_scores = self.schedule.boxes(lambda: self._detect(frame_bgr))
        keep = np.argsort(-box_scores, kind="stable")[: self.max_people]
        boxes, box_scores = boxes[keep], box_scores[keep]
        if len(boxes) == 0:
            poses = Poses.empty()
        else:
            poses = Poses.from_mmpose(inference_topdown(self.pose_model, frame_bgr, boxes))
            # inference_topdown reports a box score of 1 for boxes it is given: use the detector's.
            poses = dataclasses.replace(poses, box_scores=box_scores.astype(np.float32))
        self.schedule.follow(poses, frame_bgr.shape[:2])
        return poses

    def _detect(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Confident person boxes [N, 4] after NMS, and their scores [N]."""
        from mmdet.apis import inference_detector
        from mmpose.evaluation.functional import nms

        found = inference_detector(self.detector, frame_bgr).pred_instances.cpu().numpy()
        people = np.concatenate([found.bboxes, found.scores[:, None]], axis=1)
        people = people[(found.labels == PERSON_LABEL) & (found.scores > self.score_threshold)]
        people = people[nms(people, self.nms_threshold)]
        return people[:, :4], people[:, 4]

    def close(self) -> None:
        del self.detector, self.pose_model


def _load(init: Any, config: str, checkpoint: str | None, device: str) -> Any:
    """`init_detector` / `init_model`, with the user-fixable failures as one-line errors."""
    import torch

    try:
        return init(config, checkpoint, device=device)
    except urllib.error.URLError as error:  # mmengine downloads a URL through torch.hub
        folder = Path(torch.hub.get_dir()) / "checkpoints"
        raise SkelcamError(
            f"cannot download {checkpoint} ({error.reason}); put that file into {folder}, "
            "where mmengine looks for it first, or pass det_checkpoint/pose_checkpoint local "
            ".pth paths"
        ) from error
    except FileNotFoundError as error:  # a local config or checkpoint path
        raise SkelcamError(f"cannot load mmdet/mmpose model: {error}") from error
    except pickle.UnpicklingError as error:
        # mmengine reads local files with torch.load's default, weights_only=True since torch 2.6
        # (a URL's cached file with weights_only=False), which refuses pickled non-tensor objects.
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(error))
        if found is None:
            raise SkelcamError(
                f"cannot load checkpoint {checkpoint}: not a PyTorch file"
            ) from error
        raise SkelcamError(
            f"cannot load checkpoint {checkpoint}: torch.load(weights_only=True) refuses the "
            f"{found[1]} in it; if you trust the file, set TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1"
        ) from error
    except RuntimeError as error:
        if "PytorchStreamReader" not in str(error):  # not a damaged file: a bug, keep the trace
            raise
        raise SkelcamError(
            f"cannot load checkpoint {checkpoint}: damaged or truncated "
            f"({str(error).split('. ')[0]}); delete it and download it again"
        ) from error


def _config(spec: str) -> str:
    """A config path; 'package:relative/path' points into that package's bundled `.mim/configs`."""
    package, sep, relative = spec.partition(":")
    if not sep or Path(spec).is_file():
        return spec
    origin = importlib.util.find_spec(package)
    if origin is None or origin.origin is None:
        raise SkelcamError(f"config {spec}: package {package} is not installed")
    path = Path(origin.origin).parent / ".mim" / "configs" / relative
    if not path.is_file():
        raise SkelcamError(f"config {spec} not found at {path}")
    return str(path)
