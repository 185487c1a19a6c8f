"""``--method relevance``: relevance-based selective decay -- weights insensitive to the loss are
shrunk after each step, and when the validation loss plateaus the largest magnitude threshold
within ``--tolerance`` is pruned. A reconstruction from the abstract of Bonetta et al., arXiv
2204.04977, in the published form of LOBSTER (Tartaglione et al., arXiv 2011.09905); not the
authors' code. Runner: :func:`paretoprune.training.relevance.run_relevance`."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import integer, number, setting


@dataclass(frozen=True)
class RelevanceOptions(MethodOptions):
    """The selective decay's options."""

    decay: float = setting(
        3.0, "λ >= 0 of the selective decay w <- w - lr·λ·w·max(0, 1 - |∂L/∂w|/s) after each "
        "step, s the running mean of |∂L/∂w| (relevance: a reconstruction from the abstract of "
        "Bonetta et al. 2022 and LOBSTER, not the authors' code).", number(0))
    tolerance: float = setting(
        0.1, "A pruning step zeroes the weights below the largest magnitude threshold (found by "
        "bisection) that worsens the validation loss by at most this share, in [0, 1).",
        number(0, 1, hi_open=True))
    plateau: int = setting(
        2, "Prune when the validation loss has not improved for N epochs (and after the last "
        "epoch).", integer(1), metavar="N")


METHOD = Method(
    name="relevance",
    summary="relevance-based selective decay: weights insensitive to the loss are shrunk "
            "after each step, and when the validation loss plateaus the largest "
            "magnitude threshold within --tolerance is pruned (a reconstruction from the "
            "abstract of Bonetta et al. 2022 and LOBSTER, not the authors' code)",
    options=RelevanceOptions,
    parameter="decay",
    # λ = 0: no decay, pruning steps only; on digits λ of about 60 and more collapses
    # the MLP, λ = 30 keeps LeNet-5 on mnist-5k usable at 99.8 % dense sparsity
    range=(0.0, 30.0),
    # λ has no geometric meaning on (loss, density): bisect the parameter
    scalarization="parameter",
    runner="paretoprune.training.relevance:run_relevance",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    objectives=("loss", "density"),
    origin="reconstruction from the abstract of Bonetta et al., arXiv 2204.04977, in the "
           "published form of LOBSTER (Tartaglione et al., arXiv 2011.09905); not the "
           "authors' code",
)
