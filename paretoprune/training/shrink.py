"""Physical removal: cut the units, filters and residual blocks whose output is zero out of a
network, so that the tensors shrink and the network runs faster anywhere.

:func:`shrink_model` takes a trained network -- for ``--method gates`` the run's network, whose
test-time gates were folded into the weights, so a removed structure outputs exactly zero -- and
returns a copy in which every structure of its :class:`~paretoprune.training.structures.StructurePlan`
whose output is exactly zero is gone: the producing layer loses the output unit or filter,
every batch norm in between loses the channel, the next layer loses the inputs it read from it
(``H·W`` of them after a ``Flatten``), and a residual block whose branch is zero is replaced by
its shortcut (identity, or option A's subsampling and zero padding). Nothing else changes, so
the shrunk network computes the same function: only terms that were exactly zero are gone (the
logits agree to float rounding). A group whose structures are all zero keeps one of them (a
zero one), so that no tensor has a zero dimension. The result is a plain ``torch.nn.Module`` of
the same classes with smaller layers.

A structure's output is zero when its *site* (the module its gate multiplies: the layer itself
or the batch norm after it) has zero weight and zero bias for it; a block's when its second
batch norm is zero. :func:`kept_structures` reports which.

:func:`export_shrunk` writes the shrunk network of a checkpoint as a ``torch.export`` archive
that plain PyTorch loads without paretoprune (``paretoprune export --shrink``)::

    model = torch.export.load("model.pt2").module()   # a torch.nn.Module
    logits = model(x)                                  # any batch size
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import torch
from torch import nn

from paretoprune.errors import InputError
from paretoprune.training.structures import StructurePlan, structure_plan

__all__ = ["ARCHIVE_SUFFIX", "architecture", "export_shrunk", "kept_structures", "shrink_model"]

#: The ending of a torch.export archive's name: ``torch.export.load`` refuses (with a warning)
#: to read a file named otherwise.
ARCHIVE_SUFFIX = ".pt2"


def _zero_outputs(site: nn.Module) -> torch.Tensor:
    """Per output channel of ``site`` (a Linear, conv or affine batch norm): True where its
    weight and bias are exactly zero (so is its output)."""
    weight = site.weight.detach()
    zero = (weight.reshape(weight.shape[0], -1) == 0).all(dim=1)
    bias = getattr(site, "bias", None)
    if bias is not None:
        zero &= bias.detach() == 0
    return zero.cpu()


def kept_structures(model: nn.Module, plan: StructurePlan) -> list[torch.Tensor]:
    """For each group of ``plan``, the indices of the structures ``model`` keeps (those whose
    output is not exactly zero; a block counts as removed when its whole branch is zero). A
    group whose structures are all zero keeps its first one (see the module docstring)."""
    modules = dict(model.named_modules())
    kept = []
    for group in plan.groups:
        zero = _zero_outputs(modules[group.site])
        if group.kind == "block":
            zero = zero.all().reshape(1)
        index = torch.nonzero(~zero).flatten()
        if index.numel() == 0 and group.kind != "block":
            index = torch.zeros(1, dtype=torch.long)
        kept.append(index)
    return kept


@torch.no_grad()
def _slice_(module: nn.Module, dim: int, index: torch.Tensor) -> None:
    """Keep ``index`` along ``dim`` (0: outputs, 1: inputs) of a Linear, conv or batch norm, in
    place, updating its size attributes."""
    device = next(module.parameters()).device
    index = index.to(device)
    for attr in ("weight", "bias", "running_mean", "running_var"):
        tensor = getattr(module, attr, None)
        if tensor is None or (dim == 1 and attr != "weight"):
            continue
        sliced = tensor.detach().index_select(dim, index).clone()
        if isinstance(tensor, nn.Parameter):
            setattr(module, attr, nn.Parameter(sliced, requires_grad=tensor.requires_grad))
        else:
            setattr(module, attr, sliced)
    n = int(index.numel())
    if isinstance(module, nn.Linear):
        if dim == 0:
            module.out_features = n
        else:
            module.in_features = n
    elif isinstance(module, nn.modules.conv._ConvNd):
        if dim == 0:
            module.out_channels = n
        else:
            module.in_channels = n
    else:  # batch norm
        module.num_features = n


def _set_module(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def shrink_model(model: nn.Module, input_shape: Sequence[int] | None = None, *,
                 plan: StructurePlan | None = None, name: str = "model") -> nn.Module:
    """A copy of ``model`` without its zero units, filters and residual blocks (see the module
    docstring); ``model`` itself is not changed. Give ``input_shape`` (one example, e.g.
    ``(1, 28, 28)``) or a ``plan`` made for it. Raises
    :class:`~paretoprune.errors.InputError` for a model whose structures cannot be planned."""
    if plan is None:
        if input_shape is None:
            raise InputError("shrink_model needs the input shape (or a plan)")
        plan = structure_plan(model, input_shape, name)
    kept = kept_structures(model, plan)
    small = copy.deepcopy(model)
    modules = dict(small.named_modules())
    removed_blocks = {i for i, g in enumerate(plan.groups)
                      if g.kind == "block" and kept[i].numel() == 0}
    for i, group in enumerate(plan.groups):
        index = kept[i]
        if group.kind == "block" or group.block in removed_blocks or index.numel() == group.size:
            continue
        _slice_(modules[group.producer], 0, index)
        for norm in group.channelwise:
            _slice_(modules[norm], 0, index)
        columns = index
        if group.per_channel > 1:
            offsets = torch.arange(group.per_channel)
            columns = (index[:, None] * group.per_channel + offsets).flatten()
        _slice_(modules[group.consumer], 1, columns)
    for i in sorted(removed_blocks):
        group = plan.groups[i]
        _set_module(small, group.name, modules[group.shortcut])
    return small


def architecture(model: nn.Module) -> dict[str, list[int]]:
    """``{parameter or buffer name: shape}`` of ``model`` (what the export's JSON records)."""
    return {k: list(v.shape) for k, v in model.state_dict().items() if v.ndim > 0}


def export_shrunk(checkpoint: dict, path: str | os.PathLike) -> dict:
    """Write the shrunk network of a run's checkpoint to ``path`` as a ``torch.export`` archive
    (``torch.export.load(path).module()`` is the network; dynamic batch size) and return what
    the export's JSON records: ``model``, ``num_classes``, ``input_shape``, ``architecture``
    (tensor shapes of the shrunk network), ``kept`` (per gated group, the structures kept),
    ``removed_blocks``, ``params`` and ``file_bytes``.

    Raises :class:`~paretoprune.errors.InputError`, before anything is written, when ``path``
    does not end in ``.pt2`` (``torch.export.load`` reads no other name), the run's method
    removes no structure (``Method.structured`` is False) or its model cannot be rebuilt (a
    ``package.module:factory`` of your own: shrink it with :func:`shrink_model` in Python).
    """
    from paretoprune.fileio import atomic_write
    from paretoprune.methods import DEFAULT_METHOD, get_method
    from paretoprune.training.checkpoint import model_from_checkpoint

    if not os.fspath(path).endswith(ARCHIVE_SUFFIX):
        raise InputError(f"--shrink writes a torch.export archive, whose name must end in "
                         f"{ARCHIVE_SUFFIX} (torch.export.load reads no other); got {path}")
    spec = checkpoint.get("spec") or checkpoint.get("config") or {}
    method = get_method(spec.get("method", DEFAULT_METHOD) if isinstance(spec, dict)
                        else DEFAULT_METHOD)
    if not method.structured:
        raise InputError(f"--shrink needs a run of a method that removes whole structures "
                         f"(gates); this run was trained with --method {method.name}, which "
                         "removes no structure; export it without --shrink")
    state = checkpoint["state"]
    model = model_from_checkpoint(checkpoint)
    shape = tuple(int(s) for s in state["input_shape"])
    plan = structure_plan(model, shape, str(state.get("model_name")))
    kept = kept_structures(model, plan)
    small = shrink_model(model, plan=plan).eval()
    example = torch.zeros(2, *shape)
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(small, (example,), dynamic_shapes=({0: batch},))
    atomic_write(path, lambda fh: torch.export.save(program, fh), what="model")
    return {
        "model": state.get("model_name"), "num_classes": state.get("num_classes"),
        "input_shape": list(shape), "architecture": architecture(small),
        "kept": {g.name: kept[i].tolist() for i, g in enumerate(plan.groups)
                 if g.kind != "block"},
        "removed_blocks": [g.name for i, g in enumerate(plan.groups)
                           if g.kind == "block" and kept[i].numel() == 0],
        "params": sum(p.numel() for p in small.parameters()),
        "file_bytes": os.path.getsize(path),
    }
