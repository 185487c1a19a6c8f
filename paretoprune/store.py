"""The sweep directory: a journal of finished runs that no kill can damage.

A sweep directory ``OUT`` holds::

    OUT/sweep.json               what the sweep is (below)
    OUT/journal.jsonl            the source of truth: one JSON object per finished run, a line each
    OUT/points.csv               the same rows as a table, for people and ``pandas.read_csv``
    OUT/checkpoints/run-0007.pt  ``torch.save`` of the checkpoint dict of run 7
    OUT/logs/run-0007.jsonl      the per-epoch log of run 7, one JSON object a line
    OUT/predictions/run-0007.npz the predicted (and true) labels of run 7 on the validation and
                                 test examples, in their fixed order (``numpy.load``)
    OUT/.lock                    the writer's OS lock; its JSON (pid, hostname, started, argv)
                                 only serves error messages
    OUT/points.schema1.csv       in a sweep converted from schema 1 only: its original table

``sweep.json`` is ``{"schema_version": 2, "kind": "paretoprune-sweep", "created", "updated",
"fingerprint", "identity", "config", "versions"}``. ``identity`` is the part of the config that
defines the sweep (the caller chooses it); ``fingerprint`` is its hash. Opening the directory
again with the same fingerprint resumes the sweep (``config`` and ``updated`` are rewritten:
the budget and other runtime settings may change). Another fingerprint is refused, naming each
setting that differs, and so is a folder that is not a sweep, unless ``force`` moves the old
folder aside to ``OUT.old-<timestamp>``. Nothing is ever deleted.

Rows. A journal line is a flat object of scalars (text, numbers, booleans, null; NaN and
infinities become null) with ``run`` (an integer >= 0, unique; it names the run's checkpoint
and log) and ``status`` (``ok`` or ``failed``); ``error`` holds why a run failed. The table
(:meth:`SweepStore.points`, ``points.csv``) has the columns ``run``, ``role``, ``method``, then
the others in order of first appearance, then ``status``, ``error``. ``run`` is int64; ``role``,
``method``, ``status`` and ``error`` are text, ``""`` for none; a column of numbers is float64
(NaN for none), int64 when every row has an integer; a column of booleans in every row is bool.

Durability. A run is recorded in this order: its checkpoint, predictions and log (each written to a
temporary file, fsynced and renamed into place), its journal line (one ``os.write`` of the
whole line, then ``fsync``), then ``points.csv`` (atomically). The run is finished once its
journal line is durable, so every row has its checkpoint and log whenever the writer is
killed; ``points.csv`` is exported again each time a writer opens the sweep. A last line
without its newline (or that is not JSON) is an append that never finished: readers ignore it,
the next writer cuts it off with a :class:`StoreWarning`. Other damage (a bad line before the
last, a broken ``sweep.json``) raises :class:`~paretoprune.errors.StoreError` naming the file,
and nothing is overwritten. Readers ignore the temporary files (``.tmp-*``) of a killed
writer; the next writer removes them.

Locking. One process writes a sweep: :meth:`SweepStore.create_or_open` takes an exclusive OS
lock (``flock``, so writing needs POSIX: Linux, macOS) on ``OUT/.lock`` before writing
anything, and holds it until :meth:`SweepStore.close` or the end of the process, however it
ends: the kernel frees the lock of a killed process, so no lock is ever stale. A second writer
gets :class:`~paretoprune.errors.LockHeldError` naming the holder's pid and host. Readers
(:meth:`SweepStore.open`) take no lock.

Migration. Schema 1 (paretoprune 0.1) kept its rows in ``points.csv`` only (run, weight, loss,
l1, sparsity, accuracy, status, error, gap, pareto, extras). :meth:`SweepStore.open` reads it
as it is, writing nothing. :meth:`SweepStore.create_or_open` converts it when its identity
matches: it keeps the original table as ``points.schema1.csv``, writes the rows to the journal
(``pareto`` and an empty ``accuracy`` dropped; ``role`` "trial"; ``method`` "smgd" for
smgd/madam/mrmsprop runs, else "weighted-sum"; ``gap`` "wa:wb" as ``gap_lo`` and ``gap_hi``),
and rewrites ``sweep.json`` as schema 2 last, so an interrupted conversion is simply redone.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import errno
import hashlib
import io
import json
import numbers
import os
import pickle
import platform
import re
import socket
import stat
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from paretoprune import fileio
from paretoprune.errors import InputError, LockHeldError, StoreError, first_line
from paretoprune.methods import method_of_optimizer

__all__ = ["SCHEMA_VERSION", "StoreWarning", "SweepStore", "fingerprint"]

SCHEMA_VERSION = 2
KIND = "paretoprune-sweep"
META_FILE, JOURNAL_FILE, POINTS_FILE = "sweep.json", "journal.jsonl", "points.csv"
SCHEMA1_POINTS_FILE = "points.schema1.csv"
CHECKPOINTS_DIR, LOGS_DIR, LOCK_FILE = "checkpoints", "logs", ".lock"
PREDICTIONS_DIR = "predictions"

REQUIRED_COLUMNS: tuple[str, ...] = ("run", "status")
LEADING_COLUMNS: tuple[str, ...] = ("run", "role", "method")
TRAILING_COLUMNS: tuple[str, ...] = ("status", "error")
TEXT_COLUMNS: tuple[str, ...] = ("role", "method", "status", "error")  # "" for none
STATUSES: tuple[str, ...] = ("ok", "failed")
_MAX_INT = 2**63 - 1  # run ids and int columns must fit int64
_MAX_NAMED = 12  # differing settings named in a message
# pandas < 3 parses floats with a fast, slightly lossy parser unless asked; pandas 3 round-trips
# by default and deprecates the option
_EXACT_FLOATS: dict[str, Any] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {})


class StoreWarning(UserWarning):
    """Something a user should know about a sweep directory that is not an error."""


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _key(value: Any) -> str:
    """Canonical JSON of ``value``, integral floats as ints: 1.0 and 1 are the same setting."""

    def canon(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, dict):
            return {k: canon(x) for k, x in v.items()}
        return [canon(x) for x in v] if isinstance(v, list) else v

    return json.dumps(canon(fileio.jsonable(value)), sort_keys=True, separators=(",", ":"))


def fingerprint(identity: Mapping[str, Any]) -> str:
    """A short stable hash of what defines a sweep (key order and 1.0 vs 1 do not matter)."""
    return hashlib.sha256(_key(dict(identity)).encode("utf-8")).hexdigest()[:16]


def _same_sweep(stored: Mapping[str, Any], identity: Mapping[str, Any]) -> bool:
    """Whether two identities are the same sweep: a setting that is None is the same as one not
    there (an identity of the previous version listed every method's options, None where they
    were another method's)."""
    def set_only(ident: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in ident.items() if v is not None}

    return fingerprint(set_only(stored)) == fingerprint(set_only(identity))


def _flat(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"epochs": 5}}`` as ``{"train.epochs": 5}``, to name settings in messages."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        elif value is not None:  # None: not set (see _same_sweep)
            out[f"{prefix}{key}"] = value
    return out


def _difference(path: Path, stored: Mapping[str, Any], given: Mapping[str, Any]) -> str:
    old, new = _flat(fileio.jsonable(stored)), _flat(fileio.jsonable(given))

    def show(values: dict[str, Any], key: str) -> str:
        value = values.get(key, "unset")
        text = value if isinstance(value, str) else json.dumps(value)
        return text if len(text) <= 60 else text[:57] + "..."

    keys = dict.fromkeys([*old, *new])
    parts = [f"{k} is {show(old, k)} there, {show(new, k)} here" for k in keys
             if (k in old) != (k in new) or _key(old.get(k)) != _key(new.get(k))]
    if len(parts) > _MAX_NAMED:  # a line, not a page, when the identity's whole shape differs
        parts[_MAX_NAMED:] = [f"and {len(parts) - _MAX_NAMED} more settings"]
    return (f"{path} holds a different sweep: {', '.join(parts) or 'its fingerprint differs'}; "
            "rerun with the stored settings to resume it, use --force to move it aside, "
            "or pick another directory")


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("paretoprune", "torch", "numpy", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _read(path: Path, missing: str | None = None) -> bytes | None:
    """The bytes of ``path``; when it does not exist, None, or StoreError(``missing``)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        if missing is None:
            return None
        raise StoreError(missing) from None
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None


def _write(path: Path, what: str, data: bytes | str | Callable[[Any], object]) -> None:
    """fileio's atomic write, its one-line error as a StoreError (a full disk is no bad input)."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(exist_ok=True)
        fileio.atomic_write(path, data if callable(data) else lambda fh: fh.write(data), what=what)
    except InputError as err:
        raise StoreError(str(err)) from None
    except OSError as err:
        raise StoreError(f"cannot write {what} {path}: {err.strerror or err}") from None


def _save_predictions(fh: Any, predictions: Mapping[str, Any]) -> None:
    """Labels in the smallest unsigned type that holds them, compressed (a few KB a run)."""
    import numpy as np

    arrays = {}
    for name, values in predictions.items():
        values = np.asarray(values)
        top = int(values.max()) if values.size else 0
        dtype = np.uint8 if top < 2**8 else np.uint16 if top < 2**16 else np.int64
        arrays[str(name)] = values.astype(dtype)
    np.savez_compressed(fh, **arrays)


def _line(row: Mapping[str, Any]) -> str:
    return fileio.dumps(row, separators=(",", ":")) + "\n"


def _move_aside(path: Path) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    names = (f"{path.name}.old-{stamp}" + (f"-{i}" if i else "") for i in range(10**6))
    target = next(t for t in map(path.with_name, names) if not os.path.lexists(t))
    try:
        os.rename(path, target)
    except OSError as err:
        raise StoreError(f"cannot move {path} aside: {err.strerror or err}") from None
    warnings.warn(f"moved the previous contents of {path} to {target}", StoreWarning, stacklevel=3)


# --------------------------------------------------------------------------------------------
# reading


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / META_FILE
    raw = _read(path, f"{directory} is not a paretoprune sweep directory (no {META_FILE})")

    def bad(why: str) -> StoreError:
        return StoreError(f"{path} {why}; the sweep cannot be used (nothing was changed)")

    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as err:  # RecursionError: "[[[[..." nested too deeply
        why = f"is not valid JSON ({first_line(err)})" if raw.strip() else "is empty"
        raise bad(why) from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise bad(f'is not a paretoprune sweep file (no "kind": "{KIND}")')
    version = meta.get("schema_version")
    if type(version) is not int or version < 1:
        raise bad("has no valid schema_version")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer paretoprune (schema {version}); this "
                         f"version reads schema 1 and {SCHEMA_VERSION}: upgrade paretoprune")
    for key, kind in (("fingerprint", str), ("identity", dict), ("config", dict)):
        if not isinstance(meta.get(key), kind):
            raise bad(f"is missing {key!r}")
    return meta


def _row_problem(row: Any, runs: set[int]) -> str | None:
    """What keeps ``row`` from being a journal row (``runs``: the ids recorded), or None."""
    if not isinstance(row, dict):
        return "not an object"
    missing = [key for key in REQUIRED_COLUMNS if key not in row]
    if missing:
        return f"it has no {missing[0]!r}"
    run = row["run"]
    if type(run) is not int or not 0 <= run <= _MAX_INT:
        return f"run {run!r} is not a non-negative integer"
    if run in runs:
        return f"run {run} is already in the journal"
    if row["status"] not in STATUSES:
        return f"status {row['status']!r} is not one of {', '.join(STATUSES)}"
    for key, value in row.items():
        if not isinstance(key, str):
            return f"column name {key!r} is not text"
        if not (value is None or isinstance(value, (str, int, float))):  # bool is an int
            return f"{key!r} must be a number, string, bool or None, not {type(value).__name__}"
    return None


def _read_journal(directory: Path) -> tuple[list[dict[str, Any]], int]:
    """The journal's rows, and the size of the unfinished append at its end (0 for none)."""
    raw = _read(directory / JOURNAL_FILE, f"{JOURNAL_FILE} of {directory} is missing; restore "
                "it, or move the directory aside to start over")
    *lines, _unfinished = raw.split(b"\n")  # what follows the last newline never finished
    rows: list[dict[str, Any]] = []
    runs: set[int] = set()
    end = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except (ValueError, RecursionError):
                if not b"".join(lines[number:]).strip():
                    break  # the last line, not JSON: torn too (zeros after a power loss, say)
                row = None
            problem = "not JSON" if row is None else _row_problem(row, runs)
            if problem:
                raise StoreError(f"{JOURNAL_FILE} of {directory} is corrupted (line {number}: "
                                 f"{problem}); nothing was changed")
            rows.append(row)
            runs.add(row["run"])
        end += len(line) + 1
    return rows, len(raw) - end


def _read_schema1(directory: Path) -> list[dict[str, Any]]:
    """The rows of a schema-1 ``points.csv`` as journal rows (see the module docstring)."""
    path = directory / POINTS_FILE

    def bad(why: str) -> StoreError:
        return StoreError(f"{path} is corrupted ({why}); nothing was changed")

    raw = _read(path)
    if raw is None:
        return []  # schema 1 wrote sweep.json first: killed before its first table
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad(f"not UTF-8 text at byte {err.start}") from None
    if "\x00" in text:
        raise bad("it holds NUL bytes")
    if not text.strip():
        raise bad("it is empty")
    if not text.endswith("\n"):
        raise bad("the last row is cut short")
    try:  # typed as schema 1 itself read it; run and gap as text, to check them
        table = pd.read_csv(io.StringIO(text), dtype={"run": str, "gap": str}, **_EXACT_FLOATS)
    except ValueError as err:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise bad(first_line(err)) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing or any(str(c).startswith("Unnamed:") for c in table.columns):
        raise bad(f"missing column {missing[0]}" if missing else "a column has no name")
    rows: list[dict[str, Any]] = []
    runs: set[int] = set()
    for number, record in enumerate(table.to_dict("records"), start=1):
        cells = {str(k): None if pd.isna(v) else v for k, v in record.items()}
        run = cells.pop("run") or ""
        if not re.fullmatch(r"\d+", run.strip()) or int(run) > _MAX_INT:
            raise bad(f"row {number}: run {run!r} is not a non-negative integer")
        row: dict[str, Any] = {"run": int(run), "role": "trial", "method": None}
        for column, value in cells.items():
            if column == "gap" and value is not None:
                try:
                    row["gap_lo"], row["gap_hi"] = sorted(map(float, value.split(":")))
                except ValueError:
                    raise bad(f"row {number}: gap {value!r} is not 'wa:wb'") from None
            elif column not in ("gap", "pareto", "role", "method") and not (
                    column == "accuracy" and value is None):
                row[column] = value
        row["method"] = method_of_optimizer(row.get("optimizer")).name  # 0.1: told by it
        problem = _row_problem(row, runs)
        if problem:
            raise bad(f"row {number}: {problem}")
        rows.append(json.loads(_line(row)))  # as the journal will hold it: NaN as null
        runs.add(row["run"])
    return rows


def _load(directory: Path) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """sweep.json, the rows, and the size of the journal's unfinished append (0 for schema 1)."""
    meta = _read_meta(directory)
    if meta["schema_version"] == 1:
        return meta, _read_schema1(directory), 0
    return (meta, *_read_journal(directory))


def _found(path: Path, identity: dict[str, Any], migrate: Callable | None
           ) -> tuple[dict[str, Any] | None, list[dict[str, Any]], int]:
    """:func:`_load` of the folder of the sweep of ``identity``, (None, [], 0) if it has none
    yet; StoreError when it holds another sweep, or what is no sweep (put there since we looked)."""
    if not (path / META_FILE).exists():
        if foreign := _foreign(path):
            raise StoreError(foreign)
        return None, [], 0
    meta, rows, torn = _load(path)
    stored = meta["identity"]
    if meta["schema_version"] == 1 and migrate is not None:
        stored = migrate(copy.deepcopy(meta))[1]
    if not _same_sweep(stored, identity):
        raise StoreError(_difference(path, stored, identity))
    return meta, rows, torn


def _foreign(path: Path) -> str | None:
    """Why the folder ``path`` is no sweep, or None: a sweep, an empty folder, or what a
    creation killed before writing its sweep.json left."""
    if not path.is_dir() or (path / META_FILE).exists():
        return None
    try:
        for entry in sorted(path.iterdir()):
            name = entry.name
            if not (name == LOCK_FILE or name.startswith(fileio.TMP_PREFIX)
                    or name == JOURNAL_FILE and entry.is_file() and entry.stat().st_size == 0
                    or name in (CHECKPOINTS_DIR, LOGS_DIR) and entry.is_dir()
                    and not any(entry.iterdir())):
                return (f"{path} exists and is not a sweep directory (it holds {name!r} but no "
                        f"{META_FILE}); use --force to move it aside or pick another directory")
    except OSError as err:
        raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
    return None


def _column(name: str, values: list[Any]) -> pd.Series:
    if name in TEXT_COLUMNS:
        return pd.Series(["" if v is None else str(v) for v in values], dtype=str)
    known = [v for v in values if v is not None]
    complete = len(known) == len(values)
    if known and all(isinstance(v, bool) for v in known):
        return pd.Series(values, dtype=bool if complete else object)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
        if complete and all(isinstance(v, int) and abs(v) <= _MAX_INT for v in known):
            return pd.Series(values, dtype="int64")
        return pd.Series(values, dtype="float64")
    return pd.Series(values)


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    present = dict.fromkeys([*REQUIRED_COLUMNS, *(key for row in rows for key in row)])
    lead = [c for c in LEADING_COLUMNS if c in present]
    names = [*lead, *(c for c in present if c not in lead and c not in TRAILING_COLUMNS),
             *TRAILING_COLUMNS]
    return pd.DataFrame({c: _column(c, [row.get(c) for row in rows]) for c in names}, columns=names)


# --------------------------------------------------------------------------------------------
# the lock


def _lock(directory: Path) -> int:
    """Take the writer's lock, ``flock`` of ``OUT/.lock`` (the kernel frees it when we die), and
    write our pid, host, start and argv in it for messages; returns its file descriptor."""
    try:
        import fcntl
    except ImportError:
        raise StoreError("writing a sweep needs POSIX file locks (fcntl.flock), which this "
                         "platform lacks; paretoprune writes sweeps on Linux and macOS") from None
    path = directory / LOCK_FILE
    try:  # O_NOFOLLOW: a symlink fails (ELOOP) rather than creating or locking its target
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if path.is_symlink():
            raise StoreError(f"{path} is a symbolic link (to {os.readlink(path)}), not a lock "
                             "file; remove it and retry") from None
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a lock file; remove it and retry") from None
        raise StoreError(f"cannot open the lock {path}: {err.strerror or err}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise StoreError(f"{path} is not a regular file; remove it and retry")
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BaseException as err:
        os.close(fd)
        if isinstance(err, BlockingIOError):
            raise LockHeldError(_holder(directory)) from None
        if isinstance(err, OSError):
            raise StoreError(f"cannot lock {path}: {err.strerror or err}") from None
        raise
    info = {"pid": os.getpid(), "hostname": socket.gethostname(), "started": _now(),
            "argv": list(sys.argv)}
    with contextlib.suppress(OSError):  # the content only serves messages
        os.ftruncate(fd, 0)
        os.write(fd, fileio.dumps(info).encode("utf-8"))
    return fd


def _holder(directory: Path) -> str:
    try:
        info = json.loads((directory / LOCK_FILE).read_bytes())
    except (OSError, ValueError, RecursionError):
        info = None
    if not isinstance(info, dict) or "pid" not in info:  # the holder is writing it now
        return f"sweep {directory} is locked by another process; wait for it or stop it"
    return (f"sweep {directory} is locked by pid {info['pid']} on host "
            f"{info.get('hostname', '?')} since {info.get('started', '?')}; wait for it or stop it")


# --------------------------------------------------------------------------------------------
# the store


def _run_name(run: Any) -> str:
    if isinstance(run, bool) or not isinstance(run, numbers.Integral) or run < 0:
        raise InputError(f"a run id is an integer >= 0, not {run!r}")
    return f"run-{int(run):04d}"


def _clean_row(row: Any, runs: set[int]) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise InputError(f"a points row must be a dict, not {type(row).__name__}")
    row = dict(row)
    for key, value in row.items():
        if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
            row[key] = value.item()  # numpy and torch scalars
    problem = _row_problem(row, runs)
    if problem:
        raise InputError(f"bad points row: {problem}")
    return row


class SweepStore:
    """A sweep directory (see the module docstring for its layout and guarantees).

    :meth:`create_or_open` opens it to write, holding its lock until :meth:`close` (a store is
    also a context manager); :meth:`open` opens it to read. Rows are read once, when opening.
    """

    def __init__(self, path: Path, meta: dict[str, Any], rows: list[dict[str, Any]],
                 lock: int | None = None) -> None:
        self._path, self._meta, self._rows, self._lock = path, meta, rows, lock

    def __repr__(self) -> str:
        return f"SweepStore({str(self._path)!r}, rows={len(self._rows)}, locked={self.locked})"

    def __enter__(self) -> SweepStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def is_sweep_dir(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` holds a usable ``sweep.json`` (schema 1 or 2)."""
        try:
            _read_meta(Path(path))
        except (StoreError, OSError):
            return False
        return True

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SweepStore:
        """Open a sweep to read it (schema 1 or 2): takes no lock, writes nothing."""
        path = Path(path)
        if not path.is_dir():
            raise StoreError(f"{path} is not a directory" if path.exists()
                             else f"sweep directory {path} does not exist")
        meta, rows, _torn = _load(path)
        return cls(path, meta, rows)

    @classmethod
    def create_or_open(cls, path: str | os.PathLike[str], config: Mapping[str, Any], *,
                       identity: Mapping[str, Any], force: bool = False,
                       migrate: Callable[[dict], tuple[dict, dict]] | None = None) -> SweepStore:
        """Create the sweep ``path`` for ``config``, or open it to resume it, and lock it.

        An existing sweep must have the fingerprint of ``identity``; a schema-1 sweep is
        compared through ``migrate(old_meta) -> (config, identity)`` when given, then
        converted. StoreError otherwise, and for a folder that is not a sweep or is damaged;
        with ``force`` the old folder is moved aside instead. LockHeldError when another
        process writes the sweep.
        """
        path = Path(path)
        for what, value in (("config", config), ("identity", identity)):
            if not isinstance(value, Mapping):
                raise InputError(f"the sweep {what} must be a dict, not {type(value).__name__}")
        config, identity = fileio.jsonable(config), fileio.jsonable(identity)
        if path.exists() and not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory; pick another directory")
        foreign = _foreign(path)  # looked at before the lock, which writes into the folder
        if foreign and not force:
            raise StoreError(foreign)
        if foreign:
            _move_aside(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create {path}: {err.strerror or err}") from None
        fileio.fsync_dir(path.parent)
        store = cls(path, {}, [], _lock(path))
        try:
            try:
                found = _found(path, identity, migrate)
            except StoreError:
                if not force:
                    raise
                _move_aside(path)  # while we hold its lock: nobody writes it meanwhile
                store.close()
                return cls.create_or_open(path, config, identity=identity, migrate=migrate)
            store._begin(*found, config, identity)
            return store
        except BaseException:
            store.close()
            raise

    def _begin(self, meta: dict[str, Any] | None, rows: list[dict[str, Any]], torn: int,
               config: dict[str, Any], identity: dict[str, Any]) -> None:
        """Write what a new, resumed or converted sweep needs, sweep.json last."""
        path, journal = self._path, self._path / JOURNAL_FILE
        for folder in (path, path / CHECKPOINTS_DIR, path / LOGS_DIR):
            try:
                folder.mkdir(exist_ok=True)
                for stray in folder.glob(f"{fileio.TMP_PREFIX}*"):  # of a writer killed mid-write
                    stray.unlink()
            except OSError as err:
                raise StoreError(f"cannot prepare {folder}: {err.strerror or err}") from None
        fileio.fsync_dir(path)
        if meta is None:
            _write(journal, "journal", b"")
        elif meta["schema_version"] == 1:
            if (path / POINTS_FILE).exists():
                _write(path / SCHEMA1_POINTS_FILE, "schema-1 table",
                       (path / POINTS_FILE).read_bytes())
            _write(journal, "journal", "".join(map(_line, rows)))
        elif torn:
            warnings.warn(f"{JOURNAL_FILE} of {path} ended with an unfinished append "
                          f"({torn} bytes, left by a writer that was killed); removed it",
                          StoreWarning, stacklevel=3)
            try:
                with open(journal, "r+b") as fh:
                    fh.truncate(os.fstat(fh.fileno()).st_size - torn)
                    os.fsync(fh.fileno())
            except OSError as err:
                raise StoreError(f"cannot repair {journal}: {err.strerror or err}") from None
        now, old = _now(), meta or {}
        new = {"schema_version": SCHEMA_VERSION, "kind": KIND, "created": old.get("created", now),
               "updated": now, "fingerprint": fingerprint(identity), "identity": identity,
               "config": config, "versions": _versions()}
        new.update({k: v for k, v in old.items() if k not in new})  # keep what others added
        _write(path / META_FILE, "sweep file", fileio.dumps(new, indent=2) + "\n")
        self._meta, self._rows = new, rows
        self.export()  # catches up with the journal if the last writer was killed before it

    # -- what the sweep is -------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    @property
    def meta(self) -> dict[str, Any]:
        """A copy of ``sweep.json``."""
        return copy.deepcopy(self._meta)

    @property
    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._meta["config"])

    @property
    def identity(self) -> dict[str, Any]:
        return copy.deepcopy(self._meta["identity"])

    @property
    def fingerprint(self) -> str:
        return self._meta["fingerprint"]

    @property
    def schema_version(self) -> int:
        """1 for a schema-1 sweep opened to read, else 2."""
        return self._meta["schema_version"]

    @property
    def locked(self) -> bool:
        """Whether this store holds the sweep's lock, and so may write."""
        return self._lock is not None

    def close(self) -> None:
        """Release the lock (if held; again is harmless). The store can still be read."""
        fd, self._lock = self._lock, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the holder's details go with the lock
            os.close(fd)

    # -- rows --------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """Copies of the rows, in journal order."""
        return [dict(row) for row in self._rows]

    def points(self) -> pd.DataFrame:
        """The rows as a table (columns and dtypes: see the module docstring)."""
        return _table(self._rows)

    def next_run(self) -> int:
        """One more than the largest run id; 0 for an empty sweep."""
        return max((row["run"] for row in self._rows), default=-1) + 1

    def append(self, row: Mapping[str, Any], *, checkpoint: Mapping[str, Any] | None = None,
               history: Sequence[Mapping[str, Any]] | None = None,
               predictions: Mapping[str, Any] | None = None) -> None:
        """Record a finished run: its checkpoint, predictions (a mapping of names to 1-D
        integer arrays) and log, its journal line, then points.csv.

        InputError for a bad row; StoreError when a file cannot be written (the run counts
        as recorded once its journal line is, even if points.csv then cannot be written).
        """
        self._writable()
        row = _clean_row(row, {r["run"] for r in self._rows})
        run = row["run"]
        entries = None if history is None else list(history)
        for i, entry in enumerate(entries or ()):
            if not isinstance(entry, Mapping):
                raise InputError(f"log entry {i} of run {run} must be a dict, "
                                 f"not {type(entry).__name__}")
        log = None if entries is None else "".join(fileio.dumps(dict(e)) + "\n" for e in entries)
        if checkpoint is not None:
            import torch  # here: reading a sweep needs no torch

            try:
                _write(self.checkpoint_path(run), "checkpoint",
                       lambda fh: torch.save(dict(checkpoint), fh))
            except (pickle.PicklingError, TypeError, AttributeError) as err:
                raise InputError(f"the checkpoint of run {run} cannot be saved: "
                                 f"{first_line(err)}") from None
        if predictions:
            _write(self.predictions_path(run), "predictions",
                   lambda fh: _save_predictions(fh, predictions))
        if log is not None:
            _write(self.history_path(run), "log", log)
        line = _line(row).encode("utf-8")
        self._append_line(line, run)
        self._rows.append(json.loads(line))  # as readers will see it: NaN as None
        try:
            self.export()
        except StoreError as err:
            raise StoreError(f"{err} (run {run} itself is saved in {JOURNAL_FILE})") from None

    def _append_line(self, data: bytes, run: int) -> None:
        path = self._path / JOURNAL_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)  # no O_CREAT: never start a new one
        except OSError as err:
            raise StoreError(f"cannot record run {run} in {path}: {err.strerror or err}") from None
        try:
            size = os.fstat(fd).st_size
            if os.write(fd, data) != len(data):  # a short write: the disk is full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            os.fsync(fd)
        except OSError as err:
            with contextlib.suppress(OSError):  # leave no half line behind
                os.ftruncate(fd, size)
                os.fsync(fd)
            raise StoreError(f"cannot record run {run} in {path}: {err.strerror or err}") from None
        finally:
            os.close(fd)

    def export(self, frame: pd.DataFrame | None = None) -> Path:
        """Write ``points.csv`` atomically from ``frame`` (the rows with any derived columns
        the caller adds) or else from the rows; returns its path."""
        self._writable()
        if frame is None:
            frame = self.points()
        elif not isinstance(frame, pd.DataFrame):
            raise InputError(f"export needs a pandas DataFrame, not {type(frame).__name__}")
        path = self._path / POINTS_FILE
        _write(path, "points table", frame.to_csv(index=False, lineterminator="\n"))
        return path

    def _writable(self) -> None:
        if not self.locked:
            raise StoreError(f"sweep {self._path} is not open for writing (open it with "
                             "SweepStore.create_or_open, which takes its lock)")

    # -- checkpoints and logs ----------------------------------------------------------------

    def checkpoint_path(self, run: int) -> Path:
        return self._path / CHECKPOINTS_DIR / f"{_run_name(run)}.pt"

    def predictions_path(self, run: int) -> Path:
        return self._path / PREDICTIONS_DIR / f"{_run_name(run)}.npz"

    def load_predictions(self, run: int) -> dict[str, Any] | None:
        """The predictions of ``run`` as numpy arrays (``val``, ``val_labels``, ``test``,
        ``test_labels``), or None when it has none (a failed run, or a sweep written before
        predictions were stored); StoreError when the file is damaged."""
        path = self.predictions_path(run)
        if not path.exists():
            return None
        import numpy as np

        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError) as err:
            raise StoreError(f"predictions {path} are unreadable ({first_line(err)})") from None

    def history_path(self, run: int) -> Path:
        return self._path / LOGS_DIR / f"{_run_name(run)}.jsonl"

    def load_checkpoint(self, run: int, *, map_location: Any = "cpu") -> dict[str, Any]:
        """The checkpoint dict of ``run`` (``torch.load(weights_only=True)``); StoreError when
        it is missing, unreadable or not a dict."""
        path = self.checkpoint_path(run)
        if not path.exists():
            raise StoreError(f"run {run} has no checkpoint in {self._path} "
                             f"({path.name} is missing)")
        import torch

        try:
            obj = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # torch raises many kinds for a damaged file
            raise StoreError(f"checkpoint {path} is unreadable ({first_line(err)})") from None
        if not isinstance(obj, dict):
            raise StoreError(f"checkpoint {path} does not hold a dict")
        return obj

    def history(self, run: int) -> list[dict[str, Any]]:
        """The per-epoch log of ``run``; StoreError when it is missing or corrupted."""
        path = self.history_path(run)
        raw = _read(path, f"run {run} has no log in {self._path} ({path.name} is missing)")
        out = []
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                entry = None
            if not isinstance(entry, dict):
                raise StoreError(f"log {path} is corrupted (line {number} is not a JSON object)")
            out.append(entry)
        return out
