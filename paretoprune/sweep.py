"""A sweep: the adaptive exploration of :func:`paretoprune.explore` driving real training runs,
persisted in a sweep directory.

The pieces, each in its own layer:

* :func:`paretoprune.exploration.explore` chooses the weights (generic, knows nothing of training);
* :class:`SweepEvaluator` turns a weight into a training run (:mod:`paretoprune.training`);
* :mod:`paretoprune.executors` runs evaluations serially, in processes or as Ray tasks;
* :class:`paretoprune.store.SweepStore` persists every finished run at once, atomically, so a
  killed sweep resumes where it stopped (finished runs are kept, runs in flight run again).

Only the driver (this process) writes the store. Workers only read it, and only for warm starts
(the checkpoint of the nearest finished run), which therefore needs a file system shared with the
workers when Ray runs on other machines.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd

from paretoprune.errors import InputError
from paretoprune.exploration import explore

#: Sweep settings that do not change which sweep a directory holds: they may differ on resume.
RUNTIME_KEYS = ("budget", "workers", "executor", "ray_address", "gpus_per_run", "cpus_per_run")


@dataclass
class SweepConfig:
    """Everything that defines a sweep: the training spec (a dict of
    :class:`~paretoprune.training.TrainSpec` fields) and the exploration settings."""

    train: dict = field(default_factory=dict)
    budget: int = 8
    rule: str = "normal"
    weights: tuple[float, float] = (0.0, 1.0)
    tol: float = 1e-3
    warm_start: bool = False
    warm_epochs: int = 5
    workers: int = 1
    executor: str = "auto"
    ray_address: str | None = None
    gpus_per_run: float = 0.0
    cpus_per_run: float = 1.0

    def validate(self) -> SweepConfig:
        """Check the exploration settings (the training spec checks itself); return self."""
        if self.budget < 2:
            raise InputError(f"budget must be at least 2 (the two ends of the weight range), got {self.budget}")
        lo, hi = self.weights
        if not (0.0 <= lo < hi <= 1.0):
            raise InputError(f"weight range must satisfy 0 <= LO < HI <= 1, got {lo}:{hi}")
        if self.workers < 1:
            raise InputError(f"workers must be at least 1, got {self.workers}")
        if self.warm_epochs < 1:
            raise InputError(f"warm epochs must be at least 1, got {self.warm_epochs}")
        if self.tol < 0:
            raise InputError(f"tolerance must be non-negative, got {self.tol}")
        if self.executor not in ("auto", "serial", "process", "ray"):
            raise InputError(f"unknown executor {self.executor!r}; choose auto, serial, process or ray")
        return self

    def to_dict(self) -> dict:
        data = asdict(self)
        data["weights"] = list(self.weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> SweepConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown sweep setting {unknown[0]!r}")
        values = dict(data)
        if "weights" in values:
            values["weights"] = tuple(float(w) for w in values["weights"])
        return cls(**values)

    def identity(self) -> dict:
        """The settings that define which sweep a directory holds (see :data:`RUNTIME_KEYS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_KEYS}

    def executor_name(self) -> str:
        if self.executor == "auto":
            return "process" if self.workers > 1 else "serial"
        return self.executor


def parse_weight_range(text: str) -> tuple[float, float]:
    """``"LO:HI"`` as two floats (range checks happen in :meth:`SweepConfig.validate`)."""
    try:
        lo, hi = (float(part) for part in text.split(":"))
    except ValueError:
        raise InputError(f"weight range must look like LO:HI (for example 0:1), got {text!r}") from None
    return lo, hi


class SweepEvaluator:
    """``evaluate(weight) -> metrics`` for one sweep: a picklable callable that trains one run.

    With ``warm_start``, a run starts from the checkpoint of the finished run with the nearest
    weight at or below its own (the nearest denser network: pruned weights never regrow with
    persistent masks) and trains ``warm_epochs`` epochs (continuation along the front); the
    first two finished runs (normally the ends of the weight range) train cold. ``progress_dir`` (a local folder outside
    the store) receives a small JSON file per running run so the driver can show its epochs.
    """

    def __init__(self, train: dict, store_path: str | None = None, *, warm_start: bool = False,
                 warm_epochs: int = 5, progress_dir: str | None = None,
                 on_epoch: Callable[[float, dict], None] | None = None,
                 threads: int | None = None):
        self.threads = threads  # torch threads in a worker; None leaves torch's default
        self.train = dict(train)
        self.store_path = store_path
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.progress_dir = progress_dir
        self.on_epoch = on_epoch  # in-process progress (serial executor only; not pickled)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["on_epoch"] = None
        return state

    def _warm_state(self, weight: float):
        if not (self.warm_start and self.store_path):
            return None, None
        from paretoprune.store import SweepStore

        store = SweepStore.open(self.store_path)
        points = store.points()
        if points.empty:
            return None, None
        done = points[points["status"].astype(str).eq("ok")]
        if len(done) < 2:
            # The first two runs (the ends of the weight range) train cold: they fix the sweep's
            # frozen normalization and should not depend on each other.
            return None, None
        # Continue from the nearest DENSER run (weight <= this one): with persistent masks a
        # pruned weight never comes back, so starting from a sparser network could only stay
        # at least as sparse (from the all-zero end, nothing can be learnt at all).
        denser = done[done["weight"] <= weight]
        if denser.empty:
            return None, None
        nearest = denser.iloc[(weight - denser["weight"]).argsort().iloc[0]]
        run = int(nearest["run"])
        checkpoint = store.load_checkpoint(run)
        return (checkpoint.get("state") if checkpoint else None), run

    def __call__(self, weight: float) -> dict:
        from paretoprune.training import TrainSpec, train_run

        if self.threads:
            # Parallel runs each using every core fight over them: on 2 cores, 2 runs with 2
            # threads each made small models many times slower than 1 thread each.
            import torch

            torch.set_num_threads(self.threads)
        spec = TrainSpec.from_dict(self.train)
        init_state, warm_from = self._warm_state(weight)
        epochs = self.warm_epochs if init_state is not None else None
        result = train_run(spec, weight, init_state=init_state, epochs=epochs,
                           on_epoch=self._progress_callback(weight))
        self._clear_progress(weight)
        metrics = dict(result.metrics)
        metrics["warm_from"] = -1 if warm_from is None else warm_from
        metrics["_state"] = result.state
        metrics["_history"] = result.history
        return metrics

    # --- progress for the driver's display -------------------------------------------------
    def _progress_file(self, weight: float) -> Path | None:
        if not self.progress_dir:
            return None
        return Path(self.progress_dir) / f"{weight:.12f}.json"

    def _progress_callback(self, weight: float):
        path, callback = self._progress_file(weight), self.on_epoch
        if path is None and callback is None:
            return None

        def on_epoch(record: dict) -> None:
            if callback is not None:
                callback(weight, record)
            if path is not None:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"weight": weight, **_plain(record)}))
                os.replace(tmp, path)

        return on_epoch

    def _clear_progress(self, weight: float) -> None:
        path = self._progress_file(weight)
        if path is not None:
            path.unlink(missing_ok=True)


def _plain(record: Mapping) -> dict:
    return {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in record.items()}


def read_progress(progress_dir: str | Path) -> list[dict]:
    """The latest epoch record of each running run (written by :class:`SweepEvaluator`)."""
    records = []
    for path in sorted(Path(progress_dir).glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue  # being replaced right now
    return records


def checkpoint_payload(row: Mapping, raw: Mapping, config: SweepConfig) -> dict | None:
    """What a run's checkpoint holds: weights and masks, config and metrics."""
    state = raw.get("_state")
    if state is None:
        return None
    return {"state": state, "config": config.to_dict(), "metrics": dict(row)}


def run_sweep(
    out: str | Path,
    config: SweepConfig,
    *,
    force: bool = False,
    reporter=None,
) -> pd.DataFrame:
    """Run (or resume) the sweep ``config`` in the directory ``out`` and return its points table.

    ``reporter`` (optional) receives ``start(config, done_rows)``, ``epoch(weight, record)``,
    ``finished(row, hypervolume)`` and ``end(frame)`` calls, and may offer ``progress_dir`` (a
    folder that process workers write their epoch records to).
    """
    from paretoprune.executors import make_executor
    from paretoprune.store import SweepStore
    from paretoprune.training import TrainSpec

    config.validate()
    spec = TrainSpec.from_dict(config.train)  # validates the training settings before any work
    config.train = spec.to_dict()
    # lock=True: the lock is taken before anything is written, so two sweeps never race.
    store = SweepStore.create_or_open(out, config.to_dict(), identity=config.identity(),
                                      force=force, lock=True)
    try:
        done = store.points()
        if reporter is not None:
            reporter.start(config, done)
        executor_name = config.executor_name()
        progress_dir = tempfile.mkdtemp(prefix="paretoprune-progress-")
        evaluator = SweepEvaluator(
            config.train, str(store.path), warm_start=config.warm_start,
            warm_epochs=config.warm_epochs,
            progress_dir=progress_dir if executor_name == "process" else None,
            on_epoch=reporter.epoch if reporter is not None and executor_name == "serial" else None,
            threads=worker_threads(config, executor_name),
        )
        if reporter is not None:
            reporter.progress_dir = progress_dir if executor_name == "process" else None

        def on_result(row: dict, raw: Mapping) -> None:
            store.append(row, checkpoint=checkpoint_payload(row, raw, config),
                         history=raw.get("_history"))
            if reporter is not None:
                reporter.finished(row, _current_hypervolume(store))

        executor = make_executor(executor_name, workers=config.workers,
                                 ray_address=config.ray_address, gpus_per_run=config.gpus_per_run,
                                 cpus_per_run=config.cpus_per_run)
        try:
            frame = explore(
                evaluator, budget=config.budget, rule=config.rule, workers=config.workers,
                executor=None if executor_name == "serial" else executor,
                weights=tuple(config.weights), tol=config.tol,
                initial=done if len(done) else None, on_result=on_result, seed=spec.seed,
            )
        finally:
            executor.close()
            _remove_tree(progress_dir)
        store.write_points(frame)
        if reporter is not None:
            reporter.end(frame)
        return frame
    finally:
        store.release()


def worker_threads(config: SweepConfig, executor_name: str) -> int | None:
    """Torch threads per run: the cores shared out among local workers, ``cpus_per_run`` for
    Ray tasks, torch's default for a serial sweep."""
    if executor_name == "process":
        return max(1, (os.cpu_count() or 1) // config.workers)
    if executor_name == "ray":
        return max(1, int(config.cpus_per_run))
    return None


def _current_hypervolume(store) -> float:
    """The hypervolume of the store's finished runs, in the sweep's frozen normalization (the
    explore module derives it from the first two successful runs)."""
    from paretoprune.exploration import table_hypervolume

    return table_hypervolume(store.points())


def _remove_tree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)

