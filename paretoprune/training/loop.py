"""The training loop: one run of one weight, read top to bottom.

A weighted-sum run minimizes ``(1 - w) * CE + w * l1`` where ``l1 = l1_raw / l1_init`` is the l1
norm of the prunable weights relative to their value at the dense, seeded initialization. The l1
gradient is analytic: after ``((1 - w) * CE).backward()`` each prunable weight's gradient gets
``w * sign(p) / l1_init`` (no second backward pass). Pruning (``|p| < threshold`` -> 0) runs once
before training, after every ``prune_every`` optimizer steps, and at the end of every epoch (so
the recorded network is always pruned).

A multiobjective run (smgd, madam, mrmsprop) backpropagates the CE only and hands the optimizer the
l1 gradient ``sign(p) / l1_init`` of the prunable weights (zero elsewhere; ``sign(p)`` with
``mo_l1_scale="raw"``) as the second gradient; the optimizer finds the weights ``(c1, c2)`` of the
common descent direction itself.

The hot loop holds no per-step device syncs and no Python work per layer beyond what PyTorch's
own optimizers do: the prunable weights live in one flat buffer
(:class:`~paretoprune.training.pruning.Pruner`), so pruning and the l1 gradient are a handful of
tensor operations. (On the CPU, where reading a scalar costs nothing, the pruner and the
multiobjective optimizers do read a few.) On a small CPU model such as LeNet-5 they cost a few
percent of a step; see ``tests/benchmarks/bench_training.py``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.errors import InputError, TrainingError
from paretoprune.training.datasets import DataBundle, epoch_batches, load_dataset
from paretoprune.training.models import build_model, check_fits
from paretoprune.training.optim import SMGD, MAdam, MRMSProp
from paretoprune.training.pruning import Pruner, dense_kernels, sparsity_of
from paretoprune.training.schedules import lr_at
from paretoprune.training.spec import TrainSpec, check_weight

_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


@dataclass
class RunResult:
    """What one run returns.

    * ``metrics`` -- the flat dict of scalars (see :func:`train_run`);
    * ``state`` -- CPU tensors for checkpoints and warm starts: ``{"model": state_dict,
      "masks": {param name: bool tensor}, "l1_init", "prunable", "model_name", "num_classes",
      "input_shape"}``;
    * ``history`` -- one dict per epoch: ``epoch``, ``epochs``, ``loss`` (mean mini-batch CE of
      the epoch, train mode), ``l1``, ``l1_raw``, ``lr``, ``sparsity``, ``nnz``, ``time``, and
      ``c1``/``c2`` (epoch means) for multiobjective optimizers.
    """

    metrics: dict
    state: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)


# --- small helpers --------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else mps, else cpu; an :class:`InputError` for a device
    this machine does not have."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name} is not available on this machine (no CUDA); use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name} does not exist ({torch.cuda.device_count()} CUDA devices)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) is not None
                                     and torch.backends.mps.is_available()):
        raise InputError(f"device {name} is not available on this machine; use --device cpu")
    return device


@contextlib.contextmanager
def seeded(seed: int, device: torch.device):
    """Seed torch's global RNGs for the block and restore their previous state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def load_data(spec: TrainSpec) -> DataBundle:
    """The spec's dataset in memory (CPU tensors)."""
    return load_dataset(
        spec.dataset, data_dir=spec.data_dir, download=spec.download, seed=spec.seed,
        val_fraction=spec.val_fraction, max_train_samples=spec.max_train_samples,
        max_test_samples=spec.max_test_samples,
    )


def make_model(spec: TrainSpec, data: DataBundle, device: torch.device) -> nn.Module:
    """The spec's model at its seeded initialization (call inside :func:`seeded`), checked
    against the data's shape and moved to ``device``."""
    model = build_model(spec.model, data.num_classes, data.input_shape)
    check_fits(model, spec.model, data.x_train[:2].cpu(), data.num_classes)
    return model.to(device)


def make_optimizer(spec: TrainSpec, model: nn.Module, pruner: Pruner,
                   weight: float) -> torch.optim.Optimizer:
    """The spec's optimizer. ``weight_decay`` goes to the non-prunable kernels only."""
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.weight_decay > 0:
        prunable = {id(p) for p in pruner.params}
        decay = [p for p in params if id(p) not in prunable and p.ndim > 1]
        rest = [p for p in params if id(p) in prunable or p.ndim <= 1]
        groups: list = [g for g in ({"params": decay, "weight_decay": spec.weight_decay},
                                    {"params": rest, "weight_decay": 0.0}) if g["params"]]
    else:
        groups = params
    fixed = (1.0 - weight, weight) if spec.fixed_weights else None
    name, lr = spec.optimizer, spec.lr
    if name == "sgd":
        return _torch_optimizer(torch.optim.SGD, groups, spec.fused, lr=lr, momentum=spec.momentum)
    if name == "adam":
        return _torch_optimizer(torch.optim.Adam, groups, spec.fused, lr=lr, betas=spec.betas,
                                eps=spec.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=spec.rho, eps=spec.eps)
    if name == "smgd":
        return SMGD(groups, lr=lr, momentum=spec.momentum, weights=fixed)
    if name == "madam":
        return MAdam(groups, lr=lr, betas=spec.betas, eps=spec.eps, weights=fixed,
                     fused=None if spec.fused else False)
    if name == "mrmsprop":
        return MRMSProp(groups, lr=lr, rho=spec.rho, eps=spec.eps, weights=fixed)
    raise InputError(f"unknown optimizer {name!r}")


def _torch_optimizer(cls, groups, fused: bool, **kwargs) -> torch.optim.Optimizer:
    """``cls(groups, fused=True, **kwargs)`` where this torch and device support it, else the
    default implementation."""
    if fused:
        try:
            return cls(groups, fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):
            pass
    return cls(groups, **kwargs)


def load_state(model: nn.Module, pruner: Pruner, state: dict) -> None:
    """Start from a saved state (``RunResult.state``): weights, then masks."""
    if not isinstance(state, dict) or "model" not in state:
        raise InputError("init_state must be a run's state: a dict with 'model' (and 'masks')")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise InputError(f"init_state does not fit this model: {str(err).splitlines()[0]}") from None
    pruner.set_masks(state.get("masks") or {})


@torch.no_grad()
def evaluate_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on ``(x, y)``; NaN when empty."""
    if x.shape[0] == 0:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start:start + batch_size])
        yb = y[start:start + batch_size]
        loss += F.cross_entropy(logits.float(), yb, reduction="sum").double()
        correct += (logits.argmax(dim=1) == yb).sum()
    model.train(was_training)
    n = x.shape[0]
    return float(loss) / n, float(correct) / n


# --- the run --------------------------------------------------------------------------------

def train_run(
    spec: TrainSpec,
    weight: float = 0.0,
    *,
    init_state: dict | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> RunResult:
    """Train one run of ``spec`` with scalarization weight ``weight`` in [0, 1].

    ``init_state`` (a previous run's ``state``) starts from those weights and masks instead of
    the fresh initialization (continuation along the front; the l1 scale stays that of the
    seeded initialization). ``epochs`` overrides ``spec.epochs``. ``on_epoch(record)`` receives
    each history record as it is made.

    Returns a :class:`RunResult` whose ``metrics`` is a flat dict of scalars:

    * ``weight`` -- the weight on the l1 objective: ``weight`` itself for weighted-sum runs (and
      multiobjective runs with ``fixed_weights``), else the mean of ``c2`` over the last epoch;
    * ``loss`` -- mean CE on the whole training set (eval mode, after training);
    * ``l1`` = ``l1_raw / l1_init``; ``l1_raw`` (sum of ``|w|`` of the prunable weights);
      ``l1_init`` (that sum at the dense, seeded initialization);
    * ``sparsity`` (share of prunable weights exactly zero), ``sparsity_dense`` (share of the
      dense-layer kernels exactly zero, as the seed paper reports), ``nnz``, ``n_prunable``,
      ``nnz.<layer>`` per prunable layer;
    * ``test_acc``, ``test_loss``, ``val_acc``, ``val_loss`` (NaN without a validation split),
      ``train_acc``;
    * ``epochs`` (trained), ``wall_time`` (whole call, s), ``train_time`` (the loop, s),
      ``train_cpu_time`` (CPU seconds of this process during the loop), ``seed``, ``model``,
      ``dataset``, ``optimizer``;
    * ``status`` ("ok" or "failed") and ``error`` ("" or the one-line reason). A run that
      diverges (non-finite loss) or runs out of memory is returned as failed, not raised.

    Bad settings raise :class:`~paretoprune.errors.InputError`.
    """
    started = time.perf_counter()
    spec.validate()
    weight = check_weight(weight)
    n_epochs = spec.epochs if epochs is None else int(epochs)
    if n_epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    device = resolve_device(spec.device)
    data = load_data(spec).to(device)
    with seeded(spec.seed, device):
        return _train(spec, weight, n_epochs, data, device, init_state, on_epoch, started)



def _train(spec: TrainSpec, weight: float, n_epochs: int, data: DataBundle, device: torch.device,
           init_state: dict | None, on_epoch, started: float) -> RunResult:
    # 1. The model at its seeded dense initialization; its l1 fixes the scale of the l1 objective.
    model = make_model(spec, data, device)
    pruner = Pruner(model, spec.prune, threshold=spec.threshold, persistent=not spec.regrow,
                    include_bias=spec.prune_bias, prune_every=spec.prune_every)
    if pruner.numel == 0:
        raise InputError(f"model {spec.model!r} has no prunable weights for prune={spec.prune!r}")
    l1_init = float(pruner.l1())
    if not l1_init > 0:
        raise InputError(f"model {spec.model!r} starts with all prunable weights zero")
    if init_state is not None:
        load_state(model, pruner, init_state)

    # 2. Optimizer and the two objectives' weights.
    optimizer = make_optimizer(spec, model, pruner, weight)
    pruner.attach(optimizer)
    multi = spec.multiobjective
    ce_weight = None                  # weighted sum: (1 - w) * CE ...
    l1_grad_scale = weight / l1_init  # ... + w * l1_raw / l1_init
    grad2 = dict(zip(pruner.params, pruner.sign_views, strict=True))  # filled by pruner.signs()
    grad2_scale = 1.0 / l1_init if spec.mo_l1_scale == "init" else 1.0  # multiobjective runs

    # 3. Train: seeded batch order, prune once before the first step.
    generator = torch.Generator().manual_seed(spec.seed)
    pruner.prune_()
    model.train()
    history: list[dict] = []
    status, error, trained = "ok", "", 0
    c2_last_epoch = math.nan
    loop_start, loop_cpu_start = time.perf_counter(), time.process_time()
    try:
        for epoch in range(n_epochs):
            lr = lr_at(spec.schedule, spec.lr, epoch, n_epochs)
            for group in optimizer.param_groups:
                group["lr"] = lr
            ce_sum = torch.zeros((), device=device)
            c2_sum = 0.0  # a float, or a device tensor when the optimizer keeps c2 there
            n_batches = 0
            for xb, yb in epoch_batches(data.x_train, data.y_train, spec.batch_size, generator):
                optimizer.zero_grad(set_to_none=True)
                ce = F.cross_entropy(model(xb), yb)
                if multi:
                    ce.backward()
                    pruner.before_step()          # masks the gradients of pruned weights
                    pruner.signs(grad2_scale)     # the l1 gradient, into grad2's views
                    optimizer.step(grad2=grad2)
                    c2_sum = c2_sum + optimizer.last_weights[1]
                else:
                    if ce_weight is None:
                        ce_weight = torch.full_like(ce, 1.0 - weight)
                    ce.backward(ce_weight)  # the gradient of (1 - w) * CE, at no extra cost
                    pruner.before_step(l1_grad_scale)  # + weight * sign(p) / l1_init, masks
                    optimizer.step()
                pruner.after_step()  # prunes every prune_every steps
                ce_sum += ce.detach()
                n_batches += 1
            if not pruner.pruned_last_step:
                pruner.prune_()  # the epoch ends pruned, whatever prune_every is
            pruner.refresh_state()

            # End of epoch: one host sync for the record.
            trained = epoch + 1
            record = _epoch_record(trained, n_epochs, float(ce_sum) / n_batches, pruner, l1_init,
                                   lr, started)
            if multi:
                c2_last_epoch = float(c2_sum) / n_batches
                record["c1"], record["c2"] = 1.0 - c2_last_epoch, c2_last_epoch
            history.append(record)
            if on_epoch is not None:
                on_epoch(dict(record))
            if not math.isfinite(record["loss"]) or not math.isfinite(record["l1"]):
                raise TrainingError(
                    f"training diverged in epoch {trained}: the training loss is {record['loss']}"
                )
    except TrainingError as err:
        status, error = "failed", str(err)
    except _OUT_OF_MEMORY as err:
        status, error = "failed", "out of memory: " + str(err).splitlines()[0]
    train_time = time.perf_counter() - loop_start
    train_cpu_time = time.process_time() - loop_cpu_start

    # 4. Evaluate and record.
    # the weight on l1: the given one, or SMGD's mean c2 over the last epoch
    recorded_weight = c2_last_epoch if multi and not spec.fixed_weights else weight
    metrics = _metrics(spec, model, pruner, data, l1_init, recorded_weight, status == "ok")
    if status == "ok" and not math.isfinite(metrics["loss"]):
        status, error = "failed", f"training diverged: the final training loss is {metrics['loss']}"
        for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc"):
            metrics[key] = math.nan
    metrics.update(epochs=trained, wall_time=time.perf_counter() - started, train_time=train_time,
                   train_cpu_time=train_cpu_time,
                   seed=spec.seed, model=spec.model, dataset=spec.dataset,
                   optimizer=spec.optimizer, status=status, error=error)
    state = {
        "model": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "masks": pruner.masks(),
        "l1_init": l1_init,
        "prunable": list(pruner.names),
        "model_name": spec.model,
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
    }
    return RunResult(metrics=metrics, state=state, history=history)


def _epoch_record(epoch: int, epochs: int, loss: float, pruner: Pruner, l1_init: float,
                  lr: float, started: float) -> dict:
    l1_raw = float(pruner.l1())
    nnz = int(pruner.nnz())
    return {
        "epoch": epoch, "epochs": epochs, "loss": loss, "l1": l1_raw / l1_init, "l1_raw": l1_raw,
        "lr": lr, "sparsity": 1.0 - nnz / pruner.numel, "nnz": nnz,
        "time": time.perf_counter() - started,
    }


def _metrics(spec: TrainSpec, model: nn.Module, pruner: Pruner, data: DataBundle,
             l1_init: float, weight: float, ok: bool) -> dict:
    """The flat metrics dict (losses and accuracies NaN for a failed run)."""
    l1_raw = float(pruner.l1())
    nnz = int(pruner.nnz())
    zeros, total = sparsity_of(dense_kernels(model))
    metrics = {
        "weight": weight,
        "loss": math.nan,
        "l1": l1_raw / l1_init,
        "l1_raw": l1_raw,
        "l1_init": l1_init,
        "sparsity": 1.0 - nnz / pruner.numel,
        "sparsity_dense": zeros / total if total else math.nan,
        "nnz": nnz,
        "n_prunable": pruner.numel,
    }
    for layer, count in pruner.layer_nnz().items():
        metrics[f"nnz.{layer}"] = count
    names = ("test", "val", "train")
    results = {n: (math.nan, math.nan) for n in names}
    if ok:
        b = spec.eval_batch_size
        results["test"] = evaluate_split(model, data.x_test, data.y_test, b)
        results["val"] = evaluate_split(model, data.x_val, data.y_val, b)
        results["train"] = evaluate_split(model, data.x_train, data.y_train, b)
        metrics["loss"] = results["train"][0]
    metrics.update(
        test_acc=results["test"][1], test_loss=results["test"][0],
        val_acc=results["val"][1], val_loss=results["val"][0],
        train_acc=results["train"][1],
    )
    return metrics
