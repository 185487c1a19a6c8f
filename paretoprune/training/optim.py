"""Optimizers for two objectives: SMGD, MAdam and MRMSProp (Liu & Vicente, arXiv 1907.04472).

They are ordinary :class:`torch.optim.Optimizer` subclasses, usable outside paretoprune. Every
parameter has two gradients:

* ``p.grad`` -- the gradient of objective 1 (the loss), filled by ``loss.backward()`` as usual;
* the gradient of objective 2, passed to :meth:`MultiObjectiveOptimizer.step` as ``grad2``: a
  mapping ``{param: tensor}``, or a callable ``param -> tensor | None``; without ``grad2`` the
  optimizer reads an attribute ``p.grad2`` where you set one. A missing second gradient is zero.

Each step first combines the two objectives with the weights ``(c1, c2)`` of the min-norm convex
combination, computed from the raw gradients with global inner products over ALL parameters::

    c1 = clip(<g2 - g1, g2> / ||g1 - g2||^2, 0, 1),  c2 = 1 - c1      (c1 = 1 when g1 = g2)

(see :func:`min_norm_weights`); they are kept as ``optimizer.last_c1`` / ``last_c2``. With fixed
``weights=(w1, w2)`` the combination uses those instead (the seed's "scalarized" runs).

* :class:`SMGD`: ``d = c1 g1 + c2 g2``; optional heavy-ball momentum ``b <- mu b + d``; ``p -= lr b``.
  With weights (1, 0) it is exactly ``torch.optim.SGD`` (same momentum convention).
* :class:`MAdam`: separate Adam moments per objective, ``p -= lr [c1 m1^/(sqrt(v1^)+eps) +
  c2 m2^/(sqrt(v2^)+eps)]`` with torch's Adam bias correction and eps placement; with weights
  (1, 0) it is exactly ``torch.optim.Adam``.
* :class:`MRMSProp`: ``a_i <- rho a_i + (1-rho) g_i^2``, ``p -= lr [c1 g1/(sqrt(a1)+eps) +
  c2 g2/(sqrt(a2)+eps)]``; with weights (1, 0) it is exactly ``torch.optim.RMSprop(alpha=rho)``.

``weight_decay`` (per group) adds ``weight_decay * p`` to the first gradient, as torch does.

Example::

    opt = MAdam(model.parameters(), lr=1e-3)
    loss.backward()
    opt.step(grad2={p: torch.sign(p) / l1_init for p in prunable})
    print(opt.last_c1, opt.last_c2)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import torch
from torch import Tensor

Grad2 = Mapping[Tensor, Tensor] | Callable[[Tensor], "Tensor | None"] | None


def min_norm_weights(g1_dot_g1, g1_dot_g2, g2_dot_g2, *, rtol: float = 1e-12):
    """Weights ``(c1, c2)`` of the min-norm element of the convex hull of two gradients.

    ``c1 = clip((g2.g2 - g1.g2) / (g1.g1 - 2 g1.g2 + g2.g2), 0, 1)``, ``c2 = 1 - c1``; when
    ``||g1 - g2||^2 <= rtol * (g1.g1 + g2.g2)`` (the gradients coincide, or both vanish) ``c1 = 1``.
    Accepts Python numbers (returns floats) or tensors (returns tensors, no host sync).
    """
    if isinstance(g1_dot_g1, Tensor) or isinstance(g1_dot_g2, Tensor) or isinstance(g2_dot_g2, Tensor):
        ref = next(t for t in (g1_dot_g1, g1_dot_g2, g2_dot_g2) if isinstance(t, Tensor))
        g11, g12, g22 = (torch.as_tensor(t, dtype=ref.dtype, device=ref.device)
                         for t in (g1_dot_g1, g1_dot_g2, g2_dot_g2))
        denom = g11 - 2.0 * g12 + g22
        degenerate = denom <= rtol * (g11 + g22)
        safe = torch.where(degenerate, torch.ones_like(denom), denom)
        c1 = torch.where(degenerate, torch.ones_like(denom), ((g22 - g12) / safe).clamp(0.0, 1.0))
        return c1, 1.0 - c1
    g11, g12, g22 = float(g1_dot_g1), float(g1_dot_g2), float(g2_dot_g2)
    denom = g11 - 2.0 * g12 + g22
    if denom <= rtol * (g11 + g22):
        return 1.0, 0.0
    c1 = min(1.0, max(0.0, (g22 - g12) / denom))
    return c1, 1.0 - c1


class MultiObjectiveOptimizer(torch.optim.Optimizer):
    """Base class: gathers the two gradients, computes ``(c1, c2)`` and calls :meth:`_update`.

    ``weights=None`` (default): min-norm weights every step; ``weights=(w1, w2)``: fixed weights.
    """

    def __init__(self, params: Iterable, defaults: dict, weights: tuple[float, float] | None = None):
        super().__init__(params, defaults)
        if weights is not None:
            w1, w2 = (float(w) for w in weights)
            if not (math.isfinite(w1) and math.isfinite(w2)) or w1 < 0 or w2 < 0:
                raise ValueError(f"fixed weights must be finite and non-negative, got {weights}")
            weights = (w1, w2)
        self.weights = weights
        #: compute (c1, c2) as host floats (None: when the gradients are on the CPU) or as
        #: device tensors
        self.host_weights: bool | None = None
        self._c: tuple = (None, None)

    # --- the weights of the last step --------------------------------------------------------
    @property
    def last_c1(self) -> float:
        """c1 of the last step (a float; reading it syncs with the device)."""
        return float(self._c[0]) if self._c[0] is not None else math.nan

    @property
    def last_c2(self) -> float:
        return float(self._c[1]) if self._c[1] is not None else math.nan

    @property
    def last_weights(self) -> tuple:
        """``(c1, c2)`` of the last step as computed: 0-dim tensors (min-norm) or floats (fixed);
        for accumulating without host syncs."""
        return self._c

    # --- step ----------------------------------------------------------------------------
    @staticmethod
    def _second(grad2: Grad2, p: Tensor) -> Tensor | None:
        if grad2 is None:
            return getattr(p, "grad2", None)
        if callable(grad2) and not isinstance(grad2, Mapping):
            return grad2(p)
        return grad2.get(p)

    @torch.no_grad()
    def step(self, closure=None, *, grad2: Grad2 = None):
        """One step along the combined direction; ``grad2`` gives the second objective's
        gradients (see the module docstring). Returns the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        groups = []
        for group in self.param_groups:
            params, g1s, g2s = [], [], []
            wd = group.get("weight_decay", 0.0)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                g1 = p.grad if wd == 0 else p.grad.add(p, alpha=wd)
                g2 = self._second(grad2, p)
                if g2 is not None and g2.shape != p.shape:
                    raise ValueError(f"second gradient of shape {tuple(g2.shape)} for a parameter "
                                     f"of shape {tuple(p.shape)}")
                params.append(p)
                g1s.append(g1)
                g2s.append(g2)
            groups.append((group, params, g1s, g2s))
        if self.weights is not None:
            c1, c2 = self.weights
        else:
            c1, c2 = self._min_norm(groups)
        self._c = (c1, c2)
        for group, params, g1s, g2s in groups:
            if params:
                self._update(group, params, g1s, g2s, c1, c2)
        return loss

    def _min_norm(self, groups) -> tuple:
        """(c1, c2) from the global inner products: Python floats when every gradient is on the
        CPU (reading a CPU scalar costs nothing, and float arithmetic beats a dozen tiny tensor
        ops), else 0-dim tensors on the device (no host sync)."""
        all_g1 = [g for _, _, g1s, _ in groups for g in g1s]
        pairs = [(a, b) for _, _, g1s, g2s in groups for a, b in zip(g1s, g2s, strict=True)
                 if b is not None]
        if not all_g1:
            return 1.0, 0.0
        on_cpu = self.host_weights if self.host_weights is not None else all(
            g.device.type == "cpu" for g in all_g1)
        norms1 = torch._foreach_norm(all_g1)
        if pairs:
            norms2 = torch._foreach_norm([b for _, b in pairs])
            dots = [torch.dot(a.reshape(-1), b.reshape(-1)) for a, b in pairs]
        else:
            norms2, dots = [], []
        if on_cpu:
            g11 = math.fsum(float(n) ** 2 for n in norms1)
            g22 = math.fsum(float(n) ** 2 for n in norms2)
            g12 = math.fsum(float(d) for d in dots)
            return min_norm_weights(g11, g12, g22)
        n1 = torch.stack(norms1)
        g11 = torch.dot(n1, n1)
        if pairs:
            n2 = torch.stack(norms2)
            g22, g12 = torch.dot(n2, n2), torch.stack(dots).sum()
        else:
            g22 = g12 = torch.zeros_like(g11)
        return min_norm_weights(g11, g12, g22)

    def _update(self, group, params, g1s, g2s, c1, c2) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- helpers for subclasses ------------------------------------------------------------
    @staticmethod
    def _apply(params: list[Tensor], directions: list[Tensor], scales: list[float], c) -> None:
        """``p -= scale * c * direction`` for every parameter (``c`` a float or 0-dim tensor)."""
        if isinstance(c, Tensor):
            torch._foreach_mul_(directions, c)
            torch._foreach_mul_(directions, [-s for s in scales])
            torch._foreach_add_(params, directions)
        elif c != 0.0:
            torch._foreach_mul_(directions, [-s * c for s in scales])
            torch._foreach_add_(params, directions)


def _check(lr: float, eps: float | None = None) -> None:
    if not lr > 0:
        raise ValueError(f"invalid learning rate {lr}")
    if eps is not None and not eps >= 0:
        raise ValueError(f"invalid eps {eps}")


class SMGD(MultiObjectiveOptimizer):
    """Stochastic multi-gradient descent, with optional (Nesterov) momentum (see the module
    docstring): ``d = c1·g1 + c2·g2``, ``b <- momentum·b + d``, and the step is ``-lr·b``, or
    ``-lr·(d + momentum·b)`` with ``nesterov=True`` (as ``torch.optim.SGD`` does)."""

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, weight_decay: float = 0.0,
                 *, nesterov: bool = False, weights: tuple[float, float] | None = None):
        _check(lr)
        if momentum < 0:
            raise ValueError(f"invalid momentum {momentum}")
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs a momentum > 0")
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": nesterov}, weights)

    def _update(self, group, params, g1s, g2s, c1, c2) -> None:
        lr, mu = group["lr"], group["momentum"]
        d = torch._foreach_mul(list(g1s), c1)  # d = c1 g1 + c2 g2
        idx = [i for i, g in enumerate(g2s) if g is not None]
        if idx and (isinstance(c2, Tensor) or c2 != 0.0):
            torch._foreach_add_([d[i] for i in idx], torch._foreach_mul([g2s[i] for i in idx], c2))
        if mu == 0.0:
            torch._foreach_add_(params, d, alpha=-lr)
            return
        states = [self.state[p] for p in params]
        for p, state in zip(params, states, strict=True):
            if "momentum_buffer" not in state:  # 0·momentum + d = d on the first step
                state["momentum_buffer"] = torch.zeros_like(p)
        bufs = [state["momentum_buffer"] for state in states]
        torch._foreach_mul_(bufs, mu)
        torch._foreach_add_(bufs, d)
        steps = torch._foreach_add(d, bufs, alpha=mu) if group.get("nesterov") else bufs
        torch._foreach_add_(params, steps, alpha=-lr)


class MAdam(MultiObjectiveOptimizer):
    """Adam with separate moments per objective (see the module docstring).

    ``fused`` (default: where available) runs each objective's moment update and step through
    PyTorch's fused Adam kernel (``torch._fused_adam_``, CPU and CUDA), once with learning rate
    ``lr * c1`` and once with ``lr * c2`` -- the same update as the formula, in two kernel calls.
    ``fused=False`` uses ``torch._foreach_*`` operations (the same arithmetic as
    ``torch.optim.Adam``'s default implementation).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, *,
                 weights: tuple[float, float] | None = None, fused: bool | None = None):
        _check(lr, eps)
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas {betas}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay}, weights)
        self.fused = fused

    def _moments(self, p: Tensor, key: str) -> tuple[Tensor, Tensor]:
        state = self.state[p]
        if f"exp_avg{key}" not in state:
            state[f"exp_avg{key}"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state[f"exp_avg_sq{key}"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state[f"exp_avg{key}"], state[f"exp_avg_sq{key}"]

    def _steps(self, params) -> list[Tensor]:
        steps = []
        for p in params:
            state = self.state[p]
            if "step" not in state:
                state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            steps.append(state["step"])
        torch._foreach_add_(steps, 1.0)
        return steps

    def _can_fuse(self, params) -> bool:
        if self.fused is False or not hasattr(torch, "_fused_adam_"):
            return False
        first = params[0]
        ok = (first.device.type in ("cpu", "cuda") and first.is_floating_point()
              and all(p.device == first.device and p.dtype == first.dtype for p in params))
        if self.fused and not ok:
            raise RuntimeError("fused MAdam needs floating-point parameters on one CPU or CUDA device")
        return ok

    def _update(self, group, params, g1s, g2s, c1, c2) -> None:
        steps = self._steps(params)
        idx = [i for i, p in enumerate(params) if g2s[i] is not None or "exp_avg2" in self.state[p]]
        g2_list = [g2s[i] if g2s[i] is not None else torch.zeros_like(params[i]) for i in idx]
        if self._can_fuse(params):
            try:
                self._fused(group, params, g1s, "", steps, c1)
            except (RuntimeError, NotImplementedError):
                if self.fused:  # asked for explicitly
                    raise
                self.fused = False  # this torch has no fused Adam kernel for the device
                return self._update_foreach(params, g1s, steps, idx, g2_list, group, c1, c2)
            if idx:
                self._fused(group, [params[i] for i in idx], g2_list, "2",
                            [steps[i] for i in idx], c2)
            return
        self._update_foreach(params, g1s, steps, idx, g2_list, group, c1, c2)

    def _update_foreach(self, params, g1s, steps, idx, g2_list, group, c1, c2) -> None:
        counts = [float(t) for t in steps]
        self._foreach(group, params, g1s, "", counts, c1)
        if idx:
            self._foreach(group, [params[i] for i in idx], g2_list, "2",
                          [counts[i] for i in idx], c2)

    def _fused(self, group, params, grads, key, steps, c) -> None:
        beta1, beta2 = group["betas"]
        ms, vs = (list(t) for t in zip(*(self._moments(p, key) for p in params), strict=True))
        lr = group["lr"] * c  # a float, or a 0-dim tensor for min-norm weights
        torch._fused_adam_(params, list(grads), ms, vs, [], steps, lr=lr, beta1=beta1,
                           beta2=beta2, weight_decay=0.0, eps=group["eps"], amsgrad=False,
                           maximize=False)

    def _foreach(self, group, params, grads, key, counts, c) -> None:
        beta1, beta2 = group["betas"]
        lr, eps = group["lr"], group["eps"]
        ms, vs = (list(t) for t in zip(*(self._moments(p, key) for p in params), strict=True))
        step_sizes = [lr / (1 - beta1 ** t) for t in counts]
        torch._foreach_lerp_(ms, list(grads), 1 - beta1)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, list(grads), list(grads), value=1 - beta2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, [(1 - beta2 ** t) ** 0.5 for t in counts])
        torch._foreach_add_(denom, eps)
        if isinstance(c, Tensor):
            self._apply(params, torch._foreach_div(ms, denom), step_sizes, c)
        elif c != 0.0:
            torch._foreach_addcdiv_(params, ms, denom, [-s * c for s in step_sizes])


class MRMSProp(MultiObjectiveOptimizer):
    """RMSProp with separate squared-gradient averages per objective (see the module docstring)."""

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-8,
                 weight_decay: float = 0.0, *, weights: tuple[float, float] | None = None):
        _check(lr, eps)
        if not 0.0 <= rho < 1.0:
            raise ValueError(f"invalid rho {rho}")
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay},
                         weights)

    def _avg(self, p: Tensor, key: str) -> Tensor:
        state = self.state[p]
        if f"square_avg{key}" not in state:
            state[f"square_avg{key}"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state[f"square_avg{key}"]

    def _update(self, group, params, g1s, g2s, c1, c2) -> None:
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for p in params:
            self.state[p]["step"] = self.state[p].get("step", 0) + 1

        def denominators(indices, grads, key):
            avgs = [self._avg(params[i], key) for i in indices]
            torch._foreach_mul_(avgs, rho)
            torch._foreach_addcmul_(avgs, grads, grads, value=1 - rho)
            denom = torch._foreach_sqrt(avgs)
            torch._foreach_add_(denom, eps)
            return denom

        denom = denominators(list(range(len(params))), g1s, "")
        sizes = [lr] * len(params)
        if isinstance(c1, Tensor):
            self._apply(params, torch._foreach_div(g1s, denom), sizes, c1)
        elif c1 != 0.0:
            torch._foreach_addcdiv_(params, g1s, denom, [-lr * c1] * len(params))
        idx = [i for i, p in enumerate(params) if g2s[i] is not None or "square_avg2" in self.state[p]]
        if idx:
            grads = [g2s[i] if g2s[i] is not None else torch.zeros_like(params[i]) for i in idx]
            denom2 = denominators(idx, grads, "2")
            sub = [params[i] for i in idx]
            if isinstance(c2, Tensor):
                self._apply(sub, torch._foreach_div(grads, denom2), [lr] * len(idx), c2)
            elif c2 != 0.0:
                torch._foreach_addcdiv_(sub, grads, denom2, [-lr * c2] * len(idx))

