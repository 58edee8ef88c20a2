from __future__ import annotations

import pytest
import torch
from torch import nn

from microdualnet.model.backbone import STAGES, TSMBackbone
from microdualnet.model.config import make_config
from microdualnet.model.temporal_shift import TemporalShift, temporal_shift


def reference_shift(x: torch.Tensor, t: int, div: int) -> torch.Tensor:
    """The TSM definition written out element by element."""
    n = x.shape[0] // t
    v = x.view(n, t, *x.shape[1:])
    out = torch.zeros_like(v)
    fold = x.shape[1] // div
    for b in range(n):
        for f in range(t):
            for c in range(x.shape[1]):
                if c < fold:
                    out[b, f, c] = v[b, f + 1, c] if f + 1 < t else 0
                elif c < 2 * fold:
                    out[b, f, c] = v[b, f - 1, c] if f > 0 else 0
                else:
                    out[b, f, c] = v[b, f, c]
    return out.view_as(x)


@pytest.mark.parametrize(("t", "c", "div"), [(4, 16, 8), (3, 8, 4), (1, 8, 8)])
def test_shift_matches_definition(t: int, c: int, div: int) -> None:
    x = torch.randn(2 * t, c, 2, 3)
    assert torch.equal(temporal_shift(x, t, div), reference_shift(x, t, div))


def test_shift_moves_whole_clips_only() -> None:
    # Two clips of 2 frames: frame 1 of clip 0 must not leak into frame 0 of clip 1.
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 8, 1, 1).contiguous()
    out = temporal_shift(x, num_frames=2)
    assert out[2, 1].item() == 0.0  # clip 1, frame 0, backward-shifted channel: zero fill
    assert out[1, 0].item() == 0.0  # clip 0, last frame, forward-shifted channel: zero fill
    assert out[2, 0].item() == 3.0  # clip 1, frame 0 takes frame 1 of clip 1


@pytest.mark.parametrize("div", [4, 8])
def test_the_module_shifts_its_input_before_the_wrapped_conv(div: int) -> None:
    """TemporalShift feeds the wrapped layer the shifted clip, with its own shift_div (8 by
    default, as TSM's)."""
    x = torch.randn(2 * 3, 16, 2, 2)
    wrapped = TemporalShift(nn.Identity(), num_frames=3, shift_div=div)
    assert torch.equal(wrapped(x), reference_shift(x, 3, div))
    assert torch.equal(TemporalShift(nn.Identity(), num_frames=3)(x), reference_shift(x, 3, 8))


def test_residual_placement_official_rule() -> None:
    """Every stage is shifted: every block, or every second one from ResNet-101 on, each
    block with the configured frame count and shift_div."""

    def shifted(depth: int, every: int | None = None) -> list[list[bool]]:
        cfg = make_config("demo", backbone_depth=depth, shift_every=every, num_frames=4,
                          shift_div=4)
        b = TSMBackbone(cfg)
        wrapped = [blk.conv1 for stage in STAGES for blk in getattr(b, stage)
                   if isinstance(blk.conv1, TemporalShift)]
        assert {(w.num_frames, w.shift_div) for w in wrapped} == {(4, 4)}
        return [[isinstance(blk.conv1, TemporalShift) for blk in getattr(b, stage)]
                for stage in STAGES]

    def alternate(n: int) -> list[bool]:
        return [i % 2 == 0 for i in range(n)]

    assert shifted(18) == [[True] * 2] * 4
    assert shifted(34, every=2) == [alternate(n) for n in (3, 4, 6, 3)]
    assert shifted(34) == [[True] * n for n in (3, 4, 6, 3)]
    assert shifted(101) == [alternate(n) for n in (3, 4, 23, 3)]


def test_backbone_outputs() -> None:
    cfg = make_config("demo", num_frames=4, input_size=64)
    fmap, pooled = TSMBackbone(cfg)(torch.randn(2, 4, 3, 64, 64))
    assert fmap.shape == (8, 128, 2, 2)
    assert pooled.shape == (2, 128)
    assert torch.allclose(pooled, fmap.mean(dim=(2, 3)).view(2, 4, -1).mean(1))


def test_bottleneck_backbone_reports_its_expanded_channels() -> None:
    """out_channels sizes the layers after the backbone: 8 x width x 4 for Bottleneck."""
    backbone = TSMBackbone(make_config("demo", backbone_depth=50, num_frames=2))
    fmap, pooled = backbone(torch.randn(1, 2, 3, 32, 32))
    assert backbone.out_channels == 16 * 8 * 4 == fmap.shape[1] == pooled.shape[1]


def test_default_shift_moves_one_eighth_of_the_channels_each_way() -> None:
    """TSM's default: of 16 channels, 2 (1/8) take the next frame's values, the next 2 the
    previous frame's, zero where the clip ends, and the other 12 stay where they are."""
    t, c = 3, 16
    x = (10.0 * torch.arange(t)[:, None] + torch.arange(c) + 1).view(t, c, 1, 1)
    out = temporal_shift(x, num_frames=t).view(t, c)
    v = x.view(t, c)
    assert torch.equal(out[:2, :2], v[1:, :2]) and (out[2, :2] == 0).all()
    assert torch.equal(out[1:, 2:4], v[:2, 2:4]) and (out[0, 2:4] == 0).all()
    assert torch.equal(out[:, 4:], v[:, 4:])
