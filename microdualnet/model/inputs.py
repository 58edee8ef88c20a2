"""Input checks for the network: a wrong shape or layout is an error naming the dimension."""

from __future__ import annotations

import torch
from torch import Tensor

from microdualnet.body25 import NUM_JOINTS
from microdualnet.model.config import ModelConfig
from pipeio.errors import InputError


def check_video(video: Tensor | None, cfg: ModelConfig) -> None:
    """`video` must be float `[B, T, 3, H, W]` with T = num_frames and H = W = input_size."""
    if video is None:
        raise InputError("video is required by this model (only entity_source='pose' runs without)")
    shape = tuple(video.shape)
    if video.ndim != 5:
        raise InputError(f"video: expected 5 dims [B, T, 3, H, W], got {video.ndim} dims {shape}")
    if not torch.is_floating_point(video):
        raise InputError(f"video: expected a float tensor (ImageNet-normalised), got {video.dtype}")
    if shape[2] != 3:
        hint = " (channels-last? permute to [B, T, 3, H, W])" if shape[4] == 3 else ""
        raise InputError(f"video: dim 2 (channels) is {shape[2]}, expected 3{hint}; shape {shape}")
    _check_frames("video", shape, cfg)
    for dim, name in ((3, "height"), (4, "width")):
        if shape[dim] != cfg.input_size:
            raise InputError(f"video: dim {dim} ({name}) is {shape[dim]}, expected input_size="
                             f"{cfg.input_size}; shape {shape}")


def check_keypoints(keypoints: Tensor | None, cfg: ModelConfig) -> None:
    """`keypoints` must be `[B, T, 25, 3]` BODY_25 (x, y pixels, confidence in [0, 1])."""
    if keypoints is None:
        raise InputError(f"keypoints are required with entity_source={cfg.entity_source!r}")
    shape = tuple(keypoints.shape)
    if keypoints.ndim != 4:
        raise InputError(f"keypoints: expected 4 dims [B, T, 25, 3], got {keypoints.ndim} dims "
                         f"{shape}")
    if shape[2:] == (3, NUM_JOINTS):
        raise InputError(f"keypoints: dims 2-3 are (3, 25), expected (25, 3): transposed layout; "
                         f"shape {shape}")
    if shape[2] != NUM_JOINTS:
        raise InputError(f"keypoints: dim 2 (joints) is {shape[2]}, expected {NUM_JOINTS} "
                         f"(BODY_25); shape {shape}")
    if shape[3] != 3:
        raise InputError(f"keypoints: dim 3 (x, y, confidence) is {shape[3]}, expected 3; "
                         f"shape {shape}")
    _check_frames("keypoints", shape, cfg)
    conf = keypoints[..., 2]
    if conf.numel() and (conf.min() < 0 or conf.max() > 1):
        raise InputError("keypoints: confidence (dim 3, index 2) must lie in [0, 1], got "
                         f"[{conf.min().item():.3g}, {conf.max().item():.3g}]")


def check_batch(video: Tensor | None, keypoints: Tensor | None) -> None:
    """Video and keypoints must agree on B and T."""
    if video is None or keypoints is None:
        return
    for dim, name in ((0, "batch"), (1, "frames")):
        if video.shape[dim] != keypoints.shape[dim]:
            raise InputError(f"dim {dim} ({name}) differs: video has {video.shape[dim]}, "
                             f"keypoints have {keypoints.shape[dim]}")


def _check_frames(what: str, shape: tuple[int, ...], cfg: ModelConfig) -> None:
    if shape[1] != cfg.num_frames:
        raise InputError(f"{what}: dim 1 (frames) is {shape[1]}, expected num_frames="
                         f"{cfg.num_frames}; shape {shape}")
