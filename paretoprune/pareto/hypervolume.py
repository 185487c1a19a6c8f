"""Exact two-dimensional hypervolume (each objective minimized, the default, or maximized).

Maximized columns are negated (:func:`~paretoprune.pareto.validate.minimized`), the
minimization algorithm runs, and reference points are read and returned in the caller's units.
"""

from __future__ import annotations

import numpy as np

from paretoprune.errors import InputError
from paretoprune.pareto.front import nondominated_indices
from paretoprune.pareto.validate import as_point, minimized, sense_signs

__all__ = ["hypervolume", "reference_point"]


def _default_reference(pts: np.ndarray) -> np.ndarray:
    hi = pts.max(axis=0)
    span = hi - pts.min(axis=0)
    # With a zero range, 10% of the range would put the reference on the points themselves and
    # give zero volume; 10% of the magnitude (at least 1) keeps it strictly beyond them.
    pad = np.where(span > 0, 0.1 * span, 0.1 * np.maximum(np.abs(hi), 1.0))
    return hi + pad


def reference_point(points, sense=None) -> np.ndarray:
    """Default reference point of :func:`hypervolume`, shape (2,), in the units of ``points``.

    Per minimized objective: ``max + 0.1 * (max - min)`` over the nondominated points of
    ``points``, i.e. (1.1, 1.1) in the front's own min-max normalization; where the range is
    zero, ``max + 0.1 * max(|max|, 1)``. A maximized objective mirrors this below its minimum.
    Dominated points do not move it, so adding a dominated point never changes a hypervolume
    computed with the default reference. ``sense``: as in :func:`~paretoprune.pareto.pareto_mask`.

    Raises:
        InputError: if ``points`` is empty or not a finite (n, 2) array, or a bad ``sense``.
    """
    pts = minimized(points, sense, min_points=1)
    return _default_reference(pts[nondominated_indices(pts)]) * sense_signs(sense)


def hypervolume(points, ref=None, *, strict: bool = True, sense=None) -> float:
    """Area dominated by ``points`` and bounded by the reference point ``ref``.

    With the nondominated points sorted by f1 ascending,
    ``HV = sum_i (r1 - f1_i) * (f2_{i-1} - f2_i)`` with ``f2_{-1} = r2`` (BACKGROUND section 4).
    Dominated points and duplicates are filtered first (O(n log n), vectorized).

    The formula is written for minimization; a maximized objective (``sense``) is negated
    first, which leaves areas unchanged.

    Args:
        points: (n, 2) array-like of finite values; empty gives 0.0.
        ref: reference point (r1, r2) in the units of ``points`` (for a maximized objective it
            lies below the points). ``None`` uses :func:`reference_point` of ``points``: 10% of
            the range of the front beyond its worst value, per objective. Pass an explicit,
            fixed ``ref`` whenever hypervolumes are to be compared (a sweep freezes it).
        strict: if True, every nondominated point must be strictly better than ``ref`` in both
            objectives, else InputError. If False, such points are ignored, as in moocore and
            pymoo (they add no volume; nothing they dominate can be inside the box either).
        sense: ``None`` (both minimized), ``"max"``, or a pair such as ``("min", "max")``; see
            :func:`~paretoprune.pareto.validate.as_sense`.

    Raises:
        InputError: bad points, ref or sense, or (strict) a front point not strictly inside
            ``ref``.
    """
    signs = sense_signs(sense)
    pts = minimized(points, sense)
    r = None if ref is None else as_point(ref, name="reference point") * signs
    if pts.shape[0] == 0:
        return 0.0
    f = pts[nondominated_indices(pts)]  # checked once, above
    if r is None:
        r = _default_reference(f)
    inside = (f[:, 0] < r[0]) & (f[:, 1] < r[1])
    if not inside.all():
        if strict:
            # Reported in the caller's units (negated back for maximized objectives).
            bad = f[np.flatnonzero(~inside)[0]] * signs
            r = r * signs
            raise InputError(
                f"reference point ({r[0]:g}, {r[1]:g}) does not dominate the front: point "
                f"({bad[0]:g}, {bad[1]:g}) is not strictly better in both objectives "
                "(use a larger reference point, or strict=False to ignore such points)"
            )
        f = f[inside]
        if f.shape[0] == 0:
            return 0.0
    # f is sorted by f1 ascending and f2 strictly descending, so every height is positive.
    previous = np.concatenate(([r[1]], f[:-1, 1]))
    heights = previous - f[:, 1]
    widths = r[0] - f[:, 0]
    return float(np.dot(widths, heights))
