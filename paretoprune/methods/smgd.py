"""``--method smgd``: one run along the common descent direction of CE and l1 (stochastic
multi-gradient descent; Liu and Vicente, arXiv 1907.04472, as used by Reiners et al., arXiv
2008.13590). Runner: :func:`paretoprune.training.smgd.run_multi_gradient`; its optimizers
(smgd, madam, mrmsprop) are in :mod:`paretoprune.training.optim`.
"""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.errors import InputError
from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import boolean, choice, number, setting


@dataclass(frozen=True)
class SmgdOptions(MethodOptions):
    """SMGD's options."""

    weight: float = setting(0.5, "λ in [0, 1]: the l1 weight of --fixed-weights.", number(0, 1))
    fixed_weights: bool = setting(
        False, "smgd: combine the two gradients with (1-λ, λ) instead of the min-norm weights.",
        boolean)
    mo_l1_scale: str = setting(
        "raw", "smgd: the l1 gradient it balances, sign(w) (raw, the seed's) or "
        "sign(w)/l1_init (init, the weighted sum's scale).", choice("raw", "init"))


def check_sweep(spec) -> None:
    """A sweep varies λ, which only --fixed-weights uses."""
    if not spec.options.fixed_weights:
        raise InputError(f"--method {spec.method} chooses its own trade-off in one run; use "
                         "paretoprune train (or --fixed-weights to sweep λ)")


METHOD = Method(
    name="smgd",
    summary="one run along the common descent direction of CE and l1 (stochastic "
            "multi-gradient descent; --optimizer smgd, madam or mrmsprop)",
    options=SmgdOptions,
    parameter="weight",  # only with --fixed-weights; else the run chooses its weights
    range=(0.0, 1.0),
    scalarization="weighted-sum",
    runner="paretoprune.training.smgd:run_multi_gradient",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    optimizers=("smgd", "madam", "mrmsprop"),
    origin="Liu and Vicente, arXiv 1907.04472; Reiners et al., arXiv 2008.13590",
    check_sweep=check_sweep,
)
