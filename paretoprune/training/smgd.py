"""The runner of ``--method smgd``: stochastic multi-gradient descent (Liu and Vicente, arXiv
1907.04472, as used by Reiners et al., arXiv 2008.13590).

A multiobjective run backpropagates the CE only and hands the optimizer (smgd, madam or mrmsprop,
:mod:`paretoprune.training.optim`) the l1 gradient ``sign(p) / l1_init`` of the prunable weights
(``sign(p)`` with ``mo_l1_scale="raw"``) as the second gradient; the optimizer finds the weights
``(c1, c2)`` of the common descent direction itself, or uses ``(1-λ, λ)`` with
``--fixed-weights``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.errors import InputError
from paretoprune.training.loop import GradientRun, RunResult, optimizer_groups
from paretoprune.training.optim import SMGD, MAdam, MRMSProp


class MultiGradientRun(GradientRun):
    """``--method smgd``: the common descent direction of CE and l1 (smgd, madam, mrmsprop)."""

    def make_optimizer(self) -> torch.optim.Optimizer:
        spec, options = self.spec, self.spec.options
        groups = optimizer_groups(spec, self.model, self.pruner)
        fixed = (1.0 - options.weight, options.weight) if options.fixed_weights else None
        name, lr = spec.optimizer, spec.lr
        if name == "smgd":
            return SMGD(groups, lr=lr, momentum=spec.momentum, nesterov=spec.nesterov,
                        weights=fixed)
        if name == "madam":
            return MAdam(groups, lr=lr, betas=spec.betas, eps=spec.eps, weights=fixed,
                         fused=None if spec.fused else False)
        if name == "mrmsprop":
            return MRMSProp(groups, lr=lr, rho=spec.rho, eps=spec.eps, weights=fixed)
        raise InputError(f"unknown optimizer {name!r} for --method {spec.method}")

    def setup(self) -> None:
        spec, pruner = self.spec, self.pruner
        self.grad2 = dict(zip(pruner.params, pruner.sign_views, strict=True))  # pruner.signs()
        self.grad2_scale = 1.0 / self.l1_init if spec.options.mo_l1_scale == "init" else 1.0
        self.c2_sum, self.c2_batches = 0.0, 0

    def step(self, xb, yb):
        ce = F.cross_entropy(self.model(xb), yb)
        ce.backward()
        self.pruner.before_step()                # masks the gradients of pruned weights
        self.pruner.signs(self.grad2_scale)      # the l1 gradient, into grad2's views
        self.optimizer.step(grad2=self.grad2)
        self.c2_sum = self.c2_sum + self.optimizer.last_weights[1]
        self.c2_batches += 1
        return ce

    def end_epoch(self, record: dict) -> None:
        c2 = float(self.c2_sum) / max(self.c2_batches, 1)
        record["c1"], record["c2"] = 1.0 - c2, c2
        self.c2_last_epoch = c2
        self.c2_sum, self.c2_batches = 0.0, 0

    def extra_metrics(self) -> dict:
        # the weight on l1: the fixed one, or the mean c2 of the last epoch
        if self.spec.options.fixed_weights:
            return {"weight": self.spec.options.weight}
        return {"weight": getattr(self, "c2_last_epoch", math.nan)}


def run_multi_gradient(spec: TrainSpec, *, init_state: dict | None = None,
                       epochs: int | None = None,
                       on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method smgd``."""
    return MultiGradientRun(spec, init_state=init_state, epochs=epochs, on_epoch=on_epoch).run()
