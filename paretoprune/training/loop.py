"""The training loop: one run of one method, read top to bottom.

:func:`train_run` runs ``spec`` with the runner of its method (``spec.method_info.load_runner()``).
Gradient methods share :class:`GradientRun`, whose :meth:`GradientRun.run` is the whole loop;
a method changes only what differs through four hooks:

* :meth:`GradientRun.setup` -- after the model, pruner and optimizer exist;
* :meth:`GradientRun.step` -- one mini-batch: backward, optimizer step, the method's own
  update (the default is the weighted sum);
* :meth:`GradientRun.end_epoch` -- after each epoch (a pruning decision, a record field);
* :meth:`GradientRun.extra_metrics` -- columns only this method reports.

The weighted sum minimizes ``(1 - w) * CE + w * l1`` where ``l1 = l1_raw / l1_init`` is the l1 norm
of the prunable weights relative to their value at the dense, seeded initialization. The l1
gradient is analytic: after ``((1 - w) * CE).backward()`` each prunable weight's gradient gets
``w * sign(p) / l1_init`` (no second backward pass). Pruning (``|p| < threshold`` -> 0) runs once
before training, after every ``prune_every`` optimizer steps, and at the end of every epoch (so
the recorded network is always pruned).

The other gradient methods subclass :class:`GradientRun` in their own modules (``--method smgd``:
:mod:`paretoprune.training.smgd`, which also overrides :meth:`GradientRun.make_optimizer`).

A run *diverged* -- and is returned as failed, with the reason -- when its loss becomes
non-finite or its final training loss is more than 10 % above both the training loss of its
initialization and ln(classes), the loss of a uniform guess (:data:`DIVERGENCE_FACTOR`).

The hot loop holds no per-step device syncs and no Python work per layer beyond what PyTorch's
own optimizers do: the prunable weights live in one flat buffer
(:class:`~paretoprune.training.pruning.Pruner`), so pruning and the l1 gradient are a handful of
tensor operations. ``python -m benchmarks.bench_training`` measures the overhead.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.config import TrainSpec
from paretoprune.errors import InputError, TrainingError, first_line
from paretoprune.training.datasets import DataBundle, epoch_batches, load_dataset
from paretoprune.training.models import build_model, check_fits
from paretoprune.training.pruning import Pruner, dense_kernels, sparsity_of
from paretoprune.training.schedules import lr_at

#: The key under which :func:`run_metrics` hands the predictions to its runner.
PREDICTIONS = "_predictions"
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)
#: A run whose final training loss exceeds this many times the larger of its initial loss and
#: ln(classes) (what predicting uniformly scores) diverged: it is worse than knowing nothing.
#: (A collapsed network, all weights zero, scores about ln(classes): not a divergence.)
DIVERGENCE_FACTOR = 1.1


@dataclass
class RunResult:
    """What one run returns.

    * ``metrics`` -- the flat dict of scalars (see :func:`train_run`);
    * ``state`` -- CPU tensors for checkpoints and warm starts: ``{"model": state_dict,
      "masks": {param name: bool tensor}, "l1_init", "prunable", "model_name", "num_classes",
      "input_shape"}``;
    * ``history`` -- one dict per epoch: ``epoch``, ``epochs``, ``loss`` (mean mini-batch CE of
      the epoch, train mode), ``l1``, ``l1_raw``, ``lr``, ``sparsity``, ``nnz``, ``time``, and
      ``c1``/``c2`` (epoch means) for multiobjective optimizers;
    * ``predictions`` -- predicted and true labels of the validation and test examples, in
      their fixed order (``val``, ``val_labels``, ``test``, ``test_labels``; numpy arrays;
      empty for a failed run): what paired statistics against the dense reference read.
    """

    metrics: dict
    state: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    predictions: dict = field(default_factory=dict)


# --- small helpers --------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available, else mps, else cpu; an :class:`InputError` for a device
    this machine does not have."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name} is not available on this machine (no CUDA); use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name} does not exist ({torch.cuda.device_count()} CUDA devices)")
    if device.type == "mps" and not has_mps:
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
        val_fraction=spec.val_fraction, val_split=spec.val_split,
        max_train_samples=spec.max_train_samples, max_test_samples=spec.max_test_samples,
    )


def make_model(spec: TrainSpec, data: DataBundle, device: torch.device) -> nn.Module:
    """The spec's model at its seeded initialization (call inside :func:`seeded`), checked
    against the data's shape and moved to ``device``."""
    model = build_model(spec.model, data.num_classes, data.input_shape)
    check_fits(model, spec.model, data.x_train[:2].cpu(), data.num_classes)
    return model.to(device)


def preflight(spec: TrainSpec) -> dict:
    """Fail now, with one :class:`InputError` line, if no run of ``spec`` can work: the
    device is missing, the dataset cannot be loaded, the model does not fit the data. A sweep
    calls it before it writes anything. A method with a ``preflight`` check runs it too.
    Returns the sizes of the splits: ``{"train": n, "val": n, "test": n}``."""
    device = resolve_device(spec.device)
    data = load_data(spec)
    with seeded(spec.seed, torch.device("cpu")):
        model = make_model(spec, data, torch.device("cpu"))
    method_check = spec.method_info.load_preflight()
    if method_check is not None:
        method_check(spec, model, data)
    del device
    return {"train": int(data.x_train.shape[0]), "val": int(data.x_val.shape[0]),
            "test": int(data.x_test.shape[0])}


def optimizer_groups(spec: TrainSpec, model: nn.Module, pruner: Pruner) -> list:
    """The parameter groups of a run's optimizer: ``weight_decay`` goes to the non-prunable
    kernels only."""
    params = [p for p in model.parameters() if p.requires_grad]
    if spec.weight_decay <= 0:
        return params
    prunable = {id(p) for p in pruner.params}
    decay = [p for p in params if id(p) not in prunable and p.ndim > 1]
    rest = [p for p in params if id(p) in prunable or p.ndim <= 1]
    return [g for g in ({"params": decay, "weight_decay": spec.weight_decay},
                        {"params": rest, "weight_decay": 0.0}) if g["params"]]


def make_optimizer(spec: TrainSpec, model: nn.Module, pruner: Pruner) -> torch.optim.Optimizer:
    """The spec's single-objective optimizer: sgd, adam or rmsprop (a method with optimizers of
    its own makes them in :meth:`GradientRun.make_optimizer`)."""
    groups = optimizer_groups(spec, model, pruner)
    name, lr = spec.optimizer, spec.lr
    if name == "sgd":
        return _torch_optimizer(torch.optim.SGD, groups, spec.fused, lr=lr, momentum=spec.momentum,
                                nesterov=spec.nesterov)
    if name == "adam":
        return _torch_optimizer(torch.optim.Adam, groups, spec.fused, lr=lr, betas=spec.betas,
                                eps=spec.eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=spec.rho, eps=spec.eps)
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
        raise InputError(f"init_state does not fit this model: {first_line(err)}") from None
    pruner.set_masks(state.get("masks") or {})


@torch.no_grad()
def evaluate_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` (eval mode) on ``(x, y)``; NaN when empty."""
    loss, accuracy, _ = predict_split(model, x, y, batch_size)
    return loss, accuracy


@torch.no_grad()
def predict_split(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                  batch_size: int = 1000) -> tuple[float, float, torch.Tensor]:
    """:func:`evaluate_split` plus the predicted label of every example, in order (a CPU
    int64 tensor), from the same pass."""
    if x.shape[0] == 0:
        return math.nan, math.nan, torch.zeros(0, dtype=torch.int64)
    was_training = model.training
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    predicted = []
    for start in range(0, x.shape[0], batch_size):
        logits = model(x[start:start + batch_size])
        loss += F.cross_entropy(logits.float(), y[start:start + batch_size],
                                reduction="sum").double()
        predicted.append(logits.argmax(dim=1))
    model.train(was_training)
    labels = torch.cat(predicted)
    n = x.shape[0]
    return float(loss) / n, float((labels == y).sum()) / n, labels.cpu()


# --- the run --------------------------------------------------------------------------------

def train_run(
    spec: TrainSpec,
    *,
    init_state: dict | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> RunResult:
    """Train one run of ``spec`` (its method's parameter, λ for the weighted sum, is a field
    of the spec: ``spec.with_parameter(0.3)``).

    ``init_state`` (a previous run's ``state``) starts from those weights and masks instead of
    the fresh initialization (continuation along the front; the l1 scale stays that of the
    seeded initialization). ``epochs`` overrides ``spec.epochs``. ``on_epoch(record)`` receives
    each history record as it is made.

    Returns a :class:`RunResult` whose ``metrics`` is a flat dict of scalars:

    * ``method`` and the method's parameter (``weight`` for the weighted sum; for smgd without
      fixed weights the mean of ``c2`` over the last epoch);
    * ``loss`` -- mean CE on the whole training set (eval mode, after training);
    * ``l1`` = ``l1_raw / l1_init``; ``l1_raw`` (sum of ``|w|`` of the prunable weights);
      ``l1_init`` (that sum at the dense, seeded initialization);
    * ``sparsity`` (share of prunable weights exactly zero), ``density`` (1 - sparsity),
      ``sparsity_dense`` (share of the dense-layer kernels exactly zero, as the original paper
      reports), ``nnz``, ``n_prunable``, ``nnz.<layer>`` per prunable layer;
    * ``test_acc``, ``test_loss``, ``val_acc``, ``val_loss`` (NaN without a validation split),
      ``train_acc``, ``num_classes``;
    * ``epochs`` (trained), ``wall_time`` (the run's own time, s: model, training,
      evaluation), ``load_time`` (loading the data before it, s: the first load in a process
      also imports and reads the dataset), ``train_time`` (the loop, s),
      ``train_cpu_time`` (CPU seconds of this process during the loop), ``seed``, ``model``,
      ``dataset``, ``optimizer``;
    * ``status`` ("ok" or "failed") and ``error`` ("" or the one-line reason). A run that
      diverges or runs out of memory is returned as failed, not raised.

    Bad settings raise :class:`~paretoprune.errors.InputError`.
    """
    runner = spec.method_info.load_runner()
    return runner(spec, init_state=init_state, epochs=epochs, on_epoch=on_epoch)


def run_point(spec: TrainSpec, param: float | None = None, *, init_state: dict | None = None,
              epochs: int | None = None, progress: Callable[[dict], None] | None = None) -> dict:
    """Train one run and return its flat metrics plus ``_state`` (weights and masks, CPU
    tensors), ``_history`` (per-epoch records), ``_spec`` (the spec as a dict) and
    ``_predictions`` (:attr:`RunResult.predictions`): what a
    sweep's worker and :func:`paretoprune.explore`'s ``evaluate`` return. ``param`` sets the
    method's parameter (λ for the weighted sum) first."""
    spec = spec if param is None else spec.with_parameter(param)
    result = train_run(spec, init_state=init_state, epochs=epochs, on_epoch=progress)
    return {**result.metrics, "_state": result.state, "_history": result.history,
            "_spec": spec.to_dict(), PREDICTIONS: result.predictions}


def evaluator(spec: TrainSpec) -> Callable[[float], dict]:
    """``evaluate(param) -> metrics`` for :func:`paretoprune.explore`: one training run of
    ``spec`` per parameter. Picklable, so it runs in worker processes and on Ray::

        table = paretoprune.explore(evaluator(TrainSpec(model="lenet5", dataset="mnist")))
    """
    if not isinstance(spec, TrainSpec):
        raise InputError(f"evaluator needs a TrainSpec, got {type(spec).__name__}")
    return functools.partial(run_point, spec)


class GradientRun:
    """One run of a gradient method (see the module docstring for the hooks)."""

    def __init__(self, spec: TrainSpec, *, init_state: dict | None = None,
                 epochs: int | None = None, on_epoch: Callable[[dict], None] | None = None):
        if not isinstance(spec, TrainSpec):
            raise InputError(f"spec must be a TrainSpec, got {type(spec).__name__}")
        self.spec = spec
        self.init_state = init_state
        self.epochs = spec.epochs if epochs is None else int(epochs)
        if self.epochs < 1:
            raise InputError(f"epochs must be at least 1, got {epochs}")
        self.on_epoch = on_epoch
        self.global_step = 0
        #: how the pruner keeps pruned weights at zero (:data:`~paretoprune.training.pruning.HOLDS`):
        #: "weights" only where the optimizer is coordinate-wise and nothing reads the optimizer
        #: state of pruned weights
        self.masks_held_by = "gradients"

    # -- hooks --------------------------------------------------------------------------------

    def make_optimizer(self) -> torch.optim.Optimizer:
        """The run's optimizer (after the model and pruner exist); the default:
        :func:`make_optimizer`."""
        return make_optimizer(self.spec, self.model, self.pruner)

    def setup(self) -> None:
        """After the model, pruner and optimizer exist (and ``init_state`` was loaded)."""
        self.l1_grad_scale = self.spec.options.weight / self.l1_init  # ... + w * l1_raw / l1_init
        self.ce_weight = None  # (1 - w) * CE, made on the first step

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """One mini-batch (gradients are zeroed already); returns the batch's CE (detached or
        not). The default: a step on ``(1 - w) * CE + w * l1``."""
        ce = F.cross_entropy(self.model(xb), yb)
        if self.ce_weight is None:
            self.ce_weight = torch.full_like(ce, 1.0 - self.spec.options.weight)
        ce.backward(self.ce_weight)  # the gradient of (1 - w) * CE, at no extra cost
        self.pruner.before_step(self.l1_grad_scale)  # + w * sign(p) / l1_init, masks
        self.optimizer.step()
        return ce

    def end_epoch(self, record: dict) -> None:
        """After each epoch, with its history record (add fields to it if useful)."""

    def extra_metrics(self) -> dict:
        """Columns this method adds to the metrics (the parameter among them)."""
        return {"weight": self.spec.options.weight}

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> RunResult:
        loading = time.perf_counter()
        spec = self.spec
        self.device = device = resolve_device(spec.device)
        self.data = load_data(spec).to(device)
        self.load_time = time.perf_counter() - loading
        with seeded(spec.seed, device):
            return self._run(time.perf_counter())

    def _run(self, started: float) -> RunResult:
        spec, data, device = self.spec, self.data, self.device
        # 1. The model at its seeded dense initialization; its l1 fixes the scale of the l1
        #    objective, its training loss the divergence limit.
        self.model = model = make_model(spec, data, device)
        self.pruner = pruner = Pruner(model, spec.prune, threshold=spec.threshold,
                                      persistent=not spec.regrow, include_bias=spec.prune_bias,
                                      prune_every=spec.prune_every, hold=self.masks_held_by)
        if pruner.numel == 0:
            raise InputError(f"model {spec.model!r} has no prunable weights for --prune {spec.prune}")
        self.l1_init = float(pruner.l1())
        if not self.l1_init > 0:
            raise InputError(f"model {spec.model!r} starts with all prunable weights zero")
        if self.init_state is not None:
            load_state(model, pruner, self.init_state)
        initial_loss = evaluate_split(model, data.x_train, data.y_train, spec.eval_batch_size)[0]

        # 2. Optimizer, then the method's own setup.
        self.optimizer = optimizer = self.make_optimizer()
        pruner.attach(optimizer)
        self.setup()

        # 3. Train: seeded batch order, prune once before the first step.
        generator = torch.Generator().manual_seed(spec.seed)
        pruner.prune_()
        model.train()
        history: list[dict] = []
        status, error, trained = "ok", "", 0
        per_step_lr = spec.schedule == "inverse"
        loop_start, loop_cpu_start = time.perf_counter(), time.process_time()
        try:
            for epoch in range(self.epochs):
                lr = lr_at(spec.schedule, spec.lr, epoch, self.epochs, self.global_step)
                self._set_lr(lr)
                ce_sum = torch.zeros((), device=device)
                n_batches = 0
                for xb, yb in epoch_batches(data.x_train, data.y_train, spec.batch_size, generator):
                    if per_step_lr:
                        self._set_lr(lr_at("inverse", spec.lr, epoch, self.epochs, self.global_step))
                    optimizer.zero_grad(set_to_none=True)
                    ce = self.step(xb, yb)
                    pruner.after_step()  # prunes every prune_every steps
                    self.global_step += 1
                    ce_sum += ce.detach()
                    n_batches += 1
                if not pruner.pruned_last_step:
                    pruner.prune_()  # the epoch ends pruned, whatever prune_every is
                pruner.refresh_state()

                # End of epoch: one host sync for the record.
                trained = epoch + 1
                l1_raw, nnz = float(pruner.l1()), int(pruner.nnz())
                record = {
                    "epoch": trained, "epochs": self.epochs, "loss": float(ce_sum) / n_batches,
                    "l1": l1_raw / self.l1_init, "l1_raw": l1_raw, "lr": lr,
                    "sparsity": 1.0 - nnz / pruner.numel, "nnz": nnz,
                    "time": time.perf_counter() - started,
                }
                self.end_epoch(record)
                history.append(record)
                if self.on_epoch is not None:
                    self.on_epoch(dict(record))
                if not math.isfinite(record["loss"]) or not math.isfinite(record["l1"]):
                    raise TrainingError(
                        f"training diverged in epoch {trained}: the training loss is {record['loss']}"
                    )
        except TrainingError as err:
            status, error = "failed", str(err)
        except _OUT_OF_MEMORY as err:
            status, error = "failed", "out of memory: " + first_line(err)
        train_time = time.perf_counter() - loop_start
        train_cpu_time = time.process_time() - loop_cpu_start

        # 4. Evaluate and record.
        metrics = self._metrics(status == "ok")
        if status == "ok":
            if not math.isfinite(metrics["loss"]):
                status, error = "failed", (
                    f"training diverged: the final training loss is {metrics['loss']}")
            elif metrics["loss"] > DIVERGENCE_FACTOR * max(initial_loss, math.log(data.num_classes)):
                status, error = "failed", (
                    f"training diverged: the final training loss {metrics['loss']:.4g} is above "
                    f"the initial {initial_loss:.4g} (learning rate {spec.lr:g} too large?)")
            if status != "ok":
                for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc"):
                    metrics[key] = math.nan
                metrics.pop(PREDICTIONS, None)
        metrics.update(epochs=trained, wall_time=time.perf_counter() - started,
                       load_time=self.load_time, train_time=train_time, train_cpu_time=train_cpu_time, seed=spec.seed,
                       model=spec.model, dataset=spec.dataset, method=spec.method,
                       optimizer=spec.optimizer, status=status, error=error)
        predictions = metrics.pop(PREDICTIONS, {})
        return RunResult(metrics=metrics, state=run_state(spec, model, pruner, data, self.l1_init),
                         history=history, predictions=predictions)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _metrics(self, ok: bool) -> dict:
        return {**self.extra_metrics(),
                **run_metrics(self.spec, self.model, self.pruner, self.data, self.l1_init, ok)}


def run_metrics(spec: TrainSpec, model: nn.Module, pruner: Pruner, data: DataBundle,
                l1_init: float, ok: bool) -> dict:
    """The metrics every method reports (see :func:`train_run`; losses and accuracies NaN for
    a failed run). A runner that does not use :class:`GradientRun` calls it too, so that every
    method's rows have the same columns. For an ok run the dict also holds
    :data:`PREDICTIONS` (not a column): the predicted and true labels of the validation and test
    examples in their fixed, seeded order (``val``, ``val_labels``, ``test``, ``test_labels``,
    numpy arrays), made by the evaluation pass itself; the runner moves them to
    :attr:`RunResult.predictions`."""
    l1_raw, nnz = float(pruner.l1()), int(pruner.nnz())
    zeros, total = sparsity_of(dense_kernels(model))
    metrics = {
        "loss": math.nan,
        "l1": l1_raw / l1_init,
        "l1_raw": l1_raw,
        "l1_init": l1_init,
        "sparsity": 1.0 - nnz / pruner.numel,
        "density": nnz / pruner.numel,
        "sparsity_dense": zeros / total if total else math.nan,
        "nnz": nnz,
        "n_prunable": pruner.numel,
        "num_classes": data.num_classes,
    }
    for layer, count in pruner.layer_nnz().items():
        metrics[f"nnz.{layer}"] = count
    results = {n: (math.nan, math.nan) for n in ("test", "val", "train")}
    if ok:
        b = spec.eval_batch_size
        predictions = {}
        for split, x, y in (("val", data.x_val, data.y_val), ("test", data.x_test, data.y_test)):
            loss, accuracy, predicted = predict_split(model, x, y, b)
            results[split] = (loss, accuracy)
            predictions[split] = predicted.numpy()
            predictions[f"{split}_labels"] = y.cpu().numpy()
        metrics[PREDICTIONS] = predictions
        results["train"] = evaluate_split(model, data.x_train, data.y_train, b)
        metrics["loss"] = results["train"][0]
    metrics.update(
        test_acc=results["test"][1], test_loss=results["test"][0],
        val_acc=results["val"][1], val_loss=results["val"][0],
        train_acc=results["train"][1],
    )
    from paretoprune.training.cost import deployment_metrics  # params, flops, size, latency

    metrics.update(deployment_metrics(spec, model, data))
    return metrics


def run_state(spec: TrainSpec, model: nn.Module, pruner: Pruner, data: DataBundle,
              l1_init: float) -> dict:
    """The ``state`` of a :class:`RunResult` (CPU copies of the weights, the masks, what a
    checkpoint needs to rebuild the model); a runner outside :class:`GradientRun` uses it too."""
    return {
        "model": {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()},
        "masks": pruner.masks(),
        "l1_init": l1_init,
        "prunable": list(pruner.names),
        "model_name": spec.model,
        "num_classes": data.num_classes,
        "input_shape": list(data.input_shape),
    }
