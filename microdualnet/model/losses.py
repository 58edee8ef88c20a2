"""Training objective L = CE + lambda * MAC (Eq. 21)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from microdualnet.model.config import ModelConfig
from microdualnet.model.mac_loss import frame_mac_loss, mac_loss
from microdualnet.model.network import ModelOutput


@dataclass
class LossTerms:
    """The total to backpropagate and its parts (detach them for logging)."""

    total: Tensor
    ce: Tensor
    mac: Tensor


def compute_loss(out: ModelOutput, labels: Tensor, cfg: ModelConfig) -> LossTerms:
    """CE on the logits plus lambda times MAC on the raw path outputs (before routing), at
    the config's `mac_level`.

    MAC is zero (and not computed) when `cfg.mac_weight` is 0 or only one path exists.
    """
    ce = F.cross_entropy(out.logits, labels)
    if not cfg.mac_weight or out.path_st is None or out.path_ts is None:
        return LossTerms(ce, ce, ce.new_zeros(()))
    weights = out.confidence if cfg.mac_confidence_weighting else out.confidence.new_ones(
        out.confidence.shape)
    if cfg.mac_level == "frame":
        mac = frame_mac_loss(out.path_st, out.path_ts, weights)
    else:
        mac = mac_loss(out.path_st, out.path_ts, weights, cfg.mac_temperature)
    return LossTerms(ce + cfg.mac_weight * mac, ce, mac)
