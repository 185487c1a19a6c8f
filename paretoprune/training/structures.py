"""Which structures of a network can be gated and cut out: units, filters and residual blocks.

A :class:`StructurePlan` lists the *groups* of structures of a model and the *cost terms* that
say how its parameters and multiply-adds depend on them. ``--method gates`` puts one gate on
every structure of every group (:mod:`paretoprune.training.gates`), and
:mod:`paretoprune.training.shrink` removes the structures whose output is exactly zero.

Groups:

* ``unit`` / ``filter`` -- the output units of a ``nn.Linear`` or the filters (output channels)
  of a ``nn.Conv1d/2d/3d`` (``groups=1``) that another such layer reads: every layer of a chain
  but the last (the logits are never gated). The gate multiplies the output of the *site*: the
  last per-channel affine module after the producing layer (the layer itself, or the
  ``BatchNorm`` that follows it), so a test-time gate folds exactly into the site's weight and
  bias. Removing a structure slices the producer's output, every batch norm in between and the
  consumer's input (``per_channel`` inputs per channel after a ``Flatten``).
* ``block`` -- a residual block of the CIFAR ResNets (``resnet20``, ``resnet56``): one gate on
  its residual branch (the output of its second batch norm). With the branch closed the block is
  ``relu(shortcut(x))``, which is ``shortcut(x)`` because every block input comes out of a ReLU;
  removing it replaces the block by its shortcut. Inside a block, conv1's filters are a
  ``filter`` group (the channels between conv1 and conv2); the channels of the residual stream
  are shared by every block of a stage and are not gated.

What can be planned: a *chain* -- a model whose leaf modules run one after the other, each on
the previous one's output (``nn.Sequential``, ``mlp``, ``lenet-300-100``, ``lenet5``,
``lenet5-caffe``, ``vgg-cifar``, or a model of your own built that way) made of ``Linear``,
``Conv1d/2d/3d``, ``BatchNorm1d/2d/3d``, ``Flatten``, pooling, dropout and elementwise
activations -- and the CIFAR ResNets. Between the site of a gated group and the layer that reads
it every module must keep a zero channel at zero (ReLU, ELU, tanh, pooling, dropout, ...; not
a sigmoid). Anything else raises :class:`~paretoprune.errors.InputError` naming the layer.

Cost terms: each :class:`Term` contributes ``params · Π A(g)`` parameters and ``macs · Π A(g)``
multiply-adds per example, where ``A(g)`` is the number of structures of group ``g`` that are
present (1 or 0 for a block). With every structure present the sums are the model's parameter
count and its multiply-adds (:func:`paretoprune.training.cost.count_cost`); with independent
gates the same formula evaluated at the gate probabilities is the *expected* cost, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from paretoprune.errors import InputError

__all__ = ["Group", "StructurePlan", "Term", "structure_plan"]

#: Modules that map a zero channel to a zero channel and act on each channel alone.
ZERO_KEEPING: tuple[type, ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Softsign, nn.Tanhshrink, nn.Softshrink,
    nn.Hardshrink, nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d,
)
#: Per-channel modules that do not keep zero (allowed only before a batch norm takes over).
CHANNELWISE: tuple[type, ...] = ZERO_KEEPING + (nn.Sigmoid, nn.Softplus, nn.Hardsigmoid,
                                                nn.LogSigmoid)
LAYERS: tuple[type, ...] = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS: tuple[type, ...] = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
SUPPORTED = ("an nn.Sequential-like chain of Linear/Conv/BatchNorm/activation/pooling/dropout/"
             "Flatten layers (mlp, lenet-300-100, lenet5, lenet5-caffe, vgg-cifar) or a CIFAR "
             "ResNet (resnet20, resnet56)")


@dataclass(frozen=True)
class Group:
    """One gated group of structures (see the module docstring).

    Attributes:
        name: the producing layer (units, filters) or the residual block (``layer1.0``).
        kind: ``"unit"``, ``"filter"`` or ``"block"``.
        size: number of structures (gates); 1 for a block.
        site: the module whose output the gates multiply (the last per-channel affine module).
        producer: the layer whose output channels the group is (None for a block).
        channelwise: batch norms between producer and consumer (sliced with the group).
        consumer: the layer that reads the channels (its inputs shrink with the group).
        per_channel: inputs of the consumer per channel (H·W after a Flatten, else 1).
        block: index of the block group this group lies in (None outside blocks).
        members: a block's modules with parameters (zeroed when it is removed).
        shortcut: a block's shortcut module (what replaces the block when it is removed).
    """

    name: str
    kind: str
    size: int
    site: str
    producer: str | None = None
    channelwise: tuple[str, ...] = ()
    consumer: str | None = None
    per_channel: int = 1
    block: int | None = None
    members: tuple[str, ...] = ()
    shortcut: str | None = None


@dataclass(frozen=True)
class Term:
    """``params · Π A(g)`` parameters and ``macs · Π A(g)`` multiply-adds over ``groups``."""

    params: float
    macs: float
    groups: tuple[int, ...] = ()


@dataclass(frozen=True)
class StructurePlan:
    """The gated groups of a model and its cost terms (see the module docstring)."""

    groups: tuple[Group, ...]
    terms: tuple[Term, ...]
    input_shape: tuple[int, ...]
    offsets: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        offsets, start = [], 0
        for g in self.groups:
            offsets.append(start)
            start += g.size
        object.__setattr__(self, "offsets", tuple(offsets))

    @property
    def n_gates(self) -> int:
        """Number of gates (structures) over all groups."""
        return sum(g.size for g in self.groups)

    def gate_slice(self, index: int) -> slice:
        """The gates of group ``index`` in the flat vector of all gates."""
        start = self.offsets[index]
        return slice(start, start + self.groups[index].size)

    def count(self, active: Sequence[float] | None = None) -> tuple[float, float]:
        """``(parameters, multiply-adds per example)`` with ``active[g]`` structures of group g
        present (default: all of them)."""
        active = [g.size for g in self.groups] if active is None else list(active)
        params = macs = 0.0
        for t in self.terms:
            factor = math.prod(active[g] for g in t.groups)
            params += t.params * factor
            macs += t.macs * factor
        return params, macs


# ----------------------------------------------------------------------------------------------


def _cannot(model_name: str, why: str) -> InputError:
    return InputError(f"--method gates cannot gate model {model_name!r}: {why}")


def _what(name: str, module: nn.Module) -> str:
    return f"layer {name!r} ({type(module).__name__})"


@dataclass
class _Call:
    name: str
    module: nn.Module
    args: tuple
    output: object

    @property
    def input(self):
        return self.args[0] if self.args else None

    @property
    def in_shape(self) -> tuple[int, ...]:
        x = self.input
        return tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else ()

    @property
    def out_shape(self) -> tuple[int, ...]:
        return tuple(self.output.shape[1:]) if isinstance(self.output, torch.Tensor) else ()


def _leaves(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n or "model", m) for n, m in model.named_modules() if next(m.children(), None) is None]


def trace_calls(model: nn.Module, input_shape: Sequence[int]) -> tuple[list[_Call], object, object]:
    """Run ``model`` (eval mode, no grad) on one zero example; return the calls of its leaf
    modules in order, the input and the output."""
    calls: list[_Call] = []

    def hook(name):
        def record(module, args, output):
            calls.append(_Call(name, module, args, output))
        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in _leaves(model)]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = torch.zeros(1, *input_shape, device=device)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            out = model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return calls, x, out


def layer_macs(module: nn.Module, in_shape: Sequence[int], out_shape: Sequence[int]) -> float:
    """Multiply-adds of one call of a Linear or convolution on one example: one per weight per
    output position (``out_numel / out_channels`` positions)."""
    out_numel = math.prod(out_shape)
    if isinstance(module, nn.Linear):
        return out_numel // module.out_features * module.weight.numel()
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return math.prod(in_shape) // module.in_channels * module.weight.numel()
    return out_numel // module.out_channels * module.weight.numel()


def structure_plan(model: nn.Module, input_shape: Sequence[int],
                   name: str = "model") -> StructurePlan:
    """The :class:`StructurePlan` of ``model`` for inputs of ``input_shape`` (one example);
    :class:`~paretoprune.errors.InputError` naming the first layer it cannot gate."""
    from paretoprune.training.models import CifarResNet

    shape = tuple(int(s) for s in input_shape)
    for mod_name, module in model.named_modules():
        if next(module.children(), None) is not None and any(
                p is not None for p in module._parameters.values()):
            raise _cannot(name, f"module {mod_name or 'model'!r} ({type(module).__name__}) holds "
                                f"parameters of its own beside its layers; gates handles {SUPPORTED}")
    calls, x, out = trace_calls(model, shape)
    if isinstance(model, CifarResNet):
        plan = _resnet_plan(name, model, calls, shape)
    else:
        plan = _chain_plan(name, model, calls, x, out, shape)
    if not plan.groups:
        raise _cannot(name, "it has no layer whose units another layer reads")
    total = sum(p.numel() for p in model.parameters())
    if round(plan.count()[0]) != total:  # a parameter outside every layer the plan knows
        raise _cannot(name, f"it has parameters outside the layers gates knows; gates handles "
                            f"{SUPPORTED}")
    return plan


def _layer_sizes(name: str, call: _Call) -> tuple[int, int]:
    m = call.module
    if isinstance(m, nn.Linear):
        if len(call.in_shape) != 1:
            raise _cannot(name, f"{_what(call.name, m)} acts on inputs of shape {call.in_shape}; "
                                "gates needs (batch, features) before a Linear")
        return m.in_features, m.out_features
    if m.groups != 1:
        raise _cannot(name, f"{_what(call.name, m)} is a grouped convolution (groups="
                            f"{m.groups}); gates handles groups=1")
    return m.in_channels, m.out_channels


def _chain_plan(name: str, model: nn.Module, calls: list[_Call], x, out,
                shape: tuple[int, ...]) -> StructurePlan:
    # 1. It must be a chain: every leaf runs once, on the previous leaf's output.
    previous, previous_name, seen = x, "the model's input", set()
    for call in calls:
        if call.name in seen:
            raise _cannot(name, f"{_what(call.name, call.module)} runs more than once; gates "
                                f"handles {SUPPORTED}")
        seen.add(call.name)
        if call.input is not previous:
            raise _cannot(name, f"{_what(call.name, call.module)} does not take the output of "
                                f"{previous_name} (its forward does more than run its layers in "
                                f"order); gates handles {SUPPORTED}")
        previous, previous_name = call.output, repr(call.name)
    if out is not previous:
        raise _cannot(name, f"its forward changes the output of its last layer {previous_name}; "
                            f"gates handles {SUPPORTED}")
    for leaf, module in _leaves(model):
        if leaf not in seen and any(True for _ in module.parameters()):
            raise _cannot(name, f"{_what(leaf, module)} is never called")

    # 2. Walk it: a group opens at every Linear/conv but the last, closes at the next one.
    layer_calls = [i for i, c in enumerate(calls) if isinstance(c.module, LAYERS)]
    if not layer_calls:
        raise _cannot(name, "it has no Linear or convolution layer")
    groups: list[Group] = []
    terms: list[Term] = []
    open_group: int | None = None
    per_channel = 1
    not_zero_keeping: _Call | None = None  # a module after the site that does not keep zero
    for i, call in enumerate(calls):
        m = call.module
        if isinstance(m, LAYERS):
            n_in, n_out = _layer_sizes(name, call)
            group_in = open_group
            if group_in is not None:
                g = groups[group_in]
                if not_zero_keeping is not None:
                    raise _cannot(name, f"{_what(not_zero_keeping.name, not_zero_keeping.module)}"
                                        f" after {g.site!r} does not keep a removed unit at zero")
                if n_in != g.size * per_channel:
                    raise _cannot(name, f"{_what(call.name, m)} reads {n_in} inputs, not the "
                                        f"{g.size} channels of {g.name!r}")
                groups[group_in] = replace(g, consumer=call.name, per_channel=per_channel)
            group_out = None
            if i != layer_calls[-1]:
                group_out = len(groups)
                kind = "unit" if isinstance(m, nn.Linear) else "filter"
                groups.append(Group(call.name, kind, n_out, site=call.name, producer=call.name))
            in_count = groups[group_in].size if group_in is not None else 1
            out_count = n_out if group_out is not None else 1
            ids = tuple(g for g in (group_in, group_out) if g is not None)
            macs = layer_macs(m, call.in_shape, call.out_shape)
            terms.append(Term(m.weight.numel() / (in_count * out_count),
                              macs / (in_count * out_count), ids))
            if m.bias is not None:
                terms.append(Term(m.bias.numel() / out_count, 0.0,
                                  (group_out,) if group_out is not None else ()))
            open_group, per_channel, not_zero_keeping = group_out, 1, None
        elif isinstance(m, NORMS):
            count = sum(p.numel() for p in m.parameters())
            if open_group is None:
                terms.append(Term(count, 0.0))
                continue
            g = groups[open_group]
            if not m.affine:
                raise _cannot(name, f"{_what(call.name, m)} after {g.name!r} has no affine "
                                    "parameters to fold a gate into")
            if per_channel != 1 or m.num_features != g.size:
                raise _cannot(name, f"{_what(call.name, m)} does not normalize the {g.size} "
                                    f"channels of {g.name!r}")
            groups[open_group] = replace(g, site=call.name, channelwise=g.channelwise + (call.name,))
            terms.append(Term(count / g.size, 0.0, (open_group,)))
            not_zero_keeping = None
        elif isinstance(m, nn.Flatten):
            if open_group is not None and len(call.in_shape) > 1:
                if m.start_dim != 1 or m.end_dim != -1:
                    raise _cannot(name, f"{_what(call.name, m)} does not flatten all but the "
                                        "batch dimension")
                per_channel *= math.prod(call.in_shape[1:])
        elif isinstance(m, CHANNELWISE):
            if open_group is not None and not isinstance(m, ZERO_KEEPING):
                not_zero_keeping = call
        elif open_group is not None or any(True for _ in m.parameters()):
            raise _cannot(name, f"{_what(call.name, m)} is not a layer gates knows; gates "
                                f"handles {SUPPORTED}")
    return StructurePlan(tuple(groups), tuple(terms), shape)


def _resnet_plan(name: str, model: nn.Module, calls: list[_Call],
                 shape: tuple[int, ...]) -> StructurePlan:
    from paretoprune.training.models import BasicBlock

    by_name = {c.name: c for c in calls}
    groups: list[Group] = []
    terms: list[Term] = []

    def macs_of(layer: str) -> float:
        call = by_name[layer]
        return layer_macs(call.module, call.in_shape, call.out_shape)

    def constant(module_name: str, module: nn.Module) -> None:
        count = sum(p.numel() for p in module.parameters())
        macs = macs_of(module_name) if isinstance(module, LAYERS) else 0.0
        terms.append(Term(count, macs))

    constant("conv1", model.conv1)
    constant("bn1", model.bn1)
    for stage in ("layer1", "layer2", "layer3"):
        for index, block in enumerate(getattr(model, stage)):
            prefix = f"{stage}.{index}"
            if type(block) is not BasicBlock:
                raise _cannot(name, f"{_what(prefix, block)} is not a BasicBlock; gates "
                                    f"handles {SUPPORTED}")
            planes = block.conv1.out_channels
            b = len(groups)
            groups.append(Group(prefix, "block", 1, site=f"{prefix}.bn2",
                                members=tuple(f"{prefix}.{m}" for m in
                                              ("conv1", "bn1", "conv2", "bn2")),
                                shortcut=f"{prefix}.shortcut"))
            u = len(groups)
            groups.append(Group(f"{prefix}.conv1", "filter", planes, site=f"{prefix}.bn1",
                                producer=f"{prefix}.conv1", channelwise=(f"{prefix}.bn1",),
                                consumer=f"{prefix}.conv2", block=b))
            for conv in ("conv1", "conv2"):
                layer = getattr(block, conv)
                terms.append(Term(layer.weight.numel() / planes,
                                  macs_of(f"{prefix}.{conv}") / planes, (u, b)))
            if block.conv1.bias is not None:
                terms.append(Term(1.0, 0.0, (u, b)))
            if block.conv2.bias is not None:
                terms.append(Term(block.conv2.bias.numel(), 0.0, (b,)))
            terms.append(Term(sum(p.numel() for p in block.bn1.parameters()) / planes, 0.0, (u, b)))
            terms.append(Term(sum(p.numel() for p in block.bn2.parameters()), 0.0, (b,)))
            if not (block.bn1.affine and block.bn2.affine):
                raise _cannot(name, f"block {prefix!r} has a batch norm without affine parameters")
    constant("fc", model.fc)
    return StructurePlan(tuple(groups), tuple(terms), shape)
