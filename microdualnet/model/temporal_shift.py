"""Temporal Shift Module (Lin et al., ICCV 2019) in its residual ("blockres") form."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def temporal_shift(x: Tensor, num_frames: int, shift_div: int = 8) -> Tensor:
    """Shift 1/shift_div of the channels one frame back and as many forward, zero at clip ends.

    `x` is `[N*T, C, H, W]`. Channels `[0, fold)` of frame t take frame t+1's values,
    channels `[fold, 2*fold)` take frame t-1's, the rest stay; fold = C // shift_div.
    """
    nt, c, h, w = x.shape
    v = x.view(nt // num_frames, num_frames, c, h, w)
    fold = c // shift_div
    out = torch.zeros_like(v)
    out[:, :-1, :fold] = v[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = v[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = v[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Wraps a block's first conv so only the residual branch sees shifted features.

    The wrapped conv is stored as `net`, as in the official TSM code, so its checkpoints'
    keys (`layerL.B.conv1.net.weight`) match this module's.
    """

    def __init__(self, net: nn.Module, num_frames: int, shift_div: int = 8) -> None:
        super().__init__()
        self.net = net
        self.num_frames = num_frames
        self.shift_div = shift_div

    def forward(self, x: Tensor) -> Tensor:
        return self.net(temporal_shift(x, self.num_frames, self.shift_div))
