"""``--method gates``: complexity-aware training for structure discovery with hard-concrete gates.

A reconstruction: Guenter and Sideris (arXiv 2411.09127) train networks whose units, filters
and layers are scaled by 0/1 random variables with variational Bernoulli parameters, jointly
with the weights and from scratch, on a cost that weighs accuracy against FLOPs and parameter
complexity with three user parameters; a structure is pruned for good when its parameter goes
to zero and the converged network is deterministic. Only their abstract is public, so the
gates, their gradient estimator and the cost here follow the published relative the abstract
points to, the hard-concrete gates of Louizos, Welling and Kingma (ICLR 2018, arXiv 1712.01312):

* **Gates.** Every structure of the model's :class:`~paretoprune.training.structures.StructurePlan`
  -- each unit of a dense layer, each filter of a convolution, each residual block of a CIFAR
  ResNet -- multiplies its output by a gate ``z`` with a trainable ``log α``. In training ``z`` is
  a hard-concrete sample, drawn for every example: ``u ~ U(ε, 1-ε)``,
  ``s = σ((log u - log(1-u) + log α)/β)``, ``z = min(1, max(0, s·(ζ-γ) + γ))`` with
  ``β = 2/3``, ``γ = -0.1``, ``ζ = 1.1``; ``z`` is exactly 0 or 1 with positive probability,
  and its gradient with respect to ``log α`` is the reparametrized one (low variance). At test
  time the gate is ``ẑ = min(1, max(0, σ(log α)·(ζ-γ) + γ))``.
* **Cost.** The second objective is the *expected* complexity under the gates,
  ``C = φ·E[FLOPs]/FLOPs_dense + (1-φ)·E[params]/params_dense``: each weight is present when
  the structures on both its sides (and its block) are, with probability the product of their
  ``P(z ≠ 0) = σ(log α - β·log(-γ/ζ))``, so ``C`` is the exact expectation of the plan's cost
  terms -- a sum over structures of ``P(z ≠ 0)`` times what the structure costs when its
  neighbours are present -- and differentiable. FLOPs are multiply-adds per example
  (:mod:`paretoprune.training.cost`); ``C`` is 1 for the dense network and lies in [0, 1].
* **Three user parameters**, as in the abstract: accuracy against complexity,
  ``--complexity-weight w`` (the sweep's parameter: each run minimizes
  ``(1-w)·CE + w·C``); FLOPs against parameters, ``--flops-share φ``; layer against unit
  pruning, ``--layer-share ρ``: the gradient of ``C`` reaching the block gates is scaled by
  ``min(1, 2ρ)`` and the one reaching the unit and filter gates by ``min(1, 2(1-ρ))`` (0.5,
  the default, is the plain gradient of ``C``; 0 prunes units only, 1 blocks only -- on a model
  without residual blocks, ``ρ`` above 0.5 only weakens unit pruning).
* **Pruned for good.** After every step, a gate whose ``P(z ≠ 0)`` fell below
  ``--gate-threshold`` (default 0.05, i.e. ``log α < -4.5``) is closed for good: its ``z`` is 0
  from then on and its ``log α`` no longer counts.
* **The structure settles.** For the last ``--gate-freeze`` share of the steps (default 0.2)
  the gates are fixed at their test-time values ``ẑ`` (no noise, no more updates) and the
  weights train on the cross-entropy alone, so the network they end in is the deterministic
  one that is evaluated (an addition of this reconstruction: with the gates' noise gone, the
  weights adapt to the final structure within the same epochs).
* **Deterministic result.** At the end the test-time gates are folded into the weights of
  their sites (exact: a gate multiplies the output of a per-channel affine module) and every
  weight of a removed structure (``ẑ = 0``) is set to zero, so the run's network is a plain
  network without gates whose removed structures output exactly zero: what the checkpoint
  stores, what the metrics measure and what ``export --shrink``
  (:mod:`paretoprune.training.shrink`) cuts out. ``gates_fractional`` counts the gates that
  ended strictly between 0 and 1 (folded as a scale).

Optimization: the weights use the run's optimizer; the gates (``log α``, initialized to
:data:`INIT_LOG_ALPHA`, ``P(z ≠ 0) ≈ 0.99``) their own Adam with ``--gate-lr`` (default 0.02:
a gate can travel from open to closed in a few hundred steps), following the learning-rate
schedule of the weights. The magnitude pruning of single weights is off
(``--threshold`` does not apply); ``nnz`` and ``sparsity`` count the zeros that structure
removal leaves in the prunable weights (``--prune all`` counts the convolutions too).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.training.loop import GradientRun, RunResult
from paretoprune.training.structures import StructurePlan, structure_plan

__all__ = [
    "BETA",
    "GAMMA",
    "INIT_LOG_ALPHA",
    "ZETA",
    "GateSet",
    "GatesRun",
    "check_gates",
    "gate_probability",
    "run_gates",
    "sample_gates",
    "inference_gates",
]

#: Hard-concrete temperature and stretch (Louizos et al. 2018).
BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1
#: ``u`` is drawn from ``U(EPS, 1-EPS)`` (the logistic noise stays finite).
EPS = 1e-6
#: Initial ``log α`` of every gate: P(z ≠ 0) = 0.99, z = 1 in 80 % of the samples, ẑ = 1.
INIT_LOG_ALPHA = 3.0
_SHIFT = BETA * math.log(-GAMMA / ZETA)


def gate_probability(log_alpha: torch.Tensor) -> torch.Tensor:
    """``P(z ≠ 0) = σ(log α - β·log(-γ/ζ))`` of hard-concrete gates."""
    return torch.sigmoid(log_alpha - _SHIFT)


class _HardConcrete(torch.autograd.Function):
    """``z = min(1, max(0, σ((noise + log α)/β)·(ζ-γ) + γ))`` with its reparametrized gradient
    ``∂z/∂log α = (ζ-γ)/β · s(1-s)`` where the clamp is inactive, as one autograd node (the
    chain of elementwise ops it replaces costs more than the small networks' layers)."""

    @staticmethod
    def forward(ctx, log_alpha: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid((noise + log_alpha) / BETA)
        stretched = s * (ZETA - GAMMA) + GAMMA
        ctx.save_for_backward(s, (stretched > 0.0) & (stretched < 1.0))
        return stretched.clamp_(0.0, 1.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s, inside = ctx.saved_tensors
        local = s * (1.0 - s) * ((ZETA - GAMMA) / BETA) * inside
        return (grad * local).sum(dim=0), None


def sample_gates(log_alpha: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` hard-concrete samples of every gate, shape ``(n, *log_alpha.shape)``
    (differentiable with respect to ``log_alpha``; draws from torch's global RNG):
    ``u ~ U(ε, 1-ε)``, ``s = σ((log u - log(1-u) + log α)/β)``,
    ``z = min(1, max(0, s·(ζ-γ) + γ))``."""
    u = torch.rand(n, *log_alpha.shape, device=log_alpha.device, dtype=log_alpha.dtype)
    noise = torch.logit(u.mul_(1.0 - 2.0 * EPS).add_(EPS))
    return _HardConcrete.apply(log_alpha, noise)


def inference_gates(log_alpha: torch.Tensor) -> torch.Tensor:
    """The test-time gates ``ẑ = min(1, max(0, σ(log α)·(ζ-γ) + γ))``."""
    return torch.clamp(torch.sigmoid(log_alpha) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


class GateSet(nn.Module):
    """The gates of one model: a flat ``log_alpha`` (one entry per structure of ``plan``, in
    plan order), the ``alive`` mask (False: closed for good) and the cost terms.

    :meth:`install` hooks them into the model (a sample per example in train mode, ``ẑ`` in
    eval mode); :meth:`fold_` makes the model deterministic and removes the hooks.
    """

    def __init__(self, plan: StructurePlan, *, init_log_alpha: float = INIT_LOG_ALPHA):
        super().__init__()
        self.plan = plan
        n_groups = len(plan.groups)
        self.log_alpha = nn.Parameter(torch.full((plan.n_gates,), float(init_log_alpha)))
        self.register_buffer("alive", torch.ones(plan.n_gates, dtype=torch.bool))
        group_of = torch.cat([torch.full((g.size,), i, dtype=torch.long)
                              for i, g in enumerate(plan.groups)])
        self.register_buffer("group_of", group_of)
        self.register_buffer("is_block", torch.tensor(
            [plan.groups[i].kind == "block" for i in group_of.tolist()], dtype=torch.bool))
        width = max([len(t.groups) for t in plan.terms] + [1])
        index = torch.full((len(plan.terms), width), n_groups, dtype=torch.long)  # n_groups: 1
        for row, term in enumerate(plan.terms):
            index[row, :len(term.groups)] = torch.tensor(term.groups, dtype=torch.long)
        self.register_buffer("term_groups", index)
        self.register_buffer("term_params", torch.tensor([t.params for t in plan.terms]))
        self.register_buffer("term_macs", torch.tensor([t.macs for t in plan.terms]))
        self.params_full, self.macs_full = plan.count()
        self._handles: list = []
        self._z: torch.Tensor | None = None
        self.frozen = False  # True: the test-time gates in training too (no noise, no updates)

    # -- values ---------------------------------------------------------------------------------

    def probabilities(self) -> torch.Tensor:
        """``P(z ≠ 0)`` of every gate (0 for gates closed for good)."""
        return gate_probability(self.log_alpha) * self.alive

    def test_values(self) -> torch.Tensor:
        """The test-time gates ``ẑ`` (0 for gates closed for good)."""
        return inference_gates(self.log_alpha) * self.alive

    def expected(self, probabilities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(E[parameters], E[multiply-adds])`` when gate ``i`` is present with probability
        ``probabilities[i]``, independently (0/1 values: the counts of that network)."""
        n_groups = len(self.plan.groups)
        active = torch.zeros(n_groups, dtype=probabilities.dtype, device=probabilities.device)
        active = active.index_add(0, self.group_of, probabilities)
        active = torch.cat([active, active.new_ones(1)])  # slot n_groups: the constant 1
        factor = active[self.term_groups].prod(dim=1)
        return (self.term_params * factor).sum(), (self.term_macs * factor).sum()

    def expected_cost(self, flops_share: float = 0.5, layer_share: float = 0.5) -> torch.Tensor:
        """The normalized expected complexity ``C`` (module docstring), whose gradient reaches
        block gates scaled by ``min(1, 2·layer_share)`` and unit gates by
        ``min(1, 2·(1 - layer_share))`` (its value does not depend on ``layer_share``)."""
        p = self.probabilities()
        unit_scale, block_scale = min(1.0, 2.0 * (1.0 - layer_share)), min(1.0, 2.0 * layer_share)
        if unit_scale != 1.0 or block_scale != 1.0:
            scale = torch.where(self.is_block, block_scale, unit_scale).to(p.dtype)
            fixed = p.detach()
            p = fixed + scale * (p - fixed)  # value p, gradient scaled
        params, macs = self.expected(p)
        return flops_share * macs / self.macs_full + (1.0 - flops_share) * params / self.params_full

    @torch.no_grad()
    def close_below(self, threshold: float) -> None:
        """Close for good every gate whose ``P(z ≠ 0)`` is below ``threshold``."""
        self.alive &= gate_probability(self.log_alpha) >= threshold

    # -- hooks ----------------------------------------------------------------------------------

    def install(self, model: nn.Module) -> None:
        """Gate ``model``: a pre-hook draws the gates of a forward pass (one sample per example
        in train mode, ``ẑ`` in eval mode), a hook on each site multiplies its output."""
        self.remove()
        modules = dict(model.named_modules())
        self._handles.append(model.register_forward_pre_hook(self._draw))
        for i, group in enumerate(self.plan.groups):
            gates = self.plan.gate_slice(i)
            self._handles.append(modules[group.site].register_forward_hook(
                lambda module, args, output, gates=gates: self._multiply(gates, output)))

    def remove(self) -> None:
        """Remove the hooks (the model runs ungated)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._z = None

    def _draw(self, module: nn.Module, args: tuple) -> None:
        if module.training and not self.frozen:
            self._z = sample_gates(self.log_alpha, args[0].shape[0]) * self.alive
        else:
            self._z = self.test_values().unsqueeze(0)

    def _multiply(self, gates: slice, output: torch.Tensor) -> torch.Tensor:
        z = self._z[:, gates].to(output.dtype)
        return output * z.reshape(*z.shape, *([1] * (output.dim() - 2)))

    # -- the deterministic network ----------------------------------------------------------------

    @torch.no_grad()
    def fold_(self, model: nn.Module) -> torch.Tensor:
        """Fold the test-time gates into the weights and biases of their sites, set every
        weight of a removed structure (``ẑ = 0``) to zero, and remove the hooks: ``model`` then
        computes what the gated model computed in eval mode, without gates. Returns ``ẑ``."""
        z = self.test_values()
        modules = dict(model.named_modules())
        for i, group in enumerate(self.plan.groups):
            zg = z[self.plan.gate_slice(i)]
            site = modules[group.site]
            for tensor in (site.weight, getattr(site, "bias", None)):
                if tensor is not None:
                    tensor.mul_(zg.reshape(-1, *([1] * (tensor.dim() - 1))).to(tensor.dtype))
            removed = torch.nonzero(zg == 0).flatten()
            if removed.numel() == 0:
                continue
            if group.kind == "block":
                for member in group.members:
                    for p in modules[member].parameters():
                        p.zero_()
                continue
            for name in (group.producer, *group.channelwise):
                for tensor in (modules[name].weight, getattr(modules[name], "bias", None)):
                    if tensor is not None:
                        tensor.index_fill_(0, removed.to(tensor.device), 0.0)
            columns = removed
            if group.per_channel > 1:
                offsets = torch.arange(group.per_channel, device=removed.device)
                columns = (removed[:, None] * group.per_channel + offsets).flatten()
            consumer = modules[group.consumer].weight
            consumer.index_fill_(1, columns.to(consumer.device), 0.0)
        self.remove()
        return z

    def gate_state(self) -> dict:
        """``log_alpha`` and ``alive`` as CPU tensors (kept in the run's state)."""
        return {"log_alpha": self.log_alpha.detach().to("cpu", copy=True),
                "alive": self.alive.detach().to("cpu", copy=True)}

    @torch.no_grad()
    def load_gate_state(self, state: dict) -> None:
        """Continue from :meth:`gate_state` (a warm start): gates closed then stay closed."""
        log_alpha, alive = state.get("log_alpha"), state.get("alive")
        if log_alpha is not None and log_alpha.shape == self.log_alpha.shape:
            self.log_alpha.copy_(log_alpha)
        if alive is not None and alive.shape == self.alive.shape:
            self.alive.copy_(alive)


# ----------------------------------------------------------------------------------------------


def check_gates(spec: TrainSpec, model: nn.Module, data) -> None:
    """Before a sweep writes anything: :class:`~paretoprune.errors.InputError` (naming the
    layer) when the gates cannot gate ``model``."""
    structure_plan(model, data.input_shape, spec.model)


class GatesRun(GradientRun):
    """``--method gates`` (module docstring)."""

    def setup(self) -> None:
        spec = self.spec
        self.plan = structure_plan(self.model, self.data.input_shape, spec.model)
        self.gates = GateSet(self.plan).to(self.device)
        saved = (self.init_state or {}).get("gates")
        if isinstance(saved, dict):
            self.gates.load_gate_state(saved)
        self.gates.install(self.model)
        self.gate_optimizer = torch.optim.Adam(self.gates.parameters(), lr=spec.options.gate_lr)
        self.weight = float(spec.options.complexity_weight)
        self.summary: dict | None = None
        total = self.epochs * math.ceil(self.data.x_train.shape[0] / spec.batch_size)
        self.freeze_step = self.global_step + round((1.0 - spec.options.gate_freeze) * total)

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        spec = self.spec
        if self.gates.frozen or self.global_step >= self.freeze_step:
            return self._frozen_step(xb, yb)
        self.gate_optimizer.zero_grad(set_to_none=True)
        ce = F.cross_entropy(self.model(xb), yb)
        cost = self.gates.expected_cost(spec.options.flops_share, spec.options.layer_share)
        ((1.0 - self.weight) * ce + self.weight * cost).backward()
        self.pruner.before_step()
        self.optimizer.step()
        scale = self.optimizer.param_groups[0]["lr"] / spec.lr  # the weights' schedule
        for group in self.gate_optimizer.param_groups:
            group["lr"] = spec.options.gate_lr * scale
        self.gate_optimizer.step()
        self.gates.close_below(spec.options.gate_threshold)
        return ce

    def _frozen_step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The last steps: the structure is fixed at the test-time gates; only the weights
        train, on (1 - w)·CE (the cost is a constant now; the same scale as before, so that an
        SGD step does not jump)."""
        self.gates.frozen = True
        ce = F.cross_entropy(self.model(xb), yb)
        ((1.0 - self.weight) * ce).backward()
        self.pruner.before_step()
        self.optimizer.step()
        return ce

    def end_epoch(self, record: dict) -> None:
        with torch.no_grad():
            share = self.spec.options.flops_share
            record["complexity_expected"] = float(self.gates.expected_cost(share))
            record["gates_open"] = int((self.gates.test_values() > 0).sum())
            record["gates_closed"] = int((~self.gates.alive).sum())

    def finalize(self) -> dict:
        """Once, after training: fold the gates into the model (:meth:`GateSet.fold_`) and
        return the gate columns."""
        if self.summary is None:
            z = self.gates.fold_(self.model)
            blocks = self.gates.is_block
            self.summary = {
                "gates": self.plan.n_gates,
                "gates_removed": int((z == 0).sum()),
                "gates_fractional": int(((z > 0) & (z < 1)).sum()),
                "blocks_removed": int((z[blocks] == 0).sum()),
            }
        return self.summary

    def extra_metrics(self) -> dict:
        # the hook that runs once after the loop and before evaluation: the run's network
        # becomes deterministic here, so every metric is of the network the checkpoint keeps
        return {"complexity_weight": self.weight, **self.finalize()}

    def run(self) -> RunResult:
        result = super().run()
        if hasattr(self, "gates"):
            result.state["gates"] = self.gates.gate_state()
        return result


def run_gates(spec: TrainSpec, *, init_state: dict | None = None, epochs: int | None = None,
              on_epoch: Callable[[dict], None] | None = None) -> RunResult:
    """Runner of ``--method gates`` (no magnitude pruning of single weights: threshold 0)."""
    return GatesRun(spec.replace(threshold=0.0), init_state=init_state, epochs=epochs,
                    on_epoch=on_epoch).run()
