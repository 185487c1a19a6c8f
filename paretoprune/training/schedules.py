"""Learning-rate schedules, set once per epoch (epoch ``e = 0 .. E-1`` of ``E``).

* ``constant``: ``lr_e = lr``.
* ``cosine``: ``lr_e = lr * (1 + cos(pi * e / E)) / 2`` (from ``lr`` towards 0).
* ``sigmoid`` (the seed's): from ``lr`` down to ``0.1 * lr`` along a logistic curve centred at 75%
  of the epochs::

      lr_e = lr * (0.1 + 0.9 / (1 + exp(20 * (e / E - 0.75))))

  so ``lr_0 = 0.99999 lr``, ``lr`` at 75% of the epochs is ``0.55 lr``, and the last epochs run at
  about ``0.1 lr`` (the steepness 20 makes the drop happen between about 60% and 90%).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine", "sigmoid")


def lr_at(schedule: str, lr: float, epoch: int, epochs: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) out of ``epochs``."""
    if schedule == "constant":
        return lr
    frac = epoch / max(int(epochs), 1)
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    if schedule == "sigmoid":
        return lr * (0.1 + 0.9 / (1.0 + math.exp(20.0 * (frac - 0.75))))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
