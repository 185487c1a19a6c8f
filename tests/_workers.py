"""Functions run by the executor tests in worker processes.

Spawned processes (and Ray workers) must import them by name, so they live in this small
module rather than in a test module. Items are tuples ``(action, value)``:

* ``("value", x)`` -- return ``x * 2``;
* ``("raise", message)`` -- raise ``ValueError(message)``;
* ``("die", code)`` -- kill the worker: ``None`` sends itself SIGKILL, else ``os._exit(code)``;
* ``("pid", _)`` -- return this process's pid;
* ``("unpicklable_error", _)`` -- raise an exception that cannot be pickled;
* ``("unpicklable_result", _)`` -- return something that cannot be pickled;
* ``("touch", (path, x))`` -- create ``path``, return ``x``;
* ``("wait_file", (path, x))`` -- wait until ``path`` exists, return ``x`` (TimeoutError after
  a minute: a test that waits that long has failed anyway);
* ``("mark_then_wait", (marker, flag, x))`` -- append this pid to ``marker``, then wait for
  ``flag`` (as ``wait_file``), return ``x``;
* ``("mark_then_sleep", (marker, seconds, x))`` -- append this pid to ``marker``, sleep, return;
* ``("die_when", (path, code))`` -- wait until ``path`` exists, then die as ``die``.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

PATIENCE_S = 60.0


class UnpicklableError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()  # locks do not pickle


class ExitOnUnpickle:
    """An item whose unpickling kills the process that receives it (before ``work`` runs)."""

    def __init__(self, code: int) -> None:
        self.code = code

    def __reduce__(self):
        return (os._exit, (self.code,))


def _wait_for(path: str) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear")
        time.sleep(0.01)


def _mark(marker: str) -> None:
    with open(marker, "a") as fh:
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        os.fsync(fh.fileno())


def _die(code: int | None) -> None:
    if code is None:
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(PATIENCE_S)
    os._exit(code)


def work(item):
    action, value = item
    if action == "value":
        return value * 2
    if action == "raise":
        raise ValueError(value)
    if action == "die":
        _die(value)
    if action == "pid":
        return os.getpid()
    if action == "unpicklable_error":
        raise UnpicklableError("cannot travel")
    if action == "unpicklable_result":
        return threading.Lock()
    if action == "touch":
        path, result = value
        Path(path).touch()
        return result
    if action == "wait_file":
        path, result = value
        _wait_for(path)
        return result
    if action == "mark_then_wait":
        marker, flag, result = value
        _mark(marker)
        _wait_for(flag)
        return result
    if action == "mark_then_sleep":
        marker, seconds, result = value
        _mark(marker)
        time.sleep(seconds)
        return result
    if action == "die_when":
        path, code = value
        _wait_for(path)
        _die(code)
    raise AssertionError(f"unknown action {action!r}")
