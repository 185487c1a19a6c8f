"""Resolving a user's ``package.module:attribute`` path (models and datasets of their own)."""

from __future__ import annotations

import importlib
import re

from paretoprune.errors import InputError

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_import_path(name: str) -> bool:
    """True for ``package.module:attribute`` (the ``torchvision:`` prefix is a name, not a path)."""
    return bool(_PATH.match(name)) and not name.startswith("torchvision:")


def load_object(path: str, what: str):
    """Import ``package.module:attribute`` and return the attribute (an :class:`InputError` when
    the module does not import, the attribute is missing or it is not callable)."""
    if not is_import_path(path):
        raise InputError(f"{what} {path!r} is not of the form package.module:factory")
    module_name, attr = path.split(":", 1)
    try:
        obj = importlib.import_module(module_name)
    except Exception as err:  # any import failure of the user's module is their input
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"{what} {path!r}: module {module_name!r} does not import ({reason})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{what} {path!r}: {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"{what} {path!r} is not callable")
    return obj
