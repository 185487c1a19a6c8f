"""Adaptive exploration: find a front with as few evaluations as possible.

:func:`explore` is generic over ``evaluate(param) -> mapping``: it knows nothing about training.
A :class:`~paretoprune.planner.Planner` proposes each parameter (both ends first, then the
largest hypervolume gap of the front so far), an executor runs the evaluations (several at once
with ``workers``: a free worker gets the next parameter at once), and the results come back as a
table.

Result table (one row per evaluation, in the order evaluations finished):

========== ==================================================================================
column     meaning
========== ==================================================================================
run        0-based integer id (resumed runs keep theirs; new ones continue after the largest)
<param>    the parameter evaluated (``weight`` by default)
<x>, <y>   the two objectives (default names ``loss`` and ``l1``); NaN for failed rows
extras     every other key returned by ``evaluate`` whose name does not start with ``_``
status     ``"ok"`` or ``"failed"``
error      one-line reason for a failed row, ``""`` otherwise
gap_lo,    the parameters of the two front points whose gap this value was proposed for; NaN
gap_hi     for ends, brackets, grid and random values. Resume replays gap closing from them.
pareto     True for usable rows (ok, not ``collapsed``) on the front
========== ==================================================================================

``df.attrs``: ``stop_reason`` (a sentence), ``stop`` (a short code: ``budget``, ``closed``,
``tolerance``, ``nonconvex``, ``grid``, ``exhausted``), ``normalization`` (a dict with ``ideal``
and ``nadir`` tuples in raw units, or None while it is not fixed), ``reference`` ((1.1, 1.1):
the reference point, normalized), ``reference_raw`` (the same point in raw units) and
``hypervolume`` (of the usable rows, normalized, points beyond the reference ignored).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from paretoprune.config import SweepConfig
from paretoprune.errors import InputError, first_line
from paretoprune.pareto import Normalization, hypervolume, pareto_mask
from paretoprune.planner import PLANNER_RULES, Planner, Proposal
from paretoprune.rows import number as float_or_nan
from paretoprune.rows import usable_rows
from paretoprune.settings import choice, default_of, integer, number

__all__ = ["REFERENCE", "AskTellLoop", "explore", "make_row", "table_hypervolume"]

#: Reference point of the hypervolume, in normalized coordinates.
REFERENCE = (1.1, 1.1)
_RESERVED = ("run", "status", "error", "gap_lo", "gap_hi", "pareto")


def table_hypervolume(frame: pd.DataFrame, norm: Normalization | None, x: str = "loss",
                      y: str = "l1") -> float:
    """Hypervolume of a table's usable rows in ``norm`` with the reference :data:`REFERENCE`
    (points beyond it ignored); NaN without a normalization."""
    if norm is None:
        return math.nan
    points = frame.loc[usable_rows(frame), [x, y]].to_numpy(dtype=np.float64)
    return hypervolume(norm.apply(points), REFERENCE, strict=False) if len(points) else 0.0


# ----------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------


def _finite(value) -> bool:
    return math.isfinite(float_or_nan(value))


def make_row(run: int, proposal: Proposal, outcome, *, x: str, y: str,
             param: str) -> tuple[dict, dict]:
    """Turn what an evaluation returned (or raised) into a table row and the raw mapping."""
    gap = proposal.gap or (math.nan, math.nan)
    row = {"run": run, param: float(proposal.param), x: math.nan, y: math.nan}
    reason = ""
    if isinstance(outcome, BaseException):
        msg = first_line(outcome)
        reason = f"{type(outcome).__name__}: {msg}" if msg != type(outcome).__name__ else msg
        raw = {"status": "failed", "error": reason, "_exception": outcome}
    elif not isinstance(outcome, Mapping):
        reason = f"evaluate returned {type(outcome).__name__}, expected a mapping"
        raw = {"status": "failed", "error": reason}
    else:
        raw = dict(outcome)
        row.update({k: v for k, v in outcome.items() if isinstance(k, str)
                    and not k.startswith("_") and k not in _RESERVED and k not in (x, y, param)})
        status = outcome.get("status", "ok")
        if status == "failed":
            reason = first_line(outcome.get("error") or "") or "evaluation failed"
        elif status != "ok":
            reason = f"unknown status {status!r} (expected 'ok' or 'failed')"
        else:
            for key in (x, y):
                if not _finite(outcome.get(key)):
                    reason = (f"evaluate returned no {key!r}" if key not in outcome
                              else f"{key} is not a finite number: {outcome[key]!r}")
                    break
            else:
                row[x], row[y] = float(outcome[x]), float(outcome[y])
    row.update(status="failed" if reason else "ok", error=reason, gap_lo=gap[0], gap_hi=gap[1])
    return row, raw


def _initial_rows(initial, x: str, y: str, param: str) -> list[dict]:
    """Rows of a previous run (DataFrame or list of dicts), checked."""
    if initial is None:
        return []
    try:
        records = initial.to_dict("records") if isinstance(initial, pd.DataFrame) \
            else [dict(r) for r in initial]
    except (TypeError, ValueError):
        raise InputError("initial must be a DataFrame or a list of dicts (rows of a "
                         "previous run)") from None
    rows = []
    for pos, rec in enumerate(records):
        status = rec.get("status", "ok")
        problem = (f"has no finite {param!r}" if not _finite(rec.get(param)) else
                   f"has status {status!r}; expected 'ok' or 'failed'"
                   if status not in ("ok", "failed") else
                   f"is ok but its {x!r} or {y!r} is not a finite number"
                   if status == "ok" and not (_finite(rec.get(x)) and _finite(rec.get(y))) else "")
        if problem:
            raise InputError(f"initial row {pos} {problem}")
        error = rec.get("error")
        rows.append({**{k: v for k, v in rec.items() if k != "pareto"},
                     "run": int(float_or_nan(rec["run"])) if _finite(rec.get("run")) else pos,
                     "error": "" if error is None or error != error else str(error),  # NaN
                     "gap_lo": float_or_nan(rec.get("gap_lo")), "gap_hi": float_or_nan(rec.get("gap_hi"))})
    return rows


def _table(rows: list[dict], x: str, y: str, param: str) -> pd.DataFrame:
    head, tail = ["run", param, x, y], ["status", "error", "gap_lo", "gap_hi"]
    extras: list[str] = []
    for r in rows:
        extras += [k for k in r if k not in head and k not in tail and k not in extras]
    columns = head + extras + tail
    df = pd.DataFrame.from_records(rows, columns=columns).astype(  # the rest: pandas' own
        {"run": "int64", param: "float64", x: "float64", y: "float64", "gap_lo": "float64",
         "gap_hi": "float64"})
    usable = usable_rows(df).to_numpy()
    pareto = np.zeros(len(df), dtype=bool)
    if usable.any():
        pareto[usable] = pareto_mask(df.loc[usable, [x, y]].to_numpy(dtype=np.float64))
    df["pareto"] = pareto
    return df


class AskTellLoop:
    """The one ask/tell driver: keep the executor's free slots filled with the planner's
    proposals, wait for the first job to finish, record it, and go on until the planner has
    nothing left or ``budget`` rows are in (``done``: rows already in, resumed ones included).

    :func:`explore` runs it with :meth:`job` and :meth:`finish` only; a sweep
    (:class:`paretoprune.sweep.Sweep`) adds its steps around it: jobs of its own that the
    planner did not propose (:meth:`side_jobs`: the dense reference) and rows it holds back
    from the planner for a while (:meth:`held`).
    """

    def __init__(self, planner: Planner, executor, *, budget: int, done: int = 0,
                 slots: int | None = None) -> None:
        self.planner, self.executor, self.budget, self.done = planner, executor, budget, done
        self.slots = executor.slots if slots is None else slots
        #: job id -> (proposal, note) of the jobs in flight; ``side`` holds :meth:`side_jobs`' ids
        self.pending: dict[int, tuple[Proposal, object]] = {}
        self.side: set[int] = set()

    # -- steps ------------------------------------------------------------------------------

    def job(self, proposal: Proposal) -> tuple[Callable, object, object]:
        """``(fn, item, note)``: the executor job that evaluates ``proposal``; ``note`` comes
        back to :meth:`finish`."""
        raise NotImplementedError

    def finish(self, proposal: Proposal, note, outcome, job_id: int | None) -> None:
        """Record what the job of ``proposal`` returned or raised and tell the planner
        (``job_id`` None: the job could not even start)."""
        raise NotImplementedError

    def side_jobs(self, free: int) -> list[tuple[Callable, object, Proposal, object]]:
        """At most ``free`` jobs the planner did not propose, ``(fn, item, proposal, note)``,
        started before the planner is asked; they do not count against the budget."""
        return []

    def finish_side(self, proposal: Proposal, note, outcome, job_id: int) -> None:
        """Record what a job of :meth:`side_jobs` returned or raised."""
        raise NotImplementedError

    def held(self) -> list[Proposal]:
        """Finished rows not yet told to the planner: still in flight for it."""
        return []

    def started(self, job_id: int, proposal: Proposal, note) -> None:
        """Called as each job starts (a sweep names it for its progress display)."""

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> tuple[str, str]:
        """Drive the planner to the end; returns ``(stop code, stop reason)``."""
        while True:
            for fn, item, proposal, note in self.side_jobs(self.slots - len(self.pending)):
                self._start(fn, item, proposal, note, side=True)
            asked = [p for i, (p, _) in self.pending.items() if i not in self.side]
            room = min(self.slots - len(self.pending), self.budget - self.done - len(asked))
            for proposal in self.planner.ask(room, pending=asked + self.held()) if room > 0 \
                    else ():
                fn, item, note = self.job(proposal)
                try:
                    self._start(fn, item, proposal, note)
                except (RuntimeError, InputError) as err:  # cannot even start: a failed row
                    self.done += 1
                    self.finish(proposal, note, err, None)
            if not self.pending:
                break
            job_id, outcome = self.executor.wait()
            proposal, note = self.pending.pop(job_id)
            if job_id in self.side:
                self.side.discard(job_id)
                self.finish_side(proposal, note, outcome, job_id)
            else:
                self.done += 1
                self.finish(proposal, note, outcome, job_id)
        if self.done >= self.budget:
            return "budget", "budget reached"
        return (self.planner.stop or "exhausted",
                self.planner.stop_reason or "no parameter left to try")

    def _start(self, fn, item, proposal: Proposal, note, side: bool = False) -> None:
        job_id = self.executor.submit(fn, item)
        self.pending[job_id] = (proposal, note)
        if side:
            self.side.add(job_id)
        self.started(job_id, proposal, note)


class _Exploration(AskTellLoop):
    """:func:`explore`'s steps: ``evaluate(param)`` as the job, a table row as the record."""

    def __init__(self, evaluate, rows: list[dict], on_result, names: dict, **kwargs) -> None:
        super().__init__(done=len(rows), **kwargs)
        self.evaluate, self.rows, self.on_result, self.names = evaluate, rows, on_result, names

    def job(self, proposal):
        return _Evaluate(self.evaluate), proposal.param, None

    def finish(self, proposal, note, outcome, job_id):
        run = max((r["run"] for r in self.rows), default=-1) + 1  # after the largest
        row, raw = make_row(run, proposal, outcome, **self.names)
        self.rows.append(row)
        self.planner.tell(row)
        if self.on_result is not None and job_id is not None:
            self.on_result(dict(row), raw)


class _Evaluate:
    """``evaluate(param)`` as an executor job ``job(param, progress)`` (picklable if
    ``evaluate`` is)."""

    def __init__(self, evaluate):
        self.evaluate = evaluate

    def __call__(self, param, progress):
        return self.evaluate(param)


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------


def explore(
    evaluate: Callable[[float], Mapping],
    *,
    budget: int = default_of(SweepConfig, "budget"),
    rule: str | None = None,
    workers: int = 1,
    executor=None,
    weights: tuple[float, float] = (0.0, 1.0),
    tol: float = default_of(SweepConfig, "tol"),
    min_gap: float = 1e-4,
    initial=None,
    on_result: Callable[[dict, Mapping], object] | None = None,
    seed: int = 0,
    x: str = "loss",
    y: str = "l1",
    scalarization: str = "weighted-sum",
    param: str | None = None,
) -> pd.DataFrame:
    """Explore the front of two objectives with at most ``budget`` evaluations.

    Args:
        evaluate: ``evaluate(param) -> mapping`` with at least the keys ``x`` and ``y``
            (finite numbers, both minimized), plus any extra scalar values. With the default
            ``scalarization="weighted-sum"`` it minimizes ``(1 - w)·x + w·y`` for the weight
            ``w`` it gets, and ``x``, ``y`` must be on the scale that was minimized (the normal
            rule relies on it). With ``"epsilon"`` it gets a bound ``b`` on ``y`` in its raw
            units and returns a point with ``y <= b`` (an ε-constraint: it can reach
            non-convex stretches a weighted sum cannot). Keys starting with ``_`` reach
            ``on_result`` but not the table; ``collapsed: True`` keeps a row off the front. A
            mapping with ``status == "failed"``, non-finite values, or an exception is a failed
            row; the loop goes on and the row counts against the budget.
        budget: the most evaluations, resumed rows included (>= 2).
        rule: ``"normal"`` (weighted sum: the weight whose level line is parallel to the gap;
            the default), ``"bound"`` (epsilon: bisect the gap in ``y``; the default),
            ``"midpoint"`` (bisect the parameter), ``"grid"`` or ``"random"`` (baselines).
        workers: evaluations in flight at once; a free worker gets the next value at once.
        executor: an object with ``submit(job, item) -> id``, ``wait() -> (id, outcome)`` and
            ``free`` (see :mod:`paretoprune.executors`), e.g. ``make_executor("process",
            workers=2)``. Without one, evaluations run in this process.
        weights: the parameter range (lo, hi): weights within [0, 1] for the weighted sum,
            bounds on ``y`` for epsilon.
        tol: a new point must improve its gap by more than ``tol`` (normalized) or the gap
            closes (weighted sum: below the gap's segment; epsilon: inside its box).
        min_gap: gaps whose normalized box is smaller than this are not split.
        initial: rows of an earlier run (a DataFrame as returned here, or a list of dicts) to
            resume from: they count against the budget, their values are not evaluated again,
            and gap closing is replayed from their ``gap_lo``/``gap_hi``.
        on_result: ``on_result(row, raw)`` called here as each evaluation finishes (to persist
            it at once). Its exceptions propagate.
        seed: seed of the ``random`` rule.
        x, y: the names of the two objectives.
        scalarization: ``"weighted-sum"`` or ``"epsilon"``.
        param: the column name of the parameter (``weight``, or ``bound`` for epsilon).

    The normalization is frozen from the first two successful rows (normally the two ends):
    ideal = their minima, nadir = their maxima. Gaps, ``tol`` and ``min_gap`` are measured in
    it; the hypervolume uses the reference point (1.1, 1.1) in it.

    Returns:
        The table described in the module docstring, with ``df.attrs`` filled in.

    Raises:
        InputError: bad arguments or unusable ``initial`` rows.
    """
    if not callable(evaluate):
        raise InputError("evaluate must be callable: evaluate(param) -> mapping")
    budget = integer(2)("budget", budget)
    workers = integer(1)("workers", workers)
    seed = integer(0)("seed", seed)
    tol, min_gap = number(0)("tol", tol), number(0)("min_gap", min_gap)
    scalarization = choice("weighted-sum", "epsilon")("scalarization", scalarization)
    epsilon = scalarization == "epsilon"
    rule = choice(*PLANNER_RULES)("rule", rule or ("bound" if epsilon else "normal"))
    if rule == ("normal" if epsilon else "bound"):
        raise InputError(f"rule {rule!r} does not apply to the {scalarization} scalarization")
    param = param or ("bound" if epsilon else "weight")
    try:
        lo, hi = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise InputError(f"weights must be two numbers (lo, hi), got {weights!r}") from None
    if not (lo < hi and math.isfinite(lo) and math.isfinite(hi)) or (
            not epsilon and not 0.0 <= lo < hi <= 1.0):
        raise InputError(f"weights must satisfy {'' if epsilon else '0 <= '}lo < hi"
                         f"{'' if epsilon else ' <= 1'}, got ({lo:g}, {hi:g})")
    for name, value in (("x", x), ("y", y), ("param", param)):
        if not isinstance(value, str) or not value or value in _RESERVED:
            raise InputError(f"{name} must be a column name other than {', '.join(_RESERVED)}, "
                             f"got {value!r}")
    if len({x, y, param}) < 3:
        raise InputError(f"x, y and param must be different columns, got {x!r}, {y!r}, {param!r}")
    if executor is not None and not all(callable(getattr(executor, a, None))
                                        for a in ("submit", "wait")):
        raise InputError("executor must have submit(job, item) and wait() methods")
    if on_result is not None and not callable(on_result):
        raise InputError("on_result must be callable: on_result(row, raw)")

    rows = _initial_rows(initial, x, y, param)
    planner = Planner.from_rows(
        rows, rule=rule, range=(lo, hi), budget=budget, tol=tol, min_gap=min_gap, seed=seed,
        x=x, y=y, param=param, scalarization="constraint" if epsilon else "weighted-sum",
        dense_end="hi" if epsilon else "lo")
    from paretoprune.executors import SerialExecutor

    runner = executor if executor is not None else SerialExecutor(slots=workers)
    loop = _Exploration(evaluate, rows, on_result, {"x": x, "y": y, "param": param},
                        planner=planner, executor=runner, budget=budget,
                        slots=min(workers, runner.slots))
    stop, reason = loop.run()

    df = _table(rows, x, y, param)
    norm = planner.reporting_normalization()
    df.attrs.update(stop=stop, stop_reason=reason, reference=REFERENCE)
    if norm is None:
        df.attrs.update(normalization=None, reference_raw=None, hypervolume=None)
    else:
        ref_raw = norm.invert(np.array(REFERENCE))
        df.attrs.update(normalization={"ideal": norm.ideal, "nadir": norm.nadir},
                        reference_raw=(float(ref_raw[0]), float(ref_raw[1])),
                        hypervolume=table_hypervolume(df, norm, x, y))
    return df
