"""Checkpoints: one ``torch.save`` dict per run, in one format.

Layout (``format`` ``"paretoprune-checkpoint"``, ``version`` 2)::

    {"format", "version",
     "state":   RunResult.state (model state_dict, masks, l1_init, model name, shapes),
     "spec":    TrainSpec.to_dict() of the run,
     "metrics": the run's row (flat metrics),
     "history": the per-epoch records}

Only plain containers, numbers, strings and tensors: it loads with ``torch.load(...,
weights_only=True)``. The pruned weights are stored as plain zeros in ``state["model"]``; the
masks are there too, for ``torch.nn.utils.prune`` (:func:`~.pruning.apply_torch_prune`).
``paretoprune train -o FILE`` and every run of a sweep (``checkpoints/run-NNNN.pt``) write it;
checkpoints of paretoprune 0.1 (``{"state", "config", "metrics"}``) are read too.

Loading never runs code named inside a checkpoint: a model built by ``package.module:factory``
is only rebuilt when the caller passes the factory (or opts in with ``trust_imports=True``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from paretoprune.errors import InputError, first_line
from paretoprune.fileio import atomic_write

FORMAT = "paretoprune-checkpoint"
VERSION = 2


def checkpoint_payload(state: dict, *, spec=None, metrics: dict | None = None,
                       history: list | None = None) -> dict:
    """The checkpoint dict of one run (see the module docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "state": state,
        "spec": spec.to_dict() if hasattr(spec, "to_dict") else spec,
        "metrics": dict(metrics or {}),
        "history": list(history or []),
    }


def save_torch(obj, path: str | os.PathLike, what: str = "checkpoint") -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (never a half-written file; one
    :class:`InputError` line when it cannot be written)."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise InputError(f"cannot write {what} {path}: folder {path.parent} does not exist")
    buffer = io.BytesIO()  # torch turns a full disk into its own RuntimeError: write it here
    torch.save(obj, buffer)
    return atomic_write(path, lambda fh: fh.write(buffer.getbuffer()), what=what)


def save_checkpoint(path: str | os.PathLike, state: dict, *, spec=None,
                    metrics: dict | None = None, history: list | None = None) -> Path:
    """Write a run's checkpoint atomically; returns the path."""
    return save_torch(checkpoint_payload(state, spec=spec, metrics=metrics, history=history), path)


def export_state(state: dict, path: str | os.PathLike) -> dict:
    """Write a run's weights (``RunResult.state``, or a checkpoint's ``state``) as a plain state
    dict for ``torch.load``: masks folded in, so pruned weights are plain zeros, and no
    paretoprune types. Returns what rebuilding the model needs --
    ``{"model", "num_classes", "input_shape"}``, for
    ``build_model(info["model"], info["num_classes"], info["input_shape"])``."""
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict):
        raise InputError("not a run state: expected a dict with the model's state_dict under 'model'")
    masks = state.get("masks") or {}
    weights = {}
    for name, tensor in state["model"].items():
        tensor = tensor.detach().to("cpu")
        if name in masks:
            tensor = torch.where(masks[name].to(torch.bool).reshape(tensor.shape), tensor,
                                 torch.zeros((), dtype=tensor.dtype))
        weights[name] = tensor.clone()
    save_torch(weights, path, "model")
    return {"model": state.get("model_name"), "num_classes": state.get("num_classes"),
            "input_shape": list(state.get("input_shape") or [])}


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint (an :class:`InputError` for a missing or unreadable file)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(f"checkpoint {path} cannot be read: {first_line(err)}") from None
    if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
        raise InputError(f"{path} is not a paretoprune checkpoint")
    return data


def model_from_checkpoint(checkpoint: dict | str | os.PathLike, *, factory=None,
                          trust_imports: bool = False, torch_prune: bool = False) -> nn.Module:
    """Rebuild the model of a checkpoint (path or loaded dict) with its trained weights.

    A model named ``package.module:factory`` is rebuilt with ``factory(num_classes,
    input_shape)`` when given; importing the module named in the checkpoint (which runs its
    code) happens only with ``trust_imports=True``. ``torch_prune=True`` also applies the masks
    with ``torch.nn.utils.prune`` (reparametrized ``weight_orig`` * ``weight_mask``); by default
    the model holds plain weights with zeros.
    """
    from paretoprune.training._imports import is_import_path
    from paretoprune.training.models import build_model
    from paretoprune.training.pruning import apply_torch_prune

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    state = data.get("state", data)
    try:
        name, classes = state["model_name"], int(state["num_classes"])
        shape = tuple(state["input_shape"])
    except KeyError as err:
        raise InputError(f"checkpoint lacks {err.args[0]!r}; cannot rebuild its model") from None
    if factory is not None:
        model = factory(classes, shape)
    elif is_import_path(str(name)) and not trust_imports:
        raise InputError(
            f"the checkpoint's model is {name!r}: rebuilding it would import and run that "
            "module; pass factory=... (or trust_imports=True if you trust the file)")
    else:
        model = build_model(name, classes, shape)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise InputError(f"checkpoint weights do not fit the model: {first_line(err)}") from None
    if torch_prune and state.get("masks"):
        apply_torch_prune(model, state["masks"])
    return model
