"""``--method gmp``: gradual magnitude pruning, the baseline practitioners use -- cross-entropy
only, the smallest weights masked to the target sparsity along a cubic schedule (Zhu and Gupta,
arXiv 1710.01878). Runner: :func:`paretoprune.training.gmp.run_gmp`."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.errors import InputError
from paretoprune.methods import weighted_sum
from paretoprune.methods.base import Method
from paretoprune.methods.ramp import RampOptions
from paretoprune.settings import choice, setting


@dataclass(frozen=True)
class GmpOptions(RampOptions):
    """GMP's options: the ramp, and where the smallest weights are counted."""

    gmp_scope: str = setting(
        "global", "gmp: mask the smallest weights of all prunable tensors together (global) or "
        "the same share of every tensor (layer, Zhu & Gupta's).", choice("global", "layer"))


def check_spec(spec) -> None:
    if spec.regrow:
        raise InputError(f"--method {spec.method} keeps its masks for good; --regrow does not "
                         "apply")


METHOD = Method(
    name="gmp",
    summary="gradual magnitude pruning: cross-entropy only, the smallest weights masked "
            "to the target sparsity along a cubic schedule (Zhu and Gupta 2017)",
    options=GmpOptions,
    parameter="target_sparsity",
    range=(0.0, 1.0),  # S = 1 is the all-zero network (never trained)
    scalarization="constraint",
    runner="paretoprune.training.gmp:run_gmp",
    dense_reference=weighted_sum.dense_reference,
    finetune=weighted_sum.finetune,
    objectives=("loss", "density"),
    dense_end="lo",
    sparse_end_known=True,
    dense_end_is_reference=True,  # S = 0: cross-entropy alone, nothing masked
    origin="Zhu and Gupta, arXiv 1710.01878",
    check_spec=check_spec,
)
