"""Nondominated filtering for two objectives, each minimized (the default) or maximized.

Dominance here is the usual weak-Pareto one: q dominates p iff q <= p in both objectives and
q < p in at least one (for a maximized objective, >= and >: the column is negated first, see
:func:`~paretoprune.pareto.validate.minimized`). Exact duplicates do not dominate each other, so every copy of a
nondominated point is kept; that makes the mask independent of the input order.
"""

from __future__ import annotations

import numpy as np

from paretoprune.pareto.validate import minimized, sense_signs

__all__ = ["front", "front_indices", "nondominated_indices", "pareto_mask"]


def _sweep(f1: np.ndarray, f2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort by f1 and sweep the running minimum of f2.

    Returns ``(order, keep, group)``: the argsort of f1, whether each point in that order is
    nondominated, and the index of its group of equal f1 values. A point is dominated iff an
    earlier group (strictly smaller f1) has an f2 <= its f2, or its own group has a strictly
    smaller f2 (an equal f2 there is a duplicate, not a dominating point). Only f1 is sorted:
    ties in f1 are resolved by the group minimum, which avoids a slower two-key sort.
    """
    order = np.argsort(f1)
    s1 = f1[order]
    s2 = f2[order]
    new_group = np.empty(s1.size, dtype=bool)
    new_group[0] = True
    np.not_equal(s1[1:], s1[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    group = np.cumsum(new_group) - 1
    group_min = np.minimum.reduceat(s2, starts)
    # Smallest f2 over all groups strictly to the left of each group.
    before = np.empty_like(group_min)
    before[0] = np.inf
    np.minimum.accumulate(group_min[:-1], out=before[1:])
    keep = (before[group] > s2) & (s2 <= group_min[group])
    return order, keep, group


def _candidates(pts: np.ndarray) -> np.ndarray:
    """Indices of the points not dominated by one pivot: an O(n) pre-filter before the sort.

    Any pivot is correct (dominance is transitive, so what it dominates is dominated); the
    minimizer of f1 + f2 is a good one because it sits near the ideal corner, and on typical
    clouds it removes almost all points, so the O(n log n) sort only sees a few thousand.
    """
    f1 = pts[:, 0]
    f2 = pts[:, 1]
    pivot = int(np.argmin(f1 + f2))
    q1, q2 = f1[pivot], f2[pivot]
    by_pivot = (f1 >= q1) & (f2 >= q2) & ((f1 > q1) | (f2 > q2))
    return np.flatnonzero(~by_pivot)


def pareto_mask(points, sense=None) -> np.ndarray:
    """Boolean mask of the nondominated rows of ``points``.

    ``sense`` says per column whether it is minimized or maximized: ``None`` (both minimized),
    ``"max"`` (both maximized) or a pair such as ``("min", "max")``; see
    :func:`~paretoprune.pareto.validate.as_sense`.

    A row is dropped iff some other row weakly dominates it strictly (<= in both objectives,
    < in at least one). Exact duplicates of a nondominated point are all kept (True for each
    copy), so the result does not depend on the order of the rows. Empty input gives an empty
    mask. O(n log n): an O(n) pivot pre-filter, a sort by f1 and a running minimum of f2.

    Raises:
        InputError: if ``points`` is not a finite (n, 2) numeric array, or a bad ``sense``.
    """
    pts = minimized(points, sense)
    n = pts.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    cand = _candidates(pts)
    order, keep, _ = _sweep(pts[cand, 0], pts[cand, 1])
    mask = np.zeros(n, dtype=bool)
    mask[cand[order[keep]]] = True
    return mask


def front_indices(points, sense=None) -> np.ndarray:
    """Indices of the unique nondominated points, sorted from the best f1 to the worst (so from
    the worst f2 to the best): f1 ascending when minimized, the default.

    Of several exact duplicates the first occurrence (smallest index) is returned. ``sense``:
    as in :func:`pareto_mask`.

    Raises:
        InputError: if ``points`` is not a finite (n, 2) numeric array, or a bad ``sense``.
    """
    return nondominated_indices(minimized(points, sense))


def nondominated_indices(pts: np.ndarray) -> np.ndarray:
    """:func:`front_indices` of points already checked and minimized (a float (n, 2) array from
    :func:`~paretoprune.pareto.validate.minimized`): the core's functions check their input
    once, at their own entry, and call this."""
    if pts.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    cand = _candidates(pts)
    order, keep, group = _sweep(pts[cand, 0], pts[cand, 1])
    # Nondominated points with equal f1 are copies of one point; keep the smallest row index.
    idx = cand[order[keep]]
    g = group[keep]
    first = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    return np.minimum.reduceat(idx, first).astype(np.intp)


def front(points, sense=None) -> np.ndarray:
    """The unique nondominated points, shape (m, 2), in the input's units, sorted from the best
    f1 to the worst (f1 ascending when minimized). ``sense``: as in :func:`pareto_mask`.

    Raises:
        InputError: if ``points`` is not a finite (n, 2) numeric array, or a bad ``sense``.
    """
    pts = minimized(points, sense)
    return pts[nondominated_indices(pts)] * sense_signs(sense)  # negation back is exact
