"""RTMDet (person boxes) + RTMPose (COCO-17 per box) as ONNX models on onnxruntime.

The models are OpenMMLab's official mmdeploy 'onnx_sdk' exports (see `model_files`), run on
onnxruntime's CUDA provider when a GPU can be used and on the CPU otherwise. The classes follow
rtmlib's layout (preprocess / inference / postprocess per model, a solution composing them) but
are written here rather than imported: rtmlib 0.0.16 declares `onnxruntime`, `opencv-python` and
`opencv-contrib-python` as dependencies, and installing it would put the CPU `onnxruntime` and a
second OpenCV wheel over our `onnxruntime-gpu` and `opencv-contrib-python` (same import names,
files overwritten). The pre/post-processing below follows mmdet's and mmpose's test pipelines
(rtmlib feeds RTMPose BGR pixels with RGB statistics and averages the two SimCC maxima; mmpose
converts to RGB and takes the smaller maximum, which is what is done here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from skelcam.train.errors import SkelcamError
from skelcam.train.skeleton import NUM_JOINTS

from . import model_files
from .base import PoseBackend
from .keypoints import Poses
from .onnx_session import open_session, session_device
from .topdown import DetectionSchedule

DEFAULT_DET = "rtmdet-nano"
DEFAULT_POSE = "rtmpose-m"

# Input statistics from the models' training configs: mmdet's RTMDet normalises BGR pixels
# (bgr_to_rgb=False), mmpose's RTMPose converts to RGB first (bgr_to_rgb=True).
DET_MEAN = np.array([103.53, 116.28, 123.675], dtype=np.float32)
DET_STD = np.array([57.375, 57.12, 58.395], dtype=np.float32)
DET_PAD_VALUE = 114
DET_DEFAULT_SIZE = 320  # for a detector export with a dynamic input shape
POSE_MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
POSE_STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
POSE_BOX_PADDING = 1.25  # mmpose's top-down crop is the person box grown by this factor


class RTMDet:
    """Person detector: an RTMDet end2end export (input [B, 3, H, W]; outputs dets [B, N, 5]
    as x1, y1, x2, y2, score in input pixels, NMS already applied, and labels [B, N]).

    Real MMDeploy exports come with symbolic dimensions (input ['batch', 3, 'height', 'width'],
    dets ['batch', 'num_dets', 'Reshapedets_dim_2']), so the signature is checked on what one
    run on a blank input really returns, and a dynamic input runs at `input_size` (default
    320x320, the size of the person detectors' deploy pipelines).
    """

    def __init__(
        self, session: Any, score_threshold: float = 0.3, input_size: int | None = None
    ) -> None:
        self.session = session
        self.score_threshold = score_threshold
        inputs = session.get_inputs()
        shape = inputs[0].shape
        fixed = len(shape) == 4 and all(isinstance(d, int) for d in shape[2:])
        if fixed:
            self.input_size = (int(shape[2]), int(shape[3]))  # height, width
        else:
            side = input_size or DET_DEFAULT_SIZE
            self.input_size = (side, side)
        self.input_name = inputs[0].name
        if len(shape) != 4 or not self._returns_dets():
            raise SkelcamError(
                f"detector model is not an RTMDet end2end export: expected input "
                f"[1, 3, H, W] and outputs dets [1, N, 5], labels [1, N]; got "
                f"{shape} -> {[o.shape for o in session.get_outputs()]}"
            )

    def _returns_dets(self) -> bool:
        """Whether a run on a blank input gives dets [1, N, 5] and labels [1, N]."""
        blank = np.zeros((1, 3, *self.input_size), dtype=np.float32)
        try:
            outputs = self.session.run(None, {self.input_name: blank})
        except Exception:  # onnxruntime's run errors derive from Exception: the input does not fit
            return False
        if len(outputs) < 2:
            return False
        dets, labels = outputs[:2]
        return dets.ndim == 3 and dets.shape[-1] == 5 and labels.shape == dets.shape[:2]

    def __call__(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes [N, 4] (xyxy, frame pixels) and their scores [N]."""
        tensor, ratio = self.preprocess(frame_bgr)
        dets, labels = self.inference(tensor)
        return self.postprocess(dets, labels, ratio, frame_bgr.shape[:2])

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """Resize keeping the aspect, pad bottom/right with grey (mmdet's Resize + Pad)."""
        height, width = frame_bgr.shape[:2]
        in_h, in_w = self.input_size
        ratio = min(in_h / height, in_w / width)
        size = (int(width * ratio + 0.5), int(height * ratio + 0.5))
        canvas = np.full((in_h, in_w, 3), DET_PAD_VALUE, dtype=np.uint8)
        canvas[: size[1], : size[0]] = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_LINEAR)
        tensor = ((canvas - DET_MEAN) / DET_STD).transpose(2, 0, 1)[None]
        return np.ascontiguousarray(tensor, dtype=np.float32), ratio

    def inference(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dets, labels = self.session.run(None, {self.input_name: tensor})[:2]
        return dets, labels

    def postprocess(
        self, dets: np.ndarray, labels: np.ndarray, ratio: float, frame_hw: tuple[int, int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keep confident people (label 0, as in COCO), in frame pixels."""
        dets, labels = dets.reshape(-1, 5), labels.reshape(-1)
        keep = (dets[:, 4] >= self.score_threshold) & (labels == 0)
        height, width = frame_hw
        boxes = np.clip(dets[keep, :4] / ratio, 0, [width, height, width, height])
        return boxes.astype(np.float32), dets[keep, 4].astype(np.float32)


class RTMPose:
    """Top-down COCO-17 pose: an RTMPose end2end export (input [B, 3, H, W]; outputs
    simcc_x [B, 17, W*k] and simcc_y [B, 17, H*k], one classification per pixel/k)."""

    def __init__(self, session: Any) -> None:
        self.session = session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape = inputs[0].shape
        static = len(shape) == 4 and all(isinstance(d, int) for d in shape[2:])
        joints = {o.shape[1] for o in outputs if len(o.shape) == 3}
        if not static or len(outputs) != 2 or joints != {NUM_JOINTS}:
            raise SkelcamError(
                f"pose model is not a COCO-17 RTMPose end2end export: expected "
                f"input [B, 3, H, W] and outputs simcc_x [B, 17, X], simcc_y "
                f"[B, 17, Y]; got {shape} -> {[o.shape for o in outputs]}"
            )
        self.input_name = inputs[0].name
        self.input_size = (int(shape[2]), int(shape[3]))  # height, width
        # The official exports have a fixed batch of 1; a dynamic one takes all people at once.
        self.batched = not isinstance(shape[0], int)

    def __call__(self, frame_bgr: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints [N, 17, 2] (frame pixels) and scores [N, 17] for N person boxes."""
        if len(boxes) == 0:
            return np.zeros((0, NUM_JOINTS, 2), np.float32), np.zeros((0, NUM_JOINTS), np.float32)
        crops, centers, scales = self.preprocess(frame_bgr, boxes)
        simcc_x, simcc_y = self.inference(crops)
        return self.postprocess(simcc_x, simcc_y, centers, scales)

    def preprocess(
        self, frame_bgr: np.ndarray, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Crop each padded box, grown to the input's aspect ratio, to the input size (mmpose's
        GetBBoxCenterScale + TopdownAffine), as normalised RGB."""
        in_h, in_w = self.input_size
        rgb = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        centers = (boxes[:, :2] + boxes[:, 2:]) / 2
        w, h = ((boxes[:, 2:] - boxes[:, :2]) * POSE_BOX_PADDING).T
        aspect = in_w / in_h
        scales = np.where(
            (w > h * aspect)[:, None], np.stack([w, w / aspect], 1), np.stack([h * aspect, h], 1)
        )
        crops = []
        for (cx, cy), (sw, sh) in zip(centers, scales, strict=True):
            warp = np.array(
                [
                    [in_w / sw, 0, in_w / 2 - cx * in_w / sw],
                    [0, in_h / sh, in_h / 2 - cy * in_h / sh],
                ],
                dtype=np.float32,
            )
            crops.append(cv2.warpAffine(rgb, warp, (in_w, in_h), flags=cv2.INTER_LINEAR))
        batch = ((np.stack(crops) - POSE_MEAN) / POSE_STD).transpose(0, 3, 1, 2)
        return np.ascontiguousarray(batch, dtype=np.float32), centers, scales

    def inference(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.batched:
            simcc_x, simcc_y = self.session.run(None, {self.input_name: batch})
            return simcc_x, simcc_y
        outputs = [self.session.run(None, {self.input_name: crop[None]}) for crop in batch]
        return np.concatenate([o[0] for o in outputs]), np.concatenate([o[1] for o in outputs])

    def postprocess(
        self, simcc_x: np.ndarray, simcc_y: np.ndarray, centers: np.ndarray, scales: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """SimCC argmax back to frame pixels; a joint's score is the smaller of its two maxima
        (mmpose's get_simcc_maximum), clipped to [0, 1]."""
        in_h, in_w = self.input_size
        split = simcc_x.shape[-1] / in_w  # bins per input pixel (2 for the official models)
        crop_xy = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], axis=-1) / split
        xy = (crop_xy / [in_w, in_h] - 0.5) * scales[:, None] + centers[:, None]
        scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
        return xy.astype(np.float32), np.clip(scores, 0, 1).astype(np.float32)


class RTMBackend(PoseBackend):
    """RTMDet finds people, RTMPose places their 17 joints (both on onnxruntime)."""

    name = "rtm"

    def __init__(
        self,
        device: str = "auto",
        *,
        det_model: str | Path = DEFAULT_DET,
        pose_model: str | Path = DEFAULT_POSE,
        score_threshold: float = 0.3,
        max_people: int | None = None,
        input_size: int | None = None,
        det_every: int = 1,
    ) -> None:
        """Open both models in onnxruntime sessions.

        Args:
            det_model, pose_model: an rtm name from `model_files.MODELS` (downloaded once,
                cached and checksum-verified) or the path of a local end2end .onnx file.
            score_threshold: lowest detector score kept as a person (mmpose's demo uses 0.3).
            max_people: pose only this many people, the most confident first (None: all).
            input_size: the detector's input side for an export with a dynamic input
                (default 320); a fixed-shape export runs at its own size.
            det_every: detect every this many frames and follow people from their keypoints
                in between (`topdown.DetectionSchedule`); 1 detects on every frame.
        """
        self.schedule = DetectionSchedule(det_every)
        det_session = open_session(_resolve(det_model, "detector"), device, self.name)
        pose_session = open_session(_resolve(pose_model, "pose"), device, self.name)
        self.device = session_device(pose_session, self.name)
        self.detector = RTMDet(det_session, score_threshold, input_size)
        self.pose = RTMPose(pose_session)
        self.max_people = max_people

    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        boxes, box_scores = self.schedule.boxes(lambda: self.detector(frame_bgr))
        keep = np.argsort(-box_scores, kind="stable")[: self.max_people]
        boxes, box_scores = boxes[keep], box_scores[keep]
        xy, scores = self.pose(frame_bgr, boxes)
        poses = Poses.from_arrays(xy, scores, boxes=boxes, box_scores=box_scores)
        self.schedule.follow(poses, frame_bgr.shape[:2])
        return poses

    def close(self) -> None:
        # onnxruntime sessions have no close(); dropping the last reference frees them.
        del self.detector, self.pose


def models_present(
    det_model: str | Path | None = None, pose_model: str | Path | None = None
) -> bool:
    """Whether both models are available without a download (cached, or existing local files)."""
    rtm_names = model_files.names("rtm")
    return all(
        model_files.is_cached(str(m)) if str(m) in rtm_names else Path(m).is_file()
        for m in (det_model or DEFAULT_DET, pose_model or DEFAULT_POSE)
    )


def _resolve(model: str | Path, role: str) -> Path:
    """A model name from the table (fetched and verified) or an existing local file."""
    if str(model) in model_files.names("rtm"):
        return model_files.fetch(str(model))
    path = Path(model).expanduser()
    if not path.is_file():
        raise SkelcamError(
            f"{role} model not found: {path} (give an .onnx file or one of: "
            f"{', '.join(model_files.names('rtm'))})"
        )
    return path
