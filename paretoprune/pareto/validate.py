"""Input checking for the Pareto core, in one place.

Every public function of :mod:`paretoprune.pareto` passes its points through :func:`as_points`
(and reference points through :func:`as_point`), so a bad value is reported the same way
everywhere: one :class:`~paretoprune.errors.InputError` line that names the argument and, for
NaN/inf, the first offending row. The checks are vectorized because the core is meant to handle
10^6 points well under a second.
"""

from __future__ import annotations

import numpy as np

from paretoprune.errors import InputError

__all__ = ["SENSES", "as_point", "as_points", "as_sense", "minimized", "sense_signs"]

#: The two directions an objective can be optimized in.
SENSES = ("min", "max")


def _to_float_array(values, name: str) -> np.ndarray:
    """Convert to a float64 array, or raise one InputError line saying why it cannot be."""
    try:
        raw = np.asarray(values)
    except ValueError:
        # numpy refuses ragged nested sequences ("inhomogeneous shape").
        raise InputError(
            f"{name} must be a rectangular array of numbers; rows have different lengths"
        ) from None
    if raw.dtype.kind == "c":
        raise InputError(f"{name} must be real numbers, got complex values")
    if raw.dtype.kind not in "biuf":
        try:
            raw = raw.astype(np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name} must be numeric, got values of type {raw.dtype}") from None
    return np.ascontiguousarray(raw, dtype=np.float64)


def as_points(points, *, name: str = "points", min_points: int = 0) -> np.ndarray:
    """Return ``points`` as a float64 array of shape (n, 2), checked.

    Accepts anything ``numpy.asarray`` understands (lists of pairs, arrays, DataFrames with two
    columns). An empty input gives an empty (0, 2) array. The input is never modified; an
    array that is already float64 and C-contiguous is returned without a copy.

    Raises:
        InputError: wrong shape, non-numeric values, NaN or inf (the message names the first bad
            row), or fewer than ``min_points`` rows.
    """
    arr = _to_float_array(points, name)
    if arr.size == 0 and arr.ndim <= 2 and (arr.ndim < 2 or arr.shape[1] in (0, 2)):
        arr = np.empty((0, 2), dtype=np.float64)
    elif arr.ndim != 2 or arr.shape[1] != 2:
        hint = "; a single point is written [[f1, f2]]" if arr.shape == (2,) else ""
        raise InputError(f"{name} must have shape (n, 2), got {arr.shape}{hint}")
    n = arr.shape[0]
    if n < min_points:
        raise InputError(f"{name} needs at least {min_points} points, got {n}")
    finite = np.isfinite(arr)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise InputError(f"{name} contain NaN or inf at row {row}")
    return arr


def as_point(point, *, name: str = "point") -> np.ndarray:
    """Return one point as a float64 array of shape (2,), finite; raise InputError otherwise."""
    arr = _to_float_array(point, name)
    if arr.shape != (2,):
        raise InputError(f"{name} must be 2 numbers (f1, f2), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or inf: ({arr[0]:g}, {arr[1]:g})")
    return arr


def as_sense(sense=None) -> tuple[str, str]:
    """The optimization direction of each of the two objectives, checked: ``("min", "min")``
    for ``None``; one of :data:`SENSES` for both objectives; or a pair of them, e.g.
    ``("min", "max")`` for "minimize the first, maximize the second".

    Raises:
        InputError: anything else (the message lists what is accepted).
    """
    if sense is None:
        return ("min", "min")
    pair = (sense, sense) if isinstance(sense, str) else sense
    try:
        first, second = pair
    except (TypeError, ValueError):
        raise InputError(
            f"sense must be 'min', 'max' or a pair of them such as ('min', 'max'), got {sense!r}"
        ) from None
    for value in (first, second):
        if value not in SENSES:
            raise InputError(f"sense must be 'min' or 'max' per objective, got {value!r}")
    return (first, second)


def minimized(points, sense=None, *, name: str = "points", min_points: int = 0) -> np.ndarray:
    """:func:`as_points`, with each maximized column negated (see :func:`as_sense`).

    The core's algorithms all minimize; maximizing f is minimizing -f, and negation keeps
    dominance, ties and hypervolumes (areas) exactly. The input is never modified; with both
    objectives minimized the array of :func:`as_points` is returned as it is.
    """
    pts = as_points(points, name=name, min_points=min_points)
    signs = sense_signs(sense)
    return pts if (signs > 0).all() else pts * signs


def sense_signs(sense) -> np.ndarray:
    """+1 for a minimized objective, -1 for a maximized one."""
    return np.array([1.0 if s == "min" else -1.0 for s in as_sense(sense)])
