"""What a network costs to deploy: parameters, multiply-adds, file size and CPU latency.

:func:`deployment_metrics` adds these columns to every row of every method (the shared
``run_metrics`` calls it), for the network *as deployed*: the shrunk network for a structured
method (``Method.structured``: removed units, filters and blocks cut out of the tensors by
:func:`paretoprune.training.shrink.shrink_model`), the trained network itself otherwise (its
zeros are stored and multiplied like any other weight).

* ``params`` -- parameters of the deployed network; ``params_nonzero`` -- those not zero.
* ``flops`` -- multiply-adds per example of its ``Linear`` and convolution layers (one per
  weight per output position), the convention of the pruning literature (ResNet-20: 41 M
  "FLOPs" on CIFAR); batch norms, activations, pooling and residual additions are not counted.
  ``flops_nonzero`` -- the multiply-adds whose weight is not zero: what a sparse kernel could
  skip. For an unstructured method ``flops`` stays the dense figure and ``flops_nonzero`` is
  what its zeros could save; for a structured method both are of the shrunk network.
* ``size_bytes`` -- bytes of ``torch.save`` of the deployed network's state dict (each tensor
  stored on its own): exactly the file ``paretoprune export`` writes for an unstructured run;
  for a structured run the shrunk network's weights (the ``torch.export`` archive of
  ``export --shrink`` adds its program, some tens of KB, to that).
* ``latency_b1``, ``latency_b256`` -- CPU latency at batch 1 and 256 as a ratio to the network
  with the dense architecture (the trained network before shrinking, whose zeros cost as much as
  any weight), measured in the same process by :func:`latency_ratio`. A deployed network with
  the dense architecture -- every run of an unstructured method, a structured run that removed
  nothing -- runs the very same kernels: its ratios are 1 exactly, not measured.
* ``complexity`` -- ``φ·flops/flops_dense + (1-φ)·params/params_dense`` with ``φ`` the
  ``--flops-share`` of ``--method gates`` (0.5 for other methods): the normalized cost the gates
  method minimizes, in [0, 1]; 1 for every network with the dense architecture.

Latency protocol (:func:`latency_ratio`): both networks on the CPU in eval mode under
``torch.inference_mode``, with the process's torch threads (one per run in a sweep), on one
seeded random batch; one warm-up call each, then rounds that time one call of each network,
alternating which goes first, until :data:`LATENCY_MAX_ROUNDS` rounds or, after at least
:data:`LATENCY_MIN_ROUNDS`, :data:`LATENCY_BUDGET_S` seconds; the ratio of the two medians. It
reports a ratio, not seconds, so rows from different machines and loads compare; it is still a
measurement (a few percent of noise on a quiet machine).
"""

from __future__ import annotations

import copy
import io
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "LATENCY_BATCHES",
    "count_cost",
    "deployment_metrics",
    "latency_ratio",
    "same_architecture",
    "state_bytes",
]

#: Batch sizes of the latency columns (``latency_b1``, ``latency_b256``).
LATENCY_BATCHES = (1, 256)
LATENCY_MIN_ROUNDS = 3
LATENCY_MAX_ROUNDS = 15
#: Seconds of timed rounds per batch size after which no new round starts (past the minimum).
LATENCY_BUDGET_S = 0.2
#: ``φ`` of ``complexity`` for a method without ``--flops-share``.
DEFAULT_FLOPS_SHARE = 0.5


def count_cost(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """``params``, ``params_nonzero``, ``flops`` and ``flops_nonzero`` (multiply-adds per
    example, see the module docstring) of ``model`` on inputs of ``input_shape``, counted on
    one forward pass (eval mode, no gradients) of a zero example."""
    from paretoprune.training.structures import layer_macs

    counts = {"flops": 0, "flops_nonzero": 0}

    def record(module, args, output):
        in_shape = tuple(args[0].shape[1:]) if args else ()
        macs = layer_macs(module, in_shape, tuple(output.shape[1:]))
        weight = module.weight.detach()
        counts["flops"] += int(macs)
        counts["flops_nonzero"] += int(macs) // weight.numel() * int(torch.count_nonzero(weight))

    kinds = (nn.Linear, nn.modules.conv._ConvNd)
    handles = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, kinds)]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params = list(model.parameters())
    return {"params": sum(p.numel() for p in params),
            "params_nonzero": sum(int(torch.count_nonzero(p.detach())) for p in params),
            **counts}


def state_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save`` of ``model``'s state dict with each tensor stored on its own (as
    :func:`paretoprune.training.checkpoint.export_state` writes it)."""
    state = {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getbuffer().nbytes


def same_architecture(a: nn.Module, b: nn.Module) -> bool:
    """Whether two networks have the same tensors (names and shapes): the same kernels run."""
    def shapes(m):
        return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]
    return shapes(a) == shapes(b)


def _on_cpu(model: nn.Module) -> nn.Module:
    param = next(model.parameters(), None)
    if param is None or param.device.type == "cpu":
        return model
    return copy.deepcopy(model).to("cpu")


def latency_ratio(dense: nn.Module, deployed: nn.Module, input_shape: Sequence[int],
                  batch: int, *, budget_s: float = LATENCY_BUDGET_S,
                  min_rounds: int = LATENCY_MIN_ROUNDS,
                  max_rounds: int = LATENCY_MAX_ROUNDS) -> tuple[float, int]:
    """``(median latency of deployed / median latency of dense, rounds timed)`` at ``batch``,
    by the protocol of the module docstring (CPU, eval mode, interleaved rounds)."""
    dense, deployed = _on_cpu(dense), _on_cpu(deployed)
    modes = (dense.training, deployed.training)
    x = torch.randn(batch, *input_shape, generator=torch.Generator().manual_seed(0))
    times: tuple[list[float], list[float]] = ([], [])
    rounds = 0
    try:
        dense.eval()
        deployed.eval()
        with torch.inference_mode():
            dense(x)
            deployed(x)
            start = time.perf_counter()
            while rounds < max_rounds and (rounds < min_rounds
                                           or time.perf_counter() - start < budget_s):
                order = (0, 1) if rounds % 2 == 0 else (1, 0)
                for which in order:
                    model = dense if which == 0 else deployed
                    t0 = time.perf_counter()
                    model(x)
                    times[which].append(time.perf_counter() - t0)
                rounds += 1
    finally:
        dense.train(modes[0])
        deployed.train(modes[1])
    return statistics.median(times[1]) / statistics.median(times[0]), rounds


def deployment_metrics(spec, model: nn.Module, data) -> dict:
    """The deployment columns of one run (see the module docstring): ``spec`` is its
    :class:`~paretoprune.config.TrainSpec`, ``model`` the trained network, ``data`` its
    :class:`~paretoprune.training.datasets.DataBundle` (for the input shape)."""
    shape = tuple(data.input_shape)
    deployed = model
    if spec.method_info.structured:
        from paretoprune.training.shrink import shrink_model

        deployed = shrink_model(model, shape, name=spec.model)
    dense = count_cost(model, shape)
    small = dense if deployed is model else count_cost(deployed, shape)
    share = getattr(spec.options, "flops_share", None)  # a method that mixes them
    share = DEFAULT_FLOPS_SHARE if share is None else float(share)
    flops_part = small["flops"] / dense["flops"] if dense["flops"] else 1.0
    params_part = small["params"] / dense["params"] if dense["params"] else 1.0
    metrics = {**small, "size_bytes": state_bytes(deployed),
               "complexity": share * flops_part + (1.0 - share) * params_part}
    unchanged = deployed is model or same_architecture(model, deployed)
    for batch in LATENCY_BATCHES:
        metrics[f"latency_b{batch}"] = 1.0 if unchanged else \
            latency_ratio(model, deployed, shape, batch)[0]
    return metrics
