"""What a training method is made of: its description (:class:`Method`), its options
(:class:`MethodOptions`) and the typed interface of the training code it names (:class:`Runner`,
:class:`Preflight`). No torch: the runner and preflight are named by import path and imported only
in the process that trains (``tests/test_methods.py`` imports each one and checks it against the
protocol here).

How the planner treats a method's parameter (:attr:`Method.scalarization`):

* ``"weighted-sum"`` -- the parameter is a weight w in [0, 1] of ``(1 - w)·x + w·y``; the normal
  rule (dichotomic search) applies, and a gap closes when a new point is not below its segment.
* ``"constraint"`` -- the parameter fixes a bound on the second objective ``y`` (an ε-constraint:
  minimize ``x`` subject to ``y <= bound``); the planner bisects a gap in ``y`` and turns the bound
  into the parameter with :meth:`Method.parameter_for_bound`. Reaches non-convex fronts.
* ``"parameter"`` -- the parameter has no known geometric meaning: gaps are bisected in parameter
  space (the ``midpoint`` rule).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Protocol

from paretoprune.settings import from_mapping, settings_of, validate_fields

__all__ = ["SCALARIZATIONS", "Method", "MethodOptions", "Preflight", "Runner"]

SCALARIZATIONS = ("weighted-sum", "constraint", "parameter")

# The training layer's types are named in words, not imported: this layer stays below it.
# ``spec`` is a paretoprune.config.TrainSpec, a runner returns a paretoprune.training.RunResult.


class Runner(Protocol):
    """Trains one run of ``spec`` (its method's options in ``spec.options``) and returns a
    ``RunResult``: ``init_state`` starts from a previous run's weights and masks, ``epochs``
    overrides ``spec.epochs``, ``on_epoch(record)`` receives each history record."""

    def __call__(self, spec: Any, *, init_state: dict | None = None, epochs: int | None = None,
                 on_epoch: Callable[[dict], None] | None = None) -> Any: ...


class Preflight(Protocol):
    """Called before a sweep writes anything, after the model is built: bad input only this
    method refuses (a model it cannot train) raises its one-line :class:`InputError` here."""

    def __call__(self, spec: Any, model: Any, data: Any) -> None: ...


@dataclass(frozen=True)
class MethodOptions:
    """Base of a method's options: a frozen dataclass whose fields are made with
    :func:`paretoprune.settings.setting` (default, help, check). A field is a ``--flag`` of
    ``train`` and ``sweep``, shown in the method's group of ``--help``, stored in ``sweep.json``
    and part of a sweep's identity. Each field is checked once, when the object is made."""

    def __post_init__(self) -> None:
        validate_fields(self)
        self.check()

    def check(self) -> None:
        """Checks across the fields (one :class:`InputError` line); none by default."""

    def to_dict(self) -> dict[str, Any]:
        """``{field: value}`` (JSON-able); :meth:`from_dict` reads it back."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MethodOptions:
        return from_mapping(cls, data, f"option of {cls.__name__}")

    def identity(self) -> dict[str, Any]:
        """The fields that define which runs a sweep makes (part of its fingerprint)."""
        settings = settings_of(self)
        return {n: v for n, v in self.to_dict().items() if settings[n].identity}

    @classmethod
    def from_older(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Options (among other settings) stored before one of the fields existed, in today's
        form; unchanged by default. A field whose absence meant another behaviour than its
        default fills that value in here."""
        return values

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The field names (the option names, with underscores)."""
        return tuple(f.name for f in fields(cls))


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Method:
    """What the rest of paretoprune needs to know about a training method.

    Attributes:
        name: the ``--method`` name.
        summary: one line for ``--help`` and the README.
        options: its options class (a :class:`MethodOptions`); a spec carries an instance as
            ``spec.options``.
        parameter: the option a sweep varies (``weight`` for the weighted sum), or None for a
            single-run method that a sweep cannot vary.
        range: the default sweep range ``(lo, hi)`` of the parameter.
        scalarization: how the planner splits a gap (see the module docstring).
        runner: ``"package.module:function"``, a :class:`Runner` (imported in the worker only).
        dense_reference: ``spec -> spec`` of the dense reference run a sweep trains first.
        finetune: ``spec -> spec`` of the run that fine-tunes the selected network (``sweep
            --finetune-epochs``; it starts from that run's weights and masks).
        objectives: the two table columns the planner's front is made of (both minimized).
        dense_end: ``"lo"`` or ``"hi"``: the end of the range that gives the densest network
            (warm starts continue from denser runs).
        sparse_end_known: True when the sparse end of the default range is the all-zero network
            (e.g. λ = 1): the planner does not train it, it brackets the collapse edge instead.
        dense_end_is_reference: True -- or ``spec -> bool``, when it depends on the options --
            when the dense end of the range trains the dense reference network itself (gmp at
            S = 0: cross-entropy, nothing masked; the weighted sum's gradual recipe at λ = 0): a
            sweep with a dense reference does not train it again as a trial; the planner is
            told the reference's result there (:meth:`dense_end_trains_reference`).
        optimizers: the ``--optimizer`` values it accepts; the first is its default.
        lr: its default ``--lr`` -- or ``spec -> float``, when it depends on the options (the
            weighted sum's gradual recipe: chosen on validation in the benchmarks).
        origin: where the method comes from; a reconstruction from an abstract says so here, and
            ``--help`` and the README repeat it.
        structured: True when it removes whole units/filters/blocks (``export --shrink``).
        size: the column that says how big one of its networks is (``nnz``: nonzero
            prunable weights; ``flops`` for a structured method): selection picks the
            smallest network within the allowed drop by it.
        recommendation: a line the sweep summary prints after the selected network when the
            benchmarks found another method better at the same job (empty: none).
        scale: how the planner bisects the parameter, ``linear`` or ``sparse-log`` (in
            ``-ln(1 - λ)``, for a weight whose useful values crowd near its sparse end 1; see
            :data:`paretoprune.planner.SCALES`).
        preflight: ``"package.module:function"``, a :class:`Preflight`; empty: no such check.
        check_spec: ``spec -> None``: checks of its options against the common settings (one
            :class:`InputError` line), when a spec is made.
        check_sweep: ``spec -> None``: what a sweep of it needs beyond a spec (a sweep config is
            refused with its line).
        check_given: ``(given, sweep) -> None``: checks of the options as the user gave them on
            the command line, before defaults fill in (``given``: flag name with underscores
            -> value, only those given).
    """

    name: str
    summary: str
    options: type[MethodOptions]
    parameter: str | None
    range: tuple[float, float]
    scalarization: str
    runner: str
    dense_reference: Callable[[Any], Any]
    finetune: Callable[[Any], Any]
    objectives: tuple[str, str] = ("loss", "l1")
    dense_end: str = "lo"
    sparse_end_known: bool = False
    dense_end_is_reference: bool | Callable[[Any], bool] = False
    optimizers: tuple[str, ...] = ("adam", "sgd", "rmsprop")
    lr: float | Callable[[Any], float] = 1e-3
    origin: str = ""
    structured: bool = False
    size: str = "nnz"
    scale: str = "linear"
    recommendation: str = ""
    preflight: str = ""
    check_spec: Callable[[Any], None] | None = None
    check_sweep: Callable[[Any], None] | None = None
    check_given: Callable[[Mapping[str, Any], bool], None] | None = None

    def __post_init__(self) -> None:
        if self.scalarization not in SCALARIZATIONS:
            raise ValueError(f"{self.name}: unknown scalarization {self.scalarization!r}")
        if self.parameter is not None and self.parameter not in self.options.names():
            raise ValueError(f"{self.name}: its parameter {self.parameter!r} is not an option")

    def dense_end_trains_reference(self, spec) -> bool:
        """Whether a run of ``spec`` at the dense end of the range is the dense reference
        network again (see ``dense_end_is_reference``)."""
        flag = self.dense_end_is_reference
        return bool(flag(spec) if callable(flag) else flag)

    def default_lr(self, spec) -> float:
        """The learning rate of ``spec`` when ``--lr`` is not given (see ``lr``)."""
        return float(self.lr(spec) if callable(self.lr) else self.lr)

    @property
    def rules(self) -> tuple[str, ...]:
        """The planner rules that make sense for this method; the first is the default."""
        if self.scalarization == "weighted-sum":
            return ("normal", "midpoint", "grid", "random")
        if self.scalarization == "constraint":
            return ("bound", "midpoint", "grid", "random")
        return ("midpoint", "grid", "random")

    def parameter_for_bound(self, bound: float) -> float:
        """The parameter value that bounds the second objective by ``bound`` (constraint
        methods); the identity unless the method's parameter is, e.g., a sparsity."""
        return 1.0 - bound if self.objectives[1] == "density" else float(bound)

    def load_runner(self) -> Runner:
        """Its :class:`Runner` (imports the training code: call it where the run trains)."""
        return _load(self.runner)

    def load_preflight(self) -> Preflight | None:
        """Its :class:`Preflight`, or None."""
        return _load(self.preflight) if self.preflight else None
