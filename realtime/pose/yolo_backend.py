"""YOLO-pose (Ultralytics YOLOv8 / YOLO11 `-pose`, COCO-17) as one ONNX model on onnxruntime.

One stage: a single forward pass gives every person's box and 17 joints, so the cost hardly
depends on how many people are in view, unlike the top-down backends (rtm, mmpose), which run
their pose model once per person. The ONNX file is Ultralytics' own export (`output0` [1, 56, A]:
per anchor cx, cy, w, h, person score, then 17 x (x, y, visibility), in input pixels, scores
already through a sigmoid).

The pre- and post-processing follow Ultralytics' predictor (LetterBox with centred grey-114
padding, RGB scaled to 0..1; a confidence threshold, then class-agnostic NMS at IoU 0.7; boxes
and joints mapped back by `scale_boxes` / `scale_coords`'s arithmetic), written here in numpy
and OpenCV so that running needs neither ultralytics nor torch: ultralytics' predict imports
torchvision, whose PyPI build does not load next to torch's CPU build, and it would add an
AGPL-licensed runtime dependency. NMS is OpenCV's `cv2.dnn.NMSBoxes`.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from .yolo_export import converted_path, export_onnx

DEFAULT_MODEL = "yolo11n-pose"
STRIDE = 32  # the network's coarsest stride: a dynamic input must be a multiple of it
PAD_VALUE = 114
CHANNELS = 4 + 1 + NUM_JOINTS * 3  # box, person score, joints: 56
EXPORT_HINT = "yolo export model=yolo11n-pose.pt format=onnx imgsz={size}"


@dataclass(frozen=True)
class Letterbox:
    """How a frame was fitted into the network input: scaled by `ratio`, then shifted by `pad`."""

    ratio: float
    pad: tuple[int, int]  # left, top: pixels of grey before the image starts

    def to_input(self, xy: np.ndarray) -> np.ndarray:
        """Frame pixels -> network-input pixels, for points [..., 2]."""
        return xy * self.ratio + np.asarray(self.pad, dtype=np.float32)

    def to_frame(self, xy: np.ndarray) -> np.ndarray:
        """Network-input pixels -> frame pixels, for points [..., 2]."""
        return (xy - np.asarray(self.pad, dtype=np.float32)) / self.ratio


def letterbox(frame_bgr: np.ndarray, input_hw: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """The frame as a [1, 3, H, W] float32 RGB 0..1 tensor, resized keeping its aspect and padded
    evenly on both sides with grey 114 (Ultralytics' LetterBox(center=True), rounding included)."""
    height, width = frame_bgr.shape[:2]
    in_h, in_w = input_hw
    ratio = min(in_h / height, in_w / width)
    new_w, new_h = round(width * ratio), round(height * ratio)
    pad_x, pad_y = (in_w - new_w) / 2, (in_h - new_h) / 2
    left, top = round(pad_x - 0.1), round(pad_y - 0.1)
    right, bottom = round(pad_x + 0.1), round(pad_y + 0.1)
    if (new_w, new_h) != (width, height):
        frame_bgr = cv2.resize(frame_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(
        frame_bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    tensor = cv2.dnn.blobFromImage(padded, scalefactor=1 / 255, swapRB=True)
    return tensor, Letterbox(ratio, (left, top))


def decode(
    output: np.ndarray, score_threshold: float, iou_threshold: float, max_det: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes [N, 4] xyxy, scores [N] and joints [N, 17, 3] (x, y, visibility) in input pixels,
    best first, from the raw `output0` [1, 56, A]: anchors above `score_threshold`, then NMS."""
    pred = output[0].T  # [A, 56]
    pred = pred[pred[:, 4] > score_threshold]
    centre, size = pred[:, :2], pred[:, 2:4]
    keep = cv2.dnn.NMSBoxes(
        np.concatenate([centre - size / 2, size], axis=1).tolist(),  # x, y, w, h
        pred[:, 4].tolist(),
        score_threshold,
        iou_threshold,
    )  # best first; its top_k would cut candidates before suppression, hence the slice below
    pred = pred[np.asarray(keep, dtype=np.int64).reshape(-1)[:max_det]]
    boxes = np.concatenate([pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2], 1)
    return boxes, pred[:, 4], pred[:, 5:].reshape(-1, NUM_JOINTS, 3)


class YoloPose:
    """An Ultralytics pose export in an onnxruntime session: input shape, pre- and post-processing.

    A fixed-shape export (Ultralytics' default) takes exactly its size. A dynamic one
    (`dynamic=True`) takes any multiple of 32 and is fed a square `input_size` letterbox too:
    Ultralytics' 'rect' input (padding only to the next multiple of 32, 640x480 for a 4:3 frame)
    is 25% cheaper but, measured on vtest.avi, found 26% of the pedestrians taller than 80 px
    against 63% for the square 640 input at the same scale (bench/pose.py; fed a square, the
    dynamic export's output equals the fixed export's of the same weights).
    """

    def __init__(self, session: Any, path: Path, input_size: int | None) -> None:
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape, out_shape = inputs[0].shape, outputs[0].shape
        not_pose = SkelcamError(
            f"{path} is not a YOLO pose model: expected input [1, 3, H, W] and output "
            f"[1, {CHANNELS}, N] (box, score, 17 x 3 joints), got {shape} -> {out_shape}; "
            "give a YOLOv8/YOLO11 -pose export"
        )
        # A dynamic export made without onnxslim (`simplify=False`) leaves even the channel count
        # symbolic ('Concatoutput0_dim_1'): that one is checked on a run instead.
        channels = out_shape[1] if len(out_shape) == 3 else None
        if len(shape) != 4 or len(out_shape) != 3 or (isinstance(channels, int)
                                                      and channels != CHANNELS):  # fmt: skip
            raise not_pose
        self.session = session
        self.input_name = inputs[0].name
        fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
        self.fixed_hw: tuple[int, int] | None = (shape[2], shape[3]) if fixed else None
        if self.fixed_hw is not None:
            height, width = self.fixed_hw
            if input_size is not None and (input_size, input_size) != self.fixed_hw:
                raise SkelcamError(
                    f"{path} has a fixed {width}x{height} input, not {input_size}; omit the "
                    f"input size, or export one at that size ({EXPORT_HINT.format(size=input_size)}"
                    " or dynamic=True)"
                )
            self.input_size = max(height, width)
        else:
            self.input_size = input_size or 640
            if self.input_size % STRIDE or self.input_size < STRIDE:
                raise SkelcamError(
                    f"input size {self.input_size} is not a multiple of {STRIDE}; "
                    f"use e.g. {max(STRIDE, round(self.input_size / STRIDE) * STRIDE)}"
                )
        if not isinstance(channels, int) and self._channels_on_blank() != CHANNELS:
            raise not_pose

    def _channels_on_blank(self) -> int | None:
        """The channel count of `output0` on a blank input (None: the input does not fit)."""
        size = self.fixed_hw or (self.input_size, self.input_size)
        blank = np.zeros((1, 3, *size), dtype=np.float32)
        try:
            output = self.session.run(None, {self.input_name: blank})[0]
        except Exception:  # onnxruntime's run errors derive from Exception: the input does not fit
            return None
        return output.shape[1] if output.ndim == 3 else None

    def __call__(
        self, frame_bgr: np.ndarray, score_threshold: float, iou_threshold: float,
        max_det: int | None,
    ) -> Poses:  # fmt: skip
        tensor, box = letterbox(frame_bgr, self.fixed_hw or (self.input_size, self.input_size))
        (output,) = self.session.run(None, {self.input_name: tensor})[:1]
        boxes, box_scores, joints = decode(output, score_threshold, iou_threshold, max_det)
        height, width = frame_bgr.shape[:2]
        boxes = box.to_frame(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
        boxes = np.clip(boxes, 0, [width, height, width, height])
        xy = box.to_frame(joints[..., :2])
        inside = ((xy >= 0) & (xy < [width, height])).all(axis=-1)
        scores = np.where(inside, joints[..., 2], 0.0)  # the project's rule: off-frame = missing
        return Poses.from_arrays(xy, scores, boxes=boxes, box_scores=box_scores)


class YoloBackend(PoseBackend):
    """Every person's box and joints in one YOLO-pose pass on onnxruntime (CUDA or CPU)."""

    name = "yolo"

    def __init__(
        self,
        device: str = "auto",
        *,
        pose_model: str | Path = DEFAULT_MODEL,
        input_size: int | None = None,
        score_threshold: float = 0.25,
        iou_threshold: float = 0.7,
        max_people: int | None = None,
    ) -> None:
        """Open the model in an onnxruntime session.

        Args:
            pose_model: a local `.onnx` export; a local `.pt` checkpoint (converted to ONNX once,
                into the model cache, which needs the `ultralytics` extra); or a model name from
                `model_files.MODELS` (e.g. yolo11n-pose), downloaded once with a checksum check.
            input_size: the network's input side in pixels (None: the model's own, or 640 for a
                dynamic export); smaller is faster and misses small people.
            score_threshold, iou_threshold: Ultralytics' predict defaults (conf 0.25, iou 0.7).
            max_people: keep only this many people, the most confident first (None: all).
        """
        path = resolve(pose_model, input_size)
        hint = '; give a YOLO pose .onnx export, or a .pt with pip install -e ".[ultralytics]"'
        session = open_session(path, device, self.name, hint)
        self.model = YoloPose(session, path, input_size)
        self.device = session_device(session, self.name)
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_people = max_people

    def __call__(self, frame_bgr: np.ndarray) -> Poses:
        return self.model(frame_bgr, self.score_threshold, self.iou_threshold, self.max_people)

    def close(self) -> None:
        # onnxruntime sessions have no close(); dropping the last reference frees them.
        del self.model


def resolve(model: str | Path, input_size: int | None) -> Path:
    """The ONNX file to run for `model`: a local .onnx as is; a .pt (local, or downloaded by
    name) through its cached export."""
    if str(model) in model_files.names("yolo"):
        return export_onnx(model_files.fetch(str(model)), input_size)
    path = Path(model).expanduser()
    if not path.is_file():
        raise SkelcamError(
            f"pose model not found: {path} (give a YOLO pose .onnx or .pt file, or one of: "
            f"{', '.join(model_files.names('yolo'))})"
        )
    return export_onnx(path, input_size) if path.suffix == ".pt" else path


def model_present(pose_model: str | Path | None, input_size: int | None = None) -> bool:
    """Whether the model can be opened without a download or a conversion."""
    model = pose_model or DEFAULT_MODEL
    if str(model) in model_files.names("yolo"):
        if not model_files.is_cached(str(model)):
            return False
        model = model_files.cached_path(str(model))
    path = Path(model).expanduser()
    if path.suffix == ".pt":
        return path.is_file() and converted_path(path, input_size).is_file()
    return path.suffix == ".onnx" and path.is_file()
