"""Per-identity looks and per-recording viewpoint: what varies between synthetic people and shots."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from microdualnet.synthetic.body import Camera, Proportions

SKIN_TONES = ((255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 94),
              (160, 102, 66), (112, 72, 46))
HAIR = ((30, 22, 18), (70, 45, 25), (120, 80, 40), (200, 160, 90), (20, 20, 20), (150, 60, 30))

Color = tuple[int, int, int]


def _random_color(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> Color:
    r, g, b = colorsys.hsv_to_rgb(rng.uniform(0, 1), rng.uniform(*sat), rng.uniform(*val))
    return int(r * 255), int(g * 255), int(b * 255)


@dataclass(frozen=True)
class Appearance:
    """Colours (RGB), proportions, lighting and noise of one synthetic person and scene."""

    proportions: Proportions
    skin: Color
    hair: Color
    shirt: Color
    trousers: Color
    shoes: Color
    chair: Color
    long_sleeves: bool
    stripes: bool
    background_top: Color
    background_bottom: Color
    floor_level: float  # fraction of image height where the wall meets the floor
    brightness: float  # global gain on every colour
    light_dir: float  # -1 (light from the left) .. 1 (from the right): shading side
    noise_sigma: float  # std of the Gaussian pixel noise (0-255 scale)


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """A random person and room."""
    skin_idx = int(rng.integers(len(SKIN_TONES)))
    return Appearance(
        proportions=Proportions().scaled(rng),
        skin=SKIN_TONES[skin_idx],
        hair=HAIR[int(rng.integers(len(HAIR)))],
        shirt=_random_color(rng, (0.3, 0.9), (0.35, 0.95)),
        trousers=_random_color(rng, (0.2, 0.7), (0.15, 0.6)),
        shoes=_random_color(rng, (0.0, 0.5), (0.1, 0.5)),
        chair=_random_color(rng, (0.1, 0.5), (0.2, 0.5)),
        long_sleeves=bool(rng.random() < 0.5),
        stripes=bool(rng.random() < 0.3),
        background_top=_random_color(rng, (0.0, 0.35), (0.55, 0.95)),
        background_bottom=_random_color(rng, (0.0, 0.45), (0.3, 0.7)),
        floor_level=float(rng.uniform(0.6, 0.8)),
        brightness=float(rng.uniform(0.75, 1.15)),
        light_dir=float(rng.uniform(-1, 1)),
        noise_sigma=float(rng.uniform(2.0, 7.0)),
    )


def sample_camera(rng: np.random.Generator, width: int, height: int, *, x: float = 0.5,
                  size: tuple[float, float] = (0.85, 1.05),
                  yaw: tuple[float, float] = (-0.3, 0.3)) -> Camera:
    """A viewpoint that keeps the seated figure (about 100 cm tall) inside the frame.

    `x` is where the figure sits across the frame (a fraction of the width, jittered by
    0.07); `size` scales the figure against its default height (about 0.7 of the frame's);
    `yaw` turns it (radians; > 0 turns its front towards the image's right).
    """
    scale = height / 135.0 * rng.uniform(*size)
    return Camera(
        yaw=float(rng.uniform(*yaw)),
        pitch=float(rng.uniform(0.12, 0.35)),
        roll=float(rng.uniform(-0.07, 0.07)),
        scale=float(scale),
        cx=float(width * (x + rng.uniform(-0.07, 0.07))),
        cy=float(height * (0.6 + rng.uniform(-0.03, 0.03))),
    )
