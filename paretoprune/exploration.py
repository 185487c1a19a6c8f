"""Adaptive weight exploration: find a front with as few weighted-sum evaluations as possible.

:func:`explore` is generic over ``evaluate(weight) -> mapping``: it knows nothing about training.
Each evaluation minimizes ``(1 - weight) * x + weight * y`` somehow and reports the two
objective values (both minimized). The loop starts from both ends of the weight range and then
splits the largest hypervolume gaps of the front found so far (BACKGROUND sections 3 and 4).

Result table (one row per evaluation, in the order evaluations finished):

========== ==================================================================================
column     meaning
========== ==================================================================================
run        0-based integer id (resumed runs keep theirs; new ones continue after the largest)
weight     the weight evaluated
<x>, <y>   the two objectives (default names ``loss`` and ``l1``); NaN for failed rows
extras     every other key returned by ``evaluate`` whose name does not start with ``_``
status     ``"ok"`` or ``"failed"``
error      one-line reason for a failed row, ``""`` otherwise
gap        ``"wa:wb"``: the weights (``repr`` of the floats) of the two front points whose gap
           this weight was proposed for; ``""`` for end points, grid and random weights, and
           the weight-space bisection used while fewer than two evaluations have succeeded.
           Resume replays gap closing from this column.
pareto     True for ok rows on the front (every copy of a duplicated front point)
========== ==================================================================================

``df.attrs``: ``stop_reason`` (a sentence), ``stop`` (a short code: ``budget``, ``closed``,
``tolerance``, ``nonconvex``, ``grid``, ``exhausted``), ``normalization`` (a dict with
``ideal`` and ``nadir`` tuples in raw units, or None while fewer than two evaluations
succeeded), ``reference`` ((1.1, 1.1): the reference point, normalized), ``reference_raw``
(the same point in raw units) and ``hypervolume`` (of the ok rows, normalized, points beyond
the reference ignored; None without a normalization).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from paretoprune.errors import InputError
from paretoprune.pareto import (
    RULES,
    Normalization,
    gaps,
    grid_order,
    grid_weights,
    hypervolume,
    improves,
    next_weight,
    pareto_mask,
)

__all__ = ["REFERENCE", "explore", "frozen_normalization", "table_hypervolume"]

#: Reference point of the hypervolume, in normalized coordinates.
REFERENCE = (1.1, 1.1)
# Weight-space bisections a gap gets after its proposed weight returned nothing new, before it
# counts as closed (see _Planner._replay).
_RETRIES_PER_GAP = 3
# Two weights closer than this are the same weight (never evaluated twice).
_SAME_WEIGHT = 1e-9
# A gap whose two weights are closer than this cannot be split further in a meaningful way.
_MIN_WEIGHT_SPAN = 1e-6
_RESERVED = ("run", "weight", "status", "error", "gap", "pareto")


# ----------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _exception_reason(exc: BaseException) -> str:
    msg = _one_line(str(exc))
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _gap_label(wa: float, wb: float) -> str:
    return f"{float(wa)!r}:{float(wb)!r}"


def _parse_gap(value) -> tuple[float, float] | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    parts = text.split(":")
    try:
        wa, wb = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"gap must look like 'wa:wb', got {text!r}") from None
    return wa, wb


def _finite_or_none(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _make_row(run: int, weight: float, gap: str, outcome, x: str, y: str) -> tuple[dict, dict]:
    """Turn what evaluate returned (or raised) into a table row and the raw mapping."""
    row = {"run": run, "weight": float(weight), x: math.nan, y: math.nan}
    if isinstance(outcome, BaseException):
        reason = _exception_reason(outcome)
        row.update(status="failed", error=reason, gap=gap)
        return row, {"status": "failed", "error": reason, "_exception": outcome}
    if not isinstance(outcome, Mapping):
        reason = f"evaluate returned {type(outcome).__name__}, expected a mapping"
        row.update(status="failed", error=reason, gap=gap)
        return row, {"status": "failed", "error": reason}
    extras = {
        k: v
        for k, v in outcome.items()
        if isinstance(k, str) and not k.startswith("_") and k not in _RESERVED and k not in (x, y)
    }
    row.update(extras)
    status = outcome.get("status", "ok")
    reason = ""
    if status == "failed":
        reason = _one_line(outcome.get("error") or "") or "evaluation failed"
    elif status != "ok":
        reason = f"unknown status {status!r} (expected 'ok' or 'failed')"
    else:
        for key in (x, y):
            if key not in outcome:
                reason = f"evaluate returned no {key!r}"
                break
            if _finite_or_none(outcome[key]) is None:
                reason = f"{key} is not a finite number: {outcome[key]!r}"
                break
    if reason:
        row.update(status="failed", error=reason, gap=gap)
    else:
        row[x] = float(outcome[x])
        row[y] = float(outcome[y])
        row.update(status="ok", error="", gap=gap)
    return row, dict(outcome)


def _initial_rows(initial, x: str, y: str) -> list[dict]:
    """Rows of a previous run (DataFrame or list of dicts), checked and normalized."""
    if initial is None:
        return []
    if isinstance(initial, pd.DataFrame):
        records = initial.to_dict("records")
    else:
        try:
            records = [dict(r) for r in initial]
        except (TypeError, ValueError):
            raise InputError(
                "initial must be a DataFrame or a list of dicts (rows of a previous run)"
            ) from None
    rows = []
    for pos, rec in enumerate(records):
        if "weight" not in rec or _finite_or_none(rec["weight"]) is None:
            raise InputError(f"initial row {pos} has no finite 'weight'")
        status = rec.get("status", "ok")
        if status not in ("ok", "failed"):
            raise InputError(f"initial row {pos} has status {status!r}; expected 'ok' or 'failed'")
        row = {k: v for k, v in rec.items() if k != "pareto"}
        row["weight"] = float(rec["weight"])
        run = _finite_or_none(rec.get("run"))
        row["run"] = int(run) if run is not None else pos
        row["status"] = status
        error = rec.get("error")
        row["error"] = (
            "" if error is None or (isinstance(error, float) and math.isnan(error)) else str(error)
        )
        gap = _parse_gap(rec.get("gap"))
        row["gap"] = "" if gap is None else _gap_label(*gap)
        if status == "ok":
            for key in (x, y):
                if _finite_or_none(rec.get(key)) is None:
                    raise InputError(
                        f"initial row {pos} is ok but its {key!r} is not a finite number"
                    )
                row[key] = float(rec[key])
        else:
            row[x] = math.nan
            row[y] = math.nan
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------------------------
# planning: every choice is a function of the rows so far, so a resumed run makes the same ones
# ----------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    proposals: list[tuple[float, str]]  # (weight, gap label)
    stop: str = ""  # short code when nothing is left to propose
    reason: str = ""


def frozen_normalization(rows, x: str = "loss", y: str = "l1") -> Normalization | None:
    """The sweep's frozen normalization: ideal and nadir of the first two ok rows (normally the
    two ends of the weight range), or None while fewer than two rows succeeded. ``rows`` is a
    list of dicts or a table in evaluation order."""
    if isinstance(rows, pd.DataFrame):
        rows = rows.to_dict("records")
    ok = [r for r in rows if str(r.get("status", "ok")) == "ok"][:2]
    if len(ok) < 2:
        return None
    return Normalization.from_points([[r[x], r[y]] for r in ok])


def table_hypervolume(frame: pd.DataFrame, x: str = "loss", y: str = "l1") -> float:
    """Hypervolume of a sweep table's ok rows in its frozen normalization with the reference
    point :data:`REFERENCE` (points beyond it ignored), as :func:`explore` reports it; NaN while
    fewer than two rows succeeded."""
    norm = frozen_normalization(frame, x, y)
    if norm is None:
        return math.nan
    ok = frame["status"].astype(str).eq("ok") if "status" in frame else slice(None)
    points = norm.apply(frame.loc[ok, [x, y]].to_numpy(dtype=np.float64))
    return hypervolume(points, REFERENCE, strict=False)


def _near(values: np.ndarray, w: float) -> bool:
    return bool(values.size) and bool(np.any(np.abs(values - w) <= _SAME_WEIGHT))


def _fmt_w(w: float) -> str:
    return f"{w:.6g}"


class _Planner:
    """Proposes the next weights from the table so far.

    The table only grows, and what is cached here (the frozen normalization and the gaps
    closed by evaluated points) depends only on rows already seen, so the proposals are a
    function of the table: resuming from any prefix of a run (workers == 1) repeats it.
    """

    def __init__(self, *, rule, lo, hi, budget, tol, min_gap, seed, x, y):
        self.rule, self.lo, self.hi, self.budget = rule, lo, hi, budget
        self.tol, self.min_gap, self.seed, self.x, self.y = tol, min_gap, seed, x, y
        self.norm: Normalization | None = None
        # Gaps are remembered by their two end points (normalized), matched within ``tol``:
        # when a noisy copy of an end point dominates it by a hair, the "new" gap it makes is
        # the same gap, and must keep its history (else near-identical weights repeat).
        self.closed: list[tuple[np.ndarray, np.ndarray, str]] = []  # (a, b, why)
        self.misses: list[list] = []  # [a, b, count] of "unreachable" results per gap
        self._replayed = 0  # rows already replayed for gap closing

    # -- state derived from the rows -----------------------------------------------------------

    def normalization(self, rows: list[dict]) -> Normalization | None:
        """Frozen: ideal and nadir of the first two ok rows (normally the two ends)."""
        if self.norm is None:
            self.norm = frozen_normalization(rows, self.x, self.y)
        return self.norm

    def _replay(self, rows: list[dict], weights: np.ndarray, ok: np.ndarray) -> None:
        """Record the gaps closed by the rows not replayed yet (see :meth:`_closure`)."""
        if self.norm is None:
            return
        for i in range(self._replayed, len(rows)):
            why, a, b = self._closure(rows, i, weights, ok)
            if not why:
                continue
            if why == "unreachable":
                # A weighted-sum solution can jump across a gap (the network collapses between
                # two nearby weights): one miss proves little, so the gap's weight interval is
                # bisected _RETRIES_PER_GAP more times before the gap counts as closed.
                record = self._find(self.misses, a, b)
                if record is None:
                    record = [a, b, 0]
                    self.misses.append(record)
                record[2] += 1
                if record[2] <= _RETRIES_PER_GAP:
                    continue
            self.closed.append((a, b, why))
        self._replayed = len(rows)

    def _closure(self, rows, i, weights, ok) -> tuple[str, np.ndarray | None, np.ndarray | None]:
        """Why row i closes the gap it was proposed for ("" if it does not), with the gap's two
        end points (normalized, the smaller f1 first).

        It closes the gap when its point does not improve it (:func:`improves`, in the frozen
        normalization). ``"flat"``: the point landed inside the gap's box within ``tol`` of the
        segment -- the front is resolved there. ``"unreachable"``: the weighted sum returned
        nothing new between the two points (a copy of an end, a dominated point, a point far
        above the segment) -- the signature of a non-convex (or straight) stretch. A failed
        row closes nothing: its gap is split elsewhere next time (:meth:`_weight_for_gap`).
        """
        r = rows[i]
        gap = _parse_gap(r["gap"])
        if gap is None or r["status"] != "ok":
            return "", None, None
        ends = []
        for w in gap:
            match = np.flatnonzero(ok[:i] & (np.abs(weights[:i] - w) <= _SAME_WEIGHT))
            if match.size == 0:
                return "", None, None  # a hand-made table: the gap's ends are not in it
            ends.append(rows[int(match[0])])
        (ra, rb), x, y = ends, self.x, self.y
        a, b, p = self.norm.apply([[ra[x], ra[y]], [rb[x], rb[y]], [r[x], r[y]]])
        if a[0] > b[0]:
            a, b = b, a
        try:
            if improves(a, b, p, tol=self.tol):
                return "", a, b
        except InputError:  # the two ends do not form a trade-off: nothing to split
            return "unreachable", a, b
        d1, d2 = b[0] - a[0], a[1] - b[1]
        above = ((p[0] - a[0]) * d2 + (p[1] - a[1]) * d1) / math.hypot(d1, d2)
        inside = a[0] < p[0] < b[0] and b[1] < p[1] < a[1]
        return ("flat" if inside and above <= self.tol else "unreachable"), a, b

    def _find(self, records, a, b):
        """The record of gap (a, b) in ``records`` (matching both end points within tol)."""
        for record in records:
            if np.max(np.abs(record[0] - a)) <= self.tol and np.max(np.abs(record[1] - b)) <= self.tol:
                return record
        return None

    def _closed_why(self, a, b) -> str:
        record = self._find(self.closed, a, b)
        return record[2] if record is not None else ""

    # -- proposals ------------------------------------------------------------------------------

    def plan(self, rows: list[dict], n: int) -> _Plan:
        """Up to ``n`` new weights with their gap labels, or why nothing is left."""
        weights = np.array([r["weight"] for r in rows], dtype=np.float64)
        ok = np.array([r["status"] == "ok" for r in rows], dtype=bool)
        lo, hi = self.lo, self.hi
        ends = [w for w in (lo, hi) if not _near(weights, w)]
        if ends:
            return _Plan([(w, "") for w in ends[:n]])
        if self.rule == "grid":
            grid = grid_weights(lo, hi, self.budget)
            todo = [
                float(grid[i])
                for i in grid_order(self.budget)
                if not _near(weights, float(grid[i]))
            ]
            if not todo:
                return _Plan([], "grid", "every grid weight evaluated")
            return _Plan([(w, "") for w in todo[:n]])
        if self.rule == "random":
            return self._random(weights, n, len(rows))
        if self.normalization(rows) is None:
            return _bisect_weights(weights, n, lo, hi)
        self._replay(rows, weights, ok)
        return self._gaps(rows, weights, ok, n)

    def _random(self, weights: np.ndarray, n: int, n_rows: int) -> _Plan:
        # Seeded by (seed, number of rows) so that a resumed run draws what the whole run drew.
        rng = np.random.default_rng([self.seed, n_rows])
        chosen: list[float] = []
        for _ in range(1000 * n):
            if len(chosen) == n:
                break
            w = float(rng.uniform(self.lo, self.hi))
            if self.lo < w < self.hi and not _near(weights, w) and not _near(np.array(chosen), w):
                chosen.append(w)
        if not chosen:
            return _Plan([], "exhausted", "no unevaluated weight left in the range")
        return _Plan([(w, "") for w in chosen])

    def _gaps(self, rows, weights, ok, n) -> _Plan:
        x, y = self.x, self.y
        ok_rows = [r for r in rows if r["status"] == "ok"]
        raw = np.array([[r[x], r[y]] for r in ok_rows], dtype=np.float64)
        points = np.array([[_as_float(r.get(x)), _as_float(r.get(y))] for r in rows])
        proposals: list[tuple[float, str]] = []
        small, unreachable, any_gap = [], [], False
        normalized = self.norm.apply(raw)
        for gap in gaps(normalized):
            any_gap = True
            wa, wb = ok_rows[gap.left]["weight"], ok_rows[gap.right]["weight"]
            why = self._closed_why(normalized[gap.left], normalized[gap.right])
            if why:
                if why == "unreachable" and gap.box >= self.min_gap:
                    unreachable.append((wa, wb))
                continue
            if abs(wa - wb) < _MIN_WEIGHT_SPAN:
                continue
            if gap.box < self.min_gap:
                small.append(gap)
                continue
            missed = self._find(self.misses, normalized[gap.left], normalized[gap.right])
            w = self._weight_for_gap(raw[gap.left], raw[gap.right], wa, wb, weights, ok, points,
                                     retry=missed is not None)
            if w is None:
                continue  # the weight it asks for was evaluated already and did not split it
            if _near(np.array([p for p, _ in proposals]), w):
                continue  # another gap of this round asks for it; decided next round
            proposals.append((w, _gap_label(wa, wb)))
            if len(proposals) == n:
                break
        if proposals:
            return _Plan(proposals)
        if not any_gap:
            return _Plan([], "closed", "every gap closed (the front has a single point)")
        # Only the normal rule's miss is evidence: its weight reaches the point farthest below
        # the segment if there is one. A midpoint that lands on an end proves nothing.
        if unreachable and self.rule == "normal":
            pairs = [f"{_fmt_w(min(a, b))} and {_fmt_w(max(a, b))}" for a, b in unreachable]
            listed = "; ".join(pairs[:3]) + (
                f"; and {len(pairs) - 3} more" if len(pairs) > 3 else ""
            )
            return _Plan(
                [],
                "nonconvex",
                f"the weighted sum finds no new points between weights {listed} "
                "(non-convex or straight front there, or noise above tol); try another scalarization",
            )
        if small:
            return _Plan([], "tolerance", "largest gap below tolerance")
        return _Plan([], "closed", "every gap closed")

    def _weight_for_gap(self, a, b, wa, wb, weights, ok, points, *, retry=False) -> float | None:
        """The weight to evaluate for gap (a, b), or None when the gap is closed.

        Normally ``next_weight(rule, ...)`` on the raw values. If that weight was evaluated
        already (its point missed the gap, which is still open for a retry, or its run failed):
        weighted-sum solutions move monotonically with the weight, so when earlier misses
        returned the point of one end or the other, bisect between the last weight that gave
        the left end's point and the first that gave the right end's (the front between them
        was jumped over there); otherwise take the midpoint of the widest stretch of (wa, wb)
        between weights evaluated so far (widest, then leftmost). Either way the weight is new,
        so nothing is ever evaluated twice. A gap with a recorded miss (``retry``) goes straight
        to this bisection: its rule weight differs from the missed one only by noise.
        """
        w = next_weight(self.rule, a, b, wa, wb)
        here = np.abs(weights - w) <= _SAME_WEIGHT
        if not here.any() and not retry:
            return w
        lo, hi = sorted((wa, wb))
        p_lo, p_hi = self.norm.apply(np.array([a, b] if wa < wb else [b, a]))
        left, right = lo, hi
        inside = ok & (weights > lo) & (weights < hi)
        for w_i, p_i in zip(weights[inside], self.norm.apply(points[inside]), strict=True):
            if np.max(np.abs(p_i - p_hi)) <= self.tol:
                right = min(right, float(w_i))
            elif np.max(np.abs(p_i - p_lo)) <= self.tol:
                left = max(left, float(w_i))
        if (left, right) != (lo, hi) and right - left >= _MIN_WEIGHT_SPAN:
            w = 0.5 * (left + right)
            if not _near(weights, w):
                return w
        inside = weights[(weights > lo) & (weights < hi)]
        ws = np.unique(np.concatenate(([lo, hi], inside)))
        widths = np.diff(ws)
        k = int(np.argmax(widths))  # first maximum: the leftmost of equally wide stretches
        if widths[k] < _MIN_WEIGHT_SPAN:
            return None
        return float(ws[k] + 0.5 * widths[k])


def _as_float(value) -> float:
    """A table value as a float, NaN for a missing one (failed rows)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _bisect_weights(weights: np.ndarray, n: int, lo: float, hi: float) -> _Plan:
    """While fewer than two evaluations succeeded there is no front to split: bisect the
    widest stretches of weight space between evaluated weights instead."""
    ws = sorted({lo, hi, *[float(w) for w in weights if lo <= w <= hi]})
    spans = sorted(
        ((b - a, a, b) for a, b in zip(ws[:-1], ws[1:], strict=True) if b - a >= _MIN_WEIGHT_SPAN),
        key=lambda s: (-s[0], s[1]),
    )
    if not spans:
        return _Plan(
            [],
            "exhausted",
            "fewer than two evaluations succeeded and the weight range is exhausted",
        )
    return _Plan([(0.5 * (a + b), "") for _, a, b in spans[:n]])


# ----------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------


def _outcomes(evaluate, weights: list[float], executor) -> Iterator[tuple[int, object]]:
    """(index, return value or exception) for each weight, as each evaluation finishes."""
    if executor is None:
        for i, w in enumerate(weights):
            try:
                out = evaluate(w)
            except Exception as exc:  # a failed evaluation is data; Ctrl-C is not
                out = exc
            yield i, out
        return
    seen: set[int] = set()
    for index, outcome in executor.map(evaluate, weights):
        if (
            not isinstance(index, int | np.integer)
            or not 0 <= index < len(weights)
            or index in seen
        ):
            continue
        seen.add(int(index))
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # KeyboardInterrupt, SystemExit: stop the sweep, do not record
        yield int(index), outcome
    for i in range(len(weights)):
        if i not in seen:  # never wait forever on a broken executor: record and move on
            yield i, RuntimeError("the executor returned no result for this weight")


def _check_args(
    evaluate, budget, rule, workers, executor, weights, tol, min_gap, on_result, seed, x, y
):
    if not callable(evaluate):
        raise InputError("evaluate must be callable: evaluate(weight) -> mapping")
    if isinstance(budget, bool) or not isinstance(budget, int | np.integer):
        raise InputError(f"budget must be an integer, got {budget!r}")
    if budget < 2:
        raise InputError("budget must be at least 2")
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise InputError(f"workers must be an integer >= 1, got {workers!r}")
    if executor is not None and not callable(getattr(executor, "map", None)):
        raise InputError("executor must have a map(fn, items) method")
    try:
        lo, hi = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise InputError(f"weights must be two numbers (lo, hi), got {weights!r}") from None
    if not (0.0 <= lo < hi <= 1.0):
        raise InputError(f"weights must satisfy 0 <= lo < hi <= 1, got ({lo:g}, {hi:g})")
    for name, value in (("tol", tol), ("min_gap", min_gap)):
        v = _finite_or_none(value)
        if v is None or v < 0:
            raise InputError(f"{name} must be a finite number >= 0, got {value!r}")
    if on_result is not None and not callable(on_result):
        raise InputError("on_result must be callable: on_result(row, raw)")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")
    for name, value in (("x", x), ("y", y)):
        if not isinstance(value, str) or not value or value in _RESERVED:
            raise InputError(
                f"{name} must be a column name other than {', '.join(_RESERVED)}, got {value!r}"
            )
    if x == y:
        raise InputError(f"x and y must be different columns, got {x!r} twice")
    return lo, hi


def _table(rows: list[dict], x: str, y: str) -> pd.DataFrame:
    front_cols = ["run", "weight", x, y]
    tail = ["status", "error", "gap"]
    extras: list[str] = []
    for r in rows:
        for k in r:
            if k not in front_cols and k not in tail and k not in extras:
                extras.append(k)
    columns = front_cols + extras + tail
    df = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    df["run"] = df["run"].astype("int64")
    for c in ("weight", x, y):
        df[c] = df[c].astype("float64")
    for c in tail:
        df[c] = df[c].astype(object).where(df[c].notna(), "").astype(str)
    ok = (df["status"] == "ok").to_numpy()
    pareto = np.zeros(len(df), dtype=bool)
    if ok.any():
        pareto[ok] = pareto_mask(df.loc[ok, [x, y]].to_numpy(dtype=np.float64))
    df["pareto"] = pareto
    return df


def explore(
    evaluate: Callable[[float], Mapping],
    *,
    budget: int = 8,
    rule: str = "normal",
    workers: int = 1,
    executor=None,
    weights: tuple[float, float] = (0.0, 1.0),
    tol: float = 1e-3,
    min_gap: float = 1e-4,
    initial=None,
    on_result: Callable[[dict, Mapping], object] | None = None,
    seed: int = 0,
    x: str = "loss",
    y: str = "l1",
) -> pd.DataFrame:
    """Explore the front of ``min (1 - w) * x + w * y`` with at most ``budget`` evaluations.

    Args:
        evaluate: ``evaluate(weight) -> mapping`` with at least the keys ``x`` and ``y`` (finite
            numbers, both minimized, on the SAME scale as the objective that was minimized:
            the normal rule relies on it), plus any extra scalar values. Keys starting with
            ``_`` (a checkpoint, say) reach ``on_result`` but not the table. A mapping with
            ``status == "failed"`` (and ``error``), non-finite values, or an exception is
            recorded as a failed row; the loop goes on, the row counts against the budget and
            its weight is never retried.
        budget: the most evaluations, resumed rows included (>= 2).
        rule: ``"normal"`` (NISE: the weight whose level line is parallel to the gap's segment,
            midpoint when that is not strictly inside the gap's weights), ``"midpoint"``
            (bisection in weight space), ``"grid"`` (``grid_weights(lo, hi, budget)`` evaluated
            in ``grid_order``: ends first, then always the middle of the widest hole, so a cut
            run is still spread out), or ``"random"`` (a baseline: both ends, then weights
            uniform in (lo, hi), seeded by ``seed`` and the number of rows so far).
        workers: weights proposed per round. A round proposes the two ends first, then the
            largest open gaps, one weight per gap; fewer when fewer gaps are open.
        executor: object with ``map(fn, items)`` yielding ``(index, outcome)`` as each item
            finishes, ``outcome`` the return value or the exception raised. Without one,
            evaluations run serially in this process.
        weights: the weight range (lo, hi), 0 <= lo < hi <= 1.
        tol: a new point must lie more than ``tol`` (normalized, perpendicular) below the
            segment between its gap's points to keep the gap open.
        min_gap: gaps whose normalized box is smaller than this are not split.
        initial: rows of an earlier run (a DataFrame as returned here, or a list of dicts) to
            resume from: they count against the budget, their weights are not evaluated again,
            and gap closing is replayed from their ``gap`` column. Use the same ``rule``,
            ``weights``, ``tol`` and ``min_gap`` as the first run to continue it exactly.
        on_result: ``on_result(row, raw)`` called in this process as each evaluation finishes,
            with the new table row (a dict, without ``pareto``) and the mapping ``evaluate``
            returned (for an exception: ``{"status": "failed", "error": ..., "_exception":
            exc}``), so a caller can persist each result at once. Its exceptions propagate.
        seed: seed of the ``random`` rule.
        x, y: names of the two objectives in the mappings and the table.

    Normalization and reference: the normalization is frozen from the first two successful
    rows of the table (normally the two ends, lo and hi): ideal = their minima, nadir = their
    maxima, per objective. Where the two share a value the range is zero and that objective is
    only shifted (scale 1.0, raw units) -- see :class:`~paretoprune.pareto.Normalization`.
    Being derived from the table, it is the same when a run is resumed. Gaps, ``tol`` and
    ``min_gap`` are measured in it; the hypervolume uses the reference point (1.1, 1.1) in it,
    and points beyond the reference are ignored.

    Gap closing: a gap (a, b) of the current front is not split again when its box is below
    ``min_gap``, its two weights are closer than 1e-6, the weight proposed for it was evaluated
    already with a result (weights within 1e-9 are the same), or the point evaluated for it
    did not :func:`~paretoprune.pareto.improves` it. When the evaluation proposed for a gap
    failed, the gap stays open and its next weight is the midpoint of the widest stretch of
    its weight interval not yet evaluated. Every round evaluates at least one new weight or
    stops, so the loop always ends.

    Stops (``df.attrs["stop_reason"]``): "budget reached"; "every gap closed"; "largest gap
    below tolerance" (only gaps below ``min_gap`` are left); or, when the weighted sum gives
    nothing new in a gap at least ``min_gap`` wide, "the weighted sum finds no new points
    between weights ... (non-convex or straight front there, or noise above tol); try another
    scalarization" (rule "normal" only: its weight reaches the point farthest below the
    segment if there is one, so a miss means the weighted sum cannot reach anything there).

    With ``workers == 1`` every choice depends only on the table so far, so resuming from any
    prefix of a run reproduces the rest of it. With more workers that holds at round
    boundaries.

    Returns:
        The table described in the module docstring, with ``df.attrs`` filled in.

    Raises:
        InputError: bad arguments (budget < 2, weights outside 0 <= lo < hi <= 1, unknown rule,
            workers < 1, ...) or unusable ``initial`` rows.
    """
    lo, hi = _check_args(
        evaluate, budget, rule, workers, executor, weights, tol, min_gap, on_result, seed, x, y
    )
    budget, workers, tol, min_gap = int(budget), int(workers), float(tol), float(min_gap)
    rows = _initial_rows(initial, x, y)
    next_run = max((r["run"] for r in rows), default=-1) + 1

    planner = _Planner(
        rule=rule, lo=lo, hi=hi, budget=budget, tol=tol, min_gap=min_gap, seed=seed, x=x, y=y
    )
    while True:
        plan = planner.plan(rows, workers)
        if not plan.proposals:
            stop, reason = plan.stop, plan.reason
            if stop == "grid" and len(rows) >= budget:  # the grid has `budget` weights
                stop, reason = "budget", "budget reached"
            break
        if len(rows) >= budget:
            stop, reason = "budget", "budget reached"
            break
        proposals = plan.proposals[: budget - len(rows)]
        round_weights = [w for w, _ in proposals]
        for index, outcome in _outcomes(evaluate, round_weights, executor):
            w, gap = proposals[index]
            row, raw = _make_row(next_run, w, gap, outcome, x, y)
            next_run += 1
            rows.append(row)
            if on_result is not None:
                on_result(dict(row), raw)

    df = _table(rows, x, y)
    norm = planner.normalization(rows)
    df.attrs["stop_reason"] = reason
    df.attrs["stop"] = stop
    df.attrs["reference"] = REFERENCE
    if norm is None:
        df.attrs["normalization"] = None
        df.attrs["reference_raw"] = None
        df.attrs["hypervolume"] = None
    else:
        df.attrs["normalization"] = {"ideal": norm.ideal, "nadir": norm.nadir}
        ref_raw = norm.invert(np.array(REFERENCE))
        df.attrs["reference_raw"] = (float(ref_raw[0]), float(ref_raw[1]))
        df.attrs["hypervolume"] = table_hypervolume(df, x, y)
    return df
