"""Command-line options generated from the configuration (:mod:`paretoprune.config`).

Every option of ``train`` and ``sweep`` that sets a :class:`~paretoprune.config.TrainSpec` or
:class:`~paretoprune.config.SweepConfig` field is made here from the field's
:class:`~paretoprune.config.Setting`: its flag (``--field-name``), type, choices, help and the
default shown in ``--help``. The options default to None ("not given"), so the configuration's
own defaults apply and are written only once; :func:`given` keeps the values the user set.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import click

from paretoprune.config import WEIGHTED_SUM_RECIPES, Setting, settings_of
from paretoprune.errors import InputError


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ":".join(f"{v:g}" for v in value)
    return str(value)


def _type_of(cls, name: str, setting: Setting):
    annotation = str(cls.__dataclass_fields__[name].type)
    if setting.choices:
        return click.Choice(setting.choices)
    if annotation.startswith("bool"):
        return bool
    if annotation.startswith("int"):
        return click.INT
    if annotation.startswith("float"):
        return click.FLOAT
    return click.STRING


def option(cls, name: str) -> click.Option:
    """The click option of field ``name`` of configuration class ``cls``."""
    setting = settings_of(cls)[name]
    flag = "--" + name.replace("_", "-")
    kind = _type_of(cls, name, setting)
    field = cls.__dataclass_fields__[name]
    default = setting.default if setting.methods else field.default
    shown = f"default: {_show(default)}" if default is not None and not callable(default) else ""
    if setting.methods:
        shown = "; ".join(filter(None, [shown, "--method " + ", ".join(setting.methods)]))
    help_text = setting.help + (f"  [{shown}]" if shown else "")
    if kind is bool:
        return click.Option([f"{flag}/--no-{flag[2:]}"], default=None, help=help_text)
    return click.Option([flag], type=kind, default=None, metavar=setting.metavar,
                        help=help_text, show_choices=True)


def options_of(cls, *, skip: Iterable[str] = ()) -> list[click.Option]:
    """The options of every command-line field of ``cls`` (minus ``skip``), in field order."""
    skipped = set(skip)
    return [option(cls, name) for name, s in settings_of(cls).items()
            if s.cli and name not in skipped]


def add_options(options: list[click.Option]):
    """A decorator adding ``options`` to a click command."""

    def decorate(f):
        params = getattr(f, "__click_params__", [])
        # click applies decorators bottom-up and reverses at the end: keep our order on top
        f.__click_params__ = params + list(reversed(options))
        return f

    return decorate


def given(values: Mapping[str, Any], cls) -> dict[str, Any]:
    """The values of ``cls``'s fields that were given (not None)."""
    names = set(settings_of(cls))
    return {k: v for k, v in values.items() if k in names and v is not None}


def check_one_budget(method: str, values: Mapping[str, Any], *, sweep: bool = False) -> None:
    """``--method epsilon`` takes one budget, ``--epsilon`` (l1) or ``--target-sparsity``
    (exact sparsity), and a sweep of it varies ``--epsilon``: a given ``--target-sparsity``
    that would go unused is an :class:`~paretoprune.errors.InputError` (the spec cannot tell
    it from the default it shares with gmp)."""
    if method != "epsilon" or values.get("target_sparsity") is None:
        return
    if sweep:
        raise InputError("a sweep of --method epsilon varies the l1 budget --epsilon; "
                         "--target-sparsity does not apply (sweep sparsity targets with "
                         "--method gmp)")
    if values.get("epsilon") is not None:
        raise InputError("--method epsilon takes an l1 budget (--epsilon) or an exact sparsity "
                         "(--target-sparsity), not both")


def check_recipe(method: str, values: Mapping[str, Any]) -> None:
    """``--threshold`` belongs to the weighted sum's original recipe: given with another
    recipe of ``--method weighted-sum`` (which prunes only the weights its proximal step makes
    exactly zero) it is an :class:`~paretoprune.errors.InputError` (the spec cannot tell it
    from the default)."""
    if method != "weighted-sum" or values.get("threshold") is None:
        return
    recipe = values.get("recipe") or WEIGHTED_SUM_RECIPES[0]
    if recipe != "original":
        raise InputError(f"--threshold is an option of --recipe original, not of --recipe "
                         f"{recipe} (it prunes the weights its proximal l1 step makes exactly "
                         "zero); add --recipe original or drop --threshold")


def methods_epilog() -> str:
    """The ``--help`` epilog listing every ``--method`` with its summary and origin (a
    reconstruction from an abstract says so)."""
    from paretoprune.methods import METHODS

    lines = ["Methods (--method):"]
    for m in METHODS.values():
        lines.append(f"{m.name}: {m.summary}" + (f" [{m.origin}]" if m.origin else ""))
    return "\n\n".join(lines)
