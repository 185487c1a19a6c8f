"""``--method weighted-sum`` (the default): train on ``(1-λ)·CE + λ·l1`` with intra-training
pruning, one run per λ (Reiners, Klamroth and Stiglmayr, arXiv 2008.13590).

Runner: :func:`paretoprune.training.weighted_sum.run_weighted_sum`, with the ``--recipe``
of :data:`RECIPES` (the default departs from the authors' code; ``original`` is theirs). Its
dense reference (λ = 0, no pruning) is the dense reference of every method's sweep, and its
λ = 0 run with the masks held fixed fine-tunes a selected network.

An option of this method is a field of :class:`WeightedSumOptions` (see the package docstring);
the runner reads it as ``spec.options.<field>``. The pruning settings the gradient methods share
(``--threshold``, ``--prune``, ``--prune-every``, ``--regrow``) are common fields of
:class:`~paretoprune.config.TrainSpec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from paretoprune.errors import InputError
from paretoprune.methods.base import Method, MethodOptions
from paretoprune.settings import choice, number, setting

NAME = "weighted-sum"
#: The recipes (paretoprune/training/weighted_sum.py), the default first; the authors' recipe
#: is "original" (only it reads --threshold).
RECIPES = ("gradual", "original")
#: The gradual recipe's default --lr (chosen on validation: runs/benchmarks/recipe_lr.json)
GRADUAL_LR = 4e-3

#: Threshold of a fine-tuning run: weights already pruned (exactly zero) stay masked, no other
#: weight is small enough to be pruned (its masks are fixed).
FROZEN_MASK_THRESHOLD = 1e-30


@dataclass(frozen=True)
class WeightedSumOptions(MethodOptions):
    """The weighted sum's options."""

    weight: float = setting(0.5, "λ in [0, 1]: minimize (1-λ)·CE + λ·l1 (smgd: only with "
                            "--fixed-weights).", number(0, 1))
    recipe: str = setting(
        "gradual", "gradual (the default; departs from the authors' code: the l1 term ramped in "
        "along a cubic schedule, ProxGen's Adam-preconditioned proximal l1 step, which makes "
        "exact zeros -- they are pruned, no threshold -- and the last 30 % of training on CE "
        "only with the masks fixed) or original (the authors' recipe: the l1 subgradient at full "
        "strength from the first step, weights below --threshold pruned after every step).",
        choice(*RECIPES))

    def identity(self) -> dict[str, Any]:
        """The original recipe leaves ``recipe`` out, so a sweep written before the recipes
        existed keeps its fingerprint: it resumes with ``--recipe original`` and is refused
        with the default recipe."""
        ident = super().identity()
        if ident.get("recipe") == "original":
            del ident["recipe"]
        return ident

    @classmethod
    def from_older(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Settings written before the recipes existed: those runs used the original recipe."""
        values.setdefault("recipe", "original")
        return values


def check_given(given: Mapping[str, Any], sweep: bool) -> None:
    """``--threshold`` belongs to the original recipe: given with another one (which prunes
    only the weights its proximal l1 step makes exactly zero) it is refused (the spec cannot
    tell it from the default)."""
    recipe = given.get("recipe") or RECIPES[0]
    if given.get("threshold") is not None and recipe != "original":
        raise InputError(f"--threshold is an option of --recipe original, not of --recipe "
                         f"{recipe} (it prunes the weights its proximal l1 step makes exactly "
                         "zero); add --recipe original or drop --threshold")


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
    runner="paretoprune.training.weighted_sum:run_weighted_sum",
    dense_reference=dense_reference,
    finetune=finetune,
    sparse_end_known=True,
    # λ = 0 under a recipe whose l1 step makes exact zeros is cross-entropy alone, nothing
    # pruned: the dense reference itself (the original recipe's threshold prunes at λ = 0)
    dense_end_is_reference=lambda spec: spec.options.recipe != "original",
    # useful λ crowd near 1 (LeNet-5: 0.88-0.99 for 92-99.4 % sparsity): bisect in
    # -ln(1 - λ), so runs spread evenly in sparsity near the sparse end
    scale="sparse-log",
    recommendation=(
        "note: on the benchmarks (README, Results: mnist-5k, 5 seeds) the weighted sum led "
        "gradual magnitude pruning on LeNet-5 (+0.6 to +1.2 points at 99 % sparsity) and was level "
        "with it or up to 0.3 points behind on LeNet-300-100, with --lr chosen on validation "
        "(4e-3, the default; at 1e-3 it was behind on LeNet-5); for a new model choose --lr on "
        "validation data and compare with paretoprune sweep OUT --method gmp --max-drop 0.01"),
    # the gradual recipe's proximal cut is lr·λ/(l1_init·d): its learning rate was chosen on
    # validation from 5e-4..4e-3 on LeNet-5 and LeNet-300-100 (README, Results); the authors'
    # recipe keeps Adam's usual 1e-3
    lr=lambda spec: 1e-3 if spec.options.recipe == "original" else GRADUAL_LR,
    origin="Reiners, Klamroth and Stiglmayr, arXiv 2008.13590",
    check_given=check_given,
)
