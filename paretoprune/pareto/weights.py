"""Rules for the next scalarization weight, and the test that closes a gap.

The training objective is ``(1 - w) * f1 + w * f2`` with ``w`` in [0, 1]: ``w = 0`` trains for
the loss alone (smallest f1), ``w = 1`` for the l1 norm alone (smallest f2). So along a front
sorted by f1 the weights that produced the points increase.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from paretoprune.errors import InputError
from paretoprune.pareto.validate import as_point

__all__ = [
    "RULES",
    "grid_order",
    "grid_weights",
    "improves",
    "midpoint_weight",
    "next_weight",
    "normal_weight",
]

RULES = ("normal", "midpoint", "grid", "random")


def _finite(value, name: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(out):
        raise InputError(f"{name} must be finite, got {out}")
    return out


def _tradeoff(a, b, what: str) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Order a, b by f1 and return (left, right, d1, d2) with d1 = b1 - a1 > 0, d2 = a2 - b2 > 0."""
    pa = as_point(a, name=f"{what} point a")
    pb = as_point(b, name=f"{what} point b")
    if pa[0] > pb[0]:
        pa, pb = pb, pa
    d1 = float(pb[0] - pa[0])
    d2 = float(pa[1] - pb[1])
    if not (d1 > 0 and d2 > 0):
        raise InputError(
            f"{what} needs two mutually nondominated points, got ({pa[0]:g}, {pa[1]:g}) and ({pb[0]:g}, {pb[1]:g})"
        )
    return pa, pb, d1, d2


def normal_weight(a, b) -> float:
    """Weight whose level line is parallel to the segment a-b (the NISE / dichotomic rule).

    For the objective ``(1 - w) * f1 + w * f2`` the level lines have normal ``(1 - w, w)``.
    Making that normal orthogonal to ``b - a`` gives ``(1 - w) * (b1 - a1) = w * (a2 - b2)``, so

        w = (b1 - a1) / ((b1 - a1) + (a2 - b2))

    The formula is symmetric in a and b. For exact weighted-sum optima a (weight wa) and b
    (weight wb) it lies in [wa, wb], and a new optimum for it is the point of the front that
    is farthest below the segment, if any.

    ``a`` and ``b`` must be given on the SAME scale as the training objective, i.e. the raw
    values of f1 and f2 that the weight multiplies, NOT normalized values: normalizing
    rescales the axes, tilts the segment, and gives a different weight.

    Raises:
        InputError: if a and b are not mutually nondominated (no segment with negative slope).
    """
    _, _, d1, d2 = _tradeoff(a, b, "normal_weight")
    return d1 / (d1 + d2)


def midpoint_weight(wa: float, wb: float) -> float:
    """Bisection in weight space: ``(wa + wb) / 2``."""
    return 0.5 * (_finite(wa, "wa") + _finite(wb, "wb"))


def next_weight(
    rule: str, a, b, wa: float, wb: float, *, rng: np.random.Generator | None = None
) -> float:
    """Next weight to evaluate inside the gap between points a and b (weights wa and wb).

    Rules:
        ``"normal"``: :func:`normal_weight` of a and b (raw objective scale). If that weight is
            not strictly inside (min(wa, wb), max(wa, wb)) -- noisy runs, or a non-convex gap
            -- or a and b do not form a trade-off, the midpoint is used instead.
        ``"midpoint"``: :func:`midpoint_weight`.
        ``"random"``: uniform in the open interval between wa and wb, drawn from ``rng``
            (``numpy.random.default_rng()`` if None; pass a seeded one to reproduce).

    ``"grid"`` is not gap-based: use :func:`grid_weights` and :func:`grid_order`.

    Raises:
        InputError: unknown rule, ``"grid"``, or wa == wb (no open interval).
    """
    if rule not in RULES:
        raise InputError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule == "grid":
        raise InputError("rule 'grid' is not gap-based; use grid_weights() and grid_order()")
    lo, hi = sorted((_finite(wa, "wa"), _finite(wb, "wb")))
    if not lo < hi:
        raise InputError(f"the two weights of a gap must differ, got {lo:g} and {hi:g}")
    if rule == "midpoint":
        return midpoint_weight(lo, hi)
    if rule == "random":
        gen = rng if rng is not None else np.random.default_rng()
        w = float(gen.uniform(lo, hi))
        while not lo < w < hi:  # uniform() is half-open; redraw the (measure-zero) endpoint
            w = float(gen.uniform(lo, hi))
        return w
    try:
        w = normal_weight(a, b)
    except InputError:
        return midpoint_weight(lo, hi)
    return w if lo < w < hi else midpoint_weight(lo, hi)


def grid_weights(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` evenly spaced weights from lo to hi inclusive (``numpy.linspace``).

    Raises:
        InputError: n < 1, or lo > hi, or a bound not finite.
    """
    lo = _finite(lo, "lo")
    hi = _finite(hi, "hi")
    if int(n) != n or n < 1:
        raise InputError(f"grid size must be a positive integer, got {n!r}")
    if lo > hi:
        raise InputError(f"grid bounds must satisfy lo <= hi, got {lo:g} > {hi:g}")
    return np.linspace(lo, hi, int(n))


def grid_order(n: int) -> list[int]:
    """An evaluation order of grid indices 0..n-1 that stays spread out if cut short.

    Both ends first, then repeatedly the middle index ``(i + j) // 2`` of the largest remaining
    interval (i, j) between already chosen indices; ties go to the leftmost interval.
    Example: n = 5 gives [0, 4, 2, 1, 3].

    Raises:
        InputError: n negative or not an integer.
    """
    if int(n) != n or n < 0:
        raise InputError(f"grid size must be a non-negative integer, got {n!r}")
    n = int(n)
    if n <= 2:
        return list(range(n))
    order = [0, n - 1]
    heap = [(-(n - 1), 0, n - 1)]  # (-length, left, right): largest interval, then leftmost
    while heap:
        _, i, j = heapq.heappop(heap)
        if j - i < 2:
            continue
        m = (i + j) // 2
        order.append(m)
        heapq.heappush(heap, (-(m - i), i, m))
        heapq.heappush(heap, (-(j - m), m, j))
    return order


def improves(a, b, new, *, tol: float) -> bool:
    """True iff ``new`` improves the gap between a and b; False means the gap is closed.

    All three points are in normalized coordinates. ``new`` improves the gap iff

    * it lies below the line through a and b -- on the side of the ideal point -- by a
      perpendicular (Euclidean) distance greater than ``tol``, and
    * it is not weakly dominated by a or by b.

    Runs are noisy, so a new point within ``tol`` of the segment counts as "no better".

    Raises:
        InputError: a and b not mutually nondominated, bad points, or tol negative.
    """
    tol = _finite(tol, "tol")
    if tol < 0:
        raise InputError(f"tol must be >= 0, got {tol:g}")
    pa, pb, d1, d2 = _tradeoff(a, b, "improves")
    p = as_point(new, name="new point")
    # (d2, d1) is normal to b - a = (d1, -d2) and points away from the ideal, so the distance
    # below the line is the projection of a - p on it.
    below = ((pa[0] - p[0]) * d2 + (pa[1] - p[1]) * d1) / math.hypot(d1, d2)
    if not below > tol:
        return False
    dominated = (pa[0] <= p[0] and pa[1] <= p[1]) or (pb[0] <= p[0] and pb[1] <= p[1])
    return not dominated
