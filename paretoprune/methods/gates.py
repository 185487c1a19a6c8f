"""``--method gates``: hard-concrete gates on units, filters and residual blocks, trained with
the weights on ``(1-w)·CE + w·expected complexity`` (a FLOPs/parameter mix); removed structures
are cut out by ``export --shrink``. A reconstruction from the abstract of Guenter and Sideris,
arXiv 2411.09127, with the hard-concrete gates of Louizos, Welling and Kingma, arXiv 1712.01312.
Runner: :func:`paretoprune.training.gates.run_gates`; preflight:
:func:`paretoprune.training.gates.check_gates` (a model it cannot gate)."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import number, setting


@dataclass(frozen=True)
class GatesOptions(MethodOptions):
    """The gates' options."""

    complexity_weight: float = setting(
        0.5, "w in [0, 1]: minimize (1-w)·CE + w·complexity, the expected cost of the network "
        "under hard-concrete gates on its units, filters and residual blocks (gates: a "
        "reconstruction from the abstract of Guenter & Sideris 2024 with the gates of Louizos "
        "et al. 2018).", number(0, 1))
    flops_share: float = setting(
        0.5, "φ in [0, 1]: complexity = φ·FLOPs/FLOPs_dense + (1-φ)·params/params_dense (1: "
        "FLOPs only, 0: parameters only).", number(0, 1))
    layer_share: float = setting(
        0.5, "ρ in [0, 1]: layer (residual block) against unit pruning; the complexity gradient "
        "reaches block gates scaled by min(1, 2ρ), unit and filter gates by min(1, 2(1-ρ)) "
        "(0: units only, 1: blocks only).", number(0, 1))
    gate_lr: float = setting(
        0.02, "Adam learning rate of the gates' log α (following --schedule).",
        number(0, lo_open=True))
    gate_threshold: float = setting(
        0.05, "A gate whose P(z != 0) falls below it is closed for good (its structure is "
        "removed).", number(0, 1, lo_open=True, hi_open=True))
    gate_freeze: float = setting(
        0.2, "Share of the training steps, at the end, with the gates fixed at their test-time "
        "values: the structure is final and the weights train on the cross-entropy alone.",
        number(0, 1, hi_open=True))


METHOD = Method(
    name="gates",
    summary="hard-concrete gates on units, filters and residual blocks, trained with "
            "the weights on (1-w)·CE + w·expected complexity (a FLOPs/parameter mix); "
            "removed structures are cut out by export --shrink (a reconstruction from "
            "the abstract of Guenter & Sideris 2024 with the gates of Louizos et al. "
            "2018)",
    options=GatesOptions,
    parameter="complexity_weight",
    range=(0.0, 1.0),
    # a weight of the weighted sum (1-w)·CE + w·complexity, both objectives minimized
    # and the complexity normalized to [0, 1]: the normal rule's geometry holds
    scalarization="weighted-sum",
    runner="paretoprune.training.gates:run_gates",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    objectives=("loss", "complexity"),
    sparse_end_known=True,  # w = 1: every gate closes, nothing is learned
    origin="reconstruction from the abstract of Guenter and Sideris, arXiv 2411.09127, "
           "and hard-concrete gates (Louizos, Welling and Kingma, arXiv 1712.01312)",
    structured=True,
    size="flops",  # what removed structures save; nnz hardly moves with conv filters
    preflight="paretoprune.training.gates:check_gates",
)
