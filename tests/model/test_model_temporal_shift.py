from __future__ import annotations

import pytest
import torch

from microdualnet.model.backbone import TSMBackbone
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


def test_residual_placement_official_rule() -> None:
    def shifted(depth: int, every: int | None = None) -> list[bool]:
        cfg = make_config("demo", backbone_depth=depth, shift_every=every)
        b = TSMBackbone(cfg)
        return [isinstance(blk.conv1, TemporalShift) for blk in b.layer3]

    assert all(shifted(18))
    assert shifted(34, every=2) == [True, False, True, False, True, False]
    r101 = shifted(101)
    assert len(r101) == 23 and r101 == [i % 2 == 0 for i in range(23)]


def test_backbone_outputs() -> None:
    cfg = make_config("demo", num_frames=4, input_size=64)
    fmap, pooled = TSMBackbone(cfg)(torch.randn(2, 4, 3, 64, 64))
    assert fmap.shape == (8, 128, 2, 2)
    assert pooled.shape == (2, 128)
    assert torch.allclose(pooled, fmap.mean(dim=(2, 3)).view(2, 4, -1).mean(1))
