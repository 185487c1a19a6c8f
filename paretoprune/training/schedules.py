"""Learning-rate schedules.

Per epoch (epoch ``e = 0 .. E-1`` of ``E``):

* ``constant``: ``lr_e = lr``.
* ``cosine``: ``lr_e = lr * (1 + cos(pi * e / E)) / 2`` (from ``lr`` towards 0).
* ``sigmoid`` (the original work's): from ``lr`` down to ``0.1 * lr`` along a logistic curve centred at 75%
  of the epochs with width ``0.075 * E`` (steepness ``1 / (0.075 E)`` per epoch, as in the
  authors' code)::

      lr_e = lr * (0.1 + 0.9 / (1 + exp((e / E - 0.75) / 0.075)))

  so ``lr_0 = 0.99995 lr``, ``lr`` at 75% of the epochs is ``0.55 lr`` and the last epoch runs
  at about ``0.13 lr``.

Per optimizer step (step ``t = 0, 1, ...``):

* ``inverse`` (the original work's SMGD decay): ``lr_t = lr / (1 + (lr / E) * t)``.
"""

from __future__ import annotations

import math

from paretoprune.config import SCHEDULES

#: Width of the sigmoid's drop, as a share of the epochs (the authors' 0.075).
SIGMOID_WIDTH = 0.075


def lr_at(schedule: str, lr: float, epoch: int, epochs: int, step: int = 0) -> float:
    """The learning rate of epoch ``epoch`` (0-based) out of ``epochs``, at optimizer step
    ``step`` (only ``inverse`` depends on it)."""
    epochs = max(int(epochs), 1)
    if schedule == "constant":
        return lr
    if schedule == "inverse":
        return lr / (1.0 + (lr / epochs) * step)
    frac = epoch / epochs
    if schedule == "cosine":
        return lr * 0.5 * (1.0 + math.cos(math.pi * frac))
    if schedule == "sigmoid":
        return lr * (0.1 + 0.9 / (1.0 + math.exp((frac - 0.75) / SIGMOID_WIDTH)))
    raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
