"""Executors: run one function over many items, serially, in processes, or on Ray.

Every executor has the same small interface (:class:`Executor`)::

    with make_executor("process", workers=4) as ex:
        for index, outcome in ex.map(train_one, weights):
            ...  # outcome is fn's return value, or the exception it raised

``map`` yields ``(index, outcome)`` pairs *as the items finish* (not in input order). The
outcome is the value ``fn(item)`` returned, or the exception instance it raised; a worker
process that died while running an item (``os._exit``, SIGKILL, a segfault, the OOM killer)
gives a :class:`WorkerDied`. ``map`` never raises because of a failing item. Ctrl-C
(KeyboardInterrupt) and SystemExit in the caller stop the map: the executor cancels what is
queued, stops the workers, and lets the exception propagate.

* :class:`SerialExecutor` -- in this process, one item after another.
* :class:`ProcessExecutor` -- a ``concurrent.futures.ProcessPoolExecutor`` with the ``spawn``
  start method (fork is unsafe with torch and threads), kept across ``map`` calls. A worker
  that dies breaks the whole pool (a limitation of ``ProcessPoolExecutor``): the item it ran
  yields :class:`WorkerDied`, the pool is recreated, and the other items that were running are
  re-submitted (once by default) rather than lost. ``fn`` and the items must be picklable and
  ``fn`` importable by name (a module-level function); workers see this process's
  ``sys.path``. Workers ignore SIGINT (Ctrl-C is handled here, once) and exit when this
  process dies, even by SIGKILL. An exception or result that cannot be pickled back becomes a
  :class:`RemoteError` with the worker's traceback text; any exception from a worker carries
  that text in its ``remote_traceback`` attribute.
* :class:`RayExecutor` -- each item a Ray task (``num_cpus``/``num_gpus`` per run), on a local
  runtime this executor starts (and shuts down on close) or on a cluster at ``ray_address``
  (left running). Ray is optional: ``pip install "paretoprune[ray]"``.

At most ``workers`` items run at a time in every executor (Ray included: the driver submits
no more than that, whatever the cluster size).
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol, runtime_checkable

from paretoprune.errors import InputError

__all__ = [
    "EXECUTORS",
    "Executor",
    "ProcessExecutor",
    "RayExecutor",
    "RemoteError",
    "SerialExecutor",
    "WorkerDied",
    "make_executor",
]

EXECUTORS: tuple[str, ...] = ("serial", "process", "ray")


_MAX_FUTILE_POOLS = 3


class WorkerDied(Exception):
    """The worker process running an item died (or was stopped) before it returned."""


class RemoteError(Exception):
    """Stands in for an exception raised in a worker that could not be sent back as itself
    (it does not pickle); its message is ``<Type>: <message>`` and ``remote_traceback`` holds
    the worker's traceback text."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


@runtime_checkable
class Executor(Protocol):
    workers: int

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """Run fn(item) for each item; yield (index, outcome) as each finishes, where outcome
        is fn's return value or the BaseException instance it raised (a worker that died
        becomes a WorkerDied). Never raises for a failing item."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...


def _short_repr(item: Any, limit: int = 60) -> str:
    try:
        text = repr(item)
    except Exception:
        text = f"<{type(item).__name__}>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_item(index: int, item: Any) -> str:
    return f"item {index} ({_short_repr(item)})"


def _exit_code_text(code: int | None) -> str:
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"exit code {code}, {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, not {value!r}")
    return value


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise InputError(f"{name} must be a number >= 0, not {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be finite, not {value!r}")
    return float(value)


class _ContextManager:
    def __enter__(self):  # returns the concrete executor
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        pass


# --------------------------------------------------------------------------------------------
# serial


class SerialExecutor(_ContextManager):
    """Runs the items one after another in this process (``workers`` is always 1)."""

    def __init__(self) -> None:
        self.workers = 1

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(list(items)):
            try:
                outcome = fn(item)
            except (KeyboardInterrupt, SystemExit, GeneratorExit):
                raise  # the user stopping the sweep, not a failing item
            except BaseException as err:
                outcome = err
            yield index, outcome

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return "SerialExecutor()"


# --------------------------------------------------------------------------------------------
# processes

# In a worker process: where to announce "item <token> started in pid <pid>".
_TRACKER: Any = None


def _worker_init(tracker: Any) -> None:
    global _TRACKER
    _TRACKER = tracker
    # Ctrl-C reaches the whole process group; the parent handles it (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """End this worker when the parent dies (SIGKILL, OOM): else it would wait forever for
    work that never comes, holding its memory (the pool's queues never report EOF)."""
    parent = multiprocessing.parent_process()
    sentinel = getattr(parent, "sentinel", None)
    if sentinel is None:
        return

    def watch() -> None:
        with contextlib.suppress(Exception):
            multiprocessing.connection.wait([sentinel])
            os._exit(1)

    threading.Thread(target=watch, name="paretoprune-parent-watch", daemon=True).start()


def _encode_exception(err: BaseException) -> bytes:
    try:
        data = pickle.dumps(err)
        pickle.loads(data)
        return data
    except Exception:
        import traceback

        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        return pickle.dumps(RemoteError(f"{type(err).__name__}: {err}", tb))


def _run_tracked(token: int, fn: Callable[[Any], Any], item: Any) -> tuple[bool, bytes]:
    """In a worker: announce the start, run ``fn(item)``, return its pickled outcome.

    Pickling here (instead of letting the pool do it) keeps an outcome that cannot be sent or
    read back from breaking the pool: it becomes that item's exception.
    """
    if _TRACKER is not None:
        _TRACKER.put((token, os.getpid()))
    try:
        result = fn(item)
    except BaseException as err:
        import traceback

        # pickling drops the traceback: keep its text (like concurrent.futures does)
        with contextlib.suppress(Exception):
            err.remote_traceback = "".join(
                traceback.format_exception(type(err), err, err.__traceback__)
            )
        return False, _encode_exception(err)
    try:
        return True, pickle.dumps(result)
    except Exception as err:
        return False, _encode_exception(
            RemoteError(f"the result of fn({_short_repr(item)}) cannot be pickled: {err}")
        )


def _decode(ok: bool, data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as err:
        what = "result" if ok else "exception"
        return RemoteError(f"cannot read back the {what} from the worker: {err}")


class ProcessExecutor(_ContextManager):
    """Runs items in ``workers`` spawned processes (see the module docstring).

    ``max_resubmits``: how many times an item that was running when *another* worker died is
    re-submitted before it too yields WorkerDied.
    """

    def __init__(self, workers: int = 1, *, max_resubmits: int = 1) -> None:
        self.workers = _positive_int("workers", workers)
        if isinstance(max_resubmits, bool) or not isinstance(max_resubmits, int):
            raise InputError(f"max_resubmits must be an integer, not {max_resubmits!r}")
        self.max_resubmits = max(0, max_resubmits)
        self._ctx = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None
        self._tracker: Any = None
        self._procs: dict[int, Any] = {}
        self._running = False
        self._token = 0
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"

    # -- pool management -------------------------------------------------------------------

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("this ProcessExecutor is closed")
        if self._pool is None:
            self._tracker = self._ctx.SimpleQueue()
            self._procs = {}
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=self._ctx,
                initializer=_worker_init,
                initargs=(self._tracker,),
            )
        return self._pool

    def _snapshot_processes(self) -> None:
        """Remember the pool's worker processes (to read their exit codes after a break)."""
        procs = getattr(self._pool, "_processes", None)  # CPython internals; best effort
        if isinstance(procs, dict):
            self._procs.update(procs)

    def _poke(self) -> None:
        """Make the pool's manager thread look at its workers again.

        ``ProcessPoolExecutor.submit`` wakes its manager thread *before* spawning a new worker,
        so the manager may wait without watching that worker: if it dies, nobody notices until
        another item finishes. A wake-up after ``submit`` closes that gap.
        """
        wakeup = getattr(self._pool, "_executor_manager_thread_wakeup", None)
        if wakeup is not None:
            with contextlib.suppress(Exception):
                wakeup.wakeup()

    def _dead_workers(self) -> list[Any]:
        """Worker processes that have exited (checked without reaping them)."""
        sentinels = {}
        for p in list(self._procs.values()):
            with contextlib.suppress(Exception):
                sentinels[p.sentinel] = p
        if not sentinels:
            return []
        with contextlib.suppress(Exception):
            return [sentinels[s] for s in multiprocessing.connection.wait(list(sentinels), 0)]
        return []

    def _drain(self, started: dict[int, int]) -> int:
        """Read the workers' "item started" notes into ``started``; how many were new."""
        tracker = self._tracker
        if tracker is None:
            return 0
        count = 0
        with contextlib.suppress(Exception):
            while not tracker.empty():
                token, pid = tracker.get()
                started[token] = pid
                count += 1
        return count

    def _discard_pool(self, *, terminate: bool) -> dict[int, int | None]:
        """Shut the pool down, stopping its workers first if ``terminate``; pid -> exit code.

        Stopping the workers ourselves before ``shutdown`` also covers a CPython race: a
        worker spawned by ``submit`` while the pool is breaking is never terminated by the
        pool, which then waits for it forever.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return {}
        self._snapshot_processes()
        procs, self._procs = self._procs, {}
        if terminate:
            for p in procs.values():
                with contextlib.suppress(Exception):
                    p.terminate()
            deadline = time.monotonic() + 10.0
            for p in procs.values():
                with contextlib.suppress(Exception):
                    p.join(timeout=max(0.0, deadline - time.monotonic()))
                    if p.is_alive():
                        p.kill()
                        p.join(timeout=5.0)
        pool.shutdown(wait=True, cancel_futures=True)
        codes: dict[int, int | None] = {}
        for pid, p in procs.items():
            with contextlib.suppress(Exception):
                p.join(timeout=5.0)
            codes[pid] = getattr(p, "exitcode", None)
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            with contextlib.suppress(Exception):
                tracker.close()
        return codes

    # -- map ---------------------------------------------------------------------------------

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        items = list(items)
        with self._lock:
            if self._running:
                raise RuntimeError("ProcessExecutor.map is already running")
            self._running = True
        try:
            yield from self._map(fn, items)
        except BaseException:
            # Ctrl-C, SystemExit, or the caller abandoning the iteration: stop at once
            self._discard_pool(terminate=True)
            raise
        finally:
            self._running = False

    def _map(self, fn: Callable[[Any], Any], items: list[Any]) -> Iterator[tuple[int, Any]]:
        pending: deque[int] = deque(range(len(items)))
        inflight: dict[Future, tuple[int, int]] = {}  # future -> (index, token)
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()  # in order of completion
        started: dict[int, int] = {}  # token -> pid of the worker that started it
        resubmits: dict[int, int] = {}
        # pools in a row that broke before any item started in them: workers that cannot
        # start (a broken environment, an import error in the worker) must not loop forever
        futile_pools = 0
        unnoticed = 0  # checks in a row that found a dead worker the pool had not noticed

        def outcome_of(fut: Future) -> Any:
            err = fut.exception()
            if err is not None:  # e.g. fn or the item did not pickle
                return err
            return _decode(*fut.result())

        while pending or inflight:
            broken = False
            while pending and len(inflight) < self.workers:
                index = pending.popleft()
                self._token += 1
                pool = self._ensure_pool()
                try:
                    fut = pool.submit(_run_tracked, self._token, fn, items[index])
                except Exception:
                    # broken, or breaking right now (BrokenProcessPool, or RuntimeError /
                    # OSError when submit races with the pool's own clean-up)
                    pending.appendleft(index)
                    broken = True
                    break
                inflight[fut] = (index, self._token)
                fut.add_done_callback(finished.put)
                self._snapshot_processes()
                self._poke()

            if not broken:
                try:
                    batch = [finished.get(timeout=1.0)]
                except queue.Empty:
                    batch = []
                    if self._dead_workers():
                        # A worker died and the pool has not noticed (yet): wake it up; if
                        # nothing happens for a few seconds, handle the break ourselves.
                        unnoticed += 1
                        self._poke()
                        broken = unnoticed >= 3
                    else:
                        unnoticed = 0
                else:
                    unnoticed = 0
                    with contextlib.suppress(queue.Empty):
                        while True:
                            batch.append(finished.get_nowait())
                if self._drain(started):
                    futile_pools = 0
                for fut in batch:
                    if fut not in inflight:
                        continue
                    if fut.cancelled() or isinstance(fut.exception(), BrokenProcessPool):
                        broken = True  # handled below, with every other in-flight item
                        continue
                    index, token = inflight.pop(fut)
                    started.pop(token, None)
                    yield index, outcome_of(fut)
            if not broken:
                continue

            # The pool is broken. Stop what is left of it (the worker that died is dead
            # already: stopping the others keeps its exit code apart), then sort the items.
            codes = self._discard_pool(terminate=True)
            if self._drain(started):
                futile_pools = 0
            lost: list[tuple[int, int]] = []
            done_order = []
            with contextlib.suppress(queue.Empty):
                while True:
                    done_order.append(finished.get_nowait())
            for fut in [*done_order, *inflight]:
                if fut not in inflight:
                    continue
                index, token = inflight.pop(fut)
                if (
                    fut.done()
                    and not fut.cancelled()
                    and not isinstance(fut.exception(), BrokenProcessPool)
                ):
                    started.pop(token, None)
                    yield index, outcome_of(fut)
                else:
                    fut.cancel()
                    lost.append((index, token))
            culprits = {
                pid for pid, code in codes.items() if code is not None and code != -signal.SIGTERM
            }
            if not any(token in started for _, token in lost):
                futile_pools += 1
                if futile_pools >= _MAX_FUTILE_POOLS:
                    yield from self._give_up(
                        items, sorted({i for i, _ in lost} | set(pending)), codes
                    )
                    pending.clear()
                    continue
            for index, token in sorted(lost, reverse=True):
                pid = started.pop(token, None)
                if pid is None:
                    pending.appendleft(index)  # had not started: nothing lost
                elif pid in culprits:
                    yield (
                        index,
                        WorkerDied(
                            f"worker process died ({_exit_code_text(codes.get(pid))}) while "
                            f"running {_describe_item(index, items[index])}"
                        ),
                    )
                elif resubmits.get(index, 0) < self.max_resubmits:
                    resubmits[index] = resubmits.get(index, 0) + 1
                    pending.appendleft(index)
                else:
                    n = resubmits.get(index, 0)
                    again = f" (already re-submitted {n} time{'s' * (n != 1)})" if n else ""
                    yield (
                        index,
                        WorkerDied(
                            f"worker process was stopped ({_exit_code_text(codes.get(pid))}) "
                            f"while running {_describe_item(index, items[index])} because "
                            f"another worker died{again}"
                        ),
                    )

    @staticmethod
    def _give_up(
        items: list[Any], indices: list[int], codes: dict[int, int | None]
    ) -> Iterator[tuple[int, Any]]:
        code = next((c for c in codes.values() if c not in (None, -signal.SIGTERM)), None)
        for index in indices:
            yield (
                index,
                WorkerDied(
                    f"worker processes keep dying before they run anything "
                    f"({_exit_code_text(code)}; see their messages on stderr), so "
                    f"{_describe_item(index, items[index])} never ran"
                ),
            )

    def close(self) -> None:
        if self._closed:
            return
        self._discard_pool(terminate=self._running)
        self._closed = True


# --------------------------------------------------------------------------------------------
# Ray


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError('the ray executor needs Ray: pip install "paretoprune[ray]"') from None
    return ray


def _local_runtime_env() -> dict[str, Any]:
    """Workers of a local runtime see this process's ``sys.path`` (as spawned processes do),
    so that ``fn`` can live in any module this process imported."""
    paths = []
    for entry in [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]:
        entry = os.path.abspath(entry or os.curdir)
        if os.path.isdir(entry) and entry not in paths:
            paths.append(entry)
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


def _ray_call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


class RayExecutor(_ContextManager):
    """Runs each item as a Ray task (see the module docstring).

    ``ray_address``: attach to that cluster (``"auto"`` for the one started with ``ray
    start``); else start a local runtime with ``workers * cpus_per_run`` CPUs (at least one),
    shut down on :meth:`close`. If Ray is already initialized in this process, it is used as
    it is and left running. ``init_kwargs`` go to ``ray.init`` as they are.
    """

    def __init__(
        self,
        workers: int = 1,
        *,
        ray_address: str | None = None,
        gpus_per_run: float = 0,
        cpus_per_run: float = 1,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        self.workers = _positive_int("workers", workers)
        self.gpus_per_run = _non_negative("gpus_per_run", gpus_per_run)
        self.cpus_per_run = _non_negative("cpus_per_run", cpus_per_run)
        ray = _import_ray()
        self._ray = ray
        self._owns_runtime = False
        self._closed = False
        self._inflight: list[Any] = []
        started = time.monotonic()
        kwargs = dict(log_to_driver=False)
        kwargs.update(init_kwargs or {})
        if ray.is_initialized():
            pass
        elif ray_address:
            try:
                ray.init(address=ray_address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise InputError(
                    f"cannot connect to the Ray cluster at {ray_address}: {_first_line(err)}"
                ) from None
        else:
            kwargs.setdefault(
                "num_cpus", max(1, math.ceil(self.workers * max(self.cpus_per_run, 1e-9)))
            )
            kwargs.setdefault("include_dashboard", False)
            kwargs.setdefault("runtime_env", _local_runtime_env())
            ray.init(**kwargs)
            self._owns_runtime = True
        self.startup_seconds = time.monotonic() - started
        if self.gpus_per_run > 0 and self._owns_runtime:
            have = float(ray.cluster_resources().get("GPU", 0))
            if have < self.gpus_per_run:
                self.close()
                raise InputError(
                    f"each run asks for {self.gpus_per_run:g} GPU but the local Ray runtime "
                    f"sees {have:g}"
                )
        self._remote = ray.remote(
            num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0
        )(_ray_call)

    def __repr__(self) -> str:
        return (
            f"RayExecutor(workers={self.workers}, cpus_per_run={self.cpus_per_run:g}, "
            f"gpus_per_run={self.gpus_per_run:g})"
        )

    def _outcome(self, ref: Any, index: int, item: Any) -> Any:
        ray = self._ray
        exc = ray.exceptions
        try:
            return ray.get(ref)
        except exc.RayTaskError as err:
            cause = getattr(err, "cause", None)
            return cause if isinstance(cause, BaseException) else err
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as err:
            dead = tuple(
                getattr(exc, name)
                for name in (
                    "WorkerCrashedError",
                    "OutOfMemoryError",
                    "NodeDiedError",
                    "LocalRayletDiedError",
                )
                if hasattr(exc, name)
            )
            if isinstance(err, dead):
                return WorkerDied(
                    f"ray worker died ({type(err).__name__}) while running "
                    f"{_describe_item(index, item)}"
                )
            return err

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self._closed:
            raise RuntimeError("this RayExecutor is closed")
        ray = self._ray
        items = list(items)
        pending: deque[int] = deque(range(len(items)))
        inflight: dict[Any, int] = {}
        try:
            while pending or inflight:
                while pending and len(inflight) < self.workers:
                    index = pending.popleft()
                    try:
                        ref = self._remote.remote(fn, items[index])
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except Exception as err:  # e.g. fn or the item cannot be serialized
                        yield index, err
                        continue
                    inflight[ref] = index
                    self._inflight = list(inflight)
                if not inflight:
                    continue
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
                for ref in ready:
                    index = inflight.pop(ref)
                    self._inflight = list(inflight)
                    yield index, self._outcome(ref, index, items[index])
        except BaseException:
            self._cancel(list(inflight))
            raise
        finally:
            self._inflight = []

    def _cancel(self, refs: list[Any]) -> None:
        for ref in refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cancel(self._inflight)
        if self._owns_runtime:
            with contextlib.suppress(Exception):
                self._ray.shutdown()


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


# --------------------------------------------------------------------------------------------


def make_executor(
    name: str = "serial",
    *,
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_run: float = 0,
    cpus_per_run: float = 1,
) -> Executor:
    """The executor called ``name`` (``serial``, ``process`` or ``ray``); InputError if unknown.

    ``workers`` is how many items run at once (ignored by ``serial``); ``ray_address``,
    ``gpus_per_run`` and ``cpus_per_run`` only matter to ``ray``.
    """
    key = str(name).strip().lower()
    _positive_int("workers", workers)
    _non_negative("gpus_per_run", gpus_per_run)
    _non_negative("cpus_per_run", cpus_per_run)
    if key == "serial":
        return SerialExecutor()
    if key == "process":
        return ProcessExecutor(workers)
    if key == "ray":
        return RayExecutor(
            workers, ray_address=ray_address, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run
        )
    raise InputError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
