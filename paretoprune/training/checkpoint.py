"""Checkpoints: one ``torch.save`` dict per run.

Layout (``format`` ``"paretoprune-checkpoint"``, ``version`` 1)::

    {"format", "version",
     "state":   RunResult.state (model state_dict, masks, l1_init, model name, shapes),
     "spec":    TrainSpec.to_dict(),
     "weight":  the run's weight,
     "metrics": the flat metrics dict,
     "history": the per-epoch records}

Only plain containers, numbers, strings and tensors: it loads with ``torch.load(...,
weights_only=True)``. The pruned weights are stored as plain zeros in ``state["model"]``; the
masks are there too, for ``torch.nn.utils.prune`` (:func:`~.pruning.apply_torch_prune`).
A sweep's checkpoints (``{"state", "config", "metrics"}``) are read by the same functions.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from torch import nn

from paretoprune.errors import InputError

FORMAT = "paretoprune-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict, *, spec=None, weight: float | None = None,
                    metrics: dict | None = None, history: list | None = None) -> Path:
    """Write a checkpoint atomically (a temporary file, then a rename); returns the path."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise InputError(f"checkpoint path {path} is a folder; give a file name")
    spec_dict = spec.to_dict() if hasattr(spec, "to_dict") else spec
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "state": state,
        "spec": spec_dict,
        "weight": weight,
        "metrics": dict(metrics or {}),
        "history": list(history or []),
    }
    _save_atomically(payload, path, "checkpoint ")
    return path


def _save_atomically(obj, path: Path, what: str = "") -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise InputError(f"cannot write {what}{path}: {err.strerror or err}") from None


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
    _save_atomically(weights, Path(path).expanduser())
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
        raise InputError(f"checkpoint {path} cannot be read: {str(err).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
        raise InputError(f"{path} is not a paretoprune checkpoint")
    return data


def model_from_checkpoint(checkpoint: dict | str | os.PathLike, *,
                          torch_prune: bool = False) -> nn.Module:
    """Rebuild the model of a checkpoint (path or loaded dict) with its trained weights.

    ``torch_prune=True`` also applies the masks with ``torch.nn.utils.prune`` (reparametrized
    ``weight_orig`` * ``weight_mask``); by default the model holds plain weights with zeros.
    """
    from paretoprune.training.models import build_model
    from paretoprune.training.pruning import apply_torch_prune

    data = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    state = data.get("state", data)
    try:
        model = build_model(state["model_name"], int(state["num_classes"]),
                            tuple(state["input_shape"]))
        model.load_state_dict(state["model"])
    except KeyError as err:
        raise InputError(f"checkpoint lacks {err.args[0]!r}; cannot rebuild its model") from None
    except RuntimeError as err:
        raise InputError(f"checkpoint weights do not fit the model: {str(err).splitlines()[0]}") from None
    if torch_prune and state.get("masks"):
        apply_torch_prune(model, state["masks"])
    return model
