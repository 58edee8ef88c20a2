"""Mutual Action Consistency loss (Eq. 16-17) on the raw ST and TS path outputs, at video
level (the paper's) or frame level (Table IV's "Frame-level MAC" row)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def mac_loss(x_st: Tensor, x_ts: Tensor, confidence: Tensor, temperature: float = 0.07) -> Tensor:
    """Confidence-weighted InfoNCE between paths across time, per entity.

    For entity i at time t, the positive is the TS feature of the same frame and the
    negatives are the TS features of the other frames of the same clip and entity (Eq. 16);
    the per-(i, t) losses are averaged with weights c_i^t (Eq. 17). Inputs are
    `[B, T, K, D]` features and `[B, T, K]` confidences; all-zero confidence gives 0.
    """
    b, t, k, _ = x_st.shape
    z_st = F.normalize(x_st, dim=-1).permute(0, 2, 1, 3)  # [B, K, T, D]
    z_ts = F.normalize(x_ts, dim=-1).permute(0, 2, 1, 3)
    logits = z_st @ z_ts.transpose(-1, -2) / temperature  # [B, K, T, T]
    target = torch.arange(t, device=x_st.device).expand(b, k, t)
    per_item = F.cross_entropy(logits.reshape(-1, t), target.reshape(-1), reduction="none")
    weight = confidence.permute(0, 2, 1).reshape(-1).to(per_item.dtype)
    return (per_item * weight).sum() / weight.sum().clamp_min(1e-6)


def frame_mac_loss(x_st: Tensor, x_ts: Tensor, confidence: Tensor) -> Tensor:
    """Table IV's frame-level MAC: every frame's pair on its own, with no other frame to be
    told apart from: `1 - cos(z_ST_{i,t}, z_TS_{i,t})`, averaged with the weights c_i^t as
    Eq. 17 does. Where Eq. 16 asks each frame to be closer to its counterpart than to the
    entity's other frames (a ranking over the clip), this asks the two paths to agree at
    every timestamp. Same shapes as `mac_loss`; all-zero confidence gives 0."""
    per_item = 1.0 - F.cosine_similarity(x_st.float(), x_ts.float(), dim=-1)  # [B, T, K]
    weight = confidence.to(per_item.dtype)
    return (per_item * weight).sum() / weight.sum().clamp_min(1e-6)
