"""Person-centred views: a square around the detected body, resized to the input size.

In a wide frame a seated person may cover a fifth of the width; the demo backbone's last
map (4 x 4 at 112 px) then gives each body part less than one cell. Cropping to the person
first (the box of all confident joints over the clip, enlarged by `margin` for the hair,
hands and feet beyond the joints) gives the entity ROIs real resolution. Inference must
use the same view: the model folder records it (model.json `view`, `data.views`).
"""

from __future__ import annotations

import numpy as np

from microdualnet.contract import PERSON_MIN_JOINT_CONFIDENCE
from microdualnet.data import transforms

MIN_CONF = PERSON_MIN_JOINT_CONFIDENCE


def person_square(kp: np.ndarray, width: int, height: int, margin: float = 1.5,
                  min_conf: float = MIN_CONF) -> tuple[float, float, float]:
    """(centre x, centre y, side) of the square around the clip's joints with confidence
    above `min_conf`; the whole frame's short side, centred, when no joint is."""
    seen = kp[..., 2] > min_conf
    if not seen.any():
        return width / 2, height / 2, float(min(width, height))
    xy = kp[..., :2][seen]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    side = max(x1 - x0, y1 - y0) * margin
    return (x0 + x1) / 2, (y0 + y1) / 2, float(side)


def square_box(cx: float, cy: float, side: float, width: int, height: int
               ) -> tuple[int, int, int]:
    """(x0, y0, side) in whole pixels: the square clamped to fit the frame."""
    s = int(round(min(max(side, 8.0), width, height)))
    x0 = int(round(min(max(cx - s / 2, 0), width - s)))
    y0 = int(round(min(max(cy - s / 2, 0), height - s)))
    return x0, y0, s


def crop_square(frames: np.ndarray, kp: np.ndarray, cx: float, cy: float, side: float,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """The square (clamped to fit the frame) resized to `size` x `size`; uint8 frames out."""
    h, w = frames.shape[1:3]
    x0, y0, s = square_box(cx, cy, side, w, h)
    frames, kp = transforms.crop(frames, kp, x0, y0, s)
    return transforms.resize_short_side(frames, kp, size)


def person_view(frames: np.ndarray, kp: np.ndarray, size: int, margin: float = 1.5,
                rng: np.random.Generator | None = None, scale: tuple[float, float] = (1.0, 1.0),
                shift: float = 0.0, flip_p: float = 0.0, min_conf: float = MIN_CONF
                ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised `[T, 3, size, size]` person crop; with `rng`, the square's side is jittered
    by `scale`, its centre by up to `shift` of the side, and it is mirrored with `flip_p`."""
    h, w = frames.shape[1:3]
    cx, cy, side = person_square(kp, w, h, margin, min_conf)
    if rng is not None:
        side *= rng.uniform(*scale)
        cx += rng.uniform(-shift, shift) * side
        cy += rng.uniform(-shift, shift) * side
    frames, kp = crop_square(frames, kp, cx, cy, side, size)
    if rng is not None and rng.random() < flip_p:
        frames, kp = transforms.hflip(frames, kp)
    return transforms.normalise(frames), kp
