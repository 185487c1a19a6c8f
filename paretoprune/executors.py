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
driver, where ``on_progress(job id, record)`` is called, one call at a time; every record of a
job that returned or raised has been handled when ``wait()`` returns that job. Ctrl-C in
``wait()`` propagates; ``close()`` (or leaving the ``with`` block) stops the running jobs.

* :class:`SerialExecutor` -- ``wait`` runs the oldest submitted job in the calling thread.
* :class:`ProcessExecutor` -- per slot, a ``ProcessPoolExecutor`` of one spawned process kept
  across jobs (a worker loads torch and data once; later jobs reuse them). A dead worker breaks
  only its own pool: its job becomes WorkerDied and the slot gets a fresh worker. ``fn`` must be
  importable by name (workers see the driver's ``sys.path``). Workers ignore SIGINT and exit
  when the driver dies, even by SIGKILL. Progress: one pipe per worker, read by a driver thread.
* :class:`RayExecutor` -- each job a Ray task on a local runtime it starts (and shuts down), on
  the cluster at ``ray_address``, or on the runtime already running. The item travels in the
  task arguments, so no file system is shared with the driver. Progress: a
  ``ray.util.queue.Queue`` actor drained by a driver thread. Optional: ``paretoprune[ray]``.

Outcomes come back from workers pickled; one that cannot travel becomes a :class:`RemoteError`
saying so. A worker's exception carries its traceback text in ``remote_traceback``.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import math
import multiprocessing
import multiprocessing.connection
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from paretoprune.errors import InputError, first_line

__all__ = ["EXECUTORS", "Executor", "ProcessExecutor", "RayExecutor", "RemoteError",
           "SerialExecutor", "WorkerDied", "make_executor"]

EXECUTORS: tuple[str, ...] = ("serial", "process", "ray")
_PATIENCE_S = 60.0  # for what takes milliseconds: a safety net, never a deadline


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
        self._closed = False
        self._record_lock = threading.Lock()
        self._ended: set[int] = set()  # jobs whose records have all been handled; -1: all
        self._ended_cond = threading.Condition()

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
        raise NotImplementedError

    def wait(self) -> tuple[int, Any]:
        """Block until a job finishes; return ``(job id, outcome)``: fn's return value, the
        exception it raised, or WorkerDied. RuntimeError if no job is running."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the running jobs and the workers. Idempotent."""
        self._closed = True
        self._jobs.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _new_job(self) -> int:
        if self._closed:
            raise RuntimeError(f"this {type(self).__name__} is closed")
        if self.free < 1:
            raise RuntimeError(f"all {self.slots} slots are busy: wait() for a job first")
        job = next(self._ids)
        self._jobs.add(job)
        return job

    def _check_running(self) -> None:
        if not self._jobs:
            raise RuntimeError("no job is running")

    def _record(self, job: int, record: Any) -> None:
        if self.on_progress is not None:
            try:
                with self._record_lock:
                    self.on_progress(job, record)
            except Exception as err:  # a display problem must not fail a training run
                warnings.warn(f"on_progress failed for job {job}: {first_line(err)}",
                              RuntimeWarning, stacklevel=2)

    def _handle(self, message: tuple | None) -> None:
        """A worker's ``("record", job, record)`` or ``("end", job, None)``; None when the
        channel has gone (so that nobody waits for its "end" notes)."""
        if message is not None and message[0] == "record":
            return self._record(message[1], message[2])
        with self._ended_cond:
            self._ended.add(-1 if message is None else message[1])
            self._ended_cond.notify_all()

    def _wait_end(self, job: int) -> None:
        with self._ended_cond:
            self._ended_cond.wait_for(lambda: job in self._ended or -1 in self._ended,
                                      timeout=_PATIENCE_S)
            self._ended.discard(job)


class SerialExecutor(Executor):
    """Runs the jobs one after another, in submission order, in the thread that calls wait()."""

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._queue: deque[tuple[int, Callable, Any]] = deque()
        _set_torch_threads(self.threads)

    def submit(self, fn, item) -> int:
        self._queue.append((self._new_job(), fn, item))
        return self._queue[-1][0]

    def wait(self) -> tuple[int, Any]:
        self._check_running()
        job, fn, item = self._queue.popleft()
        try:
            outcome = fn(item, lambda record: self._record(job, record))
        except (KeyboardInterrupt, SystemExit):
            raise  # the user stopping the sweep, not a failing job
        except BaseException as err:
            outcome = err
        finally:
            self._jobs.discard(job)
        return job, outcome

    def close(self) -> None:
        super().close()
        self._queue.clear()


# -- in a worker (a process slot or a Ray task) ---------------------------------------------

_CHANNEL: Any = None  # in a process worker: the write end of its pipe to the driver
_CHANNEL_LOCK = threading.Lock()


def _run(job: int, fn: Callable, item: Any, send: Callable | None) -> tuple[bool, bytes, bool]:
    """Run ``fn(item, progress)``: (it returned, its pickled outcome, "end" note sent)."""
    try:
        ok, value = True, fn(item, lambda record: send and send(("record", job, record)))
    except BaseException as err:
        ok, value = False, err
        with contextlib.suppress(Exception):  # pickling drops the traceback: keep its text
            err.remote_traceback = "".join(traceback.format_exception(err))
    try:
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        if not ok:
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
    except Exception as err:
        message = (f"the result ({type(value).__name__}) cannot be pickled: {first_line(err)}"
                   if ok else f"{type(value).__name__}: {first_line(value)} (raised in a worker; "
                   f"it cannot be pickled back: {first_line(err)})")
        tb = "" if ok else getattr(value, "remote_traceback", "")
        ok, data = False, pickle.dumps(RemoteError(message, tb))
    try:
        if send is not None:
            send(("end", job, None))  # after every record: the driver waits for it
            return ok, data, True
    except Exception:  # the channel broke
        pass
    return ok, data, False


def _unpack(ok: bool, data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as err:
        what = "result" if ok else "exception"
        return RemoteError(f"cannot read back the {what} from the worker: {first_line(err)}")


def _send(message: tuple) -> None:
    with _CHANNEL_LOCK:
        _CHANNEL.send(message)


def _worker_init(channel: Any, threads: int | None, preload: tuple[str, ...] = ()) -> None:
    """Start a process worker: report its pid, leave Ctrl-C to the driver, die with it, import
    what its jobs will need."""
    global _CHANNEL
    _CHANNEL = channel
    _send(("pid", None, os.getpid()))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is not None:  # the pool's queues never tell a busy worker that the driver died

        def exit_with_parent() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(1)

        threading.Thread(target=exit_with_parent, daemon=True).start()
    _set_torch_threads(threads)
    for module in preload:
        with contextlib.suppress(ImportError):  # a job that needs it will say why
            importlib.import_module(module)


def _process_job(job: int, payload: bytes) -> tuple[bool, bytes, bool]:
    def call(_: Any, progress: Callable) -> Any:
        fn, item = pickle.loads(payload)
        return fn(item, progress)

    return _run(job, call, None, _send)


# -- processes ------------------------------------------------------------------------------


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its own UserWarnings ignored.

    If the driver dies without cleaning up (SIGKILL, the OOM killer), the tracker unlinks the
    semaphores of the pools' queues and warns about "leaked semaphore objects": noise, since
    that clean-up is what we want. The filter reaches the tracker, and nothing else, through
    the environment it inherits. A tracker that is already running is left as it is.
    """
    if sys.platform == "win32":
        return
    from multiprocessing import resource_tracker

    before = os.environ.get("PYTHONWARNINGS")
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    os.environ["PYTHONWARNINGS"] = f"{before},{quiet}" if before else quiet
    try:
        resource_tracker.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = before


class _Worker:
    """One process slot: a pool of one process, and the pipe on which that process reports."""

    def __init__(self, ctx: Any, threads: int | None, handle: Callable,
                 preload: tuple[str, ...] = ()) -> None:
        reader, self._writer = ctx.Pipe(duplex=False)
        self._writer_lock = threading.Lock()
        self.pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init,
                                        initargs=(self._writer, threads, preload))
        self.pid: int | None = None
        self._process: Any = None
        self.started = threading.Event()  # its pid has arrived, or its pipe closed
        threading.Thread(target=self._read, args=(reader, handle), daemon=True).start()

    def _read(self, reader: Any, handle: Callable) -> None:
        while True:
            try:
                message = reader.recv()
            except (EOFError, OSError):
                break
            except Exception as err:  # a record that cannot be unpickled here
                warnings.warn(f"unreadable progress record: {first_line(err)}", RuntimeWarning,
                              stacklevel=1)
                continue
            if message[0] != "pid":
                handle(message)
                continue
            self.pid = message[2]
            self.process()
            self.close_writer()  # the worker has its own copy: EOF when it exits
            self.started.set()
        reader.close()
        self.started.set()

    def close_writer(self) -> None:
        with self._writer_lock:
            self._writer.close()

    def process(self) -> Any:
        """The pool's ``multiprocessing.Process`` for this worker, once its pid is known."""
        if self._process is None and self.pid is not None:
            found = [p for p in multiprocessing.active_children() if p.pid == self.pid]
            self._process = found[0] if found else None
        return self._process

    def exit_text(self) -> str:
        """How the dead worker ended: "exit code 3", "killed by SIGKILL"."""
        process = self.process()
        if process is not None:
            process.join(5.0)  # dead already: wait for the kernel to say how it ended
        code = None if process is None else process.exitcode
        if code is None:
            return "exit code unknown"
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"killed by signal {-code}"

    def alive(self) -> bool:
        return self.process() is None or self.process().is_alive()


def _ready() -> None:
    """A no-op job that makes a pool start its process now (pools start them on demand)."""


_POLL_S = 0.2  # how soon wait() notices Ctrl-C


class _Stopped(Exception):
    """Raised in a job of the inline slot at its next progress record once the executor
    closes (a thread cannot be killed)."""


class ProcessExecutor(Executor):
    """Runs each job in a spawned worker process; one long-lived worker per slot, started at
    once. ``preload``: modules each worker imports when it starts (``"paretoprune.training"``
    imports torch), so the imports run while the driver still prepares, not in the first job.

    ``inline=True``: slot 0 is a thread of this process instead, which needs no start-up: the
    first job trains at once while the processes start, so a small sweep with two workers is
    not slower than one with a single worker. A job in that slot shares this process (if it
    crashes the process, the driver goes with it, as in a serial sweep); on :meth:`close` it
    stops at its next progress record. The thread is a daemon, so that an interrupted program
    exits at once instead of waiting for the epoch to end.
    """

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None,
                 preload: tuple[str, ...] = (), inline: bool = False) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._ctx = multiprocessing.get_context("spawn")  # fork is unsafe with torch, threads
        self._preload = tuple(preload)
        self._busy: dict[int, int] = {}  # slot -> job
        # (job, slot, its Future, or its outcome if it could not start or its worker died)
        self._done: queue.SimpleQueue[tuple[int, int, Any]] = queue.SimpleQueue()
        _start_resource_tracker()
        self._inline = inline
        if inline:
            _set_torch_threads(self.threads)  # the inline slot trains in this process
        self._workers: list[_Worker | None] = [
            None if inline and slot == 0 else self._start() for slot in range(self.slots)]

    def _start(self) -> _Worker:
        worker = _Worker(self._ctx, self.threads, self._handle, self._preload)
        worker.pool.submit(_ready)  # start its process (and the imports) while the driver works
        return worker

    def submit(self, fn, item) -> int:
        job = self._new_job()
        slot = next(s for s in range(self.slots) if s not in self._busy)
        self._busy[slot] = job
        if self._inline and slot == 0:
            future: Future = Future()
            future.add_done_callback(lambda f: self._done.put((job, slot, f)))
            threading.Thread(target=self._run_inline, args=(future, job, fn, item),
                             name=f"paretoprune-inline-{job}", daemon=True).start()
            return job
        try:
            payload = pickle.dumps((fn, item), pickle.HIGHEST_PROTOCOL)
            for attempt in range(2):
                worker = self._workers[slot]
                if worker is None or not worker.alive():
                    self._discard(slot)
                    worker = self._workers[slot] = self._start()
                try:
                    future = worker.pool.submit(_process_job, job, payload)
                    break
                except BrokenProcessPool:  # its worker died while idle, just now
                    self._discard(slot)
                    if attempt:
                        raise
            future.add_done_callback(lambda f, w=worker: self._finished(job, slot, w, f))
        except Exception as err:  # fn or item cannot be pickled, no worker could start
            self._done.put((job, slot, err))
        return job

    def _run_inline(self, future: Future, job: int, fn: Callable, item: Any) -> None:
        def progress(record: dict) -> None:
            if self._closed:
                raise _Stopped(f"job {job} stopped: the executor closed")
            self._record(job, record)

        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(item, progress))
        except BaseException as err:  # noqa: BLE001 - the job's outcome, like a worker's
            future.set_exception(err)

    def _finished(self, job: int, slot: int, worker: _Worker, future: Future) -> None:
        # in the pool's thread; a dead worker breaks its pool, which fails its one job
        if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
            worker.close_writer()  # EOF now, even if it died before sending its pid
            worker.started.wait(_PATIENCE_S)
            pid = f" (pid {worker.pid})" if worker.pid else ""
            future = WorkerDied(f"its worker process{pid} died ({worker.exit_text()}) while "
                                f"running job {job}")
        self._done.put((job, slot, future))

    def wait(self) -> tuple[int, Any]:
        self._check_running()
        # Short waits, not one long one: the kernel may hand Ctrl-C's SIGINT to any thread,
        # and Python raises KeyboardInterrupt in this (the main) thread only once it runs
        # bytecode again, which a blocked get() would not do until a job ends.
        while True:
            try:
                job, slot, result = self._done.get(timeout=_POLL_S)
                break
            except queue.Empty:
                continue
        del self._busy[slot]
        self._jobs.discard(job)
        if isinstance(result, WorkerDied):
            self._discard(slot)
        if not isinstance(result, Future):
            return job, result
        if result.exception() is not None:
            return job, result.exception()
        if self._inline and slot == 0:
            return job, result.result()  # the outcome itself: it never left this process
        ok, data, synced = result.result()
        if synced:
            self._wait_end(job)
        return job, _unpack(ok, data)

    def _discard(self, slot: int) -> None:
        worker, self._workers[slot] = self._workers[slot], None
        if worker is not None:
            worker.pool.shutdown(wait=False, cancel_futures=True)
            worker.close_writer()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # before anything: an inline job sees it at its next record
        busy = [self._workers[slot] for slot in self._busy if self._workers[slot] is not None]
        for worker in busy:
            worker.started.wait(_PATIENCE_S)  # it was spawned: its pid is on the way
            if worker.process() is not None:
                worker.process().terminate()
        idle = [w for slot, w in enumerate(self._workers) if w is not None and slot not in self._busy]
        for slot in range(self.slots):
            self._discard(slot)
        for worker in idle:  # no job to lose: stopped now rather than after their own clean-up
            if worker.started.is_set() and worker.process() is not None:
                worker.process().terminate()
        for worker in busy:
            if worker.process() is not None:
                worker.process().join(5.0)
                if worker.process().exitcode is None:
                    worker.process().kill()
        self._busy.clear()
        super().close()


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
    return _run(job, fn, item, None if channel is None else channel.put)


class RayExecutor(Executor):
    """Runs each job as a Ray task (``cpus_per_run``, ``gpus_per_run``, no retries); at most
    ``slots`` at once, whatever the cluster's size."""

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None,
                 ray_address: str | None = None, gpus_per_run: float = 0.0,
                 cpus_per_run: float = 1.0) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        gpus, cpus = _non_negative("gpus_per_run", gpus_per_run), _non_negative(
            "cpus_per_run", cpus_per_run)
        try:
            import ray
        except ImportError:
            raise InputError('the ray executor needs Ray: pip install "paretoprune[ray]"') from None
        self._ray, self._owns_runtime, self._channel = ray, False, None
        self._refs: dict[Any, int] = {}  # running task -> job
        self._failed: deque[tuple[int, BaseException]] = deque()  # jobs that could not start
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
            self._stop = threading.Event()
            self._drainer = threading.Thread(target=self._drain, daemon=True)
            self._drainer.start()

    def _drain(self) -> None:
        from ray.util.queue import Empty

        try:
            while not self._stop.is_set():
                with contextlib.suppress(Empty):
                    self._handle(self._channel.get(timeout=0.5))
        except Exception:  # the runtime went away
            pass
        self._handle(None)

    def submit(self, fn, item) -> int:
        job = self._new_job()
        try:
            self._refs[self._task.remote(job, fn, item, self._channel, self.threads)] = job
        except Exception as err:  # fn or item cannot be serialized
            self._failed.append((job, err))
        return job

    def wait(self) -> tuple[int, Any]:
        self._check_running()
        if self._failed:
            job, outcome = self._failed.popleft()
        else:
            ready: list = []
            while not ready:  # a timeout keeps Ctrl-C prompt
                ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=1.0)
            job = self._refs.pop(ready[0])
            outcome = self._outcome(job, ready[0])
        self._jobs.discard(job)
        return job, outcome

    def _outcome(self, job: int, ref: Any) -> Any:
        exc = self._ray.exceptions
        try:
            ok, data, synced = self._ray.get(ref)
        except exc.RayTaskError as err:  # the task failed before fn ran (arguments, imports)
            return err.cause if isinstance(err.cause, BaseException) else err
        except (exc.WorkerCrashedError, exc.OutOfMemoryError, exc.NodeDiedError,
                exc.LocalRayletDiedError) as err:
            return WorkerDied(f"its Ray worker died ({type(err).__name__}) while running job {job}")
        except exc.RayError as err:
            return err
        if synced:
            self._wait_end(job)
        return _unpack(ok, data)

    def close(self) -> None:
        if self._closed:
            return
        for ref in self._refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        self._failed.clear()
        if self._channel is not None:
            self._stop.set()
            self._drainer.join(_PATIENCE_S)
            with contextlib.suppress(Exception):
                self._channel.shutdown(force=True)
        if self._owns_runtime:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        super().close()


def make_executor(name: str, *, workers: int = 1, on_progress=None, threads: int | None = None,
                  ray_address: str | None = None, gpus_per_run: float = 0.0,
                  cpus_per_run: float = 1.0, preload: tuple[str, ...] = (),
                  inline: bool = False) -> Executor:
    """The executor called ``name`` (``serial``, ``process`` or ``ray``), with ``workers`` slots.

    ``on_progress(job id, record)`` gets the jobs' progress records; ``threads``: torch threads
    per worker (None leaves torch alone); ``preload``: modules process workers import once,
    ``inline``: one process slot is a thread of this process instead (see
    :class:`ProcessExecutor`); ``ray_address``, ``gpus_per_run`` and ``cpus_per_run``
    only matter to ``ray``. InputError for an unknown name or a bad number.
    """
    key = str(name).strip().lower()
    if key not in EXECUTORS:
        raise InputError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    if key == "ray":  # it checks gpus_per_run and cpus_per_run (they matter to it only)
        return RayExecutor(workers, on_progress=on_progress, threads=threads,
                           ray_address=ray_address, gpus_per_run=gpus_per_run,
                           cpus_per_run=cpus_per_run)
    if key == "process":
        return ProcessExecutor(workers, on_progress=on_progress, threads=threads, preload=preload,
                               inline=inline)
    return SerialExecutor(workers, on_progress=on_progress, threads=threads)
