"""MediaPipe BlazePose (33 landmarks) -> OpenPose BODY_25.

Both name sides from the subject's view. BODY_25's Neck and MidHip have no landmark: they are
the midpoints of the shoulders and of the hips, with the lower of the two confidences. Big
toes come from the foot-index landmarks and heels from the heel landmarks; BlazePose has no
small toes, so those stay at confidence 0 like every joint not found. A landmark outside the
image counts as not found (BlazePose extrapolates hidden joints beyond the frame).
"""

from __future__ import annotations

import numpy as np

from microdualnet.body25 import INDEX, NUM_JOINTS

NUM_LANDMARKS = 33

# BODY_25 joint name -> BlazePose landmark index.
DIRECT: dict[str, int] = {
    "Nose": 0, "LEye": 2, "REye": 5, "LEar": 7, "REar": 8,
    "LShoulder": 11, "RShoulder": 12, "LElbow": 13, "RElbow": 14, "LWrist": 15, "RWrist": 16,
    "LHip": 23, "RHip": 24, "LKnee": 25, "RKnee": 26, "LAnkle": 27, "RAnkle": 28,
    "LHeel": 29, "RHeel": 30, "LBigToe": 31, "RBigToe": 32,
}
MIDPOINTS: dict[str, tuple[int, int]] = {"Neck": (11, 12), "MidHip": (23, 24)}


def to_body25(landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
    """`[33, 3]` landmarks (x, y in pixels, visibility 0-1) -> `[25, 3]` BODY_25."""
    lm = np.asarray(landmarks, np.float32)
    if lm.shape != (NUM_LANDMARKS, 3):
        raise ValueError(f"expected [33, 3] BlazePose landmarks, got {lm.shape}")
    inside = (lm[:, 0] >= 0) & (lm[:, 0] < width) & (lm[:, 1] >= 0) & (lm[:, 1] < height)
    lm = np.where(inside[:, None], lm, 0.0)
    lm[:, 2] = np.clip(lm[:, 2], 0.0, 1.0)
    out = np.zeros((NUM_JOINTS, 3), np.float32)
    for name, k in DIRECT.items():
        out[INDEX[name]] = lm[k]
    for name, (a, b) in MIDPOINTS.items():
        conf = min(lm[a, 2], lm[b, 2])
        if conf > 0:
            out[INDEX[name]] = [*((lm[a, :2] + lm[b, :2]) / 2), conf]
    out[out[:, 2] <= 0] = 0.0
    return out
