"""Learning-rate schedules, stepped once per epoch as PyTorch's are usually used:

- `constant`: lr every epoch;
- `step` (torch.optim.lr_scheduler.StepLR): lr · gamma^⌊epoch / step_size⌋;
- `cosine` (CosineAnnealingLR, closed form): lr_min + (lr − lr_min)(1 + cos(π·epoch/T))/2,
  T = the number of epochs unless given.

Epochs count from 0: the first epoch runs at the base rate.
"""
from __future__ import annotations

import math
from typing import Optional

SCHEDULES = ("constant", "step", "cosine")


def lr_at(schedule: str, base: float, epoch: int, epochs: int, step_size: Optional[int] = None,
          gamma: Optional[float] = None, lr_min: Optional[float] = None) -> float:
    """The learning rate of epoch `epoch` (0-based) of `epochs`."""
    if schedule == "constant":
        return base
    if schedule == "step":
        size = step_size or max(1, epochs // 3)
        return base * (0.1 if gamma is None else gamma) ** (epoch // size)
    if schedule == "cosine":
        low = lr_min or 0.0
        return low + (base - low) * (1 + math.cos(math.pi * epoch / max(1, epochs))) / 2
    raise ValueError(f"no schedule '{schedule}' (there are {', '.join(SCHEDULES)})")
