"""Functions run by the executor tests in worker processes.

Spawned processes (and Ray workers) must import them by name, so they live in this small
module rather than in a test module. ``work(item, progress)`` takes items ``(action, value)``:

* ``("value", x)`` -- return ``x * 2``;
* ``("raise", message)`` -- raise ``ValueError(message)``;
* ``("die", code)`` -- kill the worker: ``None`` sends itself SIGKILL, else ``os._exit(code)``;
* ``("pid", _)`` -- return this process's pid;
* ``("unpicklable_error", _)`` -- raise an exception that cannot be pickled;
* ``("unpicklable_result", _)`` -- return something that cannot be pickled;
* ``("progress", (records, x))`` -- send each record through ``progress``, return ``x``;
* ``("remember", x)`` -- cache ``x`` in this module unless something is cached already; return
  ``(pid, the cached value)``: a second job in the same worker sees the first one's value;
* ``("torch_threads", _)`` -- torch's thread count, or None if this worker has not loaded torch;
* ``("wait_file", (path, x))`` -- wait until ``path`` exists, return ``x`` (TimeoutError after
  a minute: a test that waits that long has failed anyway);
* ``("mark_then_wait", (marker, flag, x))`` -- append this pid to ``marker``, then wait for
  ``flag`` (as ``wait_file``; on giving up it creates ``marker + ".gave-up"``), return ``x``;
* ``("progress_when", (path, returned))`` -- wait until ``path`` exists, send one record,
  then create the file ``returned`` (which stays absent if sending the record raised);
* ``("die_when", (path, code))`` -- wait until ``path`` exists, then die as ``die``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

PATIENCE_S = 60.0
_CACHE: dict[str, object] = {}


class UnpicklableError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()  # locks do not pickle


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


def work(item, progress):
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
    if action == "progress":
        records, result = value
        for record in records:
            progress(record)
        return result
    if action == "remember":
        return os.getpid(), _CACHE.setdefault("first", value)
    if action == "torch_threads":
        torch = sys.modules.get("torch")
        return None if torch is None else torch.get_num_threads()
    if action == "wait_file":
        path, result = value
        _wait_for(path)
        return result
    if action == "mark_then_wait":
        marker, flag, result = value
        _mark(marker)
        try:
            _wait_for(flag)
        except TimeoutError:
            Path(marker + ".gave-up").touch()
            raise
        return result
    if action == "progress_when":
        path, returned = value
        _wait_for(path)
        progress({"epoch": 0})
        Path(returned).touch()
        return None
    if action == "die_when":
        path, code = value
        _wait_for(path)
        _die(code)
    raise AssertionError(f"unknown action {action!r}")
