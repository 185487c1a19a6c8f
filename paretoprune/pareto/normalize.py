"""Affine normalization of the two objectives to a common scale."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from paretoprune.errors import InputError
from paretoprune.pareto.validate import as_point, as_points

__all__ = ["Normalization"]


def _pair(value, name: str) -> tuple[float, float]:
    arr = as_point(value, name=name)
    return (float(arr[0]), float(arr[1]))


@dataclass(frozen=True)
class Normalization:
    """Maps raw objective values to ``(f - ideal) / (nadir - ideal)`` per objective.

    ``ideal`` and ``nadir`` are tuples of two floats with ``nadir >= ideal``. Where the range
    ``nadir - ideal`` of an objective is zero the scale falls back to 1.0 (see :attr:`scale`):
    the values are then only shifted, never divided by zero.

    The class is frozen on purpose: a sweep fixes its normalization after its first points and
    keeps it, so that gap sizes and hypervolumes of different iterations stay comparable.
    """

    ideal: tuple[float, float]
    nadir: tuple[float, float]

    def __post_init__(self) -> None:
        ideal = _pair(self.ideal, "ideal")
        nadir = _pair(self.nadir, "nadir")
        for k in range(2):
            if nadir[k] < ideal[k]:
                raise InputError(
                    f"nadir ({nadir[0]:g}, {nadir[1]:g}) must be >= ideal ({ideal[0]:g}, {ideal[1]:g}) in both objectives"
                )
        # Normalize storage to plain float tuples (frozen, hence object.__setattr__).
        object.__setattr__(self, "ideal", ideal)
        object.__setattr__(self, "nadir", nadir)

    @classmethod
    def from_points(cls, points) -> Normalization:
        """Ideal = column minima, nadir = column maxima of ``points`` (at least one point).

        Raises:
            InputError: if ``points`` is empty or not a finite (n, 2) array.
        """
        pts = as_points(points, min_points=1)
        lo = pts.min(axis=0)
        hi = pts.max(axis=0)
        return cls((float(lo[0]), float(lo[1])), (float(hi[0]), float(hi[1])))

    @property
    def scale(self) -> tuple[float, float]:
        """Per-objective divisor: ``nadir - ideal``, or 1.0 where that range is zero."""
        out = []
        for lo, hi in zip(self.ideal, self.nadir, strict=True):
            span = hi - lo
            out.append(span if span > 0 and math.isfinite(span) else 1.0)
        return (out[0], out[1])

    def apply(self, points) -> np.ndarray:
        """Normalize an (n, 2) array of points, or a single point of shape (2,)."""
        arr = _coerce(points)
        return (arr - np.asarray(self.ideal)) / np.asarray(self.scale)

    def invert(self, points) -> np.ndarray:
        """Map normalized points (n, 2) or a single point (2,) back to raw values."""
        arr = _coerce(points)
        return arr * np.asarray(self.scale) + np.asarray(self.ideal)


def _coerce(points) -> np.ndarray:
    if np.ndim(points) == 1 and np.size(points) == 2:
        return as_point(points)
    return as_points(points)
