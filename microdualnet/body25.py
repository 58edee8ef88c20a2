"""OpenPose BODY_25 keypoint layout: the one pose layout every stage of the pipeline speaks."""

from __future__ import annotations

import numpy as np

JOINTS: tuple[str, ...] = (
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist",
    "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye",
    "REar", "LEar", "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
)
NUM_JOINTS = len(JOINTS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINTS)}

# Limb pairs used to draw skeleton overlays (OpenPose's own BODY_25 pairs).
EDGES: tuple[tuple[int, int], ...] = (
    (1, 8), (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (10, 11),
    (8, 12), (12, 13), (13, 14), (1, 0), (0, 15), (15, 17), (0, 16), (16, 18),
    (14, 19), (19, 20), (14, 21), (11, 22), (22, 23), (11, 24),
)


def _mirror_index() -> np.ndarray:
    """Index permutation that swaps the subject's left and right joints."""
    perm = np.arange(NUM_JOINTS)
    for name, i in INDEX.items():
        if name.startswith("R") and "L" + name[1:] in INDEX:
            j = INDEX["L" + name[1:]]
            perm[i], perm[j] = j, i
    return perm


# keypoints[..., MIRROR, :] gives the left/right-swapped layout needed after a horizontal flip.
MIRROR: np.ndarray = _mirror_index()


def check_keypoints(kp: np.ndarray, where: str = "keypoints") -> np.ndarray:
    """Validate a `[..., 25, 3]` BODY_25 array and return it as float32."""
    kp = np.asarray(kp)
    if kp.ndim < 2 or kp.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(
            f"{where}: expected BODY_25 keypoints with trailing shape (25, 3), got {kp.shape}"
        )
    return kp.astype(np.float32, copy=False)
