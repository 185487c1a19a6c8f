"""Executors: an asynchronous pool of training runs, serially, in processes, or on Ray.

An executor has ``slots`` places for jobs and three calls::

    with make_executor("process", workers=2, on_progress=show) as ex:
        ex.submit(train_one, a)           # job 0 starts at once
        ex.submit(train_one, b)           # job 1 too
        job, outcome = ex.wait()          # whichever finishes first
        ex.submit(train_one, c)           # job 2, in the slot it freed

``submit(fn, item)`` starts ``fn(item, progress)`` and returns its job id (0, 1, 2, ...); it never
waits for a job. ``wait()`` blocks until a job finishes and returns ``(job id, outcome)``: what
``fn`` returned, the exception it raised, or :class:`WorkerDied` when its process died. A failing
job never breaks the executor. ``progress(record)`` sends a small dict (an epoch record) to the
driver, where ``on_progress(job id, record)`` is called in the thread that calls ``wait()``,
while it waits; every record of a job has been handled when ``wait()`` returns that job. Ctrl-C
in ``wait()`` propagates; ``close()`` (or leaving the ``with`` block) stops the running jobs.

* :class:`SerialExecutor` -- ``wait`` runs the oldest submitted job in the calling thread.
* :class:`ProcessExecutor` -- per slot, one spawned process kept across jobs (a worker loads
  torch and data once; later jobs reuse them) and a pipe that carries its jobs one way, their
  records and outcomes the other. A dead worker fails only its own job (WorkerDied, with its
  exit code); the slot's next job gets a fresh worker. ``fn`` must be importable by name
  (workers see the driver's ``sys.path``). Workers ignore SIGINT and exit when the driver dies,
  even by SIGKILL.
* :class:`RayExecutor` -- each job a Ray task on a local runtime it starts (and shuts down), on
  the cluster at ``ray_address``, or on the runtime already running. The item travels in the
  task arguments, so no file system is shared with the driver. Progress: a
  ``ray.util.queue.Queue`` actor. Optional: ``paretoprune[ray]``.

Outcomes come back from workers pickled; one that cannot travel becomes a :class:`RemoteError`
saying so. A worker's exception carries its traceback text in ``remote_traceback``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

from paretoprune.errors import InputError, first_line

__all__ = ["EXECUTORS", "Executor", "ProcessExecutor", "RayExecutor", "RemoteError",
           "SerialExecutor", "WorkerDied", "make_executor"]

EXECUTORS: tuple[str, ...] = ("serial", "process", "ray")
_PATIENCE_S = 5.0  # for a process to end once it is dead or told to stop


class WorkerDied(Exception):
    """The worker process running a job died (SIGKILL, ``os._exit``, the OOM killer)."""


class RemoteError(Exception):
    """A worker's exception or result that could not travel back as itself."""

    def __init__(self, message: str, remote_traceback: str = "") -> None:
        super().__init__(message)
        self.remote_traceback = remote_traceback


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer, not {value!r}")
    return value


def _non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or not math.isfinite(value):
        raise InputError(f"{name} must be a finite number >= 0, not {value!r}")
    return float(value)


def _set_torch_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


class Executor:
    """``slots`` places for jobs (see the module docstring); the base of the three executors.

    ``on_progress(job id, record)`` receives the jobs' progress records; ``threads``: torch
    threads in each worker, set once when it starts (None leaves torch alone).
    """

    def __init__(self, slots: int = 1, *, on_progress: Callable[[int, dict], Any] | None = None,
                 threads: int | None = None) -> None:
        self.slots = _positive_int("workers", slots)
        self.threads = None if threads is None else _positive_int("threads", threads)
        self.on_progress = on_progress
        self._ids = itertools.count()
        self._jobs: set[int] = set()
        self._failed: deque[tuple[int, BaseException]] = deque()  # jobs that could not start
        self._closed = False

    @property
    def running(self) -> int:
        """Jobs submitted and not yet returned by :meth:`wait`."""
        return len(self._jobs)

    @property
    def free(self) -> int:
        """How many jobs :meth:`submit` may start now."""
        return self.slots - self.running

    def submit(self, fn: Callable[[Any, Callable[[dict], None]], Any], item: Any) -> int:
        """Start ``fn(item, progress)`` on a free slot at once; return its job id. Never waits for
        the job. RuntimeError if no slot is free or the executor is closed."""
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        if self.free < 1:
            raise RuntimeError(f"all {self.slots} slots are busy: wait() for a job first")
        job = next(self._ids)
        self._jobs.add(job)
        try:
            self._start(job, fn, item)
        except Exception as err:  # fn or item cannot travel, no worker could start
            self._failed.append((job, err))  # wait() returns it as the job's outcome
        return job

    def _start(self, job: int, fn: Callable, item: Any) -> None:
        raise NotImplementedError

    def wait(self) -> tuple[int, Any]:
        """Block until a job finishes; return ``(job id, outcome)``: fn's return value, the
        exception it raised, or WorkerDied. RuntimeError if no job is running."""
        if not self._jobs:
            raise RuntimeError("no job is running")
        job, outcome = self._failed.popleft() if self._failed else self._next()
        self._jobs.discard(job)
        return job, outcome

    def _next(self) -> tuple[int, Any]:
        """The next job to finish, and its outcome."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the running jobs and the workers. Idempotent."""
        if not self._closed:
            self._closed = True
            self._stop()
            self._jobs.clear()
            self._failed.clear()

    def _stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _record(self, job: int, record: Any) -> None:
        if self.on_progress is not None:
            try:
                self.on_progress(job, record)
            except Exception as err:  # a display problem must not fail a training run
                warnings.warn(f"on_progress failed for job {job}: {first_line(err)}",
                              RuntimeWarning, stacklevel=2)


class SerialExecutor(Executor):
    """Runs the jobs one after another, in submission order, in the thread that calls wait()."""

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._queue: deque[tuple[int, Callable, Any]] = deque()
        _set_torch_threads(self.threads)

    def _start(self, job: int, fn: Callable, item: Any) -> None:
        self._queue.append((job, fn, item))

    def _next(self) -> tuple[int, Any]:
        job, fn, item = self._queue.popleft()
        self._jobs.discard(job)  # even when Ctrl-C stops it
        try:
            return job, fn(item, lambda record: self._record(job, record))
        except (KeyboardInterrupt, SystemExit):
            raise  # the user stopping the sweep, not a failing job
        except BaseException as err:
            return job, err

    def _stop(self) -> None:
        self._queue.clear()


# -- in a worker (a process slot or a Ray task) ---------------------------------------------


def _run(fn: Callable, item: Any, progress: Callable) -> tuple[bool, bytes]:
    """Run ``fn(item, progress)``: (it returned, its outcome pickled); an outcome that cannot
    travel back becomes a RemoteError saying so."""
    try:
        ok, value = True, fn(item, progress)
    except BaseException as err:
        ok, value = False, err
        with contextlib.suppress(Exception):  # pickling drops the traceback: keep its text
            err.remote_traceback = "".join(traceback.format_exception(err))
    try:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if not ok:
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
        return ok, data
    except Exception as err:
        message = (f"the result ({type(value).__name__}) cannot be pickled: {first_line(err)}"
                   if ok else f"{type(value).__name__}: {first_line(value)} (raised in a worker; "
                   f"it cannot be pickled back: {first_line(err)})")
        tb = "" if ok else getattr(value, "remote_traceback", "")
        return False, pickle.dumps(RemoteError(message, tb))


def _unpack(ok: bool, data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as err:
        what = "result" if ok else "exception"
        return RemoteError(f"cannot read back the {what} from the worker: {first_line(err)}")


def _call(payload: bytes, progress: Callable) -> Any:
    fn, item = pickle.loads(payload)  # here, so that an fn that cannot be imported fails its job
    return fn(item, progress)


def _worker(conn: Any, threads: int | None, preload: tuple[str, ...]) -> None:
    """A process slot: run the jobs that come on ``conn`` and send back their records and
    outcomes, until the driver closes it. Ctrl-C is the driver's; die with the driver."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()

    def exit_with_parent() -> None:  # a busy worker reads no pipe that would tell it
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    _set_torch_threads(threads)
    for module in preload:
        with contextlib.suppress(ImportError):  # a job that needs it will say why
            importlib.import_module(module)
    lock = threading.Lock()  # fn may report progress from its own threads

    def send(*message: Any) -> None:
        with lock:
            conn.send(message)

    with contextlib.suppress(EOFError, OSError):  # the driver closed the pipe, or died
        while True:
            job, payload = conn.recv()
            send("done", job, _run(_call, payload, functools.partial(send, "record", job)))


# -- processes ------------------------------------------------------------------------------


def _how(code: int | None) -> str:
    """How a process ended, from its exit code: "exit code 3", "killed by SIGKILL"."""
    if code is None or code >= 0:
        return f"exit code {'unknown' if code is None else code}"
    with contextlib.suppress(ValueError):
        return f"killed by {signal.Signals(-code).name}"
    return f"killed by signal {-code}"


class ProcessExecutor(Executor):
    """Runs each job in a spawned worker process; one long-lived worker per slot, started at
    once. ``preload``: modules each worker imports when it starts (``"paretoprune.training"``
    imports torch), so the imports run while the driver still prepares, not in the first job.
    """

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None,
                 preload: tuple[str, ...] = ()) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._ctx = multiprocessing.get_context("spawn")  # fork is unsafe with torch, threads
        self._preload = tuple(preload)
        self._busy: dict[int, int] = {}  # slot -> job
        self._workers = [self._spawn() for _ in range(self.slots)]  # (process, its pipe)

    def _spawn(self) -> tuple[Any, Any]:
        conn, theirs = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker, args=(theirs, self.threads, self._preload),
                                    daemon=True, name="paretoprune-worker")
        process.start()
        theirs.close()  # the worker holds its end: EOF here when it dies
        return process, conn

    def _start(self, job: int, fn: Callable, item: Any) -> None:
        slot = next(s for s in range(self.slots) if s not in self._busy)
        payload = pickle.dumps((fn, item), pickle.HIGHEST_PROTOCOL)
        process, conn = self._workers[slot]
        if not process.is_alive():  # it died running the slot's last job, or idle
            conn.close()
            self._workers[slot] = process, conn = self._spawn()
        conn.send((job, payload))
        self._busy[slot] = job

    def _next(self) -> tuple[int, Any]:
        slots = {self._workers[slot][1]: slot for slot in self._busy}
        while True:  # one pipe per worker: a job's records arrive before its outcome
            for conn in multiprocessing.connection.wait(list(slots)):
                slot = slots[conn]
                try:
                    kind, job, value = conn.recv()
                except (EOFError, OSError):
                    return self._died(slot)
                except Exception as err:  # a record that cannot be unpickled here
                    warnings.warn(f"unreadable progress record: {first_line(err)}",
                                  RuntimeWarning, stacklevel=3)
                    continue
                if kind == "record":
                    self._record(job, value)
                else:
                    del self._busy[slot]
                    return job, _unpack(*value)

    def _died(self, slot: int) -> tuple[int, WorkerDied]:
        process, job = self._workers[slot][0], self._busy.pop(slot)
        process.join(_PATIENCE_S)  # dead already: wait for the kernel to say how it ended
        return job, WorkerDied(f"its worker process (pid {process.pid}) died "
                               f"({_how(process.exitcode)}) while running job {job}")

    def _stop(self) -> None:
        for slot, (process, conn) in enumerate(self._workers):
            conn.close()  # an idle worker exits on its own
            if slot in self._busy:
                process.terminate()
        for process, _ in self._workers:
            process.join(_PATIENCE_S)
            if process.exitcode is None:
                process.kill()
                process.join(_PATIENCE_S)
        self._busy.clear()


# -- Ray ------------------------------------------------------------------------------------


def _local_runtime_env() -> dict[str, Any]:
    """Workers of a local runtime see this process's ``sys.path`` (as spawned processes do)."""
    paths = []
    for entry in [*sys.path, *os.environ.get("PYTHONPATH", "").split(os.pathsep)]:
        entry = os.path.abspath(entry or os.curdir)
        if os.path.isdir(entry) and entry not in paths:
            paths.append(entry)
    return {"env_vars": {"PYTHONPATH": os.pathsep.join(paths)}}


def _ray_job(job: int, fn: Callable, item: Any, channel: Any, threads: int | None):
    _set_torch_threads(threads)
    # put() returns once the queue holds the record: all are there when the task has returned
    return _run(fn, item, lambda record: None if channel is None else channel.put((job, record)))


class RayExecutor(Executor):
    """Runs each job as a Ray task (``cpus_per_run``, ``gpus_per_run``, no retries); at most
    ``slots`` at once, whatever the cluster's size."""

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None,
                 ray_address: str | None = None, gpus_per_run: float = 0.0,
                 cpus_per_run: float = 1.0) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        gpus = _non_negative("gpus_per_run", gpus_per_run)
        cpus = _non_negative("cpus_per_run", cpus_per_run)
        try:
            import ray
        except ImportError:
            raise InputError('the ray executor needs Ray: pip install "paretoprune[ray]"') from None
        self._ray, self._owns_runtime, self._channel = ray, False, None
        self._refs: dict[Any, int] = {}  # running task -> job
        if ray.is_initialized():
            pass
        elif ray_address:
            try:
                ray.init(address=ray_address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise InputError(f"cannot connect to the Ray cluster at {ray_address}: "
                                 f"{first_line(err)}") from None
        else:
            ray.init(num_cpus=max(1, math.ceil(self.slots * cpus)), log_to_driver=False,
                     include_dashboard=False, runtime_env=_local_runtime_env())
            self._owns_runtime = True
            if gpus > float(ray.cluster_resources().get("GPU", 0)):
                self.close()
                raise InputError(f"each run asks for {gpus:g} GPU but the local Ray runtime "
                                 f"sees {ray.cluster_resources().get('GPU', 0):g}")
        self._task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_ray_job)
        if on_progress is not None:
            from ray.util.queue import Queue

            self._channel = Queue(actor_options={"num_cpus": 0})

    def _start(self, job: int, fn: Callable, item: Any) -> None:
        self._refs[self._task.remote(job, fn, item, self._channel, self.threads)] = job

    def _next(self) -> tuple[int, Any]:
        ready: list = []
        while not ready:  # a timeout keeps Ctrl-C prompt and the records flowing
            self._drain()
            ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=0.25)
        self._drain()  # the job's records reached the queue before it returned
        job = self._refs.pop(ready[0])
        return job, self._outcome(job, ready[0])

    def _drain(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):  # the queue went away with the runtime
                for job, record in self._channel.get_nowait_batch(self._channel.qsize()):
                    self._record(job, record)

    def _outcome(self, job: int, ref: Any) -> Any:
        exc = self._ray.exceptions
        try:
            return _unpack(*self._ray.get(ref))
        except exc.RayTaskError as err:  # the task failed before fn ran (arguments, imports)
            return err.cause if isinstance(err.cause, BaseException) else err
        except (exc.WorkerCrashedError, exc.OutOfMemoryError, exc.NodeDiedError,
                exc.LocalRayletDiedError) as err:
            return WorkerDied(f"its Ray worker died ({type(err).__name__}) while running job {job}")
        except exc.RayError as err:
            return err

    def _stop(self) -> None:
        for ref in self._refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                self._channel.shutdown(force=True)
        if self._owns_runtime:
            with contextlib.suppress(Exception):
                self._ray.shutdown()


def make_executor(name: str, *, workers: int = 1, on_progress=None, threads: int | None = None,
                  ray_address: str | None = None, gpus_per_run: float = 0.0,
                  cpus_per_run: float = 1.0, preload: tuple[str, ...] = ()) -> Executor:
    """The executor called ``name`` (``serial``, ``process`` or ``ray``), with ``workers`` slots.

    ``on_progress(job id, record)`` gets the jobs' progress records; ``threads``: torch threads
    per worker (None leaves torch alone); ``preload``: modules process workers import once
    (see :class:`ProcessExecutor`); ``ray_address``, ``gpus_per_run`` and ``cpus_per_run``
    only matter to ``ray``. InputError for an unknown name or a bad number.
    """
    key = str(name).strip().lower()
    if key not in EXECUTORS:
        raise InputError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if key == "ray":
        return RayExecutor(workers, on_progress=on_progress, threads=threads,
                           ray_address=ray_address, gpus_per_run=gpus_per_run,
                           cpus_per_run=cpus_per_run)
    if key == "process":
        return ProcessExecutor(workers, on_progress=on_progress, threads=threads, preload=preload)
    return SerialExecutor(workers, on_progress=on_progress, threads=threads)
