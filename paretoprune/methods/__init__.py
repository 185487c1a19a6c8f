"""The training methods paretoprune offers: one torch-free module per method.

A method is "a way to train a pruned network with one scalar parameter" (the scalarization
weight λ of the weighted sum, an l1 budget ε, a target sparsity, ...). Everything outside its
module and its training runner -- the configuration, the planner, the store, the sweep, the CLI,
the presentation -- knows a method only through its :class:`~paretoprune.methods.base.Method`
here, and no code outside them branches on a method's name (``tests/test_methods.py`` checks).

Each module ``paretoprune/methods/<name>.py`` holds, for its method:

* an options class (a frozen dataclass subclassing :class:`MethodOptions`): each field with its
  default, check and help; a spec carries an instance as ``spec.options``;
* ``METHOD``, its :class:`Method`: its properties (parameter, range, scalarization, objectives,
  the optimizers it accepts, ...), its checks, which dense reference a sweep trains and how the
  selected network is fine-tuned, and the import paths of its runner and preflight.

Adding a method touches two package files:

1. a module here (copy ``gmp.py``): its options class and ``METHOD``. It is found by its file:
   every module of this package with a ``METHOD`` is registered;
2. its runner, ``run(spec, *, init_state=None, epochs=None, on_epoch=None) -> RunResult`` (the
   :class:`Runner` protocol), in the training layer, e.g. ``paretoprune/training/<name>.py``,
   named by ``METHOD.runner``; it reads its options as ``spec.options.<field>``.

plus its tests and its lines in the README's method table. Adding an option to a method is one
field of its options class (and the runner reading it).

No torch, no pandas: the CLI validates ``--method`` and its options without importing either.
"""

from __future__ import annotations

import importlib
import pkgutil

from paretoprune.errors import InputError
from paretoprune.methods.base import SCALARIZATIONS, Method, MethodOptions, Preflight, Runner

__all__ = [
    "DEFAULT_METHOD", "METHODS", "SCALARIZATIONS", "Method", "MethodOptions", "Preflight",
    "Runner", "get_method", "method_names", "method_of_optimizer", "option_owners",
]

#: The ``--method`` of a spec that names none.
DEFAULT_METHOD = "weighted-sum"


def _discover() -> dict[str, Method]:
    """Every ``METHOD`` of this package's modules: the default first, then by name."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        method = getattr(module, "METHOD", None)
        if isinstance(method, Method):
            found.append(method)
    found.sort(key=lambda m: (m.name != DEFAULT_METHOD, m.name))
    return {m.name: m for m in found}


METHODS: dict[str, Method] = _discover()


def method_names() -> tuple[str, ...]:
    """The names ``--method`` accepts."""
    return tuple(METHODS)


def get_method(name: str) -> Method:
    """The method called ``name``; :class:`InputError` naming the known ones otherwise."""
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise InputError(
            f"unknown method {name!r}; choose one of {', '.join(METHODS)}"
        ) from None


def option_owners() -> dict[str, tuple[str, ...]]:
    """``{option name: the methods that take it}``, in registry order."""
    owners: dict[str, tuple[str, ...]] = {}
    for method in METHODS.values():
        for name in method.options.names():
            owners[name] = owners.get(name, ()) + (method.name,)
    return owners


def method_of_optimizer(optimizer: str | None) -> Method:
    """The first registered method that accepts ``optimizer`` (the default method when none
    does): how rows of paretoprune 0.1, which had no ``method`` column, are read."""
    return next((m for m in METHODS.values() if optimizer in m.optimizers),
                METHODS[DEFAULT_METHOD])
