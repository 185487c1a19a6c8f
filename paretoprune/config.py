"""One typed configuration: every training and sweep setting, its default, type and range.

:class:`TrainSpec` describes one training run, :class:`SweepConfig` a sweep of them. Both are
frozen dataclasses checked once, when they are made; the command line's options are generated
from their fields (:mod:`paretoprune.cli.options`), a sweep stores them in ``sweep.json`` and
reads them back through the same constructors, and the worker that trains receives the object
itself. So each default is written once, each range is checked once, and a bad value is one
:class:`~paretoprune.errors.InputError` line before anything runs -- without importing torch
(this module imports neither torch nor pandas).

Each field carries a :class:`Setting` in its metadata: help text, the check that converts and
validates the value, whether it is a command-line option, whether it is part of a sweep's
identity (a resumed sweep must match it) and, for method-specific options, which methods take
it. A method-specific option is None unless its method is chosen; then None means "the
documented default" (:attr:`Setting.default`). Giving it to another method is an error.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from paretoprune.errors import InputError
from paretoprune.methods import Method, get_method, method_names

__all__ = [
    "DATASET_NAMES",
    "DEVICES",
    "EXECUTORS",
    "KNEE_METHODS",
    "MODEL_NAMES",
    "SCHEDULES",
    "Setting",
    "SweepConfig",
    "TrainSpec",
    "default_of",
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


# ----------------------------------------------------------------------------------------------
# checks: each takes (name, value), returns the normalized value or raises one InputError line
# ----------------------------------------------------------------------------------------------

Check = Callable[[str, Any], Any]


def _bad(name: str, what: str, value: Any) -> InputError:
    return InputError(f"{name} must be {what}, got {value!r}")


def integer(lo: int | None = None) -> Check:
    """An integer (``3`` or ``3.0``, not ``True``), at least ``lo``."""
    what = "an integer" + (f" >= {lo}" if lo is not None else "")

    def check(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise _bad(name, what, value)
        try:
            as_float = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _bad(name, what, value) from None
        if not (math.isfinite(as_float) and as_float.is_integer()):
            raise _bad(name, what, value)
        out = int(as_float)
        if lo is not None and out < lo:
            raise _bad(name, what, value)
        return out

    return check


def number(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> Check:
    """A finite float in the interval given (``lo_open``/``hi_open``: the end is excluded)."""
    if lo is not None and hi is not None:
        what = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    elif lo is not None:
        what = f"a number {'>' if lo_open else '>='} {lo:g}"
    else:
        what = "a finite number"

    def check(name: str, value: Any) -> float:
        if isinstance(value, bool):
            raise _bad(name, what, value)
        try:
            out = float(value)
        except (TypeError, ValueError, OverflowError):
            raise _bad(name, what, value) from None
        if not math.isfinite(out):
            raise _bad(name, what, value)
        if lo is not None and (out < lo or (lo_open and out == lo)):
            raise _bad(name, what, value)
        if hi is not None and (out > hi or (hi_open and out == hi)):
            raise _bad(name, what, value)
        return out

    return check


def choice(*values: str) -> Check:
    """One of ``values``."""

    def check(name: str, value: Any) -> str:
        if value not in values:
            raise InputError(f"{name} must be one of {', '.join(values)}, got {value!r}")
        return value

    check.choices = values  # type: ignore[attr-defined]  # for --help
    return check


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _bad(name, "true or false", value)
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(name, "a non-empty text", value)
    return value


def optional(inner: Check) -> Check:
    """None, or a value that passes ``inner``."""

    def check(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    check.choices = getattr(inner, "choices", None)  # type: ignore[attr-defined]
    return check


def pair(inner: Check) -> Check:
    """Two values that each pass ``inner`` (a tuple)."""

    def check(name: str, value: Any) -> tuple:
        if isinstance(value, str) or not isinstance(value, (tuple, list)) or len(value) != 2:
            raise _bad(name, "two numbers", value)
        return (inner(name, value[0]), inner(name, value[1]))

    return check


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
# settings
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """What paretoprune knows about one configuration field (the field's metadata)."""

    help: str
    check: Check
    cli: bool = True  # a command-line option (``--name-with-dashes``)
    identity: bool = True  # part of what a sweep is: a resumed sweep must have the same value
    methods: tuple[str, ...] | None = None  # only these methods take it (None: every method)
    default: Any = None  # the default of a method-specific option (its field default is None)
    metavar: str | None = None

    @property
    def choices(self) -> tuple[str, ...] | None:
        return getattr(self.check, "choices", None)


def setting(default: Any, help: str, check: Check, **kwargs: Any):
    """A dataclass field with its :class:`Setting`. For a method-specific option pass
    ``methods=(...)`` and ``default=``: the field itself then defaults to None."""
    if kwargs.get("methods") is not None:
        kwargs.setdefault("default", default)
        default = None
    return field(default=default, metadata={"setting": Setting(help, check, **kwargs)})


def settings_of(cls_or_obj) -> dict[str, Setting]:
    """``{field name: Setting}`` of a configuration class (fields without one are skipped)."""
    return {f.name: f.metadata["setting"] for f in fields(cls_or_obj) if "setting" in f.metadata}


def default_of(cls, name: str) -> Any:
    """The default of field ``name`` of a configuration class (for other layers' signatures,
    so that each default is written once, here)."""
    f = cls.__dataclass_fields__[name]
    setting = f.metadata.get("setting")
    if setting is not None and setting.methods is not None:
        return setting.default
    return f.default


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _validate(obj, method: Method | None) -> None:
    """Run every field's check (normalizing the stored value); fill in or refuse
    method-specific options. Called from ``__post_init__`` of the frozen dataclasses."""
    for name, s in settings_of(obj).items():
        value = getattr(obj, name)
        if s.methods is not None and method is not None:
            if method.name not in s.methods:
                if value is not None:
                    raise InputError(
                        f"{_flag(name)} is an option of --method {' or '.join(s.methods)}, "
                        f"not of --method {method.name}"
                    )
                continue
            if value is None:
                value = s.default
        object.__setattr__(obj, name, s.check(_flag(name) if s.cli else name, value))


def _from_mapping(cls, data: Mapping, what: str):
    if not isinstance(data, Mapping):
        raise InputError(f"{what} must be a mapping, got {type(data).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"unknown {what} {unknown[0]!r}; known: {', '.join(known)}")
    return cls(**data)


# ----------------------------------------------------------------------------------------------
# one training run
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSpec:
    """Every setting of one training run (see :func:`paretoprune.training.train_run`).

    The method (``--method``) decides what is trained; the default, the weighted sum, minimizes
    ``(1 - weight)·CE + weight·l1`` with ``l1 = l1_raw / l1_init`` (the l1 norm of the prunable
    weights relative to the dense, seeded initialization) and prunes weights below
    ``threshold`` after every step. Fields and their checks are listed with ``--help``; invalid
    values raise :class:`~paretoprune.errors.InputError` on construction.
    """

    method: str = setting("weighted-sum", "Training method: " + ", ".join(method_names())
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
    lr: float = setting(1e-3, "Learning rate.", number(0, lo_open=True))
    schedule: str = setting(
        "constant", "Learning-rate schedule: constant; cosine; sigmoid (the seed's: lr to 0.1·lr, "
        "centred at 75% of the epochs, width 0.075·epochs); inverse (per step: "
        "lr / (1 + (lr/epochs)·t), the seed's SMGD decay).", choice(*SCHEDULES))
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
    regrow: bool = setting(False, "Let pruned weights grow back (the seed's behaviour) instead of "
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

    # -- weighted sum and smgd ------------------------------------------------------------------
    weight: float | None = setting(
        0.5, "λ in [0, 1]: minimize (1-λ)·CE + λ·l1 (smgd: only with --fixed-weights).",
        number(0, 1), methods=("weighted-sum", "smgd"))
    fixed_weights: bool | None = setting(
        False, "smgd: combine the two gradients with (1-λ, λ) instead of the min-norm weights.",
        boolean, methods=("smgd",))
    mo_l1_scale: str | None = setting(
        "raw", "smgd: the l1 gradient it balances, sign(w) (raw, the seed's) or sign(w)/l1_init "
        "(init, the weighted sum's scale).", choice("raw", "init"), methods=("smgd",))

    # -- epsilon and gmp ------------------------------------------------------------------------
    epsilon: float | None = setting(
        None, "ε > 0: the l1 budget l1 <= ε·l1_init, kept by projecting the prunable weights onto "
        "the l1 ball after every step (without it: the exact --target-sparsity).",
        optional(number(0, lo_open=True)), methods=("epsilon",))
    target_sparsity: float | None = setting(
        0.9, "S in [0, 1): the share of prunable weights that is zero at the end, exactly (the "
        "largest weights are kept; epsilon: only without --epsilon).",
        number(0, 1, hi_open=True), methods=("epsilon", "gmp"))
    ramp_start: float | None = setting(
        0.1, "Share of the training steps before the budget starts to tighten.", number(0, 1),
        methods=("epsilon", "gmp"))
    ramp_end: float | None = setting(
        0.7, "Share of the training steps at which the budget reaches its target, along the "
        "cubic schedule s_t = S·(1-(1-p)^3) (--ramp-start 0 --ramp-end 0: from the first step).",
        number(0, 1), methods=("epsilon", "gmp"))
    ramp_every: int | None = setting(
        10, "Raise the sparsity every K steps (the l1 radius shrinks every step).", integer(1),
        methods=("epsilon", "gmp"))
    gmp_scope: str | None = setting(
        "global", "gmp: mask the smallest weights of all prunable tensors together (global) or "
        "the same share of every tensor (layer, Zhu & Gupta's).", choice("global", "layer"),
        methods=("gmp",))

    # -- gates (a reconstruction from the abstract of Guenter & Sideris 2024, hard-concrete
    #    gates of Louizos et al. 2018: paretoprune/training/gates.py) -------------------------
    complexity_weight: float | None = setting(
        0.5, "w in [0, 1]: minimize (1-w)·CE + w·complexity, the expected cost of the network "
        "under hard-concrete gates on its units, filters and residual blocks (gates: a "
        "reconstruction from the abstract of Guenter & Sideris 2024 with the gates of Louizos "
        "et al. 2018).", number(0, 1), methods=("gates",))
    flops_share: float | None = setting(
        0.5, "φ in [0, 1]: complexity = φ·FLOPs/FLOPs_dense + (1-φ)·params/params_dense (1: "
        "FLOPs only, 0: parameters only).", number(0, 1), methods=("gates",))
    layer_share: float | None = setting(
        0.5, "ρ in [0, 1]: layer (residual block) against unit pruning; the complexity gradient "
        "reaches block gates scaled by min(1, 2ρ), unit and filter gates by min(1, 2(1-ρ)) "
        "(0: units only, 1: blocks only).", number(0, 1), methods=("gates",))
    gate_lr: float | None = setting(
        0.02, "Adam learning rate of the gates' log α (following --schedule).",
        number(0, lo_open=True), methods=("gates",))
    gate_threshold: float | None = setting(
        0.05, "A gate whose P(z != 0) falls below it is closed for good (its structure is "
        "removed).", number(0, 1, lo_open=True, hi_open=True), methods=("gates",))
    gate_freeze: float | None = setting(
        0.2, "Share of the training steps, at the end, with the gates fixed at their test-time "
        "values: the structure is final and the weights train on the cross-entropy alone.",
        number(0, 1, hi_open=True), methods=("gates",))

    # -- relevance (a reconstruction from the abstract of Bonetta et al. 2022 in the form of
    #    LOBSTER, Tartaglione et al. 2020: paretoprune/training/relevance.py) ------------------
    decay: float | None = setting(
        3.0, "λ >= 0 of the selective decay w <- w - lr·λ·w·max(0, 1 - |∂L/∂w|/s) after each "
        "step, s the running mean of |∂L/∂w| (relevance: a reconstruction from the abstract of "
        "Bonetta et al. 2022 and LOBSTER, not the authors' code).", number(0),
        methods=("relevance",))
    tolerance: float | None = setting(
        0.1, "A pruning step zeroes the weights below the largest magnitude threshold (found by "
        "bisection) that worsens the validation loss by at most this share, in [0, 1).",
        number(0, 1, hi_open=True), methods=("relevance",))
    plateau: int | None = setting(
        2, "Prune when the validation loss has not improved for N epochs (and after the last "
        "epoch).", integer(1), methods=("relevance",), metavar="N")

    # -- pso (a reconstruction from the abstract of Adam, Magoulas & Vrahatis 2012 with standard
    #    cooperative and binary PSO: paretoprune/training/pso.py) -----------------------------
    zero_norm_weight: float | None = setting(
        0.2, "λ in [0, 1]: two particle swarms minimize (1-λ)·CE + λ·‖m‖0/P, the share of "
        "connections kept (pso: MLPs only, gradient-free; a reconstruction from the abstract of "
        "Adam, Magoulas & Vrahatis 2012 and standard cooperative / binary PSO, not the authors' "
        "code).", number(0, 1), methods=("pso",))
    swarm_size: int | None = setting(
        10, "Particles in each of the two swarms (weights; connection and node bits).",
        integer(2), methods=("pso",), metavar="N")
    swarm_iterations: int | None = setting(
        100, "Iterations of both swarms per epoch (--epochs of them).", integer(1),
        methods=("pso",), metavar="N")
    inertia: float | None = setting(
        0.729, "Inertia of the weight swarm's velocities (constriction).", number(0, 1),
        methods=("pso",))
    bit_inertia: float | None = setting(
        1.0, "Inertia of the bit swarm's velocities (1: Kennedy & Eberhart's binary PSO; below 1 "
        "a settled bit drifts back to a coin flip).", number(0, 1), methods=("pso",))
    cognitive: float | None = setting(
        1.494, "c1: pull towards each particle's own best.", number(0), methods=("pso",))
    social: float | None = setting(
        1.494, "c2: pull towards the swarm's best.", number(0), methods=("pso",))
    fitness_samples: int | None = setting(
        512, "Score particles on a fixed seeded subset of this many training samples (0: all).",
        integer(0), methods=("pso",), metavar="N")

    def __post_init__(self) -> None:
        method = get_method(self.method)
        _validate(self, method)
        if self.nesterov and self.momentum == 0:
            # torch.optim.SGD and SMGD refuse it with a ValueError at run time
            raise InputError("--nesterov needs a --momentum above 0")
        if method.name in ("epsilon", "gmp"):
            _check_budget(self, method.name)
        if self.optimizer is None:
            object.__setattr__(self, "optimizer", method.optimizers[0])
        elif self.optimizer not in method.optimizers:
            owner = next((m.name for m in _all_methods() if self.optimizer in m.optimizers), None)
            hint = f" (it belongs to --method {owner})" if owner else ""
            raise InputError(
                f"unknown optimizer {self.optimizer!r} for --method {method.name}{hint}; "
                f"choose one of {', '.join(method.optimizers)}"
            )

    # -- what other layers ask ----------------------------------------------------------------

    @property
    def method_info(self) -> Method:
        """The :class:`~paretoprune.methods.Method` entry of :attr:`method`."""
        return get_method(self.method)

    def replace(self, **changes: Any) -> TrainSpec:
        """A copy with ``changes`` applied (checked like a new spec)."""
        return dataclasses.replace(self, **changes)

    def as_method(self, name: str, **changes: Any) -> TrainSpec:
        """A copy for ``--method name``: the options of the current method that ``name`` does
        not take are dropped, an optimizer it does not accept becomes its default (e.g. the
        dense reference of any sweep is ``spec.as_method("weighted-sum", weight=0,
        threshold=0)``)."""
        method = get_method(name)
        values: dict[str, Any] = {"method": name}
        for field_name, s in settings_of(self).items():
            if s.methods is not None and name not in s.methods:
                values[field_name] = None
        if self.optimizer not in method.optimizers:
            values["optimizer"] = None
        values.update(changes)
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field; :meth:`from_dict` reads it back."""
        data = dataclasses.asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainSpec:
        """A spec from :meth:`to_dict` output (or the ``train`` dict of an older sweep)."""
        values = dict(data) if isinstance(data, Mapping) else data
        if isinstance(values, dict):
            values = _upgrade_train(values)
        return _from_mapping(cls, values, "training setting")

    def identity(self) -> dict[str, Any]:
        """The fields that define which runs a sweep makes (runtime settings left out)."""
        settings = settings_of(self)
        return {n: v for n, v in self.to_dict().items() if settings[n].identity}

    def with_parameter(self, value: float) -> TrainSpec:
        """A copy whose method parameter (λ, ε, target sparsity, ...) is ``value``."""
        name = self.method_info.parameter
        if name is None:
            raise InputError(f"--method {self.method} has no parameter to set")
        return self.replace(**{name: value})


def _all_methods():
    from paretoprune.methods import METHODS

    return METHODS.values()


def _check_budget(spec: TrainSpec, method: str) -> None:
    """What ``--method epsilon`` and ``gmp`` need beyond their fields' checks."""
    if method == "gmp" and spec.regrow:
        raise InputError("--method gmp keeps its masks for good; --regrow does not apply")
    if spec.ramp_end < spec.ramp_start:
        raise InputError(f"--ramp-end ({spec.ramp_end:g}) must not come before --ramp-start "
                         f"({spec.ramp_start:g})")


def _upgrade_train(values: dict) -> dict:
    """Training settings written by paretoprune 0.1 (schema 1) in today's form."""
    values = dict(values)
    if "method" not in values:
        if values.get("optimizer") in ("smgd", "madam", "mrmsprop"):
            values["method"] = "smgd"
        else:
            values["method"] = "weighted-sum"
            values.pop("fixed_weights", None)
            values.pop("mo_l1_scale", None)
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
        _validate(self, None)
        method = self.method
        if method.parameter is None or (method.name == "smgd" and not self.train.fixed_weights):
            raise InputError(
                f"--method {method.name} chooses its own trade-off in one run; use paretoprune "
                "train (or --fixed-weights to sweep λ)"
            )
        rule = self.rule or method.rules[0]
        if rule not in method.rules:
            raise InputError(
                f"rule {rule!r} does not apply to --method {method.name}; choose one of "
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
        return _from_mapping(cls, values, "sweep setting")

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
