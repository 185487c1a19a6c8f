"""Gaps between neighbouring points of a front, ranked by the area a new point could add."""

from __future__ import annotations

from dataclasses import dataclass

from paretoprune.pareto.front import nondominated_indices
from paretoprune.pareto.validate import as_points

__all__ = ["Gap", "gaps"]


@dataclass(frozen=True)
class Gap:
    """The gap between two neighbouring front points.

    Attributes:
        left: row index, in the array given to :func:`gaps`, of the neighbour with smaller f1.
        right: row index of the neighbour with larger f1 (and smaller f2).
        box: ``(b1 - a1) * (a2 - b2)`` for a = left, b = right, in the coordinates given: the
            largest hypervolume a new point between them could add. Callers normalize first
            (BACKGROUND section 3) so that boxes of a sweep are comparable.
    """

    left: int
    right: int
    box: float


def gaps(points) -> list[Gap]:
    """Gaps between neighbours of the unique front of ``points``, largest box first.

    Ties in box are broken by the smaller f1 of the left point. A front of fewer than two
    unique points has no gaps (empty list). Duplicates are represented by their first row.

    Raises:
        InputError: if ``points`` is not a finite (n, 2) numeric array.
    """
    pts = as_points(points)
    idx = nondominated_indices(pts)
    found = []
    for pos in range(idx.size - 1):
        a = pts[idx[pos]]
        b = pts[idx[pos + 1]]
        box = float((b[0] - a[0]) * (a[1] - b[1]))
        found.append((pos, Gap(int(idx[pos]), int(idx[pos + 1]), box)))
    # The front is sorted by f1, so its position breaks ties in favour of the smaller left f1.
    found.sort(key=lambda item: (-item[1].box, item[0]))
    return [gap for _, gap in found]
