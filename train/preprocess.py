"""The one definition of how a window of pixel keypoints becomes the model's input.

Two halves, both used by training, evaluation, export and the live loop:

* `train.windowing` (numpy only, so the live loop runs without torch): which frames of a clip
  or of a live buffer make up the model's fixed-length window.
* `SkeletonNormalizer` (torch, here): centre and scale the skeleton on the body and build the joint,
  bone and motion features. It is the first layer of `SkeletonClassifier`, so it is exported into
  the ONNX graph: the live loop hands ONNX Runtime raw pixel keypoints and scores and runs no
  Python preprocessing of its own.

The normalization uses the body, never the image size: a webcam frames a person very differently
from the datasets, and the centre and scale are taken from the first person of the window so that
a second person (the nearest other one, for two-person actions) keeps their relative position.
Joints whose score is below `min_score`, and joints the model never saw during training (COCO eyes
and ears in Penn Action), are treated as missing: zero coordinates and a zero mask channel.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from skelcam.train.skeleton import NUM_JOINTS, PARENT

# Feature groups SkeletonNormalizer can produce, two channels (x, y) each; a presence mask
# channel always follows them.
FEATURE_GROUPS: tuple[str, ...] = ("joint", "bone", "joint_motion", "bone_motion")


class SkeletonNormalizer(nn.Module):
    """Pixel keypoints and scores -> body-centred joint, bone and motion features.

    Input: keypoints [N, M, T, V, 2] in pixels and scores [N, M, T, V] in [0, 1].
    Output: features [N, M, T, V, num_features]: the chosen `features` groups, then the mask.

    Written with masks and `torch.where` only (no data-dependent control flow), so it exports to
    ONNX and gives the same numbers there.
    """

    def __init__(
        self,
        used_joints: Sequence[int],
        min_score: float = 0.05,
        features: Sequence[str] = FEATURE_GROUPS,
    ) -> None:
        super().__init__()
        unknown = set(features) - set(FEATURE_GROUPS)
        if unknown or not features:
            raise ValueError(f"features must be a non-empty subset of {FEATURE_GROUPS}")
        self.features = [g for g in FEATURE_GROUPS if g in features]
        self.num_features = 2 * len(self.features) + 1
        used = torch.zeros(NUM_JOINTS, dtype=torch.bool)
        used[list(used_joints)] = True
        self.register_buffer("used_joints", used, persistent=True)
        self.register_buffer("parent", torch.tensor(PARENT, dtype=torch.long), persistent=False)
        self.min_score = float(min_score)

    def forward(self, keypoints: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        mask = (scores >= self.min_score) & self.used_joints
        maskf = mask.to(keypoints.dtype).unsqueeze(-1)
        xy = keypoints * maskf

        centre = self._centre(xy[:, 0], maskf[:, 0])
        scale = self._scale(keypoints[:, 0], mask[:, 0])
        xy = (xy - centre[:, None, None, None, :]) / scale[:, None, None, None, None] * maskf

        parent_mask = maskf[..., self.parent, :]
        bone = (xy - xy[..., self.parent, :]) * maskf * parent_mask
        groups = {
            "joint": xy,
            "bone": bone,
            "joint_motion": self._motion(xy, maskf),
            "bone_motion": self._motion(bone, maskf * parent_mask),
        }
        return torch.cat([groups[g] for g in self.features] + [maskf], dim=-1)

    @staticmethod
    def _centre(xy: torch.Tensor, maskf: torch.Tensor) -> torch.Tensor:
        """Mean of the visible hips over the window; all visible joints if no hip is seen."""
        hips = maskf[:, :, 11:13]
        hip_count = hips.sum(dim=(1, 2))
        hip_centre = (xy[:, :, 11:13] * hips).sum(dim=(1, 2)) / hip_count.clamp(min=1.0)
        all_count = maskf.sum(dim=(1, 2))
        all_centre = (xy * maskf).sum(dim=(1, 2)) / all_count.clamp(min=1.0)
        return torch.where(hip_count > 0, hip_centre, all_centre)

    @staticmethod
    def _scale(xy: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over frames of the larger side of the visible joints' bounding box."""
        big = torch.finfo(xy.dtype).max / 4
        m = mask.unsqueeze(-1)
        lo = torch.where(m, xy, torch.full_like(xy, big)).amin(dim=2)
        hi = torch.where(m, xy, torch.full_like(xy, -big)).amax(dim=2)
        frame_ok = mask.sum(dim=2) >= 2
        extent = torch.where(frame_ok, (hi - lo).amax(dim=-1), torch.zeros_like(lo[..., 0]))
        okf = frame_ok.to(xy.dtype)
        mean_extent = extent.sum(dim=1) / okf.sum(dim=1).clamp(min=1.0)
        return mean_extent.clamp(min=1e-3)

    @staticmethod
    def _motion(x: torch.Tensor, maskf: torch.Tensor) -> torch.Tensor:
        """Frame-to-frame difference, zero where either frame misses the joint."""
        diff = (x[:, :, 1:] - x[:, :, :-1]) * maskf[:, :, 1:] * maskf[:, :, :-1]
        return torch.cat([diff, torch.zeros_like(x[:, :, :1])], dim=2)
