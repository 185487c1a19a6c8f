"""``--method weighted-sum`` (the default): train on ``(1-λ)·CE + λ·l1`` with intra-training
pruning, one run per λ (Reiners, Klamroth and Stiglmayr, arXiv 2008.13590).

Runner: :func:`paretoprune.training.loop.run_weighted_sum`. Its dense reference (λ = 0, no
pruning) is the dense reference of every method's sweep, and its λ = 0 run with the masks held
fixed fine-tunes a selected network.

An option of this method is a field of :class:`WeightedSumOptions` (see the package docstring);
the runner reads it as ``spec.options.<field>``. The pruning settings the gradient methods share
(``--threshold``, ``--prune``, ``--prune-every``, ``--regrow``) are common fields of
:class:`~paretoprune.config.TrainSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import number, setting

NAME = "weighted-sum"

#: Threshold of a fine-tuning run: weights already pruned (exactly zero) stay masked, no other
#: weight is small enough to be pruned (its masks are fixed).
FROZEN_MASK_THRESHOLD = 1e-30


@dataclass(frozen=True)
class WeightedSumOptions(MethodOptions):
    """The weighted sum's options."""

    weight: float = setting(0.5, "λ in [0, 1]: minimize (1-λ)·CE + λ·l1 (smgd: only with "
                            "--fixed-weights).", number(0, 1))


def dense_reference(spec):
    """The dense reference of a sweep of ``spec``: λ = 0 and no pruning, same data and seed."""
    return spec.as_method(NAME, weight=0.0, threshold=0.0)


def finetune(spec):
    """The run that fine-tunes a selected network: λ = 0 (cross-entropy only), its masks fixed."""
    return spec.as_method(NAME, weight=0.0, regrow=False, threshold=FROZEN_MASK_THRESHOLD)


METHOD = Method(
    name=NAME,
    summary="train on (1-λ)·CE + λ·l1 with intra-training pruning, one run per λ "
            "(Reiners, Klamroth, Stiglmayr 2022)",
    options=WeightedSumOptions,
    parameter="weight",
    range=(0.0, 1.0),
    scalarization="weighted-sum",
    runner="paretoprune.training.loop:run_weighted_sum",
    dense_reference=dense_reference,
    finetune=finetune,
    sparse_end_known=True,
    origin="Reiners, Klamroth and Stiglmayr, arXiv 2008.13590",
)
