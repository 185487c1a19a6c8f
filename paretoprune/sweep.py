"""A sweep: the planner driving real training runs on an executor, persisted in a sweep directory.

The pieces, each in its own layer:

* :class:`~paretoprune.planner.Planner` chooses the parameters (generic, knows nothing of
  training);
* :func:`run_job` turns one :class:`Job` into a training run (:mod:`paretoprune.training`);
* :mod:`paretoprune.executors` runs jobs serially, in processes or as Ray tasks;
* :class:`~paretoprune.store.SweepStore` persists every finished run at once, so a killed sweep
  resumes where it stopped (finished runs are kept, runs in flight run again).

The rows of a sweep have a ``role``:

* ``dense`` -- the reference: λ = 0 with pruning off, trained once (not counted in the budget);
  every accuracy drop is measured against it;
* ``trial`` -- the exploration runs the planner chose (``--budget`` counts them);
* ``final`` -- the selected trial trained on to ``--epochs`` when trials trained
  ``--trial-epochs`` (``--retrain warm``: its own weights, masks fixed, cross-entropy only;
  ``cold``: its parameter trained again from scratch);
* ``finetuned`` -- the selected network trained on with its masks fixed and λ = 0
  (``--finetune-epochs``).

Only this process (the driver) reads and writes the store. A job carries everything its worker
needs -- the training spec and, for a warm start, the weights of the run it continues -- so
workers on other machines need no shared file system. Trial rows are told to the planner after
the dense reference is in (their collapse and ``--max-drop`` status are measured against it),
in the order they finished; a resumed sweep tells them again in that order. Failed trial rows
of an earlier invocation are retried: they stay in the table but neither count against the
budget nor guide the planner.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from paretoprune.config import SweepConfig, TrainSpec
from paretoprune.errors import EXIT_FAILED, InputError, ParetoPruneError, StoreError, first_line
from paretoprune.exploration import REFERENCE, AskTellLoop, make_row, table_hypervolume
from paretoprune.planner import Planner, Proposal
from paretoprune.rows import DENSE, FINAL, FINETUNED, TRIAL, is_collapsed
from paretoprune.selection import (
    RETRAIN_ATTEMPTS,
    select_run,
    select_within,
    shipped_row,
    sweep_table,
)
from paretoprune.store import StoreWarning, SweepStore

__all__ = ["Job", "Sweep", "SweepFailed", "answer_fields", "answer_line", "check_job", "run_job",
           "run_sweep"]

#: Two trials whose accuracies are shown equal within this share of --max-drop are the same
#: for the boundary search: the planner stops splitting a bracket between them.
EQUIVALENCE_SHARE = 0.25

class SweepFailed(ParetoPruneError):
    """No run of the sweep succeeded."""

    exit_code = EXIT_FAILED


@dataclass(frozen=True)
class Job:
    """One training run as a worker receives it: everything it needs travels inside."""

    spec: TrainSpec
    init_state: dict | None = None
    epochs: int | None = None


def run_job(job: Job, progress=None) -> dict:
    """Worker side: train ``job`` (:func:`paretoprune.training.run_point`)."""
    from paretoprune.training import run_point

    return run_point(job.spec, init_state=job.init_state, epochs=job.epochs, progress=progress)


def check_job(spec: TrainSpec, progress=None) -> dict:
    """Worker side: :func:`paretoprune.training.preflight` -- where the runs will train (a Ray
    node checks its own device), and it leaves torch and the data loaded for the first run.
    Returns the sizes of the splits."""
    from paretoprune.training import preflight

    return preflight(spec)


class ValidationWarning(UserWarning):
    """The validation set is too small to certify --max-drop at --confidence."""


#: Before the dense run exists: the share of the examples a pruned network as accurate as the
#: dense one is assumed to disagree with it on (measured on the digits quick start: 0.2 % to
#: 1.8 % of the test images for networks 26 % to 76 % sparse).
PRIOR_DISAGREEMENT = 0.01


def validation_needed(config: SweepConfig, dense_error: float | None = None) -> int:
    """The validation examples a network as accurate as the dense one needs to be certified
    within --max-drop at --confidence, when it disagrees with the dense network on half as many
    examples as the dense one gets wrong (``dense_error``), or, before the dense run exists,
    on :data:`PRIOR_DISAGREEMENT` of them (:func:`paretoprune.stats.examples_needed`)."""
    from paretoprune.stats import examples_needed

    share = PRIOR_DISAGREEMENT if dense_error is None or not math.isfinite(dense_error) \
        else dense_error / 2
    return examples_needed(share, config.max_drop, config.confidence)


def warn_small_validation(config: SweepConfig, n_val: int,
                          dense_error: float | None = None) -> bool:
    """Say (a :class:`ValidationWarning`) when ``n_val`` validation examples are too few to
    certify --max-drop at --confidence, with how many would do; True when it said so."""
    if config.max_drop is None or config.confidence <= 0 or config.selection_metric() != \
            "val_acc":
        return False
    from paretoprune.stats import examples_needed

    needed = validation_needed(config, dense_error)
    if n_val >= needed:
        return False
    best = examples_needed(0.0, config.max_drop, config.confidence)
    basis = (f"the dense run's error rate {dense_error:.1%}" if dense_error is not None
             and math.isfinite(dense_error) else
             f"a prior of {PRIOR_DISAGREEMENT:.0%} disagreement with the dense network")
    warnings.warn(
        f"{n_val} validation examples are too few to certify a drop of {config.max_drop:g} at "
        f"{config.confidence:.0%}: a network as accurate as the dense one needs about {needed} "
        f"(from {basis}; {best} even if it agrees with the dense network on every example); "
        "use a larger --val-fraction or --val-split test, or a larger --max-drop",
        ValidationWarning, stacklevel=2)
    return True


# ----------------------------------------------------------------------------------------------


class Sweep(AskTellLoop):
    """One invocation of :func:`run_sweep`: the exploration (the ask/tell loop of
    :class:`~paretoprune.exploration.AskTellLoop` with the dense reference as a side job and the
    trials held until it is in, :meth:`run`), then the retrains of the answer (:meth:`retrain`).
    Every finished run is annotated, persisted in ``store`` and shown by ``reporter``;
    ``labels`` (job id -> a name for the progress display) is kept up to date."""

    def __init__(self, config: SweepConfig, store, executor, *, reporter=None,
                 labels: dict[int, str] | None = None) -> None:
        self.config, self.store, self.reporter = config, store, reporter
        self.labels = {} if labels is None else labels
        method = config.method
        self.param = method.parameter
        self.x, self.y = method.objectives
        self.metric = config.selection_metric()
        lo, hi = config.range
        sparse = method.range[1] if method.dense_end == "lo" else method.range[0]
        planner = Planner(
            rule=config.rule, range=(lo, hi), budget=config.budget, tol=config.tol,
            seed=config.train.seed, x=self.x, y=self.y, param=self.param,
            scalarization=method.scalarization, dense_end=method.dense_end,
            sparse_end_known=method.sparse_end_known and sparse in (lo, hi),
            dense_end_known=self._dense_end_is_reference(),
            target=config.max_drop is not None,
            parameter_for_bound=method.parameter_for_bound, scale=method.scale,
            indistinguishable=self.indistinguishable)
        rows = store.rows()
        _report_missing_checkpoints(store, rows)
        # the dense references, by epochs: one as long as the trials, one as long as --epochs
        self.trial_epochs = config.trial_epochs or config.train.epochs
        self.dense_epochs = sorted({self.trial_epochs, config.train.epochs}) if config.dense \
            else []
        self.dense = {int(r["epochs"]): r for r in rows
                      if r.get("role") == DENSE and r.get("status") == "ok"}
        self.dense_queue = [e for e in self.dense_epochs if e not in self.dense]  # tried once
        # failed trials of earlier invocations are retried: not counted, not told
        self.trials = [r for r in rows if r.get("role", TRIAL) == TRIAL and r.get("status") == "ok"]
        self.held_rows = list(self.trials)  # told once the trials' dense reference is in
        super().__init__(planner, executor, budget=config.budget, done=len(self.trials))
        self.next_run = store.next_run()
        self.stop_reason = ""
        self._predictions: dict[int, dict | None] = {}
        self.dense_end_told = False
        self.n_val: int | None = None  # validation examples, once the preflight has counted
        self.validation_warned = False
        if self.trial_epochs in self.dense or not config.dense:
            self.tell_held()

    # -- rows --------------------------------------------------------------------------------

    def _reference(self, epochs: int) -> float | None:
        dense = self.dense.get(epochs) or self.dense.get(self.config.train.epochs)
        value = None if dense is None else dense.get(self.metric)
        return float(value) if value is not None and math.isfinite(float(value)) else None

    def indistinguishable(self, first: float, second: float) -> bool:
        """Whether the trials of parameters ``first`` and ``second`` are shown equal on
        validation within :data:`EQUIVALENCE_SHARE` of --max-drop
        (:func:`paretoprune.stats.indistinguishable` at --confidence); False without
        predictions or at confidence 0 (the planner then splits as before)."""
        from paretoprune.stats import indistinguishable

        found = []
        for param in (first, second):
            rows = [r for r in self.trials if r.get("status") == "ok"
                    and abs(float(r[self.param]) - param) <= 1e-9]
            stored = self.predictions(int(rows[-1]["run"])) if rows else None
            if not stored or "val" not in stored:
                return False
            found.append(stored)
        if len(found[0]["val"]) != len(found[1]["val"]):
            return False
        return indistinguishable(found[0]["val"], found[1]["val"], found[0]["val_labels"],
                                 self.config.confidence,
                                 EQUIVALENCE_SHARE * self.config.max_drop)

    def predictions(self, run: int) -> dict | None:
        """The stored predictions of ``run`` (None for none), read once."""
        if run not in self._predictions:
            self._predictions[run] = self.store.load_predictions(run)
        return self._predictions[run]

    def annotate(self, row: dict, *, retrain: bool = False) -> dict:
        """Add ``collapsed`` (and ``within`` with --max-drop), measured against the dense
        reference trained as long as the trials (a retrain: the full one). ``within``: the
        upper bound of the paired drop at --confidence is at most --max-drop (the point rule,
        drop <= D, at confidence 0 or without predictions)."""
        if row.get("status") != "ok":
            return row
        epochs = self.config.train.epochs if retrain else self.trial_epochs
        ref = self._reference(epochs)
        row["collapsed"] = is_collapsed(row, self.metric, ref)
        if self.config.max_drop is not None:
            value = row.get(self.metric)
            drop = self._upper(row, epochs)
            if drop is None and ref is not None and value is not None and math.isfinite(value):
                drop = ref - value
            row["within"] = bool(drop is not None and not row["collapsed"]
                                 and drop <= self.config.max_drop + 1e-12)
        return row

    def _upper(self, row: Mapping, epochs: int) -> float | None:
        """The upper bound of ``row``'s paired drop on validation against the dense run of
        ``epochs`` (None without predictions, or with the metric not val_acc)."""
        from paretoprune.stats import paired_drop

        dense = self.dense.get(epochs) or self.dense.get(self.config.train.epochs)
        if self.metric != "val_acc" or dense is None or self.config.confidence <= 0:
            return None
        mine, theirs = self.predictions(int(row["run"])), self.predictions(int(dense["run"]))
        if not mine or not theirs or "val" not in mine or "val" not in theirs:
            return None
        if len(mine["val"]) != len(theirs["val_labels"]):
            raise InputError(f"the validation predictions of run {row['run']} "
                             f"({len(mine['val'])}) do not match the {len(theirs['val_labels'])} "
                             f"examples of the dense run {dense['run']}")
        return paired_drop(theirs["val"], mine["val"], theirs["val_labels"],
                           self.config.confidence).upper

    def check_validation(self, dense: Mapping | None) -> None:
        """Warn once (:func:`warn_small_validation`) when the validation set is too small for
        --max-drop at --confidence: from a prior, then from ``dense``'s error rate when the full
        dense run is in."""
        if self.validation_warned or self.n_val is None:
            return
        error = None
        if dense is not None:
            value = dense.get(self.metric)
            error = None if value is None else 1.0 - float(value)
        self.validation_warned = warn_small_validation(self.config, self.n_val, error)

    def _dense_end_is_reference(self) -> bool:
        """Whether the dense end of the range would train the dense reference again (its
        method says so, the range reaches it, and the sweep has a dense reference)."""
        method, config = self.config.method, self.config
        dense = method.range[0] if method.dense_end == "lo" else method.range[1]
        return bool(method.dense_end_trains_reference(config.train) and config.dense
                    and dense in config.range)

    def tell_held(self) -> None:
        """Tell the planner the trials held for the dense reference (and, where the dense end
        of the range is the reference, the dense end's point), annotated against it."""
        if self._dense_end_is_reference() and not self.dense_end_told:
            reference = self.dense.get(self.trial_epochs)
            if reference is not None:  # the dense end's point, with no trial of its own
                lo, hi = self.config.range
                row = dict(reference, **{self.param: lo if self.config.method.dense_end == "lo"
                                         else hi})
                row.update(collapsed=False, within=True)
                self.planner.tell(row)
                self.dense_end_told = True
        for row in self.held_rows:
            self.planner.tell(self.annotate(dict(row)))
        self.held_rows = []

    def record(self, role: str, proposal: Proposal, outcome, extra: Mapping | None = None) -> dict:
        """Make, annotate and persist one finished run; return its row."""
        if isinstance(outcome, InputError):
            raise outcome  # bad input fails every run alike: stop and say it once
        row, raw = make_row(self.next_run, proposal, outcome, x=self.x, y=self.y,
                            param=self.param)
        self.next_run += 1
        row.update(role=role, method=self.config.method.name, **(extra or {}))
        predictions = raw.get("_predictions") or None
        self._predictions[row["run"]] = predictions
        if role != DENSE:
            self.annotate(row, retrain=role != TRIAL)
        checkpoint = None
        if raw.get("_state") is not None:
            from paretoprune.training import checkpoint_payload

            checkpoint = checkpoint_payload(raw["_state"], spec=raw.get("_spec"),
                                            metrics=row, history=raw.get("_history"))
        self.store.append(row, checkpoint=checkpoint, history=raw.get("_history"),
                          predictions=predictions)
        return row

    # -- jobs --------------------------------------------------------------------------------

    def dense_job(self, epochs: int) -> Job:
        """The job of the dense reference trained ``epochs``."""
        return Job(self.config.method.dense_reference(self.config.train), epochs=epochs)

    def trial_job(self, proposal: Proposal) -> tuple[Job, int]:
        """The job of a trial, warm-started from the nearest denser finished run when
        ``--warm-start`` is on (the ends train cold); returns it with that run's id (-1: cold)."""
        config = self.config
        spec = config.train.with_parameter(proposal.param)
        epochs = config.trial_epochs
        if config.warm_start and proposal.purpose != "end":
            sign = 1.0 if config.method.dense_end == "lo" else -1.0
            denser = [r for r in self.trials if r.get("status") == "ok" and not r.get("collapsed")
                      and sign * float(r[self.param]) <= sign * proposal.param]
            if denser:
                base = int(max(denser, key=lambda r: sign * float(r[self.param]))["run"])
                state = self._weights_of(base, f"run {self.next_run} trains cold instead")
                if state is not None:
                    return Job(spec, init_state=state, epochs=config.warm_epochs), base
        return Job(spec, epochs=epochs), -1

    # -- the exploration's steps (see AskTellLoop) ----------------------------------------------

    def side_jobs(self, free: int) -> list:
        """The dense references not yet trained (the trials' one first)."""
        queue, self.dense_queue = self.dense_queue[:max(free, 0)], self.dense_queue[max(free, 0):]
        return [(run_job, self.dense_job(epochs), Proposal(math.nan, None, DENSE), epochs)
                for epochs in queue]

    def held(self) -> list[Proposal]:
        """Trials waiting for the dense reference: still in flight for the planner."""
        return [Proposal(float(r[self.param]), None, "held") for r in self.held_rows]

    def job(self, proposal: Proposal):
        job, warm_from = self.trial_job(proposal)
        return run_job, job, warm_from

    def started(self, job_id: int, proposal: Proposal, note) -> None:
        if proposal.purpose == DENSE:
            self.labels[job_id] = "dense reference" + (
                f" ({note} epochs)" if len(self.dense_epochs) > 1 else "")
        else:
            self.labels[job_id] = f"{self.param} {proposal.param:.4g}"

    def finish_side(self, proposal: Proposal, epochs, outcome, job_id: int) -> None:
        row = self.record(DENSE, proposal, outcome)
        if row["status"] == "ok":
            self.dense[epochs] = row
            if epochs == self.config.train.epochs:  # its error rate, before the trials
                self.check_validation(row)
        self._finished(row, job_id)

    def finish(self, proposal: Proposal, warm_from, outcome, job_id: int | None) -> None:
        row = self.record(TRIAL, proposal, outcome, {"warm_from": warm_from})
        self.trials.append(row)
        self.held_rows.append(row)
        self._finished(row, job_id)

    def _finished(self, row: dict, job_id: int | None) -> None:
        self.labels.pop(job_id, None)
        waiting = any(note == self.trial_epochs for i, (_, note) in self.pending.items()
                      if i in self.side)
        if not waiting:  # trials are measured by the dense run as long as they are
            self.tell_held()
        self.report(row, job_id)

    def run(self) -> tuple[str, str]:
        """The exploration: the planner's trials and the dense references, until the budget is
        spent or the planner has nothing left; sets :attr:`stop_reason`."""
        stop, self.stop_reason = super().run()
        return stop, self.stop_reason

    # -- the answer's retrains ------------------------------------------------------------------

    def retrain(self) -> None:
        """Train the answer as it ships: ``final`` (the selected trial trained on to --epochs,
        or retrained cold, when trials train --trial-epochs) and ``finetuned`` rows. With --max-drop the
        network that ships must itself be certified against the dense reference trained as long
        as it; when it is not, the next denser certified trial is retrained, at most
        :data:`~paretoprune.selection.RETRAIN_ATTEMPTS` times in all (not counted in
        --budget)."""
        config = self.config
        retrains = config.trial_epochs is not None and config.trial_epochs < config.train.epochs
        if not retrains and config.finetune_epochs == 0:
            return
        tried: list[int] = []
        attempts = RETRAIN_ATTEMPTS if config.max_drop is not None else 1
        while len(tried) < attempts:
            frame = self.table()
            if config.max_drop is None:
                selected = select_run(frame, config)
            else:
                found = select_within(frame, config.max_drop, self.metric,
                                      confidence=config.confidence, roles=(TRIAL,),
                                      shippable=False)
                found = found[~found["run"].isin(tried)]
                selected = None if found.empty else found.iloc[0]
            if selected is None:
                return
            tried.append(int(selected["run"]))
            top = self._retrain_chain(selected, retrains)
            if config.max_drop is None or top is None:
                return
            frame = self.table()
            if bool(frame.loc[frame["run"] == top["run"], "certified"].any()):
                return

    def _retrain_one(self, role: str, job: Job, label: str, proposal: Proposal,
                     parent: int, warm_from: int = -1) -> dict:
        job_id = self.executor.submit(run_job, job)
        self.labels[job_id] = label
        _, outcome = self.executor.wait()
        self.labels.pop(job_id, None)
        row = self.record(role, proposal, outcome, {"parent": parent, "warm_from": warm_from})
        self.report(row, job_id)
        return row

    def _weights_of(self, run: int, instead: str) -> dict | None:
        """The stored state (weights and masks) of ``run`` to start from; None, with a warning
        ending in ``instead``, when its checkpoint was deleted or damaged by hand (not worth
        failing a sweep for)."""
        try:
            return self.store.load_checkpoint(run).get("state")
        except StoreError as err:
            warnings.warn(f"{err}; {instead}", StoreWarning, stacklevel=3)
            return None

    def _retrain_final(self, parent: int, param: float) -> dict:
        """The ``final`` row of trial ``parent``: with ``--retrain warm`` the trial trains on
        from its own weights, masks fixed and cross-entropy only, for --epochs minus
        --trial-epochs (so what ships is the network the search chose, trained as long as the
        dense reference it is judged against); with ``cold`` (or when the trial's checkpoint
        is gone) ``param`` is trained again from scratch for --epochs."""
        config = self.config
        proposal, label = Proposal(param, None, FINAL), f"final {self.param} {param:.4g}"
        if config.retrain == "warm":
            state = self._weights_of(parent, f"the final of run {parent} trains cold instead")
            if state is not None:
                job = Job(config.method.finetune(config.train), init_state=state,
                          epochs=config.train.epochs - config.trial_epochs)
                return self._retrain_one(FINAL, job, label + " (warm)", proposal, parent,
                                         warm_from=parent)
        return self._retrain_one(FINAL, Job(config.train.with_parameter(param)), label,
                                 proposal, parent)

    def _retrain_chain(self, selected: pd.Series, retrains: bool) -> dict | None:
        """The final and fine-tuned runs of one selected trial (those already in the store are
        kept); returns the most finished ok row of the chain, None when a retrain failed."""
        config = self.config
        rows = self.store.rows()

        def stored(role: str, parent: int) -> dict | None:
            return next((r for r in rows if r.get("role") == role and r.get("parent") == parent
                         and r.get("status") == "ok"), None)

        base = dict(selected)
        if retrains:
            parent, param = int(selected["run"]), float(selected[self.param])
            final = stored(FINAL, parent) or self._retrain_final(parent, param)
            if final.get("status") != "ok":
                return None
            base = final
        if config.finetune_epochs > 0:
            parent = int(base["run"])
            done = stored(FINETUNED, parent)
            if done is not None:
                return done
            state = self.store.load_checkpoint(parent).get("state")
            job = Job(config.method.finetune(config.train), init_state=state,
                      epochs=config.finetune_epochs)
            row = self._retrain_one(FINETUNED, job, f"fine-tuning run {parent}",
                                    Proposal(float(base[self.param]), None, FINETUNED), parent)
            return row if row.get("status") == "ok" else None
        return base

    # -- reading ----------------------------------------------------------------------------------

    def table(self) -> pd.DataFrame:
        """The sweep's table as it stands (:func:`~paretoprune.selection.sweep_table`)."""
        return sweep_table(self.store.points(), self.config, self.predictions)

    def hypervolume(self) -> float:
        """The hypervolume of the usable trial rows in the planner's normalization (NaN before
        it is fixed)."""
        frame = self.store.points()
        trials = frame[frame["role"].astype(str).eq(TRIAL)] if "role" in frame else frame
        if "collapsed" not in trials:
            return math.nan
        return table_hypervolume(trials, self.planner.reporting_normalization(), self.x, self.y)

    def report(self, row: dict, job_id: int | None) -> None:
        """Show a finished run (``reporter.finished``)."""
        if self.reporter is not None:
            self.reporter.finished(row, self.hypervolume(), job_id)


def _report_missing_checkpoints(store, rows: list[dict]) -> None:
    """A finished run whose checkpoint was deleted keeps its row, without weights: say so."""
    missing = [r["run"] for r in rows if r.get("status") == "ok"
               and not store.checkpoint_path(r["run"]).exists()]
    if missing:
        names = ", ".join(store.checkpoint_path(run).name for run in missing[:5])
        warnings.warn(
            f"{len(missing)} finished run(s) of {store.path} have no checkpoint ({names}"
            f"{', ...' if len(missing) > 5 else ''} missing): their rows are kept without "
            "weights, so export cannot use them and runs that would start from them train cold",
            StoreWarning, stacklevel=3)


# ----------------------------------------------------------------------------------------------


def run_sweep(out: str | Path, config: SweepConfig, *, force: bool = False,
              reporter=None) -> pd.DataFrame:
    """Run (or resume) the sweep ``config`` in the directory ``out`` and return its table.

    The sweep's lock is taken first (a second sweep on ``out`` is refused before torch is
    imported); then, before anything is written, one run's inputs are checked (device,
    dataset, model), so an input that would fail every run ends the command with one line and
    no sweep directory.
    ``reporter`` (optional) receives ``start(config, rows)``, ``epoch(job, label, record)``,
    ``finished(row, hypervolume)`` and ``end(frame, summary)``.

    Raises :class:`SweepFailed` when no run succeeded.
    """
    from paretoprune.executors import make_executor

    if not isinstance(config, SweepConfig):
        raise InputError("config must be a SweepConfig")
    labels: dict[int, str] = {}

    def on_progress(job_id: int, record: dict) -> None:
        if reporter is not None:
            reporter.epoch(job_id, labels.get(job_id, ""), record)

    # worker processes start (and import torch) at once; one slot is this process, which
    # checks the inputs and trains while they start
    with make_executor(config.executor_name, workers=config.workers, on_progress=on_progress,
                       threads=config.run_threads, ray_address=config.ray_address,
                       gpus_per_run=config.gpus_per_run, cpus_per_run=config.cpus_per_run,
                       preload=("paretoprune.training",), inline=True) as executor:
        sizes: dict = {}

        def preflight() -> None:
            executor.submit(check_job, config.train)  # in the first free slot: this process
            _job, problem = executor.wait()
            if isinstance(problem, ParetoPruneError):
                raise problem
            if isinstance(problem, BaseException):
                raise InputError(f"a run of this sweep cannot start: {type(problem).__name__}: "
                                 f"{first_line(problem)}")
            if isinstance(problem, Mapping):  # the split sizes, for the validation check
                sizes.update(problem)

        with SweepStore.create_or_open(out, config.to_dict(), identity=config.identity(),
                                       force=force, before_writing=preflight) as store:
            sweep = Sweep(config, store, executor, reporter=reporter, labels=labels)
            if "val" in sizes:  # before training: from the dense run when it is there
                sweep.n_val = int(sizes["val"])
                sweep.check_validation(sweep.dense.get(config.train.epochs))
            if reporter is not None:
                reporter.start(config, store.rows())
            sweep.run()
            sweep.retrain()
            frame = sweep.table()
            store.export(frame)
    summary = summarize(frame, config)
    summary["stop_reason"] = sweep.stop_reason
    if reporter is not None:
        reporter.end(frame, summary)
    if not (frame["status"].astype(str) == "ok").any() or not \
            ((frame["status"].astype(str) == "ok") & (frame["role"] == TRIAL)).any():
        raise SweepFailed(f"no run of the sweep {out} succeeded; see the error column "
                          "(paretoprune show OUT --columns run,role,error)")
    frame.attrs.update(summary)
    return frame


# ----------------------------------------------------------------------------------------------
# the table and the answer
# ----------------------------------------------------------------------------------------------


def summarize(frame: pd.DataFrame, config: SweepConfig) -> dict:
    """What the sweep found, as data for the summary line and ``df.attrs``."""
    ok = frame["status"].astype(str).eq("ok")
    roles = frame["role"].astype(str)
    trials = roles.eq(TRIAL)
    out = {
        "runs": int(len(frame)),
        "trials": int(trials.sum()),
        "failed": int((~ok).sum()),
        "collapsed": int((frame.get("collapsed", False) & trials).sum()),
        "metric": config.selection_metric(),
        "reference": REFERENCE,
    }
    dense = frame[roles.eq(DENSE) & ok]
    if not dense.empty:
        out["dense_run"] = int(dense.iloc[-1]["run"])
    out["confidence"] = config.confidence
    out["rule"] = frame.attrs.get("rule", "")
    shipped = shipped_row(frame)
    if shipped is not None and config.max_drop is not None and not bool(shipped["certified"]):
        shipped = None  # with --max-drop, only a certified network is an answer
    if shipped is not None:
        out["selected_run"] = int(shipped["run"])
        out["answer"] = answer_fields(shipped, config.confidence)
    elif config.max_drop is not None:
        out["answer"] = None
    return out


def answer_fields(row: pd.Series, confidence: float) -> dict:
    """The answer as data: run, role, nonzero weights, sparsity, the drops and their bounds."""
    def value(name):
        v = row.get(name)
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        return v if math.isfinite(v) else None

    nnz = value("nnz")
    return {"run": int(row["run"]), "role": str(row.get("role", "")),
            "nnz": None if nnz is None else int(nnz), "sparsity": value("sparsity"),
            "drop": value("drop"), "drop_upper": value("drop_upper"),
            "test_drop": value("test_drop"), "test_drop_upper": value("test_drop_upper"),
            "confidence": confidence, "certified": bool(row.get("certified", False))}


def answer_line(answer: Mapping) -> str:
    """"N nonzero weights (S % sparse), drop 0.6 points on validation (<= 0.9 at 95 %), 0.7 on
    test (<= 1.0)" -- the bounds left out where there are none (the point rule)."""
    def points(v):
        return "?" if v is None else f"{100 * v:.1f}"

    level = f"{100 * answer['confidence']:.4g} %"
    head = f"{answer['nnz']} nonzero weights"
    if answer.get("sparsity") is not None:
        head += f" ({100 * answer['sparsity']:.1f} % sparse)"
    val = f"drop {points(answer['drop'])} points on validation"
    if answer.get("drop_upper") is not None:
        val += f" (<= {points(answer['drop_upper'])} at {level})"
    test = f"{points(answer['test_drop'])} on test"
    if answer.get("test_drop_upper") is not None:
        test += f" (<= {points(answer['test_drop_upper'])})"
    return f"{head}, {val}, {test}"
