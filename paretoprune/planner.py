"""The ask/tell planner: which parameter to evaluate next, from the results so far.

A :class:`Planner` knows nothing about training. It is told results (:meth:`Planner.tell`, one
row per finished evaluation: the parameter, the two objective values, the status) and asked for
new parameters (:meth:`Planner.ask`, given those still in flight). Its whole state is a function
of the rows it was told, in order, so a sweep rebuilds it on resume by telling the stored rows
again (:meth:`Planner.from_rows`); with one evaluation at a time a resumed sweep makes the same
choices as an uninterrupted one.

What it proposes, in order (the gap rules follow Reiners, Klamroth and Stiglmayr, arXiv
2008.13590; the normal rule is the dichotomic search NISE of Cohon 1978 and Aneja and Nair 1979):

1. **The ends** of the parameter range: the dense end first, then the sparse end -- unless the
   sparse end is known (``sparse_end_known``: λ = 1 gives the all-zero network), which is then
   never trained.
2. **The collapse edge** (when the sparse end is known or a result is ``collapsed``): a network
   whose prunable weights are all zero, or whose accuracy is at chance, is *collapsed*; it stays
   in the table but never joins the front. The planner bisects the parameter between the
   sparsest run that still learns and the densest collapsed one, and stops bisecting at the
   first collapsed run (so a sweep spends at most one run on a collapsed network this way) or
   when the bracket is narrower than ``1e-3`` of the range. It never proposes beyond the edge.
   For a constraint method (ε, a target sparsity) the edge lies orders of magnitude out, so
   a free worker continues the halving beyond the probes in flight (at most one more collapsed
   run per extra worker) instead of waiting or filling dense-side gaps.
3. **The constraint boundary** (``target=True``, ``paretoprune sweep --max-drop``): rows carry
   ``within`` (their selection metric is within the allowed drop of the dense reference); the
   planner bisects between the sparsest run within and the densest run that is not, keeping the
   best bracket seen, so noise cannot send it back; it stops when the two ends cannot be told
   apart statistically (``indistinguishable``), and spends the rest on the front.
4. **Gaps of the front**: the largest hypervolume gap of the front of the usable rows (ok, not
   collapsed), in a normalization frozen when step 2 (or 3) ends -- from the dense end and the
   sparsest usable point -- is split by the rule: ``normal`` (the weight whose level line is
   parallel to the gap: dichotomic search, NISE), ``bound`` (an ε-constraint: bisect the gap in
   the constrained objective), ``midpoint`` (bisect the parameter), ``grid`` and ``random``
   (baselines that ignore gaps). A gap closes when the point evaluated for it does not improve
   it by more than ``tol``; a miss is retried up to three times by bisecting the parameter
   between the last value that gave one end's point and the first that gave the other's.

With several evaluations in flight, a gap that already has one is skipped; when every open gap
is busy, a free worker bisects the widest stretch of a busy gap's parameter interval instead of
waiting (so workers never idle while the budget lasts).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paretoprune.config import SweepConfig, default_of
from paretoprune.errors import InputError
from paretoprune.pareto import (
    Normalization,
    gaps,
    grid_order,
    grid_weights,
    improves,
    next_weight,
)
from paretoprune.rows import flag, number

__all__ = ["PLANNER_RULES", "Planner", "Proposal"]

PLANNER_RULES = ("normal", "bound", "midpoint", "grid", "random")
#: How the planner bisects the parameter (collapse edge, boundary, the midpoint rule, retries,
#: busy gaps):
#: ``linear`` in the parameter, or ``sparse-log``, in u = -ln(1 - λ) for a weight λ in [0, 1]
#: whose sparse end is 1 -- linear near λ = 0, logarithmic in 1 - λ near the sparse end, where
#: the weighted sum's useful λ crowd (the sparse end λ = 1 counts as 1 - λ = SPARSE_LOG_FLOOR).
SCALES = ("linear", "sparse-log")
SPARSE_LOG_FLOOR = 1e-3
#: Gaps whose proposals missed get this many parameter-space bisections before they close.
RETRIES_PER_GAP = 3
#: Two parameters closer than this are the same (never evaluated twice).
SAME = 1e-9
#: Brackets (collapse edge, constraint boundary) narrower than this share of the range are done.
BRACKET_SPAN = 1e-3
#: Parameter intervals narrower than this cannot be split in a meaningful way.
MIN_SPAN = 1e-6


@dataclass(frozen=True)
class Proposal:
    """A parameter to evaluate. ``gap``: the parameters of the two front points whose gap it
    was proposed for (None for ends, brackets, grid and random). ``purpose``: ``end``,
    ``edge`` (collapse bracketing), ``boundary`` (the --max-drop boundary), ``gap``, ``grid``,
    ``random`` or ``bisect`` (weight-space bisection while fewer than two points are usable)."""

    param: float
    gap: tuple[float, float] | None = None
    purpose: str = "gap"


@dataclass
class _Row:
    param: float
    point: tuple[float, float] | None  # None unless ok and not collapsed
    ok: bool
    collapsed: bool
    within: bool | None
    gap: tuple[float, float] | None


def _gap_of(row: Mapping) -> tuple[float, float] | None:
    lo, hi = number(row.get("gap_lo")), number(row.get("gap_hi"))
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


class Planner:
    """Proposes parameters for a biobjective exploration (see the module docstring).

    Its arguments are trusted: they were checked where they entered (:class:`SweepConfig`,
    :func:`paretoprune.exploration.explore`).

    Args:
        rule: ``normal`` (needs ``scalarization="weighted-sum"``), ``bound`` (needs
            ``"constraint"``), ``midpoint``, ``grid`` or ``random``.
        range: the parameter range ``(lo, hi)``.
        budget: the number of evaluations the caller will make (the grid has this many).
        tol: gap-closing tolerance, in the frozen normalization.
        min_gap: gaps with a smaller normalized box are not split.
        seed: seed of the ``random`` rule.
        x, y: the objective keys of the rows (both minimized).
        param: the key of the parameter in the rows.
        scalarization: ``weighted-sum`` (the parameter is a weight w of ``(1-w)·x + w·y``; gaps
            close by the segment test), ``constraint`` (the parameter bounds ``y``; gaps close
            when a point adds no hypervolume) or ``parameter`` (no geometric meaning).
        dense_end: ``"lo"`` or ``"hi"``: which end of the range gives the densest network.
        sparse_end_known: the sparse end is the all-zero network: never evaluate it.
        dense_end_known: the dense end's result comes from elsewhere (a sweep's dense
            reference, told as an ordinary row): never propose it.
        target: bracket the ``within`` boundary (``--max-drop``).
        scale: ``linear`` or ``sparse-log`` (see :data:`SCALES`; ``sparse-log`` applies to a
            range inside [0, 1] whose dense end is ``lo``, else the scale is linear).
        parameter_for_bound: for ``constraint``: the parameter that bounds ``y`` by a value.
        indistinguishable: optional ``f(param_a, param_b) -> bool``, True when the evaluated
            results of the two parameters are statistically the same (a sweep: their networks'
            accuracies shown equal within a quarter of --max-drop on paired validation
            outcomes); a ``--max-drop``
            boundary bracket whose two ends are indistinguishable is not split further -- its
            budget goes to the front -- since noise, not the parameter, would decide there.
    """

    def __init__(self, *, rule: str = "normal", range: tuple[float, float] = (0.0, 1.0),
                 budget: int = default_of(SweepConfig, "budget"),
                 tol: float = default_of(SweepConfig, "tol"), min_gap: float = 1e-4, seed: int = 0,
                 x: str = "loss", y: str = "l1", param: str = "weight",
                 scalarization: str = "weighted-sum", dense_end: str = "lo",
                 sparse_end_known: bool = False, dense_end_known: bool = False,
                 target: bool = False, parameter_for_bound=None,
                 indistinguishable=None, scale: str = "linear") -> None:
        self.rule, self.budget, self.tol, self.min_gap = rule, int(budget), tol, min_gap
        self.seed, self.x, self.y, self.param = seed, x, y, param
        self.lo, self.hi = (float(v) for v in range)
        self.scalarization, self.target = scalarization, target
        self.sparse_end_known, self.dense_end_known = sparse_end_known, dense_end_known
        if scale not in SCALES:
            raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
        self.log_scale = (scale == "sparse-log" and dense_end == "lo"
                          and 0.0 <= self.lo < self.hi <= 1.0)
        # orientation: s = sign * param (in bisection units) grows towards the sparse end
        self.sign = 1.0 if dense_end == "lo" else -1.0
        self.dense_param, self.sparse_param = (
            (self.lo, self.hi) if dense_end == "lo" else (self.hi, self.lo))
        self.parameter_for_bound = parameter_for_bound or (lambda b: b)
        self.indistinguishable = indistinguishable
        # brackets tested so far: True when their ends were indistinguishable
        self.settled: dict[tuple[float, float], bool] = {}
        self.span = self._u(self.hi) - self._u(self.lo)  # the range in bisection units
        self.rows: list[_Row] = []
        self.norm: Normalization | None = None
        # Gaps are remembered by their two end points (normalized), matched within tol: a noisy
        # copy of an end must not make "its" gap a new one (near-identical weights would repeat).
        self.closed: list[tuple[np.ndarray, np.ndarray, str]] = []
        self.misses: list[list] = []  # [a, b, count]
        self.stop = ""
        self.stop_reason = ""

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping], **kwargs) -> Planner:
        """A planner told ``rows`` in order (a resumed sweep)."""
        planner = cls(**kwargs)
        for row in rows:
            planner.tell(row)
        return planner

    # -- tell -------------------------------------------------------------------------------

    def tell(self, row: Mapping) -> None:
        """Record one finished evaluation: a mapping with the parameter, ``status`` (``ok`` or
        ``failed``), the two objectives (ok rows), and optionally ``collapsed`` (bool),
        ``within`` (bool, target mode) and ``gap_lo``/``gap_hi`` (the proposal's gap)."""
        param = number(row.get(self.param))
        if not math.isfinite(param):
            raise InputError(f"a row has no finite {self.param!r}")
        ok = str(row.get("status", "ok")) == "ok"
        collapsed = ok and flag(row.get("collapsed", False))
        point = None
        if ok and not collapsed:
            px, py = number(row.get(self.x)), number(row.get(self.y))
            if not (math.isfinite(px) and math.isfinite(py)):
                raise InputError(f"an ok row has no finite {self.x!r} and {self.y!r}")
            point = (px, py)
        within = row.get("within")
        within = None if within is None or (isinstance(within, float) and math.isnan(within)) \
            else flag(within)
        self.rows.append(_Row(param, point, ok, collapsed, within, _gap_of(row)))
        if self.norm is not None:
            self._close(len(self.rows) - 1)
        elif not self._bracketing():
            self.norm = self._normalization()
            if self.norm is not None:  # gaps proposed before it froze close from now on
                for i in range(len(self.rows)):
                    self._close(i)

    # -- derived state ----------------------------------------------------------------------

    def _u(self, param: float) -> float:
        """The parameter in bisection units (see :data:`SCALES`)."""
        if not self.log_scale:
            return float(param)
        return -math.log(max(1.0 - float(param), SPARSE_LOG_FLOOR))

    def _param(self, u: float) -> float:
        """The inverse of :meth:`_u` (the floor maps back to the range's end)."""
        if not self.log_scale:
            return float(u)
        return min(1.0 - math.exp(-u), self.hi) if u < -math.log(SPARSE_LOG_FLOOR) else self.hi

    def _mid(self, a: float, b: float) -> float:
        """The middle of parameters ``a`` and ``b`` in bisection units."""
        return self._param(0.5 * (self._u(a) + self._u(b)))

    def _s(self, param: float) -> float:
        return self.sign * self._u(param)

    def _s_of(self, params) -> np.ndarray:
        return np.array([self._s(p) for p in params], dtype=np.float64)

    def _param_of_s(self, s: float) -> float:
        return self._param(self.sign * s)

    def _usable(self) -> list[_Row]:
        return [r for r in self.rows if r.point is not None]

    def _edge_bracket(self) -> tuple[float, float] | None:
        """(s of the sparsest usable run, s of the densest collapse beyond it), or None when
        nothing is known to collapse."""
        usable = [self._s(r.param) for r in self._usable()]
        if not usable:
            return None
        s_ok = max(usable)
        beyond = [self._s(r.param) for r in self.rows if r.collapsed and self._s(r.param) > s_ok]
        if self.sparse_end_known:
            beyond.append(self._s(self.sparse_param))
        return (s_ok, min(beyond)) if beyond else None

    def _collapsed_trials(self) -> int:
        """Collapsed rows other than an evaluated sparse end."""
        return sum(r.collapsed and abs(r.param - self.sparse_param) > SAME for r in self.rows)

    def _bracketing(self) -> bool:
        """Whether the collapse edge (or, in target mode, the constraint boundary) is still
        being bracketed; the normalization freezes when it is done."""
        if self.rule in ("grid", "random"):
            return False
        if self.target:
            bracket = self._boundary_bracket()
            return bracket is not None and bracket[1] - bracket[0] > BRACKET_SPAN * self.span
        bracket = self._edge_bracket()
        if bracket is None:
            return False
        if self._collapsed_trials() >= 1:
            return False
        return bracket[1] - bracket[0] > BRACKET_SPAN * self.span

    def _normalization(self) -> Normalization | None:
        """Ideal and nadir of the dense-end point and the sparsest usable point."""
        usable = self._usable()
        if len(usable) < 2:
            return None
        if not (self.sparse_end_known or any(r.collapsed for r in self.rows)):
            pair = usable[:2]  # the two ends, as evaluated
        else:
            by_s = sorted(usable, key=lambda r: self._s(r.param))
            pair = [by_s[0], by_s[-1]]
        return Normalization.from_points([r.point for r in pair])

    def _find(self, records, a, b):
        for record in records:
            if np.max(np.abs(record[0] - a)) <= self.tol and \
                    np.max(np.abs(record[1] - b)) <= self.tol:
                return record
        return None

    def _close(self, i: int) -> None:
        """Record the gap closed by row ``i``, if it closes one (it does when its point does
        not improve the gap it was proposed for; ``flat``: it landed within tol of the segment
        or box, ``unreachable``: it returned nothing new -- retried by bisection first)."""
        r = self.rows[i]
        if r.gap is None or not r.ok:
            return
        ends = []
        for p in r.gap:
            match = [q for q in self.rows[:i] if q.point is not None and abs(q.param - p) <= SAME]
            if not match:
                return  # a hand-made table: the gap's ends are not in it
            ends.append(match[0].point)
        a, b = self.norm.apply(ends)
        if a[0] > b[0]:
            a, b = b, a
        why = "unreachable" if r.point is None else self._miss(a, b, self.norm.apply(r.point))
        if not why:
            return
        if why == "unreachable":
            record = self._find(self.misses, a, b)
            if record is None:
                record = [a, b, 0]
                self.misses.append(record)
            record[2] += 1
            if record[2] <= RETRIES_PER_GAP:
                return
        self.closed.append((a, b, why))

    def _miss(self, a, b, p) -> str:
        """"" when ``p`` improves gap (a, b), else why not (see :meth:`_close`)."""
        inside = a[0] < p[0] < b[0] and b[1] < p[1] < a[1]
        if self.scalarization == "weighted-sum":
            try:
                if improves(a, b, p, tol=self.tol):
                    return ""
            except InputError:  # the two ends do not form a trade-off
                return "unreachable"
            d1, d2 = b[0] - a[0], a[1] - b[1]
            above = ((p[0] - a[0]) * d2 + (p[1] - a[1]) * d1) / math.hypot(d1, d2)
            return "flat" if inside and above <= self.tol else "unreachable"
        # constraint and parameter methods can reach non-convex stretches: a point improves
        # the gap when it adds hypervolume, i.e. lies inside its box by more than tol
        if p[0] < b[0] - self.tol and p[1] < a[1] - self.tol:
            return ""
        return "flat" if inside else "unreachable"

    # -- ask --------------------------------------------------------------------------------

    def ask(self, n: int = 1, pending: Sequence[Proposal] = ()) -> list[Proposal]:
        """Up to ``n`` new parameters, given the proposals still in flight (``pending``).

        Returns fewer (or none) when nothing useful is left; with none and nothing pending,
        :attr:`stop` and :attr:`stop_reason` say why.
        """
        out: list[Proposal] = []
        self.stop = self.stop_reason = ""
        for _ in range(n):
            proposal = self._next([*pending, *out])
            if proposal is None:
                break
            out.append(proposal)
        if out or pending:
            self.stop = self.stop_reason = ""
        elif not self.stop:
            self.stop, self.stop_reason = "exhausted", "no parameter left to try"
        return out

    def _taken(self, busy: Sequence[Proposal]) -> np.ndarray:
        return np.array([r.param for r in self.rows] + [p.param for p in busy], dtype=np.float64)

    def _new(self, param: float, taken: np.ndarray) -> bool:
        return not (taken.size and np.any(np.abs(taken - param) <= SAME))

    def _next(self, busy: Sequence[Proposal]) -> Proposal | None:
        taken = self._taken(busy)
        ends = ([] if self.dense_end_known else [self.dense_param]) + \
            ([] if self.sparse_end_known else [self.sparse_param])
        for p in ends:
            if self._new(p, taken):
                return Proposal(p, None, "end")
        if self.rule == "grid":
            return self._grid(taken)
        if self.rule == "random":
            return self._random(taken)
        if self.target:
            found = self._bisect_bracket(self._boundary_bracket(), taken, "boundary")
        elif self._bracketing():
            bracket = self._edge_bracket()
            edge_busy = any(p.purpose == "edge" for p in busy)
            ahead = [self._s(p.param) for p in busy if bracket[0] < self._s(p.param) < bracket[1]]
            if ahead and self.scalarization == "constraint":
                # a bound's collapse edge lies orders of magnitude out (each probe halves ε or
                # the density; LeNet-5 still learns at 1 %): a free worker continues the
                # halving beyond the probes in flight, as if they succeed, instead of filling
                # dense-side gaps (at worst one more collapsed run)
                bracket, edge_busy = (max(ahead), bracket[1]), False
            found = self._bisect_bracket(bracket, taken, "edge", speculate=not edge_busy)
        else:
            found = None
        if found is not None:
            return found
        if len(self._usable()) < 2:
            return self._bisect_range(taken)
        return self._gap_proposal(taken, busy)

    # bracketing --------------------------------------------------------------------------

    def _boundary_bracket(self) -> tuple[float, float] | None:
        """(s of the sparsest run within the drop, s of the densest run beyond it that is not)."""
        within = [self._s(r.param) for r in self._usable() if r.within]
        if not within:
            return None
        s_in = max(within)
        outside = [self._s(r.param) for r in self.rows
                   if r.ok and (r.collapsed or r.within is False) and self._s(r.param) > s_in]
        if self.sparse_end_known:
            outside.append(self._s(self.sparse_param))
        if not outside:
            return None
        bracket = (s_in, min(outside))
        if self.indistinguishable is not None and self._evaluated(bracket[1]):
            if bracket not in self.settled:
                self.settled[bracket] = bool(self.indistinguishable(self.sign * bracket[0],
                                                                    self.sign * bracket[1]))
            if self.settled[bracket]:
                return None  # noise decides inside: the bracket is resolved
        return bracket

    def _evaluated(self, s: float) -> bool:
        return any(abs(self._s(r.param) - s) <= SAME and r.ok for r in self.rows)

    def _bisect_bracket(self, bracket, taken, purpose, *, speculate=True) -> Proposal | None:
        """The middle of the widest free stretch of ``bracket`` (in s), or None when it is
        resolved. Pending parameters inside split it; ``speculate=False`` waits for them."""
        if bracket is None:
            return None
        lo, hi = bracket
        if hi - lo <= BRACKET_SPAN * self.span:
            return None
        inside = sorted(s for s in self._s_of(taken) if lo < s < hi)
        if inside and not speculate:
            return None
        cuts = [lo, *inside, hi]
        widths = np.diff(cuts)
        k = int(np.argmax(widths))
        if widths[k] <= BRACKET_SPAN * self.span:
            return None
        return Proposal(self._param_of_s(cuts[k] + 0.5 * widths[k]), None, purpose)

    def _bisect_range(self, taken) -> Proposal | None:
        """While fewer than two points are usable there is no front: bisect the widest stretch
        of the range between evaluated parameters (never beyond a known collapse)."""
        bracket = self._edge_bracket()
        top = bracket[1] if bracket else self._s(self.sparse_param)
        ss = sorted({self._s(self.dense_param), top,
                     *[s for s in self._s_of(taken) if self._s(self.dense_param) <= s <= top]})
        spans = [(b - a, a) for a, b in zip(ss[:-1], ss[1:], strict=True)
                 if abs(self._param_of_s(b) - self._param_of_s(a)) >= MIN_SPAN]
        if not spans:
            self.stop, self.stop_reason = "exhausted", \
                "fewer than two evaluations succeeded and the range is exhausted"
            return None
        width, start = max(spans, key=lambda t: (t[0], -t[1]))
        return Proposal(self._param_of_s(start + width / 2), None, "bisect")

    # baselines ---------------------------------------------------------------------------

    def _grid(self, taken) -> Proposal | None:
        grid = grid_weights(self.lo, self.hi, self.budget)
        for i in grid_order(self.budget):
            p = float(grid[i])
            if self.sparse_end_known and abs(p - self.sparse_param) <= SAME:
                continue
            if self._new(p, taken):
                return Proposal(p, None, "grid")
        self.stop, self.stop_reason = "grid", "every grid value evaluated"
        return None

    def _random(self, taken) -> Proposal | None:
        # seeded by (seed, parameters so far): a resumed run draws what the whole run drew
        rng = np.random.default_rng([self.seed, int(taken.size)])
        for _ in range(1000):
            p = float(rng.uniform(self.lo, self.hi))
            if self.lo < p < self.hi and self._new(p, taken):
                return Proposal(p, None, "random")
        self.stop, self.stop_reason = "exhausted", "no unevaluated value left in the range"
        return None

    # gaps --------------------------------------------------------------------------------

    def _gap_proposal(self, taken, busy) -> Proposal | None:
        norm = self.norm or self._normalization()
        usable = self._usable()
        raw = np.array([r.point for r in usable], dtype=np.float64)
        params = np.array([r.param for r in usable])
        normalized = norm.apply(raw)
        busy_gaps = [p.gap for p in busy if p.gap is not None]
        small, unreachable, any_gap, busy_open = [], [], False, []
        for gap in gaps(normalized):
            any_gap = True
            pa, pb = float(params[gap.left]), float(params[gap.right])
            a, b = normalized[gap.left], normalized[gap.right]
            record = self._find(self.closed, a, b)
            if record is not None:
                if record[2] == "unreachable" and gap.box >= self.min_gap:
                    unreachable.append((pa, pb))
                continue
            if abs(pa - pb) < MIN_SPAN:
                continue
            if gap.box < self.min_gap:
                small.append(gap)
                continue
            lo, hi = sorted((pa, pb))
            if any(g is not None and abs(g[0] - lo) <= SAME and abs(g[1] - hi) <= SAME
                   for g in busy_gaps) or any(lo < p.param < hi for p in busy):
                busy_open.append((lo, hi))
                continue
            missed = self._find(self.misses, a, b) is not None
            p = self._param_for_gap(raw[gap.left], raw[gap.right], pa, pb, taken, missed)
            if p is not None:
                return Proposal(p, (lo, hi), "gap")
        for lo, hi in busy_open:  # every open gap is busy: split the widest free stretch
            p = self._widest_middle(lo, hi, taken, 2 * MIN_SPAN)
            if p is not None:
                return Proposal(p, (lo, hi), "gap")
        if busy:
            return None
        if not any_gap:
            self.stop, self.stop_reason = "closed", "every gap closed (the front has a single point)"
        elif unreachable and self.rule == "normal":
            # only the normal rule's miss is evidence: its weight reaches the point farthest
            # below the segment if there is one
            pairs = [f"{min(a, b):.6g} and {max(a, b):.6g}" for a, b in unreachable]
            listed = "; ".join(pairs[:3]) + (f"; and {len(pairs) - 3} more" if len(pairs) > 3 else "")
            self.stop, self.stop_reason = "nonconvex", (
                f"the weighted sum finds no new points between weights {listed} (non-convex or "
                "straight front there, or noise above tol); try --method epsilon, which reaches "
                "non-convex stretches")
        elif small:
            self.stop, self.stop_reason = "tolerance", "largest gap below tolerance"
        else:
            self.stop, self.stop_reason = "closed", "every gap closed"
        return None

    def _param_for_gap(self, a, b, pa, pb, taken, missed) -> float | None:
        """The parameter to evaluate for gap (a, b) (raw points, parameters pa, pb), or None.

        Normally the rule's value. If that was evaluated already (its point missed the gap,
        still open for a retry, or its run failed), or the gap has a recorded miss: solutions
        move monotonically with the parameter, so bisect between the last value that gave the
        dense end's point and the first that gave the sparse end's (the front between them was
        jumped over there); otherwise take the middle of the widest stretch of (pa, pb) not yet
        evaluated. Either way the value is new: nothing is evaluated twice.
        """
        lo, hi = sorted((pa, pb))
        if self.rule == "bound":
            p = self.parameter_for_bound(0.5 * (a[1] + b[1]))
            p = p if lo < p < hi else 0.5 * (lo + hi)
        elif self.rule == "midpoint":
            p = self._mid(lo, hi)
        else:
            p = next_weight(self.rule, a, b, pa, pb)
        if self._new(p, taken) and not missed:
            return p
        p_lo, p_hi = (a, b) if pa < pb else (b, a)
        n_lo, n_hi = self.norm.apply(np.array([p_lo, p_hi]))
        left, right = lo, hi
        for r in self.rows:
            if r.point is None or not lo < r.param < hi:
                continue
            q = self.norm.apply(r.point)
            if np.max(np.abs(q - n_hi)) <= self.tol:
                right = min(right, r.param)
            elif np.max(np.abs(q - n_lo)) <= self.tol:
                left = max(left, r.param)
        if (left, right) != (lo, hi) and right - left >= MIN_SPAN:
            p = self._mid(left, right)
            if self._new(p, taken):
                return p
        return self._widest_middle(lo, hi, taken, MIN_SPAN)

    def _widest_middle(self, lo: float, hi: float, taken: np.ndarray,
                       min_width: float) -> float | None:
        """The middle (in bisection units) of the widest stretch of (lo, hi) between taken
        parameters, or None when it is narrower than ``min_width`` (in the parameter)."""
        cuts = np.unique(np.concatenate(([lo, hi], taken[(taken > lo) & (taken < hi)])))
        units = np.array([self._u(c) for c in cuts])
        k = int(np.argmax(np.diff(units)))
        if cuts[k + 1] - cuts[k] < min_width:
            return None
        return self._mid(float(cuts[k]), float(cuts[k + 1]))

    # -- reporting --------------------------------------------------------------------------

    @property
    def normalization(self) -> Normalization | None:
        """The frozen normalization (None until it is fixed)."""
        return self.norm

    def reporting_normalization(self) -> Normalization | None:
        """The frozen normalization, or -- while the collapse edge or the boundary is still
        being bracketed (a budget can run out first) -- the one it would freeze now, so that a
        hypervolume can be shown; None with fewer than two usable points."""
        return self.norm or self._normalization()
