"""Facts about the COCO-17 keypoint layout that every stage shares.

The classifier, the dataset converter, the augmentations and the overlay all need the same joint
order, bone list and left/right pairs; keeping them here means a fix happens once.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 17
LAYOUT = "coco17"

JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)

# Each joint's parent in a tree rooted at the nose (PYSKL's 'coco' layout): the bone of joint v
# is the vector from PARENT[v] to v. The root is its own parent, so its bone is zero.
PARENT: tuple[int, ...] = (0, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14)

# Undirected edges of the skeleton graph (child, parent), used by the graph convolution and the
# overlay.
EDGES: tuple[tuple[int, int], ...] = tuple((v, p) for v, p in enumerate(PARENT) if v != p) + (
    (11, 12),
    (5, 6),
)

# Pairs of joints that swap when an image is mirrored. The sides are the person's own, as in COCO.
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)


def flip_permutation() -> list[int]:
    """Joint order after a horizontal flip: left and right joints trade places."""
    perm = list(range(NUM_JOINTS))
    for a, b in FLIP_PAIRS:
        perm[a], perm[b] = b, a
    return perm

# COCO keypoint sigmas (pycocotools), one per COCO-17 joint: how far a joint may be off, relative
# to the person's size, before OKS counts it as wrong. Hips and knees are loose, eyes tight.
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87,
     0.89, 0.89], np.float32
) / 10.0  # fmt: skip


def keypoint_similarity(
    xy_a: np.ndarray,
    visible_a: np.ndarray,
    xy_b: np.ndarray,
    visible_b: np.ndarray,
    area: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """COCO object keypoint similarity (OKS) of every pose in a [A, 17, 2] with every pose in b.

    `area` [A, B] is the object scale squared. Only joints visible in both poses count. Returns
    the OKS [A, B] and whether any joint was shared [A, B]; without a shared joint the OKS is 0
    and says nothing, so a caller can fall back to box overlap.
    """
    d2 = np.sum((xy_a[:, None] - xy_b[None, :]) ** 2, axis=-1)  # [A, B, 17]
    both = visible_a[:, None, :] & visible_b[None, :, :]
    k2 = (2.0 * COCO_SIGMAS) ** 2
    per_joint = np.exp(-d2 / (2.0 * np.maximum(area, 1.0)[..., None] * k2))
    count = both.sum(axis=-1)
    oks = np.sum(per_joint * both, axis=-1) / np.maximum(count, 1)
    return oks, count > 0
