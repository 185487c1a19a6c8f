"""Gradual magnitude pruning (``--method gmp``; Zhu and Gupta, arXiv 1710.01878).

Training minimizes the cross-entropy alone (no l1 term). Between a start and an end step the
sparsity target rises along the cubic schedule

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * Δt))^3,   t = t0, t0 + Δt, ..., t0 + n * Δt,

from the sparsity ``s_i`` the run has at ``t0`` (0 for a fresh run) to the target ``s_f = S``
(``--target-sparsity``), and at each of those steps the smallest-magnitude weights are masked
to reach it. Defaults (:class:`~paretoprune.config.TrainSpec`): ``t0`` after 10 % of the
training steps (``--ramp-start 0.1``), the target reached at 70 % (``--ramp-end 0.7``), a
pruning step every ``Δt = 10`` optimizer steps (``--ramp-every 10``; the paper found 100 to
1000 steps about equally good on runs of 10^5 steps and more; paretoprune's runs are a few
thousand steps long, so 10 keeps each increment small). The last 30 % of training fine-tunes
the final mask.

Which weights: ``--gmp-scope global`` (the default) masks the smallest weights of all prunable
tensors together, exactly ``round(S * n)`` zeros; ``--gmp-scope layer`` (the paper's, and the
default of TensorFlow Model Optimization, torch.ao and SparseML) gives every prunable tensor the
same sparsity, ``round(s_t * n_tensor)`` zeros each, so the final sparsity is S within the
rounding of one weight per tensor. Global is the default because layer-wise pruning starves
small layers: at 99 % on LeNet-5 it leaves 8 of the output layer's 840 weights (test accuracy
67 % against 94 % for global after 10 epochs on mnist-5k). The masks come from
``torch.nn.utils.prune``'s :class:`~torch.nn.utils.prune.L1Unstructured` and are applied to the
:class:`~paretoprune.training.pruning.Pruner`'s flat buffer, whose persistent masks keep a pruned
weight at zero for good (its gradient and optimizer state are zeroed); ``--threshold`` is not
used (nothing but the schedule prunes, so the sparsity is exactly the target). A run's masks
export to ``torch.nn.utils.prune`` form with
:func:`~paretoprune.training.pruning.apply_torch_prune`.

:class:`Ramp` (the schedule) is shared with the l0 variant of ``--method epsilon``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torch.nn.utils import prune as torch_prune

from paretoprune.config import TrainSpec
from paretoprune.training.loop import GradientRun, RunResult

__all__ = ["EXACT_THRESHOLD", "GmpRun", "Ramp", "prune_smallest_", "run_gmp", "steps_per_epoch"]

#: The Pruner threshold of runs that prune by a target count only: already-zero weights stay
#: masked, no trained weight is ever that small (the sweep's fine-tuning runs use the same idea).
EXACT_THRESHOLD = 1e-30


@dataclass(frozen=True)
class Ramp:
    """The cubic schedule of one run, in optimizer steps (0-based; a value is applied after the
    optimizer step of that index).

    ``start`` is t0, ``end`` = t0 + n·Δt is where the target is reached, ``every`` is Δt (the
    last interval may be shorter: ``end`` is always an update step).
    """

    start: int
    end: int
    every: int

    @classmethod
    def of_run(cls, start_share: float, end_share: float, every: int, total_steps: int) -> Ramp:
        """The schedule of a run of ``total_steps`` steps: t0 after ``start_share`` of them,
        the target at ``end_share`` (both clipped to the last step, so a run always ends at
        its target)."""
        last = max(int(total_steps) - 1, 0)
        start = min(round(start_share * total_steps), last)
        end = min(max(round(end_share * total_steps), start), last)
        return cls(start, end, max(int(every), 1))

    def progress(self, step: int) -> float:
        """(t - t0) / (n·Δt), clipped to [0, 1]."""
        if step >= self.end:
            return 1.0
        if step <= self.start:
            return 0.0
        return (step - self.start) / (self.end - self.start)

    def updates_at(self, step: int) -> bool:
        """Whether ``step`` is a pruning step t0 + kΔt (or the end)."""
        return self.start <= step <= self.end and (
            (step - self.start) % self.every == 0 or step == self.end)

    def value(self, step: int, initial: float, final: float) -> float:
        """``final + (initial - final) * (1 - progress)^3`` (Zhu and Gupta's s_t)."""
        return final + (initial - final) * (1.0 - self.progress(step)) ** 3


def steps_per_epoch(n_samples: int, batch_size: int) -> int:
    """Optimizer steps of one epoch (the last batch may be smaller)."""
    return max(math.ceil(n_samples / batch_size), 1)


@torch.no_grad()
def prune_smallest_(tensors: list[torch.Tensor], sparsity: float) -> None:
    """Zero the ``round(sparsity * numel)`` smallest-magnitude entries of each tensor (in
    place; zeros count among them) with ``torch.nn.utils.prune.L1Unstructured``'s mask."""
    for t in tensors:
        amount = min(round(sparsity * t.numel()), t.numel())
        if amount > 0:
            method = torch_prune.L1Unstructured(amount=amount)
            t.mul_(method.compute_mask(t, default_mask=torch.ones_like(t)))


class GmpRun(GradientRun):
    """``--method gmp``: cross-entropy only, magnitude masks along the cubic schedule."""

    def setup(self) -> None:
        spec, options = self.spec, self.spec.options
        self.target = float(options.target_sparsity)
        total = self.epochs * steps_per_epoch(self.data.x_train.shape[0], spec.batch_size)
        self.ramp = Ramp.of_run(options.ramp_start, options.ramp_end, options.ramp_every, total)
        self.initial: float | None = None  # the sparsity at t0 (a warm start's, or 0)
        self.current = 0.0

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(self.model(xb), yb)
        ce.backward()
        self.pruner.before_step()  # masks the gradients of pruned weights; no l1 term
        self.optimizer.step()
        if self.ramp.updates_at(self.global_step):
            self.prune_to(self.ramp.value(self.global_step, self._initial(), self.target))
        return ce

    def _initial(self) -> float:
        if self.initial is None:
            self.initial = 1.0 - int(self.pruner.nnz()) / self.pruner.numel
            self.current = self.initial
        return self.initial

    def prune_to(self, sparsity: float) -> None:
        """Mask the smallest weights to ``sparsity`` (per tensor or globally), then let the
        pruner update its persistent masks and zero the optimizer state of the new zeros."""
        pruner = self.pruner
        tensors = pruner.params if self.spec.options.gmp_scope == "layer" else [pruner.flat]
        prune_smallest_(tensors, sparsity)
        pruner.prune_()
        self.current = sparsity

    def end_epoch(self, record: dict) -> None:
        record["budget"] = self.current

    def extra_metrics(self) -> dict:
        return {"target_sparsity": self.target}


def run_gmp(spec: TrainSpec, *, init_state: dict | None = None, epochs: int | None = None,
            on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method gmp`` (pruning by the schedule only: see :data:`EXACT_THRESHOLD`)."""
    return GmpRun(spec.replace(threshold=EXACT_THRESHOLD), init_state=init_state, epochs=epochs,
                  on_epoch=on_epoch).run()
