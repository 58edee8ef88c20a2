"""Training-time views: scale jitter, random crop and mirror, applied to frames and keypoints.

Built on the shared geometric transforms so keypoints follow every resize, crop and flip
(with the subject's left/right joints swapped on a flip).
"""

from __future__ import annotations

import numpy as np

from microdualnet.data import transforms


def train_view(frames: np.ndarray, kp: np.ndarray, size: int, rng: np.random.Generator,
               scale: tuple[float, float] = (1.0, 1.15), flip_p: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray]:
    """Random `size` x `size` crop of the clip resized to a jittered short side, maybe
    mirrored; returns normalised `[T, 3, size, size]` float32 and keypoints in its pixels."""
    short = int(round(size * rng.uniform(*scale)))
    frames, kp = transforms.resize_short_side(frames, kp, max(short, size))
    h, w = frames.shape[1:3]
    x0 = int(rng.integers(0, w - size + 1))
    y0 = int(rng.integers(0, h - size + 1))
    frames, kp = transforms.crop(frames, kp, x0, y0, size)
    if rng.random() < flip_p:
        frames, kp = transforms.hflip(frames, kp)
    return transforms.normalise(frames), kp
