"""The sweep directory: everything a sweep produces, written so that a kill loses nothing.

A sweep directory ``OUT`` holds::

    OUT/
      sweep.json              what the sweep is (see below); written once, updated on resume
      points.csv              the points table: one row per finished run, ok or failed
      checkpoints/run-0007.pt one per run: ``torch.save`` of the dict the caller gave
      logs/run-0007.jsonl     one per run: the per-epoch log, one JSON object a line
      .lock                   present while a process writes the sweep (JSON: pid, host, ...)

``sweep.json``::

    {"schema_version": 1, "kind": "paretoprune-sweep", "created": "<iso time>",
     "updated": "<iso time>", "fingerprint": "<hash of identity>", "identity": {...},
     "config": {...resolved config...}, "versions": {"python": ..., "paretoprune": ...,
     "torch": ..., "numpy": ..., "pandas": ..., "platform": ...}}

``identity`` is the part of the config that defines the sweep (the caller chooses it, e.g.
everything but budget, workers, executor and quiet) and ``fingerprint`` its hash; a later
sweep into the same directory must have the same fingerprint (it resumes), or use ``force``
(the old directory is moved aside to ``OUT.old-<timestamp>``: nothing is deleted).

``points.csv`` -- readable with plain ``pandas.read_csv``. Columns, in this order, then any
extra columns the caller adds (in order of first appearance):

========  =====================================================================
run       int >= 0, unique: the run number (also names its checkpoint and log)
weight    float: the scalarization weight lambda of the run
loss      float: final training/validation loss (empty for a failed run)
l1        float: final l1 norm of the weights (empty for a failed run)
sparsity  float in [0, 1]: fraction of (near-)zero weights
accuracy  float in [0, 1]: final accuracy
status    ``ok`` or ``failed`` (required, never empty)
error     one-line reason of a failed run; empty for ``ok`` rows
gap       text ``"wa:wb"``: the two front weights whose gap this weight was proposed for
          (empty for end points and other weights)
pareto    bool: on the non-dominated front of the ok rows (``False`` until computed)
========  =====================================================================

``run``, ``weight`` and ``status`` are required in every row; the other standard columns may
be missing from a row (written empty). :meth:`SweepStore.points` returns them with fixed
dtypes (``run`` int64; ``weight``, ``loss``, ``l1``, ``sparsity``, ``accuracy`` float64;
``status``, ``error``, ``gap`` str, with ``""`` for none; ``pareto`` bool). Extra columns come
back as pandas reads them.

Durability: every file is written to a temporary file in the same directory, flushed,
fsynced and moved into place with ``os.replace``; appending a row rewrites the whole table
that way. A run's checkpoint and log are written before its row, so a row in the table always
has its checkpoint. A reader finds either the old or the new version of each file, never a
truncated one; a table or ``sweep.json`` that is corrupted anyway (edited by hand, disk
trouble) raises :class:`~paretoprune.errors.StoreError` naming the file, and is never
overwritten silently.

Locking: a process that writes a sweep holds ``OUT/.lock`` (created with ``O_CREAT|O_EXCL``).
A second writer gets :class:`~paretoprune.errors.LockHeldError`; a lock left by a dead process
on this host is taken over with a :class:`StoreWarning`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import io
import json
import math
import numbers
import os
import platform
import secrets
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pandas as pd

from paretoprune.errors import InputError, LockHeldError, StoreError

__all__ = [
    "CHECKPOINTS_DIR",
    "KIND",
    "LOCK_FILE",
    "LOGS_DIR",
    "META_FILE",
    "NUMERIC_COLUMNS",
    "POINTS_FILE",
    "REQUIRED_COLUMNS",
    "SCHEMA_VERSION",
    "STANDARD_COLUMNS",
    "STATUSES",
    "TEXT_COLUMNS",
    "StoreWarning",
    "SweepStore",
    "fingerprint",
]

SCHEMA_VERSION = 1
KIND = "paretoprune-sweep"
META_FILE = "sweep.json"
POINTS_FILE = "points.csv"
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
LOCK_FILE = ".lock"

STANDARD_COLUMNS: tuple[str, ...] = (
    "run",
    "weight",
    "loss",
    "l1",
    "sparsity",
    "accuracy",
    "status",
    "error",
    "gap",
    "pareto",
)
REQUIRED_COLUMNS: tuple[str, ...] = ("run", "weight", "status")
NUMERIC_COLUMNS: tuple[str, ...] = ("weight", "loss", "l1", "sparsity", "accuracy")
TEXT_COLUMNS: tuple[str, ...] = ("error", "gap")  # "" for none
STATUSES: tuple[str, ...] = ("ok", "failed")

_TMP_PREFIX = ".tmp-"
# pandas < 3 parses floats with a fast, slightly lossy parser unless asked; pandas 3 round-trips
# by default and deprecates the option
_READ_CSV_OPTIONS: dict[str, Any] = (
    {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
)
# A lock file that exists but holds no valid JSON is being written right now, or was left by a
# process killed between creating and writing it; after this long it counts as stale.
_EMPTY_LOCK_GRACE_S = 5.0


class StoreWarning(UserWarning):
    """Something a user should know about a sweep directory that is not an error."""


# --------------------------------------------------------------------------------------------
# small helpers


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _json_default(value: Any) -> Any:
    """JSON for values json does not know: numpy/torch scalars, paths, sets."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        with contextlib.suppress(Exception):
            return item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        with contextlib.suppress(Exception):
            return tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _canonical(value: Any) -> Any:
    """The JSON form of a config value, with integral floats as ints (1.0 and 1 are the same)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        if math.isfinite(f) and f.is_integer():
            return int(f)
        return f
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return _canonical(json.loads(json.dumps(value, default=_json_default)))


def fingerprint(identity: Mapping[str, Any]) -> str:
    """A short stable hash of the entries that define a sweep (key order does not matter)."""
    text = json.dumps(_canonical(dict(identity)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every OS opens directories)."""
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


def _atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(fileobj)`` atomically: temp file, fsync, ``os.replace``.

    A crash at any moment leaves either the old file or the new one (plus, at worst, a stray
    ``.tmp-*`` file that readers ignore and the next writer removes).
    """
    directory = path.parent
    while True:
        tmp = directory / f"{_TMP_PREFIX}{path.name}.{secrets.token_hex(6)}"
        try:
            # 0o666 minus the umask, like any new file (mkstemp would force 0o600)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic_write(path, lambda fh: fh.write(data))


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in ("paretoprune", "torch", "numpy", "pandas"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=_json_default)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_difference(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 3) -> str:
    """``model lenet5 vs mlp, lr 0.1 vs 0.01`` (stored value first), at most ``limit`` items."""
    old_c, new_c = _canonical(dict(old)), _canonical(dict(new))
    missing = "(unset)"
    parts = []
    for key in sorted(set(old_c) | set(new_c)):
        a, b = old_c.get(key, missing), new_c.get(key, missing)
        if a != b:
            parts.append(f"{key} {_short(a)} vs {_short(b)}")
    if not parts:
        return "different identity"
    text = ", ".join(parts[:limit])
    return text + (", ..." if len(parts) > limit else "")


def _run_number(value: Any, what: str = "run") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{what} must be a non-negative integer, not {value!r}")
    f = float(value)
    if not (math.isfinite(f) and f.is_integer() and f >= 0):
        raise InputError(f"{what} must be a non-negative integer, not {value!r}")
    return int(f)


def _is_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, numbers.Number)):
        return True
    return getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None))


# --------------------------------------------------------------------------------------------
# process identity for the lock


def _proc_stat(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (state first; Linux only), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces: split after it
    return data[data.rfind(")") + 2 :].split()


def _proc_start_time(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (field 22 of /proc stat), else None."""
    stat = _proc_stat(pid)
    return stat[19] if stat is not None and len(stat) > 19 else None


def _pid_alive(pid: int, start_time: str | None = None) -> bool:
    if pid <= 0:
        return False
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows: assume alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, belongs to someone else
    except OSError:
        return True  # cannot tell: assume alive
    stat = _proc_stat(pid)
    if stat is not None:
        if stat[0] in ("Z", "X"):
            return False  # a zombie: dead, not yet reaped by its parent
        if start_time is not None and len(stat) > 19 and stat[19] != start_time:
            return False  # the pid was reused by another process
    return True


# --------------------------------------------------------------------------------------------
# the lock


class _SweepLock:
    """``OUT/.lock``: one writer per sweep directory, with takeover of stale locks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE
        self._token: str | None = None
        self._depth = 0
        self._mutex = threading.RLock()
        self._prev_sigterm: Any = None
        self._sigterm_installed = False

    @property
    def held(self) -> bool:
        return self._token is not None

    # -- reading ---------------------------------------------------------------------------

    def _read(self, path: Path | None = None) -> tuple[dict[str, Any] | None, bytes]:
        """The lock's JSON (None if empty or not JSON) and its raw bytes; FileNotFoundError."""
        raw = (path or self.path).read_bytes()
        try:
            info = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None, raw
        return (info if isinstance(info, dict) and "pid" in info else None), raw

    def holder(self) -> dict[str, Any] | None:
        """The JSON of the current lock, or None when the directory is not locked."""
        try:
            info, _raw = self._read()
        except FileNotFoundError:
            return None
        return info or {}

    def _stale_reason(self, info: dict[str, Any] | None) -> str | None:
        """Why the lock described by ``info`` is stale, or None when it may be live."""
        if info is None:
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                return None
            if age > _EMPTY_LOCK_GRACE_S:
                return "an empty or unreadable lock file"
            return None
        if info.get("hostname") != socket.gethostname():
            return None  # cannot check another host
        try:
            pid = int(info["pid"])
        except (TypeError, ValueError):
            return "a lock file without a valid pid"
        start = info.get("proc_start")
        if _pid_alive(pid, str(start) if start is not None else None):
            return None
        return f"pid {pid}, which is no longer running"

    def describe(self, info: dict[str, Any] | None) -> str:
        if not info:
            return f"sweep {self.directory} is locked (its lock file is being written)"
        return (
            f"sweep {self.directory} is locked by pid {info.get('pid', '?')} on host "
            f"{info.get('hostname', '?')} since {info.get('started', '?')}; "
            "wait for it or stop it"
        )

    # -- acquiring -------------------------------------------------------------------------

    def _try_create(self) -> bool:
        token = secrets.token_hex(8)
        info = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started": _now(),
            "argv": list(sys.argv),
            "proc_start": _proc_start_time(os.getpid()),
            "token": token,
        }
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, json.dumps(info).encode("utf-8"))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        os.close(fd)
        self._token = token
        return True

    def _take_over(self, raw: bytes, reason: str) -> bool:
        """Move a stale lock aside (atomically) if it is still the one judged stale."""
        aside = self.directory / f"{LOCK_FILE}.stale-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False  # someone else released or took it over: try again
        try:
            moved = aside.read_bytes()
        except OSError:
            moved = raw
        if moved != raw:
            # Between our check and the rename another process replaced the stale lock with
            # a fresh one: put it back (without overwriting a newer one) and start over.
            with contextlib.suppress(OSError):
                os.link(aside, self.path)
            with contextlib.suppress(OSError):
                os.unlink(aside)
            return False
        with contextlib.suppress(OSError):
            os.unlink(aside)
        warnings.warn(
            f"took over the stale lock of sweep {self.directory} (left by {reason})",
            StoreWarning,
            stacklevel=4,
        )
        return True

    def acquire(self) -> None:
        with self._mutex:
            if self._token is not None:
                self._depth += 1
                return
            if not self.directory.is_dir():
                raise StoreError(f"sweep directory {self.directory} does not exist")
            deadline = time.monotonic() + _EMPTY_LOCK_GRACE_S + 2.0
            while True:
                try:
                    if self._try_create():
                        break
                except OSError as err:
                    raise StoreError(
                        f"cannot create the lock {self.path}: {err.strerror or err}"
                    ) from None
                try:
                    info, raw = self._read()
                except FileNotFoundError:
                    continue  # released meanwhile: try again
                reason = self._stale_reason(info)
                if reason is None:
                    if info is None and time.monotonic() < deadline:
                        time.sleep(0.05)  # being written right now: look again shortly
                        continue
                    raise LockHeldError(self.describe(info))
                self._take_over(raw, reason)
            self._depth = 1
            self._install_sigterm()
            _HELD_LOCKS.add(self)
            self._clean_temp_files()

    def release(self) -> None:
        with self._mutex:
            if self._token is None:
                return
            self._depth -= 1
            if self._depth > 0:
                return
            self._release_now()

    def _release_now(self) -> None:
        token, self._token, self._depth = self._token, None, 0
        _HELD_LOCKS.discard(self)
        self._restore_sigterm()
        try:
            info, _raw = self._read()
        except OSError:
            return
        if info is not None and info.get("token") == token:
            with contextlib.suppress(OSError):
                os.unlink(self.path)

    def _clean_temp_files(self) -> None:
        """Remove temporary files left by writers that were killed mid-write."""
        for sub in (self.directory, self.directory / CHECKPOINTS_DIR, self.directory / LOGS_DIR):
            with contextlib.suppress(OSError):
                for entry in sub.iterdir():
                    if entry.name.startswith(_TMP_PREFIX):
                        with contextlib.suppress(OSError):
                            entry.unlink()

    # -- SIGTERM: unwind (releasing the lock) instead of dying on the spot ---------------------

    def _install_sigterm(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        try:
            self._prev_sigterm = signal.getsignal(signal.SIGTERM)
            signal.signal(signal.SIGTERM, self._on_sigterm)
        except (ValueError, OSError):  # not the main interpreter / platform without it
            return
        self._sigterm_installed = True

    def _restore_sigterm(self) -> None:
        if not self._sigterm_installed:
            return
        self._sigterm_installed = False
        if threading.current_thread() is not threading.main_thread():
            return
        with contextlib.suppress(ValueError, OSError, TypeError):
            if signal.getsignal(signal.SIGTERM) == self._on_sigterm:
                signal.signal(signal.SIGTERM, self._prev_sigterm)

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        previous = self._prev_sigterm
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            # The default action was to die on the spot. Exit through SystemExit instead, so
            # that ``with store.lock()`` and ``finally`` blocks (executors stopping their
            # workers) run, and the atexit hook releases a lock held outside a ``with``.
            raise SystemExit(128 + signum)


class _HeldLocks:
    """Locks this process holds, released at interpreter exit (best effort)."""

    def __init__(self) -> None:
        self._locks: set[_SweepLock] = set()
        self._registered = False

    def add(self, lock: _SweepLock) -> None:
        if not self._registered:
            import atexit

            atexit.register(self.release_all)
            self._registered = True
        self._locks.add(lock)

    def discard(self, lock: _SweepLock) -> None:
        self._locks.discard(lock)

    def release_all(self) -> None:
        for lock in list(self._locks):
            with contextlib.suppress(Exception):
                lock._release_now()


_HELD_LOCKS = _HeldLocks()


# --------------------------------------------------------------------------------------------
# reading and checking files


def _read_meta(path: Path) -> dict[str, Any]:
    meta_path = path / META_FILE
    try:
        raw = meta_path.read_bytes()
    except FileNotFoundError:
        raise StoreError(f"{path} is not a paretoprune sweep directory (no {META_FILE})") from None
    except OSError as err:
        raise StoreError(f"cannot read {meta_path}: {err.strerror or err}") from None
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        what = "is empty" if not raw.strip() else f"is not valid JSON ({_first_line(err)})"
        raise StoreError(f"{meta_path} {what}; the sweep directory is corrupted") from None
    if not isinstance(meta, dict) or meta.get("kind") != KIND:
        raise StoreError(f"{meta_path} is not a paretoprune sweep file (kind is not {KIND!r})")
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StoreError(f"{meta_path} has no valid schema_version")
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{meta_path} has schema_version {version}, newer than this paretoprune "
            f"understands ({SCHEMA_VERSION}); upgrade paretoprune"
        )
    for key, kind in (("fingerprint", str), ("config", dict)):
        if not isinstance(meta.get(key), kind):
            raise StoreError(f"{meta_path} is missing {key!r}; the sweep directory is corrupted")
    if not isinstance(meta.get("identity"), dict):
        meta["identity"] = {}
    return meta


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def _parse_points(raw: bytes, where: Path) -> pd.DataFrame:
    """The points table from the bytes of ``points.csv``, checked; StoreError if corrupted."""

    def bad(what: str) -> StoreError:
        return StoreError(
            f"{where} is corrupted ({what}); restore it, or move the sweep directory away "
            "to start over"
        )

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
    try:
        df = pd.read_csv(io.StringIO(text), **_READ_CSV_OPTIONS)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as err:
        raise bad(_first_line(err)) from None
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise bad(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if any(str(c).startswith("Unnamed:") for c in df.columns):
        raise bad("a column without a name")
    try:
        return _normalize(df, check_status=False)
    except InputError as err:
        raise bad(str(err)) from None


def _normalize(df: pd.DataFrame, *, check_status: bool) -> pd.DataFrame:
    """Standard columns (in order, fixed dtypes) then extra ones; InputError when invalid."""
    df = df.copy()
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"the points table lacks required column(s) {', '.join(missing)}")
    if df.columns.duplicated().any():
        dup = df.columns[df.columns.duplicated()][0]
        raise InputError(f"column {dup} appears twice")
    n = len(df)

    runs = pd.to_numeric(df["run"], errors="coerce")
    bad_runs = runs.isna() | (runs < 0) | (runs != runs.round())
    if bad_runs.any():
        row = int(bad_runs.to_numpy().nonzero()[0][0])
        raise InputError(f"row {row + 1} has an invalid run {df['run'].iloc[row]!r}")
    runs = runs.astype("int64")
    if runs.duplicated().any():
        raise InputError(f"run {int(runs[runs.duplicated()].iloc[0])} appears twice")
    df["run"] = runs

    for col in NUMERIC_COLUMNS:
        if col not in df.columns:
            df[col] = float("nan")
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna()
        if bad.any():
            row = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(f"column {col} holds a non-number {df[col].iloc[row]!r}")
        df[col] = values.astype("float64")
    if df["weight"].isna().any():
        row = int(df["weight"].isna().to_numpy().nonzero()[0][0])
        raise InputError(f"row {row + 1} has no weight")

    status = df["status"]
    if status.isna().any() or (status.astype(str).str.strip() == "").any():
        row = int(
            (status.isna() | (status.astype(str).str.strip() == "")).to_numpy().nonzero()[0][0]
        )
        raise InputError(f"row {row + 1} has no status")
    df["status"] = status.astype(str).astype(object)
    if check_status:
        unknown = sorted(set(df["status"]) - set(STATUSES))
        if unknown:
            raise InputError(f"status must be one of {', '.join(STATUSES)}, not {unknown[0]!r}")

    for col in TEXT_COLUMNS:
        if col in df.columns:
            df[col] = df[col].map(lambda v: "" if _isna(v) else str(v)).astype(object)
        else:
            df[col] = pd.Series([""] * n, index=df.index, dtype=object)

    if "pareto" in df.columns:
        df["pareto"] = df["pareto"].map(_to_bool).astype(bool)
    else:
        df["pareto"] = pd.Series([False] * n, index=df.index, dtype=bool)

    extras = [c for c in df.columns if c not in STANDARD_COLUMNS]
    for col in STANDARD_COLUMNS:
        if col not in df.columns:
            df[col] = float("nan")
    return df[list(STANDARD_COLUMNS) + extras].reset_index(drop=True)


def _isna(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _to_bool(value: Any) -> bool:
    if _isna(value):
        return False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", ""):
            return False
        raise InputError(f"column pareto holds {value!r}, not True/False")
    return bool(value)


def _empty_points() -> pd.DataFrame:
    return _normalize(pd.DataFrame({c: [] for c in STANDARD_COLUMNS}), check_status=False)


def _frame_to_csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# the store


class SweepStore:
    """A sweep directory (see the module docstring for its layout and guarantees).

    Build one with :meth:`create_or_open` (to run a sweep) or :meth:`open` (to read one).
    Writes (:meth:`append`, :meth:`write_points`) take the lock for their duration unless this
    store already holds it; a sweep should hold it throughout with ``with store.lock(): ...``.
    """

    def __init__(self, path: str | os.PathLike[str], meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self._meta = meta
        self._lock = _SweepLock(self.path)

    def __repr__(self) -> str:
        return f"SweepStore({str(self.path)!r}, fingerprint={self.fingerprint!r})"

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def is_sweep_dir(path: str | os.PathLike[str]) -> bool:
        """True when ``path`` is a directory with a readable ``sweep.json`` of a sweep."""
        try:
            _read_meta(Path(path))
        except (StoreError, OSError):
            return False
        return True

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> SweepStore:
        """Open an existing sweep to read it; StoreError when ``path`` is not a sweep."""
        path = Path(path)
        if not path.exists():
            raise StoreError(f"sweep directory {path} does not exist")
        if not path.is_dir():
            raise StoreError(f"{path} is not a directory")
        return cls(path, _read_meta(path))

    @classmethod
    def create_or_open(
        cls,
        path: str | os.PathLike[str],
        config: Mapping[str, Any],
        *,
        identity_keys: Iterable[str] | None = None,
        identity: Mapping[str, Any] | None = None,
        force: bool = False,
        lock: bool = False,
    ) -> SweepStore:
        """Create the sweep directory ``path`` for ``config``, or reopen it to resume.

        The sweep's identity is ``identity`` if given, else the entries ``identity_keys`` of
        ``config`` (missing keys count as unset), else the whole config. An existing sweep
        with another identity raises StoreError unless ``force``: then the old directory is
        moved aside to ``<path>.old-<timestamp>`` (refused while a live process holds its
        lock). An existing sweep whose table is corrupted raises StoreError (also with
        ``force=False`` only). With ``lock=True`` the returned store already holds the lock
        (taken before anything is written; release it with :meth:`release`).
        """
        if identity is not None and identity_keys is not None:
            raise InputError("give identity or identity_keys, not both")
        path = Path(path)
        config = _canonical_config(config)
        if identity is not None:
            ident = _canonical_config(identity)
        elif identity_keys is not None:
            keys = [identity_keys] if isinstance(identity_keys, str) else list(identity_keys)
            ident = {k: config.get(k) for k in keys}
        else:
            ident = dict(config)
        fp = fingerprint(ident)

        if path.exists() and not path.is_dir():
            raise StoreError(f"{path} exists and is not a directory; pick another directory")
        if path.is_dir():
            problem = cls._check_existing(path, ident, fp)
            if problem is not None:
                if not force:
                    raise StoreError(problem)
                cls._move_aside(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create {path}: {err.strerror or err}") from None

        store = cls(path, {})
        if lock:
            store.acquire()
        else:
            # Not taking the lock now, but do not touch a sweep another process is writing.
            info = store._lock.holder()
            if info and info.get("pid") != os.getpid() and store._lock._stale_reason(info) is None:
                raise LockHeldError(store._lock.describe(info))
        try:
            # Look again, now that we may hold the lock: another process may have created it.
            problem = cls._check_existing(path, ident, fp)
            if problem is not None:
                raise StoreError(problem)
            now = _now()
            if (path / META_FILE).exists():
                meta = _read_meta(path)
                meta["updated"] = now
            else:
                meta = {"schema_version": SCHEMA_VERSION, "kind": KIND, "created": now}
            meta.update(
                schema_version=SCHEMA_VERSION,
                kind=KIND,
                fingerprint=fp,
                identity=ident,
                config=config,
                versions=_versions(),
            )
            # sweep.json first: a directory with it is a sweep even if killed right after
            _atomic_write_bytes(
                path / META_FILE,
                (json.dumps(meta, indent=2, default=_json_default) + "\n").encode("utf-8"),
            )
            store._meta = meta
            (path / CHECKPOINTS_DIR).mkdir(exist_ok=True)
            (path / LOGS_DIR).mkdir(exist_ok=True)
            points_path = path / POINTS_FILE
            if not points_path.exists():
                _atomic_write_bytes(points_path, _frame_to_csv_bytes(_empty_points()))
        except OSError as err:
            store.release()
            raise StoreError(f"cannot write the sweep {path}: {err.strerror or err}") from None
        except BaseException:
            store.release()
            raise
        return store

    @staticmethod
    def _check_existing(path: Path, ident: dict[str, Any], fp: str) -> str | None:
        """Why the existing directory ``path`` cannot hold this sweep, or None when it can."""
        if not (path / META_FILE).exists():
            # sweep.json is the first file a sweep writes: without it, only our own lock and
            # temporary files (a creation killed at once) do not make a directory foreign
            entries = [
                e.name for e in path.iterdir() if not e.name.startswith((LOCK_FILE, _TMP_PREFIX))
            ]
            if entries:
                return (
                    f"{path} exists and is not a sweep directory (it holds {entries[0]!r} but "
                    f"no {META_FILE}); use --force to move it aside or pick another directory"
                )
            return None
        try:
            meta = _read_meta(path)
        except StoreError as err:
            return f"{err}; use --force to move it aside or pick another directory"
        if meta["fingerprint"] != fp:
            return (
                f"{path} holds a different sweep ({_describe_difference(meta['identity'], ident)}"
                "); use --force to overwrite or pick another directory"
            )
        points_path = path / POINTS_FILE
        if points_path.exists():
            try:
                _parse_points(points_path.read_bytes(), points_path)
            except StoreError as err:
                return (
                    f"{err}; refusing to continue this sweep (use --force to move the whole "
                    "directory aside)"
                )
        return None

    @staticmethod
    def _move_aside(path: Path) -> Path:
        holder = _SweepLock(path)
        info = holder.holder()
        if info is not None and holder._stale_reason(info or None) is None:
            raise LockHeldError(holder.describe(info or None))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for i in range(1000):
            target = path.with_name(f"{path.name}.old-{stamp}" + (f"-{i}" if i else ""))
            if target.exists():
                continue
            try:
                os.rename(path, target)
            except FileExistsError:
                continue
            except OSError as err:
                if target.exists():
                    continue
                raise StoreError(f"cannot move {path} aside: {err.strerror or err}") from None
            warnings.warn(
                f"moved the previous contents of {path} to {target}", StoreWarning, stacklevel=3
            )
            return target
        raise StoreError(f"cannot move {path} aside: too many {path.name}.old-* directories")

    # -- what the sweep is -----------------------------------------------------------------

    @property
    def meta(self) -> dict[str, Any]:
        """The content of ``sweep.json`` (as read or written by this store)."""
        return self._meta

    @property
    def config(self) -> dict[str, Any]:
        return self._meta.get("config", {})

    @property
    def identity(self) -> dict[str, Any]:
        return self._meta.get("identity", {})

    @property
    def fingerprint(self) -> str | None:
        return self._meta.get("fingerprint")

    @property
    def points_path(self) -> Path:
        return self.path / POINTS_FILE

    # -- the table -------------------------------------------------------------------------

    def points(self) -> pd.DataFrame:
        """The points table (standard columns first, fixed dtypes); empty with no rows yet.

        StoreError when ``points.csv`` is corrupted (naming the file and what is wrong).
        """
        try:
            raw = self.points_path.read_bytes()
        except FileNotFoundError:
            return _empty_points()
        except OSError as err:
            raise StoreError(f"cannot read {self.points_path}: {err.strerror or err}") from None
        return _parse_points(raw, self.points_path)

    def runs(self) -> list[int]:
        """Run numbers in the table, in table order."""
        return [int(r) for r in self.points()["run"]]

    def next_run(self) -> int:
        """One more than the largest run number in the table (0 for an empty table)."""
        runs = self.runs()
        return max(runs) + 1 if runs else 0

    def append(
        self,
        row: Mapping[str, Any],
        *,
        checkpoint: Mapping[str, Any] | None = None,
        history: list[Mapping[str, Any]] | None = None,
        replace: bool = False,
    ) -> None:
        """Record a finished run: its checkpoint and log first, then its row in the table.

        ``row`` needs ``run`` (int >= 0, not in the table yet unless ``replace``), ``weight``
        and ``status`` (``ok`` or ``failed``); other values must be scalars (they become
        columns). InputError for a bad row, StoreError when the table is corrupted.
        """
        row = dict(row)
        for key in REQUIRED_COLUMNS:
            if key not in row:
                raise InputError(f"a points row needs {key!r}")
        run = _run_number(row["run"])
        row["run"] = run
        for key, value in row.items():
            if not _is_scalar(value):
                raise InputError(
                    f"points value {key!r} must be a number, string, bool or None, "
                    f"not {type(value).__name__}"
                )
            if hasattr(value, "item") and not isinstance(value, (str, bytes)):
                row[key] = value.item()
        if row["status"] not in STATUSES:
            raise InputError(f"status must be one of {', '.join(STATUSES)}, not {row['status']!r}")
        with self.lock():
            table = self.points()
            exists = bool((table["run"] == run).any())
            if exists and not replace:
                raise StoreError(f"run {run} is already in {self.points_path}")
            if checkpoint is not None:
                self.save_checkpoint(run, checkpoint)
            if history is not None:
                self.save_history(run, history)
            new = pd.DataFrame([row])
            if exists:
                table = table[table["run"] != run]
            merged = pd.concat([table, new], ignore_index=True) if len(table) else new
            self.write_points(merged)

    def write_points(self, df: pd.DataFrame) -> None:
        """Replace the whole table atomically (e.g. to update the ``pareto`` column)."""
        if not isinstance(df, pd.DataFrame):
            raise InputError("write_points needs a pandas DataFrame")
        norm = _normalize(df, check_status=True)
        data = _frame_to_csv_bytes(norm)
        with self.lock():
            _atomic_write_bytes(self.points_path, data)

    # -- checkpoints and logs --------------------------------------------------------------

    def checkpoint_path(self, run: int) -> Path:
        return self.path / CHECKPOINTS_DIR / f"run-{_run_number(run):04d}.pt"

    def history_path(self, run: int) -> Path:
        return self.path / LOGS_DIR / f"run-{_run_number(run):04d}.jsonl"

    def save_checkpoint(self, run: int, checkpoint: Mapping[str, Any]) -> Path:
        """``torch.save`` ``checkpoint`` for ``run`` atomically."""
        import torch

        path = self.checkpoint_path(run)
        with self.lock():
            path.parent.mkdir(exist_ok=True)
            _atomic_write(path, lambda fh: torch.save(dict(checkpoint), fh))
        return path

    def load_checkpoint(
        self, run: int, *, map_location: Any = "cpu", weights_only: bool = True
    ) -> dict[str, Any]:
        """The checkpoint dict of ``run``; StoreError when it is missing or unreadable."""
        path = self.checkpoint_path(run)
        if not path.exists():
            raise StoreError(f"run {run} has no checkpoint in {self.path} ({path.name} is missing)")
        import torch

        try:
            obj = torch.load(path, map_location=map_location, weights_only=weights_only)
        except Exception as err:  # torch raises many kinds for a damaged file
            raise StoreError(f"checkpoint {path} is unreadable ({_first_line(err)})") from None
        if not isinstance(obj, dict):
            raise StoreError(f"checkpoint {path} does not hold a dict")
        return obj

    def save_history(self, run: int, history: list[Mapping[str, Any]]) -> Path:
        """Write the per-epoch log of ``run`` (JSON lines) atomically."""
        lines = []
        for i, entry in enumerate(history):
            if not isinstance(entry, Mapping):
                raise InputError(f"history entry {i} must be a dict, not {type(entry).__name__}")
            try:
                lines.append(json.dumps(dict(entry), default=_json_default))
            except (TypeError, ValueError) as err:
                raise InputError(f"history entry {i} cannot be written as JSON: {err}") from None
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        path = self.history_path(run)
        with self.lock():
            path.parent.mkdir(exist_ok=True)
            _atomic_write_bytes(path, data)
        return path

    def history(self, run: int) -> list[dict[str, Any]]:
        """The per-epoch log of ``run``; StoreError when it is missing or corrupted."""
        path = self.history_path(run)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise StoreError(
                f"run {run} has no log in {self.path} ({path.name} is missing)"
            ) from None
        except UnicodeDecodeError:
            raise StoreError(f"log {path} is corrupted (not UTF-8 text)") from None
        except OSError as err:
            raise StoreError(f"cannot read {path}: {err.strerror or err}") from None
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise StoreError(f"log {path} is corrupted (line {number} is not JSON)") from None
            if not isinstance(entry, dict):
                raise StoreError(f"log {path} is corrupted (line {number} is not an object)")
            out.append(entry)
        return out

    # -- locking ---------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the sweep's lock (re-entrant within this store); LockHeldError if taken."""
        self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    @property
    def locked(self) -> bool:
        """Whether this store holds the lock."""
        return self._lock.held

    def lock_holder(self) -> dict[str, Any] | None:
        """The lock's JSON (pid, hostname, started, argv) or None when nobody holds it."""
        return self._lock.holder()

    @contextlib.contextmanager
    def lock(self) -> Iterator[SweepStore]:
        """Hold the lock for a block: ``with store.lock(): ...`` (released on any exit)."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()


def _canonical_config(config: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise InputError(f"config must be a dict, not {type(config).__name__}")
    try:
        return json.loads(json.dumps(dict(config), default=_json_default))
    except (TypeError, ValueError) as err:
        raise InputError(f"the sweep config cannot be written as JSON: {err}") from None
