"""Prunable weights, the l1 objective and intra-training pruning.

Which weights are prunable (``prune=``):

* ``"dense"`` -- the weights of every ``nn.Linear`` (the original work's choice);
* ``"conv"`` -- the weights of every ``nn.Conv1d/2d/3d`` (and transposed convs);
* ``"all"`` -- both.

Biases are not pruned unless ``include_bias=True``. The complexity objective f2 is the l1 norm of
the prunable weights; training uses it on the scale ``l1 = l1_raw / l1_init`` where ``l1_init`` is
the l1 norm of the prunable weights at the dense, seeded initialization (so the dense start has
``l1 = 1`` and the all-zero network ``l1 = 0``).

:class:`Pruner` keeps the prunable weights in ONE flat buffer (each parameter becomes a view into
it), so pruning, the l1 gradient and the counts are a few tensor operations whatever the number
of layers. With persistent masks (the default) a pruned weight stays zero for good: its gradient is
masked before every optimizer step and its optimizer state (momentum, Adam moments, ...) is zeroed
when it is pruned, so the optimizer never moves it again (or, for optimizers that update each
weight on its own, it is multiplied back to zero after every step: ``hold="weights"``). With ``regrow=True`` (the original work's
behaviour) there are no masks: small weights are re-zeroed after each step and may grow back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

PRUNE_CHOICES = ("dense", "conv", "all")
#: How :class:`Pruner` keeps pruned weights at zero: by masking their gradients and optimizer
#: state, or by zeroing the weights after each optimizer step (coordinate-wise optimizers only).
HOLDS = ("gradients", "weights")

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
         nn.ConvTranspose3d)


def prunable_parameters(
    model: nn.Module, prune: str = "dense", *, include_bias: bool = False
) -> list[tuple[str, str, nn.Parameter]]:
    """``(module name, parameter name, parameter)`` of the prunable weights, in model order."""
    if prune not in PRUNE_CHOICES:
        raise ValueError(f"prune must be one of {PRUNE_CHOICES}, got {prune!r}")
    kinds: tuple[type, ...] = ()
    if prune in ("dense", "all"):
        kinds += (nn.Linear,)
    if prune in ("conv", "all"):
        kinds += _CONV
    found, seen = [], set()
    for mod_name, module in model.named_modules():
        if not isinstance(module, kinds):
            continue
        attrs = ("weight", "bias") if include_bias else ("weight",)
        for attr in attrs:
            p = getattr(module, attr, None)
            if isinstance(p, nn.Parameter) and p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                found.append((mod_name, f"{mod_name}.{attr}" if mod_name else attr, p))
    return found


def dense_kernels(model: nn.Module) -> list[torch.Tensor]:
    """The weight matrices of every ``nn.Linear`` (what the original paper's sparsity counts)."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


class Pruner:
    """The prunable weights of ``model`` in one flat buffer, with masks and the l1 objective.

    Create it after the model is on its device (moving the model afterwards breaks the views).
    ``threshold``: weights with ``|w| < threshold`` are pruned (0 disables pruning and masks).
    ``persistent``: pruned weights stay zero for good (False: the original work's regrowth).

    A training step uses it as::

        loss.backward()
        pruner.before_step(l1_scale)   # pruned gradients -> 0; grad += l1_scale * sign(w)
        optimizer.step()
        pruner.after_step()            # prune every ``prune_every`` steps

    How persistence works (``hold="gradients"``, the default): a pruned weight is exactly 0, and
    its gradient and optimizer state are 0, so SGD, Adam, RMSprop and the multiobjective
    optimizers leave it at 0 (their update of an entry with zero gradient and zero state is
    zero). Pruning is therefore one ``hardshrink`` pass over the flat weights, and the mask is
    just ``w != 0``: a pruned weight never passes the threshold again.

    ``hold="weights"``: the gradients are not masked and the optimizer state is not zeroed; the
    optimizer step moves the pruned weights, and :meth:`after_step` multiplies them back to zero
    (one operation on the flat buffer instead of masking every gradient and, at each change, the
    optimizer state). For optimizers that update each weight from its own gradient and state
    only (SGD, Adam, RMSprop; not the multiobjective ones, whose min-norm weights read every
    gradient) the kept weights then take exactly the steps they take with ``hold="gradients"``,
    and every pruned weight is zero whenever the model is evaluated; only the optimizer state of
    the pruned weights differs, so nothing may read it (a rule reading Adam's moments holds by
    gradients). Between ``optimizer.step()`` and :meth:`after_step` the pruned weights are not
    zero, so a method's own update there acts on every weight and leaves the masks to
    :meth:`after_step`.

    Masks are float buffers (1.0 kept, 0.0 pruned; multiplying by a bool tensor is several
    times slower on the CPU), and the signs for the l1 gradient are taken right after pruning,
    while the weights are in cache. Per step that is a few tensor operations on one flat buffer
    (or foreach lists), whatever the number of layers, and no device sync.
    """

    def __init__(self, model: nn.Module, prune: str = "dense", *, threshold: float,
                 persistent: bool = True, include_bias: bool = False, prune_every: int = 1,
                 hold: str = "gradients"):
        if hold not in HOLDS:
            raise ValueError(f"hold must be one of {HOLDS}, got {hold!r}")
        found = prunable_parameters(model, prune, include_bias=include_bias)
        self.layer_names = [m for m, _, _ in found]
        self.names = [n for _, n, _ in found]
        self.params = [p for _, _, p in found]
        self.threshold = float(threshold)
        self.persistent = bool(persistent)
        self.masking = self.persistent and self.threshold > 0.0
        #: persistent masks held by zeroing the pruned weights after each step (see above)
        self.hold_by_weights = self.masking and hold == "weights"
        self.prune_every = int(prune_every)
        self.sizes = [p.numel() for p in self.params]
        if self.params:
            device, dtype = self.params[0].device, self.params[0].dtype
            flat = torch.cat([p.detach().reshape(-1) for p in self.params]).to(device, dtype)
        else:
            flat = torch.zeros(0)
        self.flat = flat
        with torch.no_grad():
            for p, view in zip(self.params, self.views(flat), strict=True):
                p.data = view
        if self.threshold > 0.0:
            limit = torch.tensor(self.threshold, dtype=flat.dtype)
            self._lambd = float(torch.nextafter(limit, torch.zeros_like(limit)))
        self.mask = torch.ones_like(flat)
        self.mask_views = self.views(self.mask)
        self._sign = torch.empty_like(flat)   # sign(w) for the l1 gradient
        self.sign_views = self.views(self._sign)
        self._sign_fresh = False  # _sign == sign(flat), the weights unchanged since
        self._want_sign = False   # the l1 gradient is in use: take signs right after pruning
        self._steps = 0
        # On the CPU, prune_() counts the kept weights (a cheap host read there) and skips
        # zeroing optimizer state when nothing new was pruned (float32 counts are exact below
        # 2**24 elements).
        self._count_on_host = flat.device.type == "cpu"
        self._count_dtype = torch.float32 if flat.numel() < 2**24 else torch.float64
        self._kept: float | None = None
        self._prunes = 0
        self._change_rate = 0.0  # how often recent prunes changed the mask (counting pays off
        # only when it is low; while it is high, count one prune in 16 to notice the change)
        self._state: list[torch.Tensor] | None = None
        self._state_masks: list[torch.Tensor] = []
        self._optimizer = None

    def views(self, buffer: torch.Tensor) -> list[torch.Tensor]:
        """Views of a flat buffer laid out like :attr:`flat`, one per prunable parameter, in its
        shape."""
        return [b.view_as(p) for b, p in zip(torch.split(buffer, self.sizes), self.params, strict=True)]

    @property
    def numel(self) -> int:
        return self.flat.numel()

    # --- objective -------------------------------------------------------------------------
    def l1(self) -> torch.Tensor:
        """Raw l1 norm of the prunable weights (a 0-dim tensor, no host sync)."""
        return self.flat.abs().sum()

    def nnz(self) -> torch.Tensor:
        return torch.count_nonzero(self.flat)

    def layer_nnz(self) -> dict[str, int]:
        """Non-zero weights per layer (module name; ``name.bias`` entries add to their layer)."""
        counts: dict[str, int] = {}
        for layer, p in zip(self.layer_names, self.params, strict=True):
            counts[layer] = counts.get(layer, 0) + int(torch.count_nonzero(p))
        return counts

    def _signs_now(self) -> None:
        if not self._sign_fresh:
            torch.sign(self.flat, out=self._sign)
            self._sign_fresh = True
        self._want_sign = True

    def signs(self, scale: float = 1.0) -> list[torch.Tensor]:
        """``scale * sign(w)`` per prunable parameter: the gradient of ``scale * l1_raw`` (zero
        at pruned weights). The views live in a reused buffer, valid until the next call."""
        self._signs_now()
        if scale != 1.0:
            self._sign.mul_(scale)
            self._sign_fresh = False
        return self.sign_views

    def _grads(self) -> list[torch.Tensor]:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            grads = [p.grad for p in self.params]
        return grads

    def add_l1_grad_(self, scale: float) -> None:
        """``p.grad += scale * sign(p)`` on every prunable weight (the analytic l1 gradient)."""
        if self.params and scale != 0.0:
            self._signs_now()
            torch._foreach_add_(self._grads(), self.sign_views, alpha=scale)

    def mask_grads_(self) -> None:
        """Zero the gradient of pruned weights (persistent masks only)."""
        if self.masking and self.params:
            torch._foreach_mul_(self._grads(), self.mask_views)

    def before_step(self, l1_scale: float = 0.0) -> None:
        """Between ``backward()`` and ``optimizer.step()``: zero the gradients of pruned weights
        (persistent masks held by gradients) and add ``l1_scale * sign(w)`` (the same as :meth:`mask_grads_` then
        :meth:`add_l1_grad_`, in fewer Python steps)."""
        if not self.params or (self.hold_by_weights and l1_scale == 0.0):
            return
        grads = self._grads()
        if self.masking and not self.hold_by_weights:
            torch._foreach_mul_(grads, self.mask_views)
        if l1_scale != 0.0:
            if not self._sign_fresh:
                torch.sign(self.flat, out=self._sign)
                self._sign_fresh = True
            self._want_sign = True
            torch._foreach_add_(grads, self.sign_views, alpha=l1_scale)

    def after_step(self) -> None:
        """After ``optimizer.step()``: the weights changed; the pruned ones back to zero (masks
        held by weights); prune every ``prune_every`` steps."""
        if self.hold_by_weights:
            self.flat.mul_(self.mask)
        self._sign_fresh = False
        self._steps += 1
        if self._steps % self.prune_every == 0:
            self.prune_()

    @property
    def pruned_last_step(self) -> bool:
        """True when the weights have not changed since the last pruning."""
        return self._steps % self.prune_every == 0

    # --- pruning ---------------------------------------------------------------------------
    def attach(self, optimizer: torch.optim.Optimizer | None) -> None:
        """The optimizer whose state of pruned weights is zeroed (persistent masks)."""
        self._optimizer = optimizer
        self._state = None

    def _state_tensors(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(state tensors, matching mask views) of the prunable weights, once they exist."""
        if self._state is None and self._optimizer is not None:
            tensors, masks = [], []
            for p, m in zip(self.params, self.mask_views, strict=True):
                for value in self._optimizer.state.get(p, {}).values():
                    if torch.is_tensor(value) and value.shape == p.shape and value.is_floating_point():
                        tensors.append(value)
                        masks.append(m)
            if not tensors:
                return [], []
            self._state, self._state_masks = tensors, masks
        return self._state or [], self._state_masks

    def refresh_state(self) -> None:
        """Forget the cached optimizer-state list (after the optimizer's state was replaced)."""
        self._state = None

    def prune_(self) -> None:
        """Zero every prunable weight with ``|w| < threshold``; with persistent masks, update the
        mask and (held by gradients) zero the optimizer state of newly pruned weights (a pruned
        weight is 0, so it never passes the threshold again)."""
        if not self.params:
            return
        if self.threshold > 0.0:
            # one pass: hardshrink(w, lam) = w where |w| > lam, else 0, with lam the largest
            # value below the threshold in w's dtype, i.e. exactly "|w| < threshold -> 0"
            torch.hardshrink(self.flat, self._lambd, out=self.flat)
            self._sign_fresh = False
            if self.hold_by_weights:
                torch.ne(self.flat, 0.0, out=self.mask)  # no optimizer state to zero
                self._kept = None
            elif self.masking:
                torch.ne(self.flat, 0.0, out=self.mask)  # 1.0 kept, 0.0 pruned
                changed = True
                self._prunes += 1
                if self._count_on_host and (self._change_rate < 0.5 or self._prunes % 16 == 0):
                    # the new mask is a subset of the old one: the same count means the same mask
                    kept = float(self.mask.sum(dtype=self._count_dtype))
                    changed, self._kept = kept != self._kept, kept
                    self._change_rate = 0.75 * self._change_rate + 0.25 * changed
                else:
                    self._kept = None  # while most prunes change the mask, do not count
                if changed:
                    tensors, masks = self._state_tensors()
                    if tensors:
                        torch._foreach_mul_(tensors, masks)
        if self._want_sign:  # the weights are in cache now: take their signs for the next step
            torch.sign(self.flat, out=self._sign)
            self._sign_fresh = True

    def fix_masks(self) -> None:
        """From now on prune nothing new: only weights already zero stay pruned (a recovery
        phase that trains the final mask). Masks held by weights: the optimizer state of the
        pruned weights is zeroed once (it is never read; left alone, the moments of a weight
        whose gradient stays zero decay into subnormal numbers, which CPUs compute many times
        slower)."""
        if self.hold_by_weights:
            tensors, masks = self._state_tensors()
            if tensors:
                torch._foreach_mul_(tensors, masks)
        if self.threshold > 0.0:
            self.threshold = 1e-30
            limit = torch.tensor(self.threshold, dtype=self.flat.dtype)
            self._lambd = float(torch.nextafter(limit, torch.zeros_like(limit)))

    @torch.no_grad()
    def set_masks(self, masks: Mapping[str, torch.Tensor]) -> None:
        """Apply saved masks (by parameter name, True = kept): weights outside become zero (and,
        with persistent masks and a threshold, stay zero)."""
        for name, p, m in zip(self.names, self.params, self.mask_views, strict=True):
            if name in masks:
                saved = (masks[name].to(device=p.device).reshape(p.shape) != 0).to(p.dtype)
                p.mul_(saved)
                if self.masking:
                    m.copy_(saved)
        self._sign_fresh = False
        self._kept = None

    def masks(self) -> dict[str, torch.Tensor]:
        """Masks by parameter name (CPU bool tensors, True = kept): with persistent masks the
        mask itself, else the current non-zero pattern."""
        out = {}
        for name, p, m in zip(self.names, self.params, self.mask_views, strict=True):
            mask = (m != 0) if self.masking else (p.detach() != 0)
            out[name] = mask.to("cpu")
        return out


def apply_torch_prune(model: nn.Module, masks: Mapping[str, torch.Tensor], *,
                      make_permanent: bool = False) -> nn.Module:
    """Apply masks (parameter name -> bool tensor, True = kept) with ``torch.nn.utils.prune``:
    each masked parameter becomes ``<name>_orig`` times the buffer ``<name>_mask``, PyTorch's own
    pruning form. ``make_permanent=True`` folds the masks back in (``prune.remove``), leaving
    plain weights with zeros. Returns ``model``."""
    from torch.nn.utils import prune as torch_prune

    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module_name, _, attr = name.rpartition(".")
        module = modules.get(module_name)
        if module is None or not hasattr(module, attr):
            raise KeyError(f"model has no parameter {name!r}")
        param = getattr(module, attr)
        torch_prune.custom_from_mask(module, attr, mask.to(param.device, torch.bool).reshape(param.shape))
        if make_permanent:
            torch_prune.remove(module, attr)
    return model


def sparsity_of(tensors: Iterable[torch.Tensor]) -> tuple[int, int]:
    """``(zeros, total)`` over ``tensors``."""
    zeros = total = 0
    for t in tensors:
        total += t.numel()
        zeros += t.numel() - int(torch.count_nonzero(t))
    return zeros, total
