"""Learning-rate schedule: linear warmup from lr/10, then cosine down to a floor.

A pure function of the update index, so a resumed run continues the same curve.
"""

from __future__ import annotations

import math


def lr_at(update: int, n_updates: int, base_lr: float, warmup_frac: float = 0.05,
          final_frac: float = 0.01) -> float:
    """Learning rate for update `update` (0-based) of `n_updates`.

    Warmup: updates [0, w) with w = ceil(warmup_frac * n_updates) go linearly from
    base_lr/10 (at update 0) towards base_lr; update w is exactly base_lr. Then cosine
    from base_lr to final_frac * base_lr, reached at the last update (n_updates - 1).
    """
    warm = math.ceil(warmup_frac * n_updates) if warmup_frac > 0 else 0
    start = base_lr / 10.0
    if update < warm:
        return start + (base_lr - start) * update / warm
    span = max(1, n_updates - 1 - warm)
    progress = min(1.0, max(0.0, (update - warm) / span))
    floor = final_frac * base_lr
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
