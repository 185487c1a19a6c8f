"""The weighted sum's training run (``--method weighted-sum``) and its recipes.

Every recipe minimizes the weighted sum ``(1 - λ)·CE + λ·l1`` (``l1 = l1_raw / l1_init``, see
:mod:`paretoprune.training.loop`) with intra-training pruning; they differ in four ingredients
(:class:`Recipe`):

* **the l1 step** -- ``subgradient``: ``λ·sign(w)/l1_init`` is added to the gradient of
  ``(1 - λ)·CE`` before the optimizer step (Reiners, Klamroth and Stiglmayr's code). Under Adam
  the sum is normalized per coordinate, so a weight with a small CE gradient moves about one
  learning rate towards zero per step whatever its size. ``prox``: the optimizer steps on
  ``(1 - λ)·CE`` alone, then every prunable weight is soft-thresholded,
  ``w <- S(w, lr·τ)`` with ``S(x, t) = sign(x)·max(|x| - t, 0)`` and ``τ = λ / ((1 - λ)·l1_init)``
  (the l1 weight in units of the CE gradient, which Adam normalizes): every weight shrinks by
  the same amount, so the smallest reach zero first -- selection by magnitude, exact zeros.
  ``proxgen``: the same with Adam's preconditioner (ProxGen; Yun, Lozano and Yang, NeurIPS 2021,
  arXiv 2006.06606): ``w <- S(w, lr·λ/(l1_init·d))`` with ``d = sqrt(v̂) + eps`` of the
  ``(1 - λ)·CE`` gradient, coordinate-wise.
* **the ramp** -- the l1 term's strength rises along Zhu and Gupta's cubic schedule
  ``r = 1 - (1 - p)^3`` between ``ramp[0]`` and ``ramp[1]`` of the training steps (arXiv
  1710.01878), instead of full strength from step 0.
* **recovery** -- the last ``recovery`` share of the steps trains ``(1 - λ)·CE`` only with the
  masks fixed (GMP's fine-tuning of its final mask).
* **what prunes** -- ``threshold``: ``|w| < --threshold`` is set to zero after every step (the
  authors' rule; under Adam the default 1e-3 is about one step, so λ = 0 prunes too);
  ``zeros``: only weights the l1 step made exactly zero are pruned (with the proximal steps
  there is no threshold; λ = 0 prunes nothing). ``magnitude`` (``magnitude-layer``): the
  weighted sum decides how many weights are zero, magnitude decides which, on GMP's schedule
  (every 10 steps of the ramp): the count is the number of weights at which the weighted sum's
  optimality condition for ``w = 0`` holds, ``(1 - λ)·|∂CE/∂w| <= r·λ/l1_init`` (the CE
  gradient estimated by Adam's bias-corrected first moment, ``r`` the ramp), and the smallest
  weights of the whole network (of each layer) are masked to reach it. The l1 term acts through
  the count only (no l1 step on the weights; ``l1_step`` is not used).

Pruned weights stay zero for good (persistent masks, :class:`~paretoprune.training.pruning.Pruner`),
unless ``--regrow``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.errors import InputError
from paretoprune.training.gmp import EXACT_THRESHOLD, Ramp, prune_smallest_, steps_per_epoch
from paretoprune.training.loop import GradientRun, RunResult

__all__ = ["GRADUAL", "L1_STEPS", "ORIGINAL", "PRUNE_RULES", "RECIPES", "Recipe", "WeightedSumRun", "run_recipe",
           "run_weighted_sum"]

L1_STEPS = ("subgradient", "prox", "proxgen")
PRUNE_RULES = ("threshold", "zeros", "magnitude", "magnitude-layer")


@dataclass(frozen=True)
class Recipe:
    """The ingredients of one weighted-sum recipe (see the module docstring)."""

    l1_step: str = "subgradient"
    #: (start, end) shares of the training steps of the cubic ramp of the l1 term; None: full
    #: strength from the first step
    ramp: tuple[float, float] | None = None
    #: share of the training steps, at the end, trained on CE only with the masks fixed
    recovery: float = 0.0
    prune: str = "threshold"

    def __post_init__(self) -> None:
        if self.l1_step not in L1_STEPS:
            raise InputError(f"unknown l1 step {self.l1_step!r}; choose one of {', '.join(L1_STEPS)}")
        if self.prune not in PRUNE_RULES:
            raise InputError(f"unknown pruning rule {self.prune!r}; choose one of "
                             f"{', '.join(PRUNE_RULES)}")
        if not 0.0 <= self.recovery < 1.0:
            raise InputError(f"recovery must be in [0, 1), got {self.recovery}")
        if self.ramp is not None and not 0.0 <= self.ramp[0] <= self.ramp[1] <= 1.0:
            raise InputError(f"ramp must be 0 <= start <= end <= 1, got {self.ramp}")


#: The authors' recipe: the l1 subgradient at full strength from the first step, pruning by the
#: fixed threshold after every step, no recovery.
ORIGINAL = Recipe()
#: The default (chosen on validation: runs/benchmarks/ablation.md): the l1 term ramped in along
#: GMP's cubic schedule over 10-70 % of the steps, ProxGen's preconditioned proximal step, exact
#: zeros only, the last 30 % on CE with the masks fixed.
GRADUAL = Recipe(l1_step="proxgen", ramp=(0.1, 0.7), recovery=0.3, prune="zeros")
#: ``--recipe`` name -> recipe (the names of :data:`paretoprune.config.WEIGHTED_SUM_RECIPES`)
RECIPES = {"gradual": GRADUAL, "original": ORIGINAL}


class WeightedSumRun(GradientRun):
    """One run of the weighted sum with a :class:`Recipe`."""

    def __init__(self, spec: TrainSpec, *, recipe: Recipe = ORIGINAL, **kwargs):
        if recipe.prune != "threshold":
            spec = spec.replace(threshold=EXACT_THRESHOLD)
        super().__init__(spec, **kwargs)
        self.recipe = recipe
        # the optimizers of this run (sgd, adam, rmsprop) update each weight on its own, so the
        # pruned weights are held at zero by one multiply after the step; the magnitude rules
        # read Adam's first moment of every weight, which must stay zero where pruned
        self.masks_held_by = "gradients" if recipe.prune.startswith("magnitude") else "weights"

    def setup(self) -> None:
        spec, recipe = self.spec, self.recipe
        if recipe.prune.startswith("magnitude") and "betas" not in self.optimizer.param_groups[0]:
            raise InputError("the magnitude rules read Adam's first moment (--optimizer adam)")
        weight = float(spec.options.weight)
        total = self.epochs * steps_per_epoch(self.data.x_train.shape[0], spec.batch_size)
        start, end = recipe.ramp if recipe.ramp is not None else (0.0, 0.0)
        self.ramp = Ramp.of_run(start, end, 1, total)
        self.recovery_start = total - round(recipe.recovery * total) if recipe.recovery else total
        self.ce_weight = None  # (1 - λ)·CE, made on the first step
        self.l1_grad_scale = weight / self.l1_init  # subgradient: + λ·sign(w)/l1_init
        # prox: the l1 weight per unit of the (Adam-normalized) CE gradient; λ = 1 zeroes all
        self.tau = weight / ((1.0 - weight) * self.l1_init) if weight < 1.0 else math.inf
        self.strength = 0.0  # the ramp's factor at the last step (recorded per epoch)
        self.mask_every = 10  # magnitude rules: a pruning step every 10 optimizer steps, as GMP
        self._moments: list[torch.Tensor] | None = None  # ProxGen: the optimizer's second moments
        self._cut: torch.Tensor | None = None  # ProxGen's flat work buffers, made on first use

    def strength_at(self, step: int) -> float:
        """The l1 term's factor at optimizer step ``step``: the ramp, 0 in recovery."""
        if step >= self.recovery_start:
            return 0.0
        return self.ramp.value(step, 0.0, 1.0) if self.recipe.ramp is not None else 1.0

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        step = self.global_step
        if step == self.recovery_start:
            self.pruner.fix_masks()  # recovery: no weight is pruned any more
        ce = F.cross_entropy(self.model(xb), yb)
        if self.ce_weight is None:
            self.ce_weight = torch.full_like(ce, 1.0 - self.spec.options.weight)
        ce.backward(self.ce_weight)
        self.strength = strength = self.strength_at(step)
        l1_step = self.recipe.l1_step
        by_magnitude = self.recipe.prune.startswith("magnitude")
        self.pruner.before_step(self.l1_grad_scale * strength
                                if l1_step == "subgradient" and not by_magnitude else 0.0)
        self.optimizer.step()
        if by_magnitude:
            if strength > 0.0 and step % self.mask_every == 0 and step < self.recovery_start:
                self._mask_by_count(strength, step + 1)
        elif strength > 0.0 and self.spec.options.weight > 0.0:
            if l1_step == "prox":
                self._soft_threshold(strength)
            elif l1_step == "proxgen":
                self._preconditioned_soft_threshold(strength, step + 1)
        return ce

    @torch.no_grad()
    def _soft_threshold(self, strength: float) -> None:
        flat = self.pruner.flat
        cut = self.optimizer.param_groups[0]["lr"] * self.tau * strength
        if math.isinf(cut):
            flat.zero_()
        else:
            flat.copy_(F.softshrink(flat, cut))

    @torch.no_grad()
    def _preconditioned_soft_threshold(self, strength: float, adam_step: int) -> None:
        """ProxGen's step: ``w <- S(w, lr·λ/(l1_init·d))`` with the optimizer's denominator
        ``d`` (Adam: ``sqrt(v̂) + eps``; RMSprop: ``sqrt(v) + eps``; SGD: 1, the plain
        proximal gradient step), coordinate-wise, on flat buffers: ``S(w, c) = w - clamp(w,
        -c, c)`` with ``c = scale · (1 / (sqrt(v) / sqrt(1 - β2^t) + eps))``, the arithmetic of
        Adam's own denominator."""
        group = self.optimizer.param_groups[0]
        scale = group["lr"] * self.spec.options.weight / self.l1_init * strength
        flat = self.pruner.flat
        moments = self._second_moments()
        if moments is None:  # SGD: no preconditioner
            flat.sub_(flat.clamp(-scale, scale))
            return
        if self._cut is None:
            self._cut, self._clamped = torch.empty_like(flat), torch.empty_like(flat)
            self._cut_views = self.pruner.views(self._cut)
        cut, clamped = self._cut, self._clamped
        for moment, view in zip(moments, self._cut_views, strict=True):
            torch.sqrt(moment, out=view)
        if "betas" in group:  # Adam's bias correction of v (a foreach op: on CUDA a plain
            # tensor-by-scalar division multiplies by the reciprocal instead, one bit off)
            torch._foreach_div_([cut], math.sqrt(1.0 - group["betas"][1] ** adam_step))
        cut.add_(group["eps"]).reciprocal_().mul_(scale)
        # clamp(w, -cut, cut) as max(min(w, cut), -cut): the same for cut >= 0, in two buffers
        torch.minimum(flat, cut, out=clamped)
        torch.maximum(clamped, cut.neg_(), out=clamped)
        flat.sub_(clamped)  # w - clamp(w, -cut, cut) = S(w, cut)

    def _second_moments(self) -> list[torch.Tensor] | None:
        """The optimizer's second moments of the prunable weights (Adam's ``exp_avg_sq``,
        RMSprop's ``square_avg``), or None without them (SGD); looked up once per epoch."""
        if self._moments is None:
            group = self.optimizer.param_groups[0]
            key = "exp_avg_sq" if "betas" in group else "square_avg"
            state = [self.optimizer.state.get(p, {}) for p in self.pruner.params]
            if not all(key in st for st in state):
                return None
            self._moments = [st[key] for st in state]
        return self._moments

    @torch.no_grad()
    def _mask_by_count(self, strength: float, adam_step: int) -> None:
        """Mask the smallest weights (globally or per layer) to the count of weights whose
        weighted-sum optimality condition for zero holds (see the module docstring)."""
        group = self.optimizer.param_groups[0]
        if self.spec.options.weight >= 1.0:
            self.pruner.flat.zero_()
            self.pruner.prune_()
            return
        # |m̂| <= c with m̂ = m / (1 - β1^t): compare m with c·(1 - β1^t)
        weight, beta1 = self.spec.options.weight, group["betas"][0]
        limit = strength * weight / self.l1_init * (1.0 - beta1 ** adam_step)
        pruner = self.pruner
        counts = [int((self.optimizer.state[p]["exp_avg"].abs() <= limit).sum())
                  if p in self.optimizer.state else 0 for p in pruner.params]
        if self.recipe.prune == "magnitude":
            keep_zero = [(pruner.flat, sum(counts))]
        else:
            keep_zero = list(zip(pruner.params, counts, strict=True))
        changed = False
        for tensor, count in keep_zero:
            zeros = tensor.numel() - int(torch.count_nonzero(tensor))
            if count > zeros:
                prune_smallest_([tensor], count / tensor.numel())
                changed = True
        if changed:
            pruner.prune_()

    def end_epoch(self, record: dict) -> None:
        record["l1_strength"] = self.strength
        self._moments = None  # the optimizer's state may be replaced between epochs

    def extra_metrics(self) -> dict:
        return {"weight": self.spec.options.weight}


def run_weighted_sum(spec: TrainSpec, *, init_state: dict | None = None,
                     epochs: int | None = None,
                     on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method weighted-sum``, with the spec's ``--recipe``."""
    return run_recipe(spec, RECIPES[spec.options.recipe], init_state=init_state, epochs=epochs,
                      on_epoch=on_epoch)


def run_recipe(spec: TrainSpec, recipe: Recipe, **kwargs) -> RunResult:
    """One weighted-sum run of ``spec`` with any :class:`Recipe` (the ablation's rows);
    ``kwargs`` as :func:`run_weighted_sum`'s."""
    return WeightedSumRun(spec, recipe=recipe, **kwargs).run()
