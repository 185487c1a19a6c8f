"""Resolving a user's ``package.module:attribute`` path (models and datasets of their own)."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import re
import sys

from paretoprune.errors import InputError

_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_import_path(name: str) -> bool:
    """True for ``package.module:attribute`` (the ``torchvision:`` prefix is a name, not a path)."""
    return bool(_PATH.match(name)) and not name.startswith("torchvision:")


def _current_directory_first(top: str) -> None:
    """Put the current directory first on ``sys.path`` when it holds the module ``top``, as
    tools that take ``module:attr`` do (the ``paretoprune`` script's own folder is first
    otherwise). Worker processes start in the same directory and do the same."""
    cwd = os.getcwd()
    if top in sys.modules or importlib.machinery.PathFinder.find_spec(top, [cwd]) is None:
        return
    if cwd in sys.path:
        sys.path.remove(cwd)
    sys.path.insert(0, cwd)


def load_object(path: str, what: str):
    """Import ``package.module:attribute`` and return the attribute (an :class:`InputError` when
    the module does not import, the attribute is missing or it is not callable)."""
    if not is_import_path(path):
        raise InputError(f"{what} {path!r} is not of the form package.module:factory")
    module_name, attr = path.split(":", 1)
    _current_directory_first(module_name.split(".")[0])
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
