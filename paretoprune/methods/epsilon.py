"""``--method epsilon``: minimize CE subject to ``l1 <= ε·l1_init`` -- the prunable weights are
projected onto the l1 ball after every step (Duchi, Shalev-Shwartz, Singer and Chandra, ICML
2008), the budget ramped in; ``--target-sparsity S`` instead keeps the largest weights, exactly S
zero. The ε-constraint scalarization is Haimes et al. 1971. Runner:
:func:`paretoprune.training.epsilon.run_epsilon`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paretoprune.errors import InputError
from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method
from paretoprune.methods.ramp import RampOptions
from paretoprune.settings import number, optional, setting


@dataclass(frozen=True)
class EpsilonOptions(RampOptions):
    """The ε-constraint's options: an l1 budget, or (without it) an exact sparsity."""

    epsilon: float | None = setting(
        None, "ε > 0: the l1 budget l1 <= ε·l1_init, kept by projecting the prunable weights onto "
        "the l1 ball after every step (without it: the exact --target-sparsity).",
        optional(number(0, lo_open=True)))


def check_given(given: Mapping[str, Any], sweep: bool) -> None:
    """One budget, ``--epsilon`` (l1) or ``--target-sparsity`` (exact sparsity), and a sweep
    varies ``--epsilon``: a given ``--target-sparsity`` that would go unused is refused (the
    options cannot tell it from its default)."""
    if given.get("target_sparsity") is None:
        return
    if sweep:
        raise InputError("a sweep of --method epsilon varies the l1 budget --epsilon; "
                         "--target-sparsity does not apply (sweep sparsity targets with "
                         "--method gmp)")
    if given.get("epsilon") is not None:
        raise InputError("--method epsilon takes an l1 budget (--epsilon) or an exact sparsity "
                         "(--target-sparsity), not both")


METHOD = Method(
    name="epsilon",
    summary="minimize CE subject to l1 <= ε·l1_init: the prunable weights are projected "
            "onto the l1 ball after every step (Duchi et al. 2008), the budget ramped "
            "in; --target-sparsity S instead keeps the largest weights, exactly S zero",
    options=EpsilonOptions,
    parameter="epsilon",
    # ε = 1: no more l1 than at initialization, nearly unconstrained (a trained dense
    # net has l1 of about 1.0-1.2); ε -> 0 is the all-zero network
    range=(0.0, 1.0),
    scalarization="constraint",
    runner="paretoprune.training.epsilon:run_epsilon",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    objectives=("loss", "l1"),
    dense_end="hi",
    sparse_end_known=True,
    origin="ε-constraint scalarization (Haimes et al. 1971) with the l1-ball projection "
           "of Duchi, Shalev-Shwartz, Singer and Chandra, ICML 2008",
    check_given=check_given,
)
