"""Table IV's temporal-aggregation alternatives to the dual paths, each entity on its own.

Each takes the SEM entity features `[B, T, K, D]` and returns one feature per entity
`[B, K, D]`; the network then averages over the entities as Eq. 19 does. None of them lets
entities attend to each other, which is what Table IV's text says they miss.
"""

from __future__ import annotations

from torch import Tensor, nn

from microdualnet.model.config import ModelConfig
from microdualnet.model.transformer_blocks import TemporalTransformer


class TemporalAggregator(nn.Module):
    """`cfg.paths`: `avg` / `max` pool over frames (no weights); `lstm`, a `num_layers`-layer
    LSTM (hidden size D, shared by the entities) whose last layer's final state is the
    entity's feature; `temporal`, Temporal-T alone (Eq. 6-8, `num_layers` layers) averaged
    over frames."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.kind = cfg.paths
        if self.kind == "lstm":
            self.lstm = nn.LSTM(cfg.dim, cfg.dim, num_layers=cfg.num_layers, batch_first=True,
                                dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        elif self.kind == "temporal":
            self.temporal = TemporalTransformer(cfg.dim, cfg.num_heads, cfg.ffn_dim,
                                                cfg.num_layers, cfg.dropout,
                                                norm_first=cfg.norm_first)
        elif self.kind not in ("avg", "max"):
            raise ValueError(f"no temporal aggregation {self.kind!r}")

    def forward(self, x: Tensor) -> Tensor:
        """`x [B, T, K, D]` -> `[B, K, D]`."""
        if self.kind == "avg":
            return x.mean(dim=1)
        if self.kind == "max":
            return x.amax(dim=1)
        if self.kind == "temporal":
            return self.temporal(x).mean(dim=1)
        b, t, k, d = x.shape
        _, (hidden, _) = self.lstm(x.permute(0, 2, 1, 3).reshape(b * k, t, d))
        return hidden[-1].view(b, k, d)
