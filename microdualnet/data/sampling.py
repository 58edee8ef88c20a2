"""Which frames of a clip the model sees: T frames, `stride` apart (TSM-style dense sampling).

Training jitters the window's start uniformly; evaluation centres it on the clip's grid of
every `stride`-th frame from 0 (the start nearest the centre, halves up), as inference's
window plan does (`microdualnet.windowplan`), so a clip evaluated here and the same frames as
one inference window are the same input. A clip shorter than the window is
covered by the largest stride that fits, repeating the last frame if needed.
"""

from __future__ import annotations

import numpy as np


def sample_indices(n_frames: int, num_frames: int, stride: int,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """`num_frames` indices into a clip of `n_frames` frames (rng None: centred)."""
    if n_frames < 1:
        raise ValueError("a clip needs at least one frame")
    step = stride
    span = (num_frames - 1) * step + 1
    if span > n_frames:
        step = max((n_frames - 1) // max(num_frames - 1, 1), 1)
        span = min((num_frames - 1) * step + 1, n_frames)
    slack = n_frames - span
    if rng is not None:
        start = int(rng.integers(0, slack + 1))
    else:  # slack / 2 to the nearest multiple of the step, halves up (<= slack)
        start = (slack + step) // (2 * step) * step
    return np.minimum(start + np.arange(num_frames) * step, n_frames - 1)
