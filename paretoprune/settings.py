"""Settings as data: a dataclass field's help, check and command-line role in one place.

A configuration class (:class:`paretoprune.config.TrainSpec`, :class:`paretoprune.config.SweepConfig`,
and each method's options class in :mod:`paretoprune.methods`) is a frozen dataclass whose fields
are made with :func:`setting`. Its ``__post_init__`` calls :func:`validate_fields`, which runs each
field's check once and stores the normalized value; the command line's options are generated from
the same fields (:mod:`paretoprune.cli.options`). A bad value is one
:class:`~paretoprune.errors.InputError` line naming the flag. No torch, no pandas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from paretoprune.errors import InputError

__all__ = [
    "Check", "Setting", "boolean", "choice", "default_of", "flag", "from_mapping", "integer",
    "number", "optional", "pair", "setting", "settings_of", "text", "validate_fields",
]

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
    metavar: str | None = None

    @property
    def choices(self) -> tuple[str, ...] | None:
        return getattr(self.check, "choices", None)


def setting(default: Any, help: str, check: Check, **kwargs: Any):
    """A dataclass field with its :class:`Setting` (``cli``, ``identity``, ``metavar``)."""
    return field(default=default, metadata={"setting": Setting(help, check, **kwargs)})


def settings_of(cls_or_obj) -> dict[str, Setting]:
    """``{field name: Setting}`` of a configuration class (fields without one are skipped)."""
    return {f.name: f.metadata["setting"] for f in fields(cls_or_obj) if "setting" in f.metadata}


def default_of(cls, name: str) -> Any:
    """The default of field ``name`` of a configuration class (for other layers' signatures,
    so that each default is written once)."""
    return cls.__dataclass_fields__[name].default


def flag(name: str) -> str:
    """The command-line flag of field ``name``: ``--name-with-dashes``."""
    return "--" + name.replace("_", "-")


def validate_fields(obj) -> None:
    """Run every field's check, storing the normalized value (from ``__post_init__`` of a
    frozen configuration dataclass)."""
    for name, s in settings_of(obj).items():
        value = s.check(flag(name) if s.cli else name, getattr(obj, name))
        object.__setattr__(obj, name, value)


def from_mapping(cls, data: Mapping, what: str):
    """``cls(**data)``, an unknown key one :class:`InputError` line naming the known ones."""
    if not isinstance(data, Mapping):
        raise InputError(f"{what} must be a mapping, got {type(data).__name__}")
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise InputError(f"unknown {what} {unknown[0]!r}; known: {', '.join(known)}")
    return cls(**data)
