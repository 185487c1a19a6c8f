"""``TrainSpec``: every setting of a training run, validated in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from paretoprune.errors import InputError

WEIGHTED_SUM_OPTIMIZERS = ("sgd", "adam", "rmsprop")
MULTI_OBJECTIVE_OPTIMIZERS = ("smgd", "madam", "mrmsprop")
OPTIMIZERS = WEIGHTED_SUM_OPTIMIZERS + MULTI_OBJECTIVE_OPTIMIZERS
DEVICES = ("auto", "cpu", "cuda", "mps")
MO_L1_SCALES = ("init", "raw")


def check_weight(weight) -> float:
    """The scalarization weight as a float in [0, 1] (an :class:`InputError` otherwise)."""
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise InputError(f"weight must be a number in [0, 1], got {weight!r}") from None
    if not (0.0 <= value <= 1.0):  # also rejects NaN
        raise InputError(f"weight must be in [0, 1], got {weight}")
    return value


def _as_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool):
        raise InputError(f"{name} must be an integer, got {value!r}")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be an integer, got {value!r}") from None
    if not as_float.is_integer():
        raise InputError(f"{name} must be an integer, got {value!r}")
    if as_float < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {int(as_float)}")
    return int(as_float)


def _as_float(name: str, value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(f"{name} must be finite, got {value!r}")
    return out


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


@dataclass
class TrainSpec:
    """Settings of a training run (see :func:`paretoprune.training.train_run`).

    Weighted-sum runs (``optimizer`` sgd, adam or rmsprop) minimize ``(1-w) * CE + w * l1``
    with ``l1 = l1_raw / l1_init`` (the l1 norm of the prunable weights relative to the dense,
    seeded initialization). Multiobjective runs (smgd, madam, mrmsprop) follow the min-norm
    common descent direction and ignore the weight, unless ``fixed_weights`` is true: then they
    combine the two objectives with fixed weights ``(1-w, w)``.

    Fields:

    * ``model``, ``dataset`` -- names (see :mod:`.models` and :mod:`.datasets`);
    * ``optimizer`` -- sgd (with ``momentum``), adam, rmsprop (alpha ``rho``), smgd (with
      ``momentum``), madam, mrmsprop;
    * ``epochs``, ``batch_size``, ``lr``, ``schedule`` (constant, cosine, sigmoid; per epoch);
      ``betas``, ``eps`` (adam, madam), ``rho`` (the decay of rmsprop and mrmsprop, 0.9 as in
      Keras and the seed);
    * ``threshold`` -- weights with ``|w| < threshold`` are pruned after every ``prune_every``
      optimizer steps, at the end of every epoch and once before training (0 disables pruning);
    * ``prune`` -- dense, conv or all; ``prune_bias`` -- prune (and penalize) biases too;
    * ``regrow`` -- False: persistent masks (pruned weights stay zero, their optimizer state is
      zeroed); True: the seed's behaviour (no masks, re-zeroed while still small);
    * ``weight_decay`` -- L2 on the kernels that are not prunable (the seed: 1e-4 in Keras,
      i.e. 2e-4 here, on conv kernels);
    * ``mo_l1_scale`` -- the l1 gradient the multiobjective optimizers see: ``raw`` (default)
      ``sign(w)``, the seed's unnormalized l1; ``init`` ``sign(w) / l1_init``, the scale of the
      metrics and the weighted sum. The min-norm weights depend on this scale: with ``raw`` the
      l1 gradient is much longer than the loss gradient and (c1, c2) leans to the loss (c2 ~
      1e-4: a dense-end point with some pruning), with ``init`` it leans to l1 (on lenet5,
      MAdam then prunes every weight). ``raw`` is the default because it is the published
      setting and gives a usable network;
    * ``fused`` -- use PyTorch's fused Adam/SGD kernels (and MAdam's fused path) where the
      device supports them (same update, fewer passes over memory; on the CPU they also avoid a
      slow ``sqrt(0)`` path that pruned, zeroed Adam state otherwise hits);
    * ``device`` -- auto (cuda, else mps, else cpu), cpu, cuda, cuda:N or mps;
    * ``seed`` -- initial weights, batch order, dropout and the data subsets;
    * ``val_fraction``, ``data_dir`` (None: ``$XDG_CACHE_HOME/paretoprune/data``), ``download``,
      ``max_train_samples``, ``max_test_samples`` (subsets, handy for quick runs);
    * ``eval_batch_size`` -- batch size of the evaluation passes.

    Invalid settings raise :class:`~paretoprune.errors.InputError` on construction.
    """

    model: str = "mlp"
    dataset: str = "digits"
    optimizer: str = "adam"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    threshold: float = 1e-3
    prune: str = "dense"
    prune_every: int = 1
    regrow: bool = False
    prune_bias: bool = False
    schedule: str = "constant"
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    rho: float = 0.9
    eps: float = 1e-8
    weight_decay: float = 0.0
    fixed_weights: bool = False
    mo_l1_scale: str = "raw"
    fused: bool = True
    device: str = "auto"
    seed: int = 0
    val_fraction: float = 0.0
    data_dir: str | None = None
    download: bool = False
    max_train_samples: int | None = None
    max_test_samples: int | None = None
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TrainSpec:
        """Check (and normalize the types of) every field; return self."""
        from paretoprune.training.datasets import check_dataset_name
        from paretoprune.training.models import check_model_name
        from paretoprune.training.pruning import PRUNE_CHOICES
        from paretoprune.training.schedules import SCHEDULES

        if not isinstance(self.model, str) or not self.model:
            raise InputError(f"model must be a name, got {self.model!r}")
        check_model_name(self.model)
        if not isinstance(self.dataset, str) or not self.dataset:
            raise InputError(f"dataset must be a name, got {self.dataset!r}")
        check_dataset_name(self.dataset)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.epochs = _as_int("epochs", self.epochs, 1)
        self.batch_size = _as_int("batch size", self.batch_size, 1)
        self.lr = _as_float("learning rate", self.lr)
        if self.lr <= 0:
            raise InputError(f"learning rate must be positive, got {self.lr}")
        self.threshold = _as_float("threshold", self.threshold)
        if self.threshold < 0:
            raise InputError(f"threshold must be non-negative, got {self.threshold}")
        _choice("prune target", self.prune, PRUNE_CHOICES)
        self.prune_every = _as_int("prune_every", self.prune_every, 1)
        _choice("schedule", self.schedule, SCHEDULES)
        self.momentum = _as_float("momentum", self.momentum)
        if not 0.0 <= self.momentum < 1.0:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise InputError(f"betas must be two numbers, got {self.betas!r}")
        self.betas = (_as_float("beta1", self.betas[0]), _as_float("beta2", self.betas[1]))
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise InputError(f"betas must be in [0, 1), got {self.betas}")
        self.rho = _as_float("rho", self.rho)
        if not 0.0 <= self.rho < 1.0:
            raise InputError(f"rho must be in [0, 1), got {self.rho}")
        self.eps = _as_float("eps", self.eps)
        if self.eps < 0:
            raise InputError(f"eps must be non-negative, got {self.eps}")
        self.weight_decay = _as_float("weight decay", self.weight_decay)
        if self.weight_decay < 0:
            raise InputError(f"weight decay must be non-negative, got {self.weight_decay}")
        _choice("mo_l1_scale", self.mo_l1_scale, MO_L1_SCALES)
        for flag in ("regrow", "prune_bias", "fixed_weights", "fused", "download"):
            if not isinstance(getattr(self, flag), bool):
                raise InputError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if not isinstance(self.device, str) or not (
            self.device in DEVICES or (self.device.startswith("cuda:")
                                       and self.device[5:].isdigit())):
            raise InputError(f"unknown device {self.device!r}; choose auto, cpu, cuda, cuda:N or mps")
        self.seed = _as_int("seed", self.seed, 0)
        self.val_fraction = _as_float("val_fraction", self.val_fraction)
        if not 0.0 <= self.val_fraction < 1.0:
            raise InputError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.data_dir is not None:
            self.data_dir = str(self.data_dir)
        for name in ("max_train_samples", "max_test_samples"):
            if getattr(self, name) is not None:
                setattr(self, name, _as_int(name, getattr(self, name), 1))
        self.eval_batch_size = _as_int("eval batch size", self.eval_batch_size, 1)
        return self

    @property
    def multiobjective(self) -> bool:
        """True for smgd, madam and mrmsprop."""
        return self.optimizer in MULTI_OBJECTIVE_OPTIMIZERS

    def to_dict(self) -> dict:
        """A JSON-able dict of every field (round-trips through :meth:`from_dict`)."""
        data = asdict(self)
        data["betas"] = list(self.betas)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> TrainSpec:
        """Build (and validate) a spec from a dict; unknown keys raise :class:`InputError`."""
        if not isinstance(data, Mapping):
            raise InputError(f"training settings must be a mapping, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InputError(f"unknown training setting {unknown[0]!r}; known: {', '.join(known)}")
        values = dict(data)
        if "betas" in values and isinstance(values["betas"], list):
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    def evaluate(self, weight: float) -> dict:
        """Train one run with ``weight`` and return its flat metrics plus the private keys
        ``_state`` (weights and masks, CPU tensors) and ``_history`` (per-epoch records).

        Picklable (a bound method of a dataclass), so it runs in worker processes and Ray tasks.
        Multiobjective optimizers ignore ``weight`` unless ``fixed_weights`` is set.
        """
        from paretoprune.training.loop import train_run

        result = train_run(self, weight)
        out = dict(result.metrics)
        out["_state"] = result.state
        out["_history"] = result.history
        return out

    __call__ = evaluate
