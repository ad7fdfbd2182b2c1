"""The skeleton classifier: an ST-GCN++-style network over the COCO-17 graph.

Why this design (numbers in the README): ST-GCN++ (Duan et al., PYSKL) reaches PoseConv3D-level
accuracy on 2D keypoints at a tenth of its cost by alternating a spatial graph convolution with a
learnable adjacency and a multi-branch temporal convolution. We keep that block, but fuse the
joint, bone and motion streams at the input (as EfficientGCN does) instead of training four
separate models, and use narrower layers: one network, a fraction of a GFLOP per clip, fast
enough to classify every tracked person in a live loop on a CPU.

The first layer is `SkeletonNormalizer`, so the model (and its ONNX export) takes pixel
keypoints and scores directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from skelcam.train.preprocess import FEATURE_GROUPS, SkeletonNormalizer
from skelcam.train.skeleton import EDGES, NUM_JOINTS


@dataclass
class ModelConfig:
    """Everything needed to rebuild the model; stored in checkpoints and ONNX metadata."""

    num_classes: int
    window: int = 48
    num_persons: int = 1
    used_joints: list[int] = field(default_factory=lambda: list(range(NUM_JOINTS)))
    channels: list[int] = field(default_factory=lambda: [64, 64, 96, 96, 128, 128])
    strides: list[int] = field(default_factory=lambda: [1, 1, 2, 1, 2, 1])
    dropout: float = 0.3
    min_score: float = 0.05
    features: list[str] = field(default_factory=lambda: list(FEATURE_GROUPS))
    # Two-person models: the head sees the subject's (slot 0) and the partner's pooled features
    # side by side through a hidden layer, instead of their mean. Each person is encoded on its
    # own, so with a mean the head cannot relate them: whether the one who walks moves towards
    # or away from the other (approach or depart, under mirroring) is an XOR of the two people's
    # features, which no linear function of their sum gives.
    pair_head: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        return cls(**data)


def adjacency_partitions() -> np.ndarray:
    """ST-GCN's spatial partitions of the COCO graph: self, inward and outward edges.

    Each partition is normalised by the in-degree so that aggregation averages neighbours.
    """
    identity = np.eye(NUM_JOINTS, dtype=np.float32)
    inward = np.zeros((NUM_JOINTS, NUM_JOINTS), np.float32)
    for child, parent in EDGES:
        inward[parent, child] = 1.0
    outward = inward.T.copy()

    def normalise(a: np.ndarray) -> np.ndarray:
        degree = a.sum(axis=1, keepdims=True)
        return np.divide(a, degree, out=np.zeros_like(a), where=degree > 0)

    return np.stack([identity, normalise(inward), normalise(outward)])


class GraphConv(nn.Module):
    """Spatial graph convolution with a learnable adjacency (ST-GCN++'s 'unit_gcn', 'init')."""

    def __init__(self, in_channels: int, out_channels: int, adjacency: np.ndarray) -> None:
        super().__init__()
        self.num_subsets = adjacency.shape[0]
        self.adjacency = nn.Parameter(torch.from_numpy(adjacency.copy()))
        self.conv = nn.Conv2d(in_channels, out_channels * self.num_subsets, kernel_size=1)
        self.bn = nn.BatchNorm2d(out_channels)
        if in_channels == out_channels:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1), nn.BatchNorm2d(out_channels)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        y = self.conv(x).view(n, self.num_subsets, -1, t, v)
        y = torch.einsum("nkctv,kvw->nctw", y, self.adjacency)
        return self.act(self.bn(y) + self.residual(x))


class MultiScaleTemporalConv(nn.Module):
    """ST-GCN++'s multi-branch temporal convolution: dilations 1 and 2, max-pool, 1x1."""

    def __init__(self, channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        branch = out_channels // 4

        def dilated(dilation: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(channels, branch, 1),
                nn.BatchNorm2d(branch),
                nn.ReLU(inplace=True),
                nn.Conv2d(
                    branch,
                    branch,
                    (3, 1),
                    stride=(stride, 1),
                    padding=(dilation, 0),
                    dilation=(dilation, 1),
                ),
                nn.BatchNorm2d(branch),
            )

        self.branches = nn.ModuleList(
            [
                dilated(1),
                dilated(2),
                nn.Sequential(
                    nn.Conv2d(channels, branch, 1),
                    nn.BatchNorm2d(branch),
                    nn.ReLU(inplace=True),
                    nn.MaxPool2d((3, 1), stride=(stride, 1), padding=(1, 0)),
                    nn.BatchNorm2d(branch),
                ),
                nn.Sequential(
                    nn.Conv2d(channels, out_channels - 3 * branch, 1, stride=(stride, 1)),
                    nn.BatchNorm2d(out_channels - 3 * branch),
                ),
            ]
        )
        self.transform = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 1),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transform(torch.cat([b(x) for b in self.branches], dim=1))


class STBlock(nn.Module):
    """One spatial-temporal block: graph conv, temporal conv, residual."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, adjacency: np.ndarray) -> None:
        super().__init__()
        self.gcn = GraphConv(in_ch, out_ch, adjacency)
        self.tcn = MultiScaleTemporalConv(out_ch, out_ch, stride)
        if in_ch == out_ch and stride == 1:
            self.residual: nn.Module = nn.Identity()
        else:
            self.residual = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride=(stride, 1)), nn.BatchNorm2d(out_ch)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.tcn(self.gcn(x)) + self.residual(x))


class SkeletonClassifier(nn.Module):
    """Pixel keypoints [N, M, T, 17, 2] and scores [N, M, T, 17] -> class logits [N, K]."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.normalizer = SkeletonNormalizer(config.used_joints, config.min_score, config.features)
        in_ch = self.normalizer.num_features
        self.data_bn = nn.BatchNorm1d(in_ch * NUM_JOINTS)
        adjacency = adjacency_partitions()
        blocks = []
        for out_ch, stride in zip(config.channels, config.strides, strict=True):
            blocks.append(STBlock(in_ch, out_ch, stride, adjacency))
            in_ch = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(config.dropout)
        self.pair = (nn.Sequential(nn.Linear(2 * in_ch, in_ch), nn.ReLU())
                     if config.pair_head and config.num_persons > 1 else None)
        self.head = nn.Linear(in_ch, config.num_classes)

    def forward(self, keypoints: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        features = self.normalizer(keypoints, scores)
        n, m, t, v, c = features.shape
        present = (features[..., -1].sum(dim=(2, 3)) > 0).to(features.dtype)

        x = features.permute(0, 1, 3, 4, 2).reshape(n * m, v * c, t)
        x = self.data_bn(x).view(n * m, v, c, t).permute(0, 2, 3, 1)
        x = self.blocks(x)

        pooled = x.mean(dim=(2, 3)).view(n, m, -1)
        if self.pair is not None:
            # The subject, and the mean of the others who are there (zeros when alone).
            others = present[:, 1:] / present[:, 1:].sum(dim=1, keepdim=True).clamp(min=1.0)
            partner = (pooled[:, 1:] * others.unsqueeze(-1)).sum(dim=1)
            return self.head(self.dropout(self.pair(torch.cat([pooled[:, 0], partner], -1))))
        weights = present / present.sum(dim=1, keepdim=True).clamp(min=1.0)
        pooled = (pooled * weights.unsqueeze(-1)).sum(dim=1)
        return self.head(self.dropout(pooled))


def build_model(config: ModelConfig) -> SkeletonClassifier:
    return SkeletonClassifier(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def example_inputs(
    config: ModelConfig, batch: int = 1, frame_size: Sequence[int] = (640, 480)
) -> tuple[torch.Tensor, torch.Tensor]:
    """A plausible random input batch (pixel coordinates inside a frame), for export and benches."""
    gen = torch.Generator().manual_seed(0)
    shape = (batch, config.num_persons, config.window, NUM_JOINTS)
    scale = torch.tensor(frame_size, dtype=torch.float32)
    keypoints = torch.rand(*shape, 2, generator=gen) * scale
    scores = torch.rand(*shape, generator=gen)
    return keypoints, scores
