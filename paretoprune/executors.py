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
driver, where ``on_progress(job id, record)`` is called in the thread that calls ``wait()``;
every record of a job has been handled when ``wait()`` returns that job. Ctrl-C in ``wait()``
propagates; ``close()`` (or leaving the ``with`` block) stops the running jobs, and no thread or
process of the executor is left running after it.

Not :class:`concurrent.futures.Future`\\ s: one ``wait()`` that watches every worker's pipe
handles outcomes, progress and Ctrl-C in the caller's thread, with no thread per worker.

* :class:`SerialExecutor` -- ``wait`` runs the oldest submitted job in the calling thread.
* :class:`ProcessExecutor` -- per slot one spawned worker process kept across jobs (a worker
  loads torch and data once; later jobs reuse them), fed through a pipe on which it also reports
  progress and outcomes. A dead worker fails only its own job; the slot gets a fresh worker.
  ``fn`` must be importable by name (workers see the driver's ``sys.path``). Workers are born
  ignoring SIGINT (Ctrl-C is the driver's to handle, even while a worker still imports) and
  exit when the driver dies, even by SIGKILL.
* :class:`RayExecutor` -- each job a Ray task on a local runtime it starts (and shuts down), on
  the cluster at ``ray_address``, or on the runtime already running. The item travels in the
  task arguments, so no file system is shared with the driver. Progress: a
  ``ray.util.queue.Queue`` actor that ``wait()`` drains.

Outcomes come back from workers pickled; one that cannot travel becomes a :class:`RemoteError`
saying so. A worker's exception carries its traceback text in ``remote_traceback``.
"""

from __future__ import annotations

import contextlib
import ctypes
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
_PATIENCE_S = 60.0  # for what takes milliseconds: a safety net, never a deadline
# How soon wait() notices Ctrl-C: the kernel may hand SIGINT to any thread, and Python raises
# KeyboardInterrupt in the main thread only once it runs bytecode again.
_POLL_S = 0.2


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
                self.on_progress(job, record)
            except Exception as err:  # a display problem must not fail a training run
                warnings.warn(f"on_progress failed for job {job}: {first_line(err)}",
                              RuntimeWarning, stacklevel=2)


class SerialExecutor(Executor):
    """Runs the jobs one after another, in submission order, in the thread that calls wait()."""

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._queue: deque[tuple[int, Callable, Any]] = deque()

    def submit(self, fn, item) -> int:
        self._queue.append((self._new_job(), fn, item))
        return self._queue[-1][0]

    def wait(self) -> tuple[int, Any]:
        self._check_running()
        job, fn, item = self._queue.popleft()
        _set_torch_threads(self.threads)  # here, not at creation: torch loads with the first job
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


def _run(fn: Callable, item: Any, progress: Callable[[dict], Any]) -> tuple[bool, bytes]:
    """Run ``fn(item, progress)``: (it returned, its pickled outcome)."""
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
    except Exception as err:
        message = (f"the result ({type(value).__name__}) cannot be pickled: {first_line(err)}"
                   if ok else f"{type(value).__name__}: {first_line(value)} (raised in a worker; "
                   f"it cannot be pickled back: {first_line(err)})")
        tb = "" if ok else getattr(value, "remote_traceback", "")
        ok, data = False, pickle.dumps(RemoteError(message, tb))
    return ok, data


def _unpack(ok: bool, data: bytes) -> Any:
    try:
        return pickle.loads(data)
    except Exception as err:
        what = "result" if ok else "exception"
        return RemoteError(f"cannot read back the {what} from the worker: {first_line(err)}")


def _worker_main(conn: Any, threads: int | None, preload: tuple[str, ...]) -> None:
    """A process worker: die with the driver, import what its jobs need, then run the jobs
    ``(job, pickled (fn, item))`` that arrive on ``conn`` until it closes or sends None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's
    parent = multiprocessing.parent_process()
    if parent is not None:  # a busy worker would not notice otherwise that the driver died

        def exit_with_parent() -> None:
            multiprocessing.connection.wait([parent.sentinel])
            os._exit(1)

        threading.Thread(target=exit_with_parent, daemon=True).start()
    _set_torch_threads(threads)
    for module in preload:
        with contextlib.suppress(ImportError):  # a job that needs it will say why
            importlib.import_module(module)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        job, payload = message

        def call(_: Any, progress: Callable, payload: bytes = payload) -> Any:
            fn, item = pickle.loads(payload)
            return fn(item, progress)

        outcome = _run(call, None, lambda record, job=job: conn.send(("record", job, record)))
        conn.send(("end", job, *outcome))  # after every record of the job


# -- processes ------------------------------------------------------------------------------


@contextlib.contextmanager
def _sigint_ignored_by_children():
    """Processes started in this block are born ignoring SIGINT (an ignored signal stays
    ignored across exec): a Ctrl-C while a worker starts and imports would otherwise print its
    traceback. This process blocks SIGINT meanwhile rather than ignore it, so a Ctrl-C that
    arrives now is delivered afterwards, not lost. Only the main thread of a POSIX process
    may do this."""
    if threading.current_thread() is not threading.main_thread() or \
            not hasattr(signal, "pthread_sigmask"):  # Windows has no signal masks
        yield
        return
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


class _Worker:
    """One spawned worker process and its duplex pipe."""

    def __init__(self, ctx: Any, threads: int | None, preload: tuple[str, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, threads, preload),
                                   name="paretoprune-worker", daemon=True)
        try:
            with _sigint_ignored_by_children():
                self.process.start()
        finally:
            child.close()  # the worker has its copy: EOF here once it exits

    def exit_text(self) -> str:
        """How the dead worker ended: "exit code 3", "killed by SIGKILL"."""
        self.process.join(_PATIENCE_S)  # dead already: wait for the kernel to say how
        code = self.process.exitcode
        if code is None:
            return "exit code unknown"
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        return f"killed by signal {-code}"

    def stop(self) -> None:
        """Stop the process (its job, if any, is lost) and reap it."""
        self.conn.close()
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(_PATIENCE_S)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(_PATIENCE_S)


class _Stopped(BaseException):
    """Raised in a job of the inline slot when the executor closes (a thread cannot be
    killed, but it can be made to raise); a BaseException, so that no ``except Exception`` in
    the job's code swallows it."""


class ProcessExecutor(Executor):
    """Runs each job in a spawned worker process; one long-lived worker per slot, started at
    once. ``preload``: modules each worker imports when it starts (``"paretoprune.training"``
    imports torch), so the imports run while the driver still prepares, not in the first job.

    ``inline=True``: slot 0 is a thread of this process instead, which needs no start-up: the
    first job trains at once while the processes start, so a small sweep with two workers is
    not slower than one with a single worker. A job in that slot shares this process (if it
    crashes the process, the driver goes with it, as in a serial sweep). :meth:`close` stops it
    (it raises in the thread, which then ends at its next line of Python) and joins it: a
    thread still inside torch when the interpreter exits makes torch abort the process
    ("terminate called without an active exception").
    """

    def __init__(self, slots: int = 1, *, on_progress=None, threads: int | None = None,
                 preload: tuple[str, ...] = (), inline: bool = False) -> None:
        super().__init__(slots, on_progress=on_progress, threads=threads)
        self._ctx = multiprocessing.get_context("spawn")  # fork is unsafe with torch, threads
        self._preload = tuple(preload)
        self._busy: dict[int, int] = {}  # slot -> job
        self._outcomes: deque[tuple[int, Any]] = deque()  # finished, not yet returned
        self._inline: threading.Thread | None = None  # the inline slot's running job
        self._inline_outcome: dict[int, Any] = {}
        # the inline job reports on a pipe too, so that wait() has one thing to watch
        self._inline_reader, self._inline_writer = self._ctx.Pipe(duplex=False)
        self._workers: list[_Worker | None] = [
            None if inline and slot == 0 else self._start() for slot in range(self.slots)]

    def _start(self) -> _Worker:
        return _Worker(self._ctx, self.threads, self._preload)

    def submit(self, fn, item) -> int:
        job = self._new_job()
        slot = next(s for s in range(self.slots) if s not in self._busy)
        self._busy[slot] = job
        if self._workers[slot] is None:
            self._inline = threading.Thread(target=self._run_inline, args=(job, fn, item),
                                            name=f"paretoprune-inline-{job}", daemon=True)
            self._inline.start()
            return job
        try:
            message = (job, pickle.dumps((fn, item), pickle.HIGHEST_PROTOCOL))
            worker = self._workers[slot]
            if not worker.process.is_alive():  # it died while idle: a fresh one takes the job
                worker.stop()
                worker = self._workers[slot] = self._start()
            worker.conn.send(message)
        except Exception as err:  # fn or item cannot be pickled, no worker could start
            self._finish(slot, job, err)
        return job

    def _run_inline(self, job: int, fn: Callable, item: Any) -> None:
        def progress(record: dict) -> None:
            if self._closed:
                raise _Stopped(f"job {job} stopped: the executor closed")
            self._inline_writer.send(("record", job, record))

        # close() raises _Stopped here once, at any line: within the job it is the job's
        # outcome; after it (close() raced with the job's end) nobody waits for the end
        with contextlib.suppress(_Stopped, OSError):  # OSError: the pipe closed
            try:
                _set_torch_threads(self.threads)  # torch loads with the first job, not before
                self._inline_outcome[job] = fn(item, progress)
            except BaseException as err:  # noqa: BLE001 - the job's outcome, like a worker's
                self._inline_outcome[job] = err
            self._inline_writer.send(("end", job))

    def wait(self) -> tuple[int, Any]:
        self._check_running()
        while not self._outcomes:
            sources: dict[Any, int] = {}
            for slot in self._busy:
                worker = self._workers[slot]
                if worker is None:
                    sources[self._inline_reader] = slot
                else:
                    sources[worker.conn] = sources[worker.process.sentinel] = slot
            for ready in multiprocessing.connection.wait(list(sources), timeout=_POLL_S):
                if sources[ready] in self._busy:  # not finished by its other source just now
                    self._read(sources[ready])
        job, outcome = self._outcomes.popleft()
        self._jobs.discard(job)
        return job, outcome

    def _read(self, slot: int) -> None:
        """Handle what the job of ``slot`` sent: records, then its end; or its worker's death."""
        worker, job = self._workers[slot], self._busy[slot]
        conn = self._inline_reader if worker is None else worker.conn
        with contextlib.suppress(EOFError, OSError):  # OSError: the pipe broke as it died
            while conn.poll():
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    raise
                except Exception as err:  # a record that cannot be unpickled here
                    warnings.warn(f"unreadable progress record: {first_line(err)}",
                                  RuntimeWarning, stacklevel=1)
                    continue
                if message[0] == "record":
                    self._record(message[1], message[2])
                elif worker is None:
                    return self._finish(slot, job, self._inline_outcome.pop(job))
                else:
                    return self._finish(slot, job, _unpack(*message[2:]))
        if worker is not None and not worker.process.is_alive():
            pid = worker.process.pid
            self._finish(slot, job, WorkerDied(
                f"its worker process (pid {pid}) died ({worker.exit_text()})"))
            worker.stop()
            self._workers[slot] = self._start()

    def _finish(self, slot: int, job: int, outcome: Any) -> None:
        del self._busy[slot]
        self._outcomes.append((job, outcome))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True  # before anything: an inline job sees it at its next record
        inline = self._inline
        if inline is not None and inline.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(inline.ident),
                                                       ctypes.py_object(_Stopped))
            inline.join(_PATIENCE_S)
        for worker in self._workers:
            if worker is not None:
                worker.stop()
        self._inline_reader.close()
        self._inline_writer.close()
        self._busy.clear()
        self._outcomes.clear()
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
    # Queue.put returns once the record is in the queue: all are there when the task ends
    return _run(fn, item, lambda record: channel is not None and channel.put((job, record)))


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

    def _drain(self) -> None:
        from ray.util.queue import Empty

        while self._channel is not None:
            try:
                job, record = self._channel.get_nowait()
            except Empty:
                return
            self._record(job, record)

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
            while not ready:  # a timeout keeps Ctrl-C prompt and the progress flowing
                self._drain()
                ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=_POLL_S)
            self._drain()
            job = self._refs.pop(ready[0])
            outcome = self._outcome(ready[0])
        self._jobs.discard(job)
        return job, outcome

    def _outcome(self, ref: Any) -> Any:
        exc = self._ray.exceptions
        try:
            return _unpack(*self._ray.get(ref))
        except exc.RayTaskError as err:  # the task failed before fn ran (arguments, imports)
            return err.cause if isinstance(err.cause, BaseException) else err
        except (exc.WorkerCrashedError, exc.OutOfMemoryError, exc.NodeDiedError,
                exc.LocalRayletDiedError) as err:
            return WorkerDied(f"its Ray worker died ({type(err).__name__})")
        except exc.RayError as err:
            return err

    def close(self) -> None:
        if self._closed:
            return
        for ref in self._refs:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        self._failed.clear()
        if self._channel is not None:
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
