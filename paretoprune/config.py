"""One typed configuration: every training and sweep setting, its default, type and range.

:class:`TrainSpec` describes one training run, :class:`SweepConfig` a sweep of them. Both are
frozen dataclasses checked once, when they are made; the command line's options are generated
from their fields (:mod:`paretoprune.cli.options`), a sweep stores them in ``sweep.json`` and
reads them back through the same constructors, and the worker that trains receives the object
itself. So each default is written once, each range is checked once, and a bad value is one
:class:`~paretoprune.errors.InputError` line before anything runs -- without importing torch
(this module imports neither torch nor pandas).

:class:`TrainSpec` holds the settings every method shares; the options of its method are an
object of the method's own options class (:mod:`paretoprune.methods`), ``spec.options``. Each
field carries a :class:`~paretoprune.settings.Setting`: help text, the check that converts and
validates the value, whether it is a command-line option, and whether it is part of a sweep's
identity (a resumed sweep must match it).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from paretoprune.errors import InputError
from paretoprune.methods import (
    DEFAULT_METHOD,
    METHODS,
    Method,
    MethodOptions,
    get_method,
    method_names,
    method_of_optimizer,
    option_owners,
)
from paretoprune.settings import (
    Check,
    boolean,
    choice,
    default_of,
    flag,
    from_mapping,
    integer,
    number,
    optional,
    pair,
    setting,
    settings_of,
    text,
    validate_fields,
)

__all__ = [
    "DATASET_NAMES",
    "DEVICES",
    "EXECUTORS",
    "KNEE_METHODS",
    "MODEL_NAMES",
    "SCHEDULES",
    "SweepConfig",
    "TrainSpec",
    # the checks and helpers of paretoprune.settings that other layers use through here
    "choice",
    "default_of",
    "integer",
    "number",
    "settings_of",
]

#: Built-in models (``paretoprune.training.models`` builds them; a test keeps the two in step).
MODEL_NAMES = ("mlp", "lenet5", "lenet5-caffe", "lenet-300-100", "vgg-cifar", "resnet20",
               "resnet56")
#: Built-in datasets (``paretoprune.training.datasets`` loads them).
DATASET_NAMES = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100")
SCHEDULES = ("constant", "cosine", "sigmoid", "inverse")
DEVICES = ("auto", "cpu", "cuda", "mps")
EXECUTORS = ("auto", "serial", "process", "ray")
KNEE_METHODS = ("distance", "kneedle", "angle", "utility", "tradeoff")
PRUNE_TARGETS = ("dense", "conv", "all")
VAL_SPLITS = ("train", "test")
#: ``package.module:attribute``: a model or dataset factory of the user's own.
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _named(kind: str, known: tuple[str, ...], extra: str) -> Check:
    def check(name: str, value: Any) -> str:
        if isinstance(value, str) and (value in known or _IMPORT_PATH.match(value) or (
                kind == "model" and value.startswith("torchvision:") and len(value) > 12)):
            return value
        raise InputError(f"unknown {kind} {value!r}; known: {', '.join(known)}{extra}")

    return check


def _device(name: str, value: Any) -> str:
    if isinstance(value, str) and (value in DEVICES or re.fullmatch(r"cuda:\d+", value)):
        return value
    raise InputError(f"unknown device {value!r}; choose auto, cpu, cuda, cuda:N or mps")




# ----------------------------------------------------------------------------------------------
# one training run
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSpec:
    """Every setting of one training run (see :func:`paretoprune.training.train_run`).

    The method (``--method``) decides what is trained; the default, the weighted sum, minimizes
    ``(1 - weight)·CE + weight·l1`` with ``l1 = l1_raw / l1_init`` (the l1 norm of the prunable
    weights relative to the dense, seeded initialization) and prunes weights below
    ``threshold`` after every step. ``options`` holds the method's own options (an object of
    its options class, e.g. :class:`paretoprune.methods.gmp.GmpOptions`; None: its defaults).
    Fields and their checks are listed with ``--help``; invalid values raise
    :class:`~paretoprune.errors.InputError` on construction.
    """

    method: str = setting(DEFAULT_METHOD, "Training method: " + ", ".join(method_names())
                          + " (see the README, 'Methods').", choice(*method_names()))
    model: str = setting(
        "mlp", "mlp, lenet5, lenet5-caffe, lenet-300-100, vgg-cifar, resnet20, resnet56, "
        "torchvision:NAME, or package.module:factory.",
        _named("model", MODEL_NAMES, ", torchvision:NAME or package.module:factory"),
        metavar="NAME")
    dataset: str = setting(
        "digits", "digits (bundled, offline), mnist, fashion-mnist, cifar10, cifar100, or "
        "package.module:factory.", _named("dataset", DATASET_NAMES, " or package.module:factory"),
        metavar="NAME")
    optimizer: str | None = setting(
        None, "sgd, adam or rmsprop for the gradient methods (default adam); smgd, madam or "
        "mrmsprop for --method smgd (default smgd).", optional(text), metavar="NAME")
    epochs: int = setting(20, "Training epochs.", integer(1))
    batch_size: int = setting(32, "Mini-batch size.", integer(1))
    lr: float | None = setting(
        None, "Learning rate [default: the method's: 4e-3 for the weighted sum's gradual recipe, "
        "chosen on validation in the benchmarks; 1e-3 otherwise].",
        optional(number(0, lo_open=True)))
    schedule: str = setting(
        "constant", "Learning-rate schedule: constant; cosine; sigmoid (the original work's: lr to 0.1·lr, "
        "centred at 75% of the epochs, width 0.075·epochs); inverse (per step: "
        "lr / (1 + (lr/epochs)·t), the original work's SMGD decay).", choice(*SCHEDULES))
    momentum: float = setting(0.9, "Momentum of sgd and smgd.", number(0, 1, hi_open=True))
    nesterov: bool = setting(False, "Nesterov momentum (sgd and smgd).", boolean)
    betas: tuple[float, float] = setting((0.9, 0.999), "Adam's betas (adam, madam).",
                                         pair(number(0, 1, hi_open=True)), cli=False)
    rho: float = setting(0.9, "Decay of rmsprop and mrmsprop.", number(0, 1, hi_open=True),
                         cli=False)
    eps: float = setting(1e-8, "Epsilon of the adaptive optimizers.", number(0), cli=False)
    weight_decay: float = setting(0.0, "L2 on the kernels that are not prunable.", number(0))
    threshold: float = setting(1e-3, "Weights with |w| below it are pruned (0: no pruning).",
                               number(0))
    prune: str = setting("dense", "Which weights are prunable and penalized: dense, conv or all.",
                         choice(*PRUNE_TARGETS))
    prune_every: int = setting(1, "Prune after every K optimizer steps.", integer(1))
    regrow: bool = setting(False, "Let pruned weights grow back (the original work's behaviour) instead of "
                           "persistent masks.", boolean)
    prune_bias: bool = setting(False, "Prune and penalize biases too.", boolean)
    fused: bool = setting(True, "Use PyTorch's fused optimizer kernels where available.", boolean,
                          cli=False)
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps.", _device)
    seed: int = setting(0, "Seed of the initial weights, batch order and data splits.",
                        integer(0))
    threads: int | None = setting(
        None, "torch CPU threads per run [default: 1 per run in a sweep, torch's choice in "
        "train]; 1 is fastest for small models.", optional(integer(1)), identity=False)
    val_fraction: float = setting(
        0.35, "Share of the training data held out for validation (selection reads it; 0: "
        "selection falls back to training metrics). 0.35 of digits is 471 images: enough to "
        "certify a drop of 2 points at 95 %.", number(0, 1, hi_open=True))
    val_split: str = setting(
        "train", "Where the validation data comes from: train (a seeded share of the training "
        "data) or test (a seeded half of the test set; the other half stays the test set).",
        choice(*VAL_SPLITS))
    data_dir: str | None = setting(
        None, "Folder of the torchvision datasets [default: $XDG_CACHE_HOME/paretoprune/data].",
        optional(text), identity=False, metavar="DIR")
    download: bool = setting(False, "Download a missing torchvision dataset.", boolean,
                             identity=False)
    max_train_samples: int | None = setting(
        None, "Train on a seeded random subset of this many samples.", optional(integer(1)))
    max_test_samples: int | None = setting(None, "Keep the first N test samples.",
                                           optional(integer(1)), cli=False)
    eval_batch_size: int = setting(1000, "Batch size of evaluation passes.", integer(1),
                                   cli=False, identity=False)
    options: MethodOptions | None = None

    def __post_init__(self) -> None:
        validate_fields(self)
        method = get_method(self.method)
        if self.options is None:
            object.__setattr__(self, "options", method.options())
        elif type(self.options) is not method.options:
            raise InputError(f"the options of --method {method.name} are a "
                             f"{method.options.__name__}, got {type(self.options).__name__}")
        if self.lr is None:
            object.__setattr__(self, "lr", method.default_lr(self))
        if self.nesterov and self.momentum == 0:
            # torch.optim.SGD and SMGD refuse it with a ValueError at run time
            raise InputError("--nesterov needs a --momentum above 0")
        if self.optimizer is None:
            object.__setattr__(self, "optimizer", method.optimizers[0])
        elif self.optimizer not in method.optimizers:
            owner = next((m.name for m in METHODS.values() if self.optimizer in m.optimizers),
                         None)
            hint = f" (it belongs to --method {owner})" if owner else ""
            raise InputError(
                f"unknown optimizer {self.optimizer!r} for --method {method.name}{hint}; "
                f"choose one of {', '.join(method.optimizers)}"
            )
        if method.check_spec is not None:
            method.check_spec(self)

    # -- what other layers ask ----------------------------------------------------------------

    @property
    def method_info(self) -> Method:
        """The :class:`~paretoprune.methods.Method` of :attr:`method`."""
        return get_method(self.method)

    def replace(self, **changes: Any) -> TrainSpec:
        """A copy with ``changes`` applied (checked like a new spec). The names of the method's
        options change :attr:`options` (``spec.replace(weight=0.3)``); a new ``method`` starts
        from its own options' defaults."""
        common = {k: v for k, v in changes.items() if k in _FIELDS}
        option_values = {k: v for k, v in changes.items() if k not in _FIELDS}
        method = get_method(common.get("method", self.method))
        if "options" in common:
            if option_values:
                raise InputError("give a method's options as options= or by name, not both")
        else:
            kept = self.options.to_dict() if method.name == self.method else {}
            common["options"] = _options(method, {**kept, **option_values})
        return dataclasses.replace(self, **common)

    def as_method(self, name: str, **changes: Any) -> TrainSpec:
        """A copy for ``--method name`` with its default options (plus ``changes``); an
        optimizer it does not accept becomes its default (e.g. the dense reference of a sweep,
        :func:`paretoprune.methods.weighted_sum.dense_reference`)."""
        keeps = "optimizer" in changes or self.optimizer in get_method(name).optimizers
        return self.replace(method=name, **({} if keeps else {"optimizer": None}), **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field, the options as a dict under ``options``;
        :meth:`from_dict` reads it back."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["betas"] = list(self.betas)
        data["options"] = self.options.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainSpec:
        """A spec from :meth:`to_dict` output, or from a dict of an older version: the flat
        layout of the previous one (see :meth:`from_flat`; its None meant "another method's
        option") or paretoprune 0.1's (no ``method``)."""
        if not isinstance(data, Mapping):
            raise InputError(f"training setting must be a mapping, got {type(data).__name__}")
        values = dict(data)
        nested = values.pop("options", None)
        if nested is None:
            if "method" not in values:
                values = _upgrade_train(values)
            values = get_method(values["method"]).options.from_older(values)
            owners = option_owners()
            return cls.from_flat({k: v for k, v in values.items()
                                  if not (k in owners and v is None)})
        if not isinstance(nested, Mapping):
            raise InputError(f"options must be a mapping, got {type(nested).__name__}")
        method = get_method(values.get("method", DEFAULT_METHOD))
        nested = method.options.from_older(dict(nested))
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown:
            raise InputError(f"unknown training setting {unknown[0]!r}; known: "
                             f"{', '.join(_FIELDS)}")
        return cls(**values, options=_options(method, nested))

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> TrainSpec:
        """A spec from the common settings and its method's options side by side, as the
        command line gives them (``{"method": "gmp", "epochs": 5, "gmp_scope": "layer"}``);
        an option of another method is one :class:`InputError` line saying whose it is."""
        if "options" in values:
            raise InputError("from_flat takes a method's options as flat values; give an "
                             "options object to TrainSpec(options=...) instead")
        common = {k: v for k, v in values.items() if k in _FIELDS}
        method = get_method(common.get("method", DEFAULT_METHOD))
        options = _options(method, {k: v for k, v in values.items() if k not in _FIELDS})
        return cls(**common, options=options)

    def identity(self) -> dict[str, Any]:
        """The settings that define which runs a sweep makes, as one flat dict (runtime
        settings left out; the method's options next to the common ones)."""
        settings = settings_of(self)
        ident = {n: v for n, v in self.to_dict().items() if n in settings and settings[n].identity}
        ident.update(self.options.identity())
        return ident

    def with_parameter(self, value: float) -> TrainSpec:
        """A copy whose method parameter (λ, ε, target sparsity, ...) is ``value``."""
        name = self.method_info.parameter
        if name is None:
            raise InputError(f"--method {self.method} has no parameter to set")
        return self.replace(**{name: value})


_FIELDS = tuple(f.name for f in fields(TrainSpec))


def _options(method: Method, values: Mapping[str, Any]) -> MethodOptions:
    """``method``'s options from ``{name: value}``; a name it does not take is one line that
    says whose option it is."""
    owners = option_owners()
    for name in values:
        if name not in method.options.names():
            if name in owners:
                raise InputError(f"{flag(name)} is an option of --method "
                                 f"{' or '.join(owners[name])}, not of --method {method.name}")
            known = [*_FIELDS, *method.options.names()]
            raise InputError(f"unknown training setting {name!r}; known: {', '.join(known)}")
    return method.options(**values)


def _upgrade_train(values: dict) -> dict:
    """Training settings written by paretoprune 0.1 (schema 1, no ``method``) in today's form:
    the method told by the optimizer, the options of the other methods dropped."""
    method = method_of_optimizer(values.get("optimizer"))
    values["method"] = method.name
    for name in option_owners():
        if name not in method.options.names():
            values.pop(name, None)
    values.setdefault("val_split", "train")
    return values


# ----------------------------------------------------------------------------------------------
# a sweep
# ----------------------------------------------------------------------------------------------


def _range(name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) != 2:
            raise InputError(f"{name} must look like LO:HI (for example 0:1), got {value!r}")
        value = parts
    lo, hi = pair(number())(name, value)
    if not lo < hi:
        raise InputError(f"{name} must satisfy LO < HI, got {lo:g}:{hi:g}")
    return lo, hi


@dataclass(frozen=True)
class SweepConfig:
    """A sweep: the training spec of its runs plus how the planner chooses their parameters.

    ``--budget`` counts the exploration runs (``role = trial``); the dense reference run
    (``role = dense``), the retrained selection (``final``) and its fine-tuning (``finetuned``)
    come on top.
    """

    train: TrainSpec = field(default_factory=TrainSpec)
    budget: int = setting(8, "Exploration runs (finished runs of a resumed sweep included; the "
                          "dense reference and the final retrain are extra).", integer(2),
                          identity=False)
    rule: str | None = setting(
        None, "How a gap is split: normal (dichotomic/NISE, the weighted sum's default), bound "
        "(bisection of the constrained objective, ε-constraint methods), midpoint (bisection "
        "of the parameter), grid and random (baselines).",
        optional(choice("normal", "bound", "midpoint", "grid", "random")))
    range: tuple[float, float] | None = setting(
        None, "Range of the method's parameter, LO:HI [default: the method's, 0:1 for λ].",
        optional(_range), metavar="LO:HI")
    tol: float = setting(1e-3, "A new point must improve its gap by this much (normalized) or "
                         "the gap closes.", number(0))
    warm_start: bool = setting(False, "Start each run from the weights of the nearest denser "
                               "finished run and train --warm-epochs.", boolean)
    warm_epochs: int = setting(5, "Epochs of a warm-started run.", integer(1))
    dense: bool = setting(True, "Train a dense reference run (no pruning, λ = 0) that every "
                          "accuracy drop is measured against.", boolean)
    max_drop: float | None = setting(
        None, "Spend the budget on the question: the sparsest network whose --metric is within "
        "D of the dense reference (0.01 = one point).", optional(number(0, 1, hi_open=True)),
        metavar="D")
    confidence: float = setting(
        0.95, "Confidence C of the answer: a network is within --max-drop D when the upper "
        "bound of its paired drop at C is at most D (0: today's point rule, drop <= D).",
        number(0, 1, hi_open=True), identity=False, metavar="C")
    metric: str | None = setting(
        None, "Column that selection reads [default: val_acc, or train_acc without a "
        "validation split]; the test set only reports.", optional(text), metavar="COL")
    trial_epochs: int | None = setting(
        None, "Epochs of each exploration run; the selected parameter is then retrained for "
        "--epochs (role final).", optional(integer(1)), metavar="N")
    retrain: str = setting(
        "warm", "How the selected trial becomes the network that ships when trials train "
        "--trial-epochs: warm (it trains on from its own weights, masks fixed, cross-entropy "
        "only, for --epochs minus --trial-epochs: the network the search chose, trained as "
        "long as the dense reference it is judged against) or cold (its parameter trained "
        "again from scratch for --epochs, the earlier behaviour; its sparsity and accuracy "
        "may differ from the trial's).", choice("warm", "cold"), identity=False)
    finetune_epochs: int = setting(
        0, "Train the selected network on for N epochs with its masks fixed and λ = 0 (role "
        "finetuned; a departure from the no-fine-tuning approach).", integer(0), identity=False,
        metavar="N")
    knee: str = setting("distance", "Knee method of the summary when there is no --max-drop.",
                        choice(*KNEE_METHODS), identity=False)
    workers: int = setting(1, "Runs in parallel; a free worker gets the next parameter at once.",
                           integer(1), identity=False)
    executor: str = setting("auto", "auto (serial for one worker, local processes for more), "
                            "serial, process or ray.", choice(*EXECUTORS), identity=False)
    ray_address: str | None = setting(None, "Address of an existing Ray cluster [default: "
                                      "start a local one].", optional(text), identity=False)
    gpus_per_run: float = setting(0.0, "GPUs per Ray task.", number(0), identity=False)
    cpus_per_run: float = setting(1.0, "CPUs per Ray task.", number(0, lo_open=True),
                                  identity=False)

    def __post_init__(self) -> None:
        if not isinstance(self.train, TrainSpec):
            raise InputError("train must be a TrainSpec")
        validate_fields(self)
        method = self.method
        if method.parameter is None:
            raise InputError(f"--method {method.name} chooses its own trade-off in one run; use "
                             "paretoprune train")
        if method.check_sweep is not None:
            method.check_sweep(self.train)
        rule = self.rule or method.rules[0]
        if rule not in method.rules:
            raise InputError(
                f"--rule {rule} does not apply to --method {method.name}; choose one of "
                f"{', '.join(method.rules)}"
            )
        lo, hi = self.range or method.range
        mlo, mhi = method.range
        if not (mlo <= lo < hi <= mhi):
            raise InputError(
                f"--range must lie within {mlo:g}:{mhi:g} for --method {method.name}, got "
                f"{lo:g}:{hi:g}"
            )
        object.__setattr__(self, "rule", rule)
        object.__setattr__(self, "range", (lo, hi))
        if self.trial_epochs is not None and self.trial_epochs > self.train.epochs:
            raise InputError(
                f"--trial-epochs ({self.trial_epochs}) must not exceed --epochs "
                f"({self.train.epochs})"
            )

    @property
    def method(self) -> Method:
        return self.train.method_info

    @property
    def executor_name(self) -> str:
        """``serial``, ``process`` or ``ray`` (``auto`` resolved)."""
        if self.executor == "auto":
            return "process" if self.workers > 1 else "serial"
        return self.executor

    @property
    def run_threads(self) -> int:
        """torch threads of each run: ``--threads``, else 1 (measured fastest for the small
        models a laptop sweeps; see the README)."""
        return self.train.threads or 1

    def replace(self, **changes: Any) -> SweepConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["train"] = self.train.to_dict()
        data["range"] = list(self.range)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> SweepConfig:
        """A config from :meth:`to_dict` output (or the config of an older sweep)."""
        if not isinstance(data, Mapping):
            raise InputError(f"a sweep config must be a mapping, got {type(data).__name__}")
        values = dict(data)
        if "weights" in values:  # paretoprune 0.1
            values["range"] = values.pop("weights")
        values.pop("min_gap", None)
        values["train"] = TrainSpec.from_dict(values.get("train") or {})
        if values.get("range") is not None:
            values["range"] = tuple(values["range"])
        return from_mapping(cls, values, "sweep setting")

    def identity(self) -> dict[str, Any]:
        """What defines the sweep, as one flat dict: the runs' training identity plus the
        planner's settings. A resumed sweep must match it; the rest may change."""
        ident = self.train.identity()
        ident.pop(self.method.parameter, None)  # the sweep sets it for each run
        for name, s in settings_of(self).items():
            if s.identity:
                value = getattr(self, name)
                ident[name] = list(value) if isinstance(value, tuple) else value
        return ident

    def selection_metric(self) -> str:
        """The column selection reads: ``--metric``, else ``val_acc`` with a validation split,
        else ``train_acc``."""
        if self.metric:
            return self.metric
        return "val_acc" if self.train.val_fraction > 0 or self.train.val_split == "test" \
            else "train_acc"
