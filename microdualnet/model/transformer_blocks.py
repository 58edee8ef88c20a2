"""Spatial-T and Temporal-T (Eq. 3-8): transformer layers over entities or frames.

Post-LN as the paper writes Eq. 4-5, or pre-LN (`norm_first`), which keeps an identity path
from the entity features to the pooled output and trains far faster from scratch on small
data (docs/model.md says why, docs/benchmarks.md has the numbers).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class EncoderLayer(nn.Module):
    """X'' = LN(X' + MHSA(X')); X^ = LN(X'' + FFN(X'')) with a GELU FFN (Eq. 4-5 / 7-8).

    With `norm_first`: X'' = X' + MHSA(LN(X')); X^ = X'' + FFN(LN(X'')).
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.drop(self.attn(h, h, h, need_weights=False)[0])
            return x + self.drop(self.ffn(self.norm2(x)))
        attended, _ = self.attn(x, x, x, need_weights=False)
        x = self.norm1(x + self.drop(attended))
        return self.norm2(x + self.drop(self.ffn(x)))


def sinusoidal_encoding(length: int, dim: int, device: torch.device | None = None) -> Tensor:
    """`[length, dim]` fixed sin/cos position codes (the TPE of Eq. 6)."""
    pos = torch.arange(length, dtype=torch.float32, device=device)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device)
                     * (-math.log(10000.0) / dim))
    enc = torch.zeros(length, dim, device=device)
    enc[:, 0::2] = torch.sin(pos * freq)
    enc[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return enc


class SpatialTransformer(nn.Module):
    """Attention across the K entities of each frame (Eq. 3-5).

    SPE encodes where an entity sits in the anatomical hierarchy (head -> torso -> limbs,
    a learned code per level) and its relative spatial position (box centre offset and size,
    linearly projected), so attention sees both identity and current layout.
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, layers: int, dropout: float,
                 levels: tuple[int, ...], norm_first: bool = False) -> None:
        super().__init__()
        self.register_buffer("levels", torch.tensor(levels), persistent=False)
        self.level_embedding = nn.Embedding(max(levels) + 1, dim)
        self.geometry = nn.Linear(4, dim)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn_dim, dropout, norm_first)
                                    for _ in range(layers))

    def forward(self, x: Tensor, geometry: Tensor) -> Tensor:
        """`x [B, T, K, D]`, `geometry [B, T, K, 4]` (entities.box_geometry) -> `[B, T, K, D]`."""
        b, t, k, d = x.shape
        x = x + self.level_embedding(self.levels) + self.geometry(geometry)  # Eq. 3
        x = x.reshape(b * t, k, d)
        for layer in self.layers:
            x = layer(x)
        return x.view(b, t, k, d)


class TemporalTransformer(nn.Module):
    """Attention across the T frames of each entity (Eq. 6-8), with sinusoidal TPE."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, layers: int, dropout: float,
                 norm_first: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn_dim, dropout, norm_first)
                                    for _ in range(layers))

    def forward(self, x: Tensor) -> Tensor:
        """`x [B, T, K, D]` -> `[B, T, K, D]`."""
        b, t, k, d = x.shape
        x = x + sinusoidal_encoding(t, d, x.device)[:, None, :].to(x.dtype)  # Eq. 6
        x = x.permute(0, 2, 1, 3).reshape(b * k, t, d)
        for layer in self.layers:
            x = layer(x)
        return x.view(b, k, t, d).permute(0, 2, 1, 3)
