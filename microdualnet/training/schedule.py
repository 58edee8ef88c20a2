"""Learning rate per step: linear warmup from `warmup_start_lr` to `lr`, then cosine to `min_lr`.

Computed from the global step alone, so a resumed run needs no scheduler state.
"""

from __future__ import annotations

import math


def lr_at(step: int, steps_per_epoch: int, epochs: int, lr: float, warmup_epochs: float,
          warmup_start_lr: float, min_lr: float = 0.0) -> float:
    total = max(steps_per_epoch * epochs, 1)
    warm = min(int(round(warmup_epochs * steps_per_epoch)), total)
    if step < warm:
        return warmup_start_lr + (lr - warmup_start_lr) * step / warm
    progress = (step - warm) / max(total - warm, 1)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(progress, 1.0)))
