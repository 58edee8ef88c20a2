"""Entity-level adaptive routing between the ST and TS paths (Eq. 13-15)."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class EntityRouter(nn.Module):
    """Per entity i: r = R_i([X_ST; X_TS]) + b_i, alpha = softmax(r / tau), fused = sum alpha X.

    R_i is Linear(2D, D/2)-LayerNorm-ReLU-Dropout-Linear(D/2, 2) with its own weights per
    entity; the prior b_i starts at zero so both paths start equally weighted on average.
    """

    def __init__(self, dim: int, num_entities: int, temperature: float, dropout: float) -> None:
        super().__init__()
        hidden = dim // 2
        self.temperature = temperature
        self.nets = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * dim, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                          nn.Dropout(dropout), nn.Linear(hidden, 2))
            for _ in range(num_entities)
        )
        self.prior = nn.Parameter(torch.zeros(num_entities, 2))  # b_i of Eq. 13

    def weights(self, x_st: Tensor, x_ts: Tensor) -> Tensor:
        """Routing weights `[B, T, K, 2]` ([alpha_ST, alpha_TS], Eq. 13-14)."""
        pair = torch.cat([x_st, x_ts], dim=-1)
        scores = torch.stack([net(pair[:, :, i]) for i, net in enumerate(self.nets)], dim=2)
        return torch.softmax((scores + self.prior) / self.temperature, dim=-1)

    def forward(self, x_st: Tensor, x_ts: Tensor) -> tuple[Tensor, Tensor]:
        """Fused features `[B, T, K, D]` (Eq. 15) and the weights `[B, T, K, 2]`."""
        alpha = self.weights(x_st, x_ts)
        return alpha[..., :1] * x_st + alpha[..., 1:] * x_ts, alpha
