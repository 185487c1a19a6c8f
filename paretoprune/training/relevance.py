"""``--method relevance``: relevance-based selective decay with iterative pruning.

A reconstruction from the abstract of Bonetta et al. (arXiv 2204.04977) in the published form of
its closest relative, LOBSTER (Tartaglione et al., arXiv 2011.09905); not the authors' code.

**Selective decay.** After each optimizer step every prunable weight is shrunk by

    w <- w - η·λ·w·max(0, 1 - |∂L/∂w| / s)

where ``η`` is the current learning rate, ``λ`` is ``--decay`` (the sweep's parameter),
``∂L/∂w`` the mini-batch gradient of the cross-entropy and ``s`` the **sensitivity scale**: a
running mean (exponential, factor :data:`SCALE_MOMENTUM`, bias-corrected) of the mean
``|∂L/∂w|`` over the prunable weights still in the network. A weight at least as sensitive as
the typical weight (``|∂L/∂w| >= s``) is *relevant* and keeps the ordinary update; the others
decay, the less sensitive the faster (``η·λ`` is capped at 1: no weight changes sign). LOBSTER
compares ``|∂L/∂w|`` with 1; the mean-reduced cross-entropy gives gradients orders of magnitude
below 1 that shrink as training converges, so against 1 every weight would decay at almost the
same rate (plain weight decay). Measured against the running mean, the share of weights
counted relevant stays comparable across models, datasets, batch sizes and the course of
training, and one λ range (0 to 30) spans the front on digits and on LeNet-5.

**Iterative pruning.** After each epoch the loss on the validation split is compared with its
best value so far; when it has not improved by a relative :data:`PLATEAU_DELTA` for
``--plateau`` epochs, a pruning step finds by bisection the largest magnitude threshold ``T``
whose pruning worsens the validation loss by at most ``--tolerance`` (relative:
``L(T) <= (1 + tol)·L(0)``) and zeroes every prunable weight below it
(:func:`largest_threshold`; the bisection runs over the sorted magnitudes of the remaining
weights, so its precision is one weight); the best loss then restarts from the pruned
network's. The run also ends with such a step, so that its recorded network is a pruned one.
Masks persist through the :class:`~paretoprune.training.pruning.Pruner` (its ``--threshold``
pruning of numerically dead weights runs too, as for every method); with ``--regrow`` or
``--threshold 0`` there are no persistent masks and pruned weights may grow back. The tolerance
is relative: a network that has barely learned (validation loss near ln(classes), the loss of
the empty network) may lose every weight within it.

**Without a validation split** (``--val-fraction 0``) the plateau test and the bisection read
the training loss instead, with a :class:`RelevanceWarning`: the tolerance then bounds the
worsening of the loss the network is trained on.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.training.loop import GradientRun, RunResult, evaluate_split

__all__ = ["PLATEAU_DELTA", "SCALE_MOMENTUM", "RelevanceRun", "RelevanceWarning",
           "largest_threshold", "run_relevance", "selective_decay_"]

#: Momentum of the running mean of |∂L/∂w| that is the sensitivity scale s (about the last
#: 10 steps: it follows the trend of training, not the noise of one mini-batch).
SCALE_MOMENTUM = 0.9
#: The validation loss "improves" when it falls below (1 - PLATEAU_DELTA) times its best.
PLATEAU_DELTA = 1e-3


class RelevanceWarning(UserWarning):
    """The relevance method had to read the training loss (no validation split)."""


@torch.no_grad()
def selective_decay_(weights: torch.Tensor, abs_grad: torch.Tensor, scale: torch.Tensor | float,
                     rate: float) -> torch.Tensor:
    """``w <- w·(1 - rate·max(0, 1 - |g|/s))`` in place (``rate`` = η·λ, at most 1 so that no
    weight changes sign); returns ``weights``. ``abs_grad`` is overwritten."""
    insensitivity = abs_grad.div_(scale).neg_().add_(1.0).clamp_(min=0.0)
    return weights.mul_(insensitivity.mul_(-min(rate, 1.0)).add_(1.0))


@torch.no_grad()
def largest_threshold(flat: torch.Tensor, loss: Callable[[], float], tolerance: float
                      ) -> tuple[float, int, float, float]:
    """Prune the largest magnitude threshold of ``flat`` whose relative worsening of
    ``loss()`` stays within ``tolerance``, in place.

    ``flat`` holds the weights (zeros are already pruned); ``loss()`` evaluates the network
    with the current contents of ``flat``. The remaining weights are sorted by magnitude and
    the number ``k`` of smallest ones to zero is bisected: ``k`` passes when
    ``loss <= (1 + tolerance)·base`` (``base``: the loss before pruning). The result passes and
    ``k + 1`` fails (or ``k`` is every remaining weight): the largest such ``k`` that the
    bisection can tell, to one weight. Returns ``(threshold, k, base, loss after)``: the
    ``k`` weights zeroed are those with ``|w| < threshold`` (``threshold`` is the smallest
    magnitude kept; ``inf`` when every weight went).
    """
    base = float(loss())
    kept = torch.nonzero(flat, as_tuple=True)[0]
    n = kept.numel()
    if n == 0:
        return math.inf, 0, base, base
    magnitudes, order = flat[kept].abs().sort(stable=True)
    order = kept[order]
    limit = base * (1.0 + tolerance)
    saved = flat[order].clone()

    def passes(k: int) -> tuple[bool, float]:
        flat[order[:k]] = 0.0
        value = float(loss())
        flat[order[:k]] = saved[:k]
        return value <= limit, value

    ok, after = passes(n)
    if ok:
        k = n
    else:
        lo, hi, after = 0, n, base  # lo passes, hi fails
        while hi - lo > 1:
            mid = (lo + hi) // 2
            ok, value = passes(mid)
            if ok:
                lo, after = mid, value
            else:
                hi = mid
        k = lo
    flat[order[:k]] = 0.0
    threshold = float(magnitudes[k]) if k < n else math.inf
    return threshold, k, base, after


class RelevanceRun(GradientRun):
    """One run of ``--method relevance`` (see the module docstring)."""

    def setup(self) -> None:
        spec, data = self.spec, self.data
        self.rate = spec.options.decay  # times the learning rate at each step
        if data.x_val.shape[0] > 0:
            self.eval_x, self.eval_y, self.eval_split = data.x_val, data.y_val, "val"
        else:
            warnings.warn("--method relevance has no validation split (--val-fraction 0): its "
                          "plateau test and pruning tolerance read the training loss",
                          RelevanceWarning, stacklevel=2)
            self.eval_x, self.eval_y, self.eval_split = data.x_train, data.y_train, "train"
        pruner = self.pruner
        self._abs_grad = torch.empty_like(pruner.flat)
        self._grad_views = [b.view_as(p) for b, p in zip(
            torch.split(self._abs_grad, pruner.sizes), pruner.params, strict=True)]
        self._scale_sum = torch.zeros((), dtype=pruner.flat.dtype, device=pruner.flat.device)
        self._scale_weight = 0.0  # bias correction of the running mean
        self._tiny = torch.finfo(pruner.flat.dtype).tiny  # s > 0 even with all gradients 0
        self.best = math.inf
        self.waiting = 0
        self.prune_steps = 0

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(self.model(xb), yb)
        ce.backward()
        pruner = self.pruner
        pruner.before_step()  # the gradients of pruned weights are zero from here
        if self.rate > 0:
            grads = [p.grad for p in pruner.params]
            torch._foreach_copy_(self._grad_views, grads)
            abs_grad = self._abs_grad.abs_()
            # s: running mean of the mean |g| over the weights still in the network
            mean = abs_grad.sum() / pruner.mask.sum().clamp(min=1.0)
            m = SCALE_MOMENTUM
            self._scale_sum.mul_(m).add_(mean, alpha=1.0 - m)
            self._scale_weight = m * self._scale_weight + (1.0 - m)
            scale = (self._scale_sum / self._scale_weight).clamp(min=self._tiny)
            self.optimizer.step()
            lr = self.optimizer.param_groups[0]["lr"]
            selective_decay_(pruner.flat, abs_grad, scale, lr * self.rate)
        else:
            self.optimizer.step()
        return ce

    def _eval_loss(self) -> float:
        return evaluate_split(self.model, self.eval_x, self.eval_y, self.spec.eval_batch_size)[0]

    def prune_step(self) -> dict:
        """One pruning step (bisection within the tolerance); returns what it did."""
        threshold, k, base, after = largest_threshold(self.pruner.flat, self._eval_loss,
                                                      self.spec.options.tolerance)
        self.pruner.prune_()  # masks follow the new zeros; optimizer state of pruned weights -> 0
        self.prune_steps += 1
        return {"prune_threshold": threshold, "pruned": k, "prune_loss_before": base,
                "prune_loss_after": after}

    def end_epoch(self, record: dict) -> None:
        current = self._eval_loss()
        record["relevance_loss"] = current
        if current < self.best * (1.0 - PLATEAU_DELTA):
            self.best, self.waiting = current, 0
        else:
            self.waiting += 1
        if self.waiting >= self.spec.options.plateau or record["epoch"] == self.epochs:
            record.update(self.prune_step())
            self.best, self.waiting = record["prune_loss_after"], 0
            l1_raw, nnz = float(self.pruner.l1()), int(self.pruner.nnz())
            record.update(l1=l1_raw / self.l1_init, l1_raw=l1_raw, nnz=nnz,
                          sparsity=1.0 - nnz / self.pruner.numel)

    def extra_metrics(self) -> dict:
        return {"decay": self.spec.options.decay, "prune_steps": self.prune_steps}


def run_relevance(spec: TrainSpec, *, init_state: dict | None = None, epochs: int | None = None,
                  on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method relevance``."""
    return RelevanceRun(spec, init_state=init_state, epochs=epochs, on_epoch=on_epoch).run()
