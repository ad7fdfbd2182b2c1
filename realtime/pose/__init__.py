"""Pose backends: a frame in, `Poses` (boxes and COCO-17 keypoints per person) out."""

from .base import PoseBackend, available_backends, create_backend
from .keypoints import Poses

__all__ = ["PoseBackend", "Poses", "available_backends", "create_backend"]
