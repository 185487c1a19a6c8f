"""Small file helpers every layer shares: atomic writes and JSON of plain values.

* :func:`atomic_write` -- write a file so that a crash at any moment leaves either the old file
  or the new one, never a truncated one: a temporary file in the same folder, flushed and
  fsynced, then ``os.replace``; the folder is fsynced too, and the temporary file is removed on
  any error. Failures to write (disk full, a read-only folder, a target that is a folder) become
  one :class:`~paretoprune.errors.InputError` line naming the file.
* :func:`jsonable` / :func:`dumps` -- values as JSON: numpy and torch scalars become numbers,
  NaN and infinities become ``null``, paths become strings.

No torch, no pandas: importable from the lightest layer.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from paretoprune.errors import InputError

__all__ = ["TMP_PREFIX", "atomic_write", "atomic_write_bytes", "atomic_write_text", "dumps",
           "fsync_dir", "jsonable"]

#: Prefix of the temporary files of :func:`atomic_write`; readers of a folder ignore them.
TMP_PREFIX = ".tmp-"


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (best effort: not every OS opens folders)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object], *,
                 what: str = "") -> Path:
    """Write ``path`` through ``write(binary file)`` atomically; returns the path.

    Raises :class:`InputError` (``cannot write <what> <path>: <reason>``) when the file cannot
    be written; nothing is left behind then, and an existing file keeps its old content.
    """
    path = Path(path)
    label = f"{what} {path}".strip()
    if path.is_dir():
        raise InputError(f"cannot write {label}: it is a folder; give a file name")
    directory = path.parent
    tmp = directory / f"{TMP_PREFIX}{path.name}.{secrets.token_hex(6)}"
    try:
        # 0o666 minus the umask, like any new file (mkstemp would force 0o600)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as err:
        raise InputError(f"cannot write {label}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write {label}: {err.strerror or err}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, what: str = "") -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda fh: fh.write(data), what=what)


def atomic_write_text(path: str | os.PathLike, text: str, *, what: str = "") -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"), what=what)


def jsonable(value: Any) -> Any:
    """``value`` made of JSON types: numpy/torch scalars and 0-d arrays as numbers, arrays as
    lists, NaN and infinities as None, paths as strings, sets sorted, mappings and sequences
    converted recursively. Anything else becomes ``str(value)``."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return [jsonable(v) for v in sorted(value, key=repr)]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        with contextlib.suppress(Exception):
            return jsonable(item())
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        with contextlib.suppress(Exception):
            return jsonable(tolist())
    try:  # pandas NaT / NA and friends
        if value != value:  # noqa: PLR0124 - NaN-like
            return None
    except Exception:
        pass
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        with contextlib.suppress(Exception):
            return isoformat()
    return str(value)


def dumps(value: Any, **kwargs) -> str:
    """``json.dumps`` of :func:`jsonable` ``(value)``: always valid JSON (no NaN tokens)."""
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)
