"""Helpers for the model tests: tiny configs and random clips with keypoints."""

from __future__ import annotations

import torch

from microdualnet.model.config import ModelConfig, make_config


def tiny_config(**overrides: object) -> ModelConfig:
    """The demo preset shrunk further: 4 frames, 64 px, 3 classes."""
    base = {"num_classes": 3, "num_frames": 4, "input_size": 64, "dim": 32, "num_heads": 4,
            "ffn_dim": 64, "global_proj_dim": 16, "classifier_hidden": 16}
    return make_config("demo", **{**base, **overrides})


def random_inputs(cfg: ModelConfig, batch: int = 2,
                  seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A random normalised clip and plausible keypoints (some undetected) for `cfg`."""
    g = torch.Generator().manual_seed(seed)
    t, s = cfg.num_frames, cfg.input_size
    video = torch.randn(batch, t, 3, s, s, generator=g)
    kp = torch.rand(batch, t, 25, 3, generator=g)
    kp[..., :2] *= s
    kp[..., 2] = torch.where(kp[..., 2] < 0.2, 0.0, kp[..., 2])
    return video, kp
