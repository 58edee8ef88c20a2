"""The ST and TS paths (Eq. 9-12): the two orders of Spatial-T and Temporal-T."""

from __future__ import annotations

from torch import Tensor, nn

from microdualnet.model.config import ModelConfig
from microdualnet.model.transformer_blocks import SpatialTransformer, TemporalTransformer


def _residual_mlp(dim: int) -> nn.Sequential:
    """The MLP_s / MLP_t that carries the original entity features past the first block."""
    return nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))


class _Path(nn.Module):
    def __init__(self, cfg: ModelConfig, levels: tuple[int, ...]) -> None:
        super().__init__()
        args = (cfg.dim, cfg.num_heads, cfg.ffn_dim, cfg.num_layers, cfg.dropout)
        self.spatial = SpatialTransformer(*args, levels=levels, norm_first=cfg.norm_first)
        self.temporal = TemporalTransformer(*args, norm_first=cfg.norm_first)
        self.residual = _residual_mlp(cfg.dim)


class STPath(_Path):
    """X_spatial = Spatial-T(X) + MLP_s(X) (Eq. 9); X_ST = Temporal-T(X_spatial) (Eq. 10)."""

    def forward(self, x: Tensor, geometry: Tensor) -> Tensor:
        return self.temporal(self.spatial(x, geometry) + self.residual(x))


class TSPath(_Path):
    """X_temporal = Temporal-T(X) + MLP_t(X) (Eq. 11); X_TS = Spatial-T(X_temporal) (Eq. 12)."""

    def forward(self, x: Tensor, geometry: Tensor) -> Tensor:
        return self.spatial(self.temporal(x) + self.residual(x), geometry)
