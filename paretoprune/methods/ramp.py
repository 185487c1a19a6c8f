"""The sparsity ramp that ``--method gmp`` and ``--method epsilon`` share: a target sparsity S
reached along the cubic schedule ``s_t = S·(1-(1-p)^3)`` of Zhu and Gupta (arXiv 1710.01878)."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.errors import InputError
from paretoprune.methods.base import MethodOptions
from paretoprune.settings import integer, number, setting


@dataclass(frozen=True)
class RampOptions(MethodOptions):
    """A target sparsity and the ramp towards it."""

    target_sparsity: float = setting(
        0.9, "S in [0, 1): the share of prunable weights that is zero at the end, exactly (the "
        "largest weights are kept; epsilon: only without --epsilon).", number(0, 1, hi_open=True))
    ramp_start: float = setting(
        0.1, "Share of the training steps before the budget starts to tighten.", number(0, 1))
    ramp_end: float = setting(
        0.7, "Share of the training steps at which the budget reaches its target, along the "
        "cubic schedule s_t = S·(1-(1-p)^3) (--ramp-start 0 --ramp-end 0: from the first step).",
        number(0, 1))
    ramp_every: int = setting(
        10, "Raise the sparsity every K steps (the l1 radius shrinks every step).", integer(1))

    def check(self) -> None:
        if self.ramp_end < self.ramp_start:
            raise InputError(f"--ramp-end ({self.ramp_end:g}) must not come before --ramp-start "
                             f"({self.ramp_start:g})")
