"""Facts about the COCO-17 keypoint layout that every stage shares.

The classifier, the dataset converter, the augmentations and the overlay all need the same joint
order, bone list and left/right pairs; keeping them here means a fix happens once.
"""

from __future__ import annotations

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
