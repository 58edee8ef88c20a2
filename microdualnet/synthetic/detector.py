"""Turn exact 2-D joints into what a pose detector would report: jitter, confidences, misses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microdualnet.body25 import INDEX, NUM_JOINTS

_FACE = [INDEX[n] for n in ("Nose", "REye", "LEye", "REar", "LEar")]
_WRISTS = [INDEX["RWrist"], INDEX["LWrist"]]


@dataclass(frozen=True)
class DetectorModel:
    """Noise model options. Position errors are in cm at the figure, so they scale with the
    person's size in the image, as a detector's do (it sees the person at its own input
    resolution, whatever the video's)."""

    jitter_cm: float = 0.45  # std of independent per-frame position noise
    bias_cm: float = 0.8  # std of a per-joint offset that persists through a recording
    joint_dropout: float = 0.03  # chance a joint is missed in a frame
    frame_dropout: float = 0.005  # chance the whole person is missed in a frame
    occluded_conf: tuple[float, float] = (0.1, 0.4)


def detect(uv: np.ndarray, depth: np.ndarray, head_depth: np.ndarray, scale: float,
           width: int, height: int, rng: np.random.Generator,
           model: DetectorModel | None = None) -> np.ndarray:
    """OpenPose-style keypoints `[T, 25, 3]` (x, y, confidence; 0, 0, 0 where missed)."""
    model = model or DetectorModel()
    t = len(uv)
    bias = rng.normal(0.0, model.bias_cm * scale, uv.shape[1:])
    xy = uv + bias + rng.normal(0.0, model.jitter_cm * scale, uv.shape)
    base = rng.uniform(0.7, 0.95, NUM_JOINTS)
    conf = np.clip(base + rng.normal(0.0, 0.05, (t, NUM_JOINTS)), 0.05, 1.0)
    # A hand in front of the face hides the face points near it.
    for w in _WRISTS:
        near = np.linalg.norm(uv[:, _FACE] - uv[:, [w]], axis=-1) < 7.0 * scale
        hidden = near & (depth[:, [w]] > depth[:, _FACE])
        conf[:, _FACE] = np.where(hidden, rng.uniform(*model.occluded_conf, hidden.shape),
                                  conf[:, _FACE])
    # The ear on the far side of a turned head is rarely found.
    for ear in (INDEX["REar"], INDEX["LEar"]):
        far = depth[:, ear] < head_depth - 4.0  # cm behind the head centre
        conf[:, ear] = np.where(far, rng.uniform(0.02, 0.2, t), conf[:, ear])
    missed = rng.random((t, NUM_JOINTS)) < model.joint_dropout
    missed |= (rng.random(t) < model.frame_dropout)[:, None]
    outside = (xy[..., 0] < 0) | (xy[..., 0] > width - 1) | (xy[..., 1] < 0) | (
        xy[..., 1] > height - 1)
    missed |= outside
    # Quantised as a detector's text output would be (1/64 px, 1/1024 confidence); the
    # values are exact binary fractions, so they stay short when written as JSON.
    kp = np.concatenate([np.round(xy * 64) / 64, np.round(conf[..., None] * 1024) / 1024],
                        -1).astype(np.float32)
    kp[missed] = 0.0
    return kp
