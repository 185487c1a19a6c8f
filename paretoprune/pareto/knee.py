"""Knee points of a two-objective front (BACKGROUND section 5).

Every method scores the unique front points, in the order of :func:`front_indices` (f1
ascending), on the front normalized to the unit square by ``Normalization.from_points`` of the
front itself: the extremes become (0, 1) and (1, 0). A higher score means more knee-like.
:func:`rank_knees` turns the scores into input indices, best first. A maximized objective
(``sense``) is negated first, so the methods only ever see minimization.
"""

from __future__ import annotations

import math

import numpy as np

from paretoprune.errors import InputError
from paretoprune.pareto.front import nondominated_indices
from paretoprune.pareto.normalize import Normalization
from paretoprune.pareto.validate import minimized

__all__ = ["KNEE_METHODS", "knee_scores", "rank_knees"]

KNEE_METHODS = ("distance", "kneedle", "angle", "utility", "tradeoff")

# Fewest unique front points each method can score.
_MIN_POINTS = {"distance": 1, "kneedle": 3, "angle": 3, "utility": 2, "tradeoff": 2}


def _distance(fn: np.ndarray) -> np.ndarray:
    # Das (1999): distance from the line through the normalized extremes (0, 1) and (1, 0),
    # up to the constant factor 1/sqrt(2) that does not change the ranking.
    return 1.0 - fn[:, 0] - fn[:, 1]


def _kneedle(fn: np.ndarray, sensitivity: float) -> tuple[np.ndarray, np.ndarray]:
    """Difference curve and knee flags of Kneedle (Satopaa et al. 2011).

    The front is decreasing and convex. Kneedle's transform for that shape (y -> 1 - y, as in
    the ``kneed`` package) gives an increasing concave curve through (0, 0) and (1, 1); its
    difference curve ``y_d = (1 - f2n) - f1n`` is therefore the same number as the distance
    score. What Kneedle adds is the decision: the local maxima of the difference curve are the
    candidates, and candidate i is a knee only if the curve drops below
    ``T_i = y_d[i] - S * mean(diff(x))`` after i and before the next local maximum (or the
    end of the front).
    """
    x = fn[:, 0]
    yd = (1.0 - fn[:, 1]) - x
    n = yd.size
    step = float(np.mean(np.diff(x)))
    interior = np.arange(1, n - 1)
    # A plateau counts once, at its last point (>= on the left, > on the right).
    is_max = (yd[interior] >= yd[interior - 1]) & (yd[interior] > yd[interior + 1])
    maxima = interior[is_max]
    knee = np.zeros(n, dtype=bool)
    for k, i in enumerate(maxima):
        stop = maxima[k + 1] if k + 1 < maxima.size else n
        threshold = yd[i] - sensitivity * step
        if np.any(yd[i + 1 : stop] < threshold):
            knee[i] = True
    return yd, knee


def _angle(fn: np.ndarray) -> np.ndarray:
    """Branke et al. (2004): the angle at each interior point, measured on the ideal's side.

    For a point p with left neighbour L (up-left of p) and right neighbour R (down-right), the
    rays p->L and p->R span 180 degrees on a straight front, more than 180 at a convex bend
    towards the ideal (the reflex angle: the sharper the knee, the larger), less in a concave
    dent. Degrees. The two extremes have only one neighbour and score -inf.
    """
    n = fn.shape[0]
    scores = np.full(n, -np.inf)
    p = fn[1:-1]
    left = fn[:-2] - p
    right = fn[2:] - p
    # Direction of p->L is in (90, 180) degrees and of p->R in (-90, 0), so their difference is
    # the angle on the side away from the ideal, in (90, 270); the reflex side is 360 minus it.
    away = np.degrees(np.arctan2(left[:, 1], left[:, 0]) - np.arctan2(right[:, 1], right[:, 0]))
    scores[1:-1] = 360.0 - away
    return scores


def _lower_hull(pts: np.ndarray) -> list[int]:
    """Positions of the vertices of the convex chain facing the ideal (pts sorted by f1).

    Andrew's monotone chain, lower part; collinear points are not vertices. For a front (f2
    strictly decreasing in f1) this is the part of the convex hull that weighted sums reach.
    """
    hull: list[int] = []
    for i in range(pts.shape[0]):
        while len(hull) >= 2:
            o, a = pts[hull[-2]], pts[hull[-1]]
            cross = (a[0] - o[0]) * (pts[i][1] - o[1]) - (a[1] - o[1]) * (pts[i][0] - o[0])
            if cross > 0:
                break
            hull.pop()
        hull.append(i)
    return hull


def _switch_weights(chain: np.ndarray) -> np.ndarray:
    """Weights at which the best vertex of a convex chain changes, decreasing along the chain.

    U(p, lam) = lam * p1 + (1 - lam) * p2. Neighbours a, b (a left) tie where
    lam * (b1 - a1) = (1 - lam) * (a2 - b2), i.e. lam = d2 / (d1 + d2). Vertex j of the chain is
    the best for lam in [switch[j], switch[j - 1]] (switch[-1] = +inf, switch[m - 1] = -inf).
    """
    d1 = np.diff(chain[:, 0])
    d2 = -np.diff(chain[:, 1])
    return d2 / (d1 + d2)


def _envelope_integral(chain: np.ndarray, lo: float, hi: float) -> float:
    """Exact integral over [lo, hi] of min_j U(chain_j, lam), chain a convex chain by f1."""
    switch = _switch_weights(chain)
    upper = np.concatenate(([np.inf], switch))
    lower = np.concatenate((switch, [-np.inf]))
    a = np.clip(lower, lo, hi)
    b = np.clip(upper, lo, hi)
    # Integral of lam * p1 + (1 - lam) * p2 over [a, b].
    return float(
        np.sum(chain[:, 1] * (b - a) + (chain[:, 0] - chain[:, 1]) * (b * b - a * a) / 2.0)
    )


def _utility(fn: np.ndarray) -> np.ndarray:
    """Expected marginal utility (Branke et al. 2004), exactly.

    U(p, lam) = lam * f1n + (1 - lam) * f2n with lam uniform on [0, 1]. The marginal utility of
    point i is the integral, over the lam where i is the best point, of (second-best utility -
    best utility) -- what would be lost without i. The best point is a vertex of the lower
    convex chain and changes only at the weights of :func:`_switch_weights`; on the interval
    I_k of vertex k the second best is the lower envelope of the points between k's chain
    neighbours (the rest are beaten by those neighbours on I_k), so the loss is the exact
    integral of two piecewise-linear functions. Points off the chain (including collinear ones
    on its edges) lose nothing when removed and score 0.
    """
    n = fn.shape[0]
    scores = np.zeros(n)
    hull = _lower_hull(fn)
    chain = fn[hull]
    switch = _switch_weights(chain)
    m = len(hull)
    for k, pos in enumerate(hull):
        hi = 1.0 if k == 0 else float(switch[k - 1])
        lo = 0.0 if k == m - 1 else float(switch[k])
        hi = min(hi, 1.0)
        lo = max(lo, 0.0)
        if hi <= lo:
            continue  # best only outside [0, 1] (cannot happen for a front, kept for safety)
        start = hull[k - 1] if k > 0 else pos + 1
        stop = hull[k + 1] if k < m - 1 else pos - 1
        window = [j for j in range(start, stop + 1) if j != pos]
        rest = fn[window]
        others = rest[_lower_hull(rest)]
        own = fn[pos, 1] * (hi - lo) + (fn[pos, 0] - fn[pos, 1]) * (hi * hi - lo * lo) / 2.0
        scores[pos] = max(_envelope_integral(others, lo, hi) - own, 0.0)
    return scores


def _tradeoff(front_weights: np.ndarray) -> np.ndarray:
    """The seed's trade-off jump, on log-ratios.

    r = w / (1 - w) is the trade-off rate behind each front point (sorted by f1). The jump
    after point i is ``log(r_{i+1} / r_i) = logit(w_{i+1}) - logit(w_i)``; the log-ratio is
    scale-free (multiplying every r by a constant changes nothing). The knee is the point just
    before the largest jump, so point i scores the jump that follows it. Where w is 0 or 1
    the ratio is 0 or inf and the log-ratio is undefined: such pairs, and the last point,
    score -inf. Signed: if noise makes the weights decrease along the front, the jump is
    negative and ranks low.
    """
    w = front_weights
    scores = np.full(w.size, -np.inf)
    inner = (w > 0) & (w < 1)
    logit = np.full(w.size, np.nan)
    logit[inner] = np.log(w[inner]) - np.log1p(-w[inner])
    both = inner[:-1] & inner[1:]
    jumps = logit[1:] - logit[:-1]
    scores[:-1] = np.where(both, jumps, -np.inf)
    if not both.any():
        raise InputError(
            "tradeoff needs two neighbouring front points whose weights are strictly between 0 and 1"
        )
    return scores


def _scores_and_tiers(points, method: str, weights, sensitivity: float, sense=None):
    if method not in KNEE_METHODS:
        raise InputError(f"unknown knee method {method!r}; choose one of {', '.join(KNEE_METHODS)}")
    pts = minimized(points, sense)
    idx = nondominated_indices(pts)
    need = _MIN_POINTS[method]
    if idx.size < need:
        raise InputError(f"{method} needs at least {need} front points, got {idx.size}")
    fr = pts[idx]
    fn = Normalization.from_points(fr).apply(fr)
    tiers = np.zeros(idx.size, dtype=np.int8)
    if method == "distance":
        scores = _distance(fn)
    elif method == "kneedle":
        try:
            s = float(sensitivity)
        except (TypeError, ValueError):
            raise InputError(f"sensitivity must be a number, got {sensitivity!r}") from None
        if not (math.isfinite(s) and s >= 0):
            raise InputError(f"sensitivity must be a finite number >= 0, got {sensitivity!r}")
        scores, knee = _kneedle(fn, s)
        tiers = np.where(knee, 0, 1).astype(np.int8)
    elif method == "angle":
        scores = _angle(fn)
    elif method == "utility":
        scores = _utility(fn)
    else:
        if weights is None:
            raise InputError("tradeoff needs the weights that produced the points (weights=...)")
        try:
            w = np.asarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("weights must be numbers, one per point") from None
        if w.shape != (pts.shape[0],):
            raise InputError(
                f"weights must have one value per point ({pts.shape[0]}), got shape {w.shape}"
            )
        if not np.isfinite(w).all():
            raise InputError(
                f"weights contain NaN or inf at row {int(np.flatnonzero(~np.isfinite(w))[0])}"
            )
        if ((w < 0) | (w > 1)).any():
            raise InputError(f"weights must lie in [0, 1], got {float(w[(w < 0) | (w > 1)][0]):g}")
        scores = _tradeoff(w[idx])
    return idx, fr, scores, tiers


def knee_scores(points, method: str, *, weights=None, sensitivity: float = 1.0,
                sense=None) -> np.ndarray:
    """One knee score per unique front point, in the order of ``front_indices(points, sense)``.

    Higher is more knee-like. All methods work on the front normalized to the unit square.

    Methods:
        ``"distance"`` (Das 1999): ``1 - f1n - f2n``, the distance (up to a factor) below the
            line through the two extremes. Needs 1 point.
        ``"kneedle"`` (Satopaa et al. 2011): the difference-curve value, which for a decreasing
            convex front equals the distance score. Knees are the local maxima that pass the
            sensitivity-``S`` threshold test; :func:`rank_knees` ranks those first, then the
            other points by the same value (their score is kept rather than set to -inf so a
            front without a confirmed knee still has a ranking). Needs 3 points.
        ``"angle"`` (Branke et al. 2004): the reflex angle in degrees at each interior point
            with its two neighbours (180 on a straight front, larger at a convex bend); the two
            extremes score -inf. Needs 3 points.
        ``"utility"`` (Branke et al. 2004): expected marginal utility for linear utilities
            ``lam * f1n + (1 - lam) * f2n``, lam uniform on [0, 1], computed exactly (closed
            form over the weights where the best point changes, no sampling). Points that no
            linear utility prefers score 0. Needs 2 points.
        ``"tradeoff"`` (the seed's heuristic): needs ``weights``, one per input point (the
            weight that produced it, in [0, 1]); the score of a point is the log-ratio jump of
            ``w / (1 - w)`` to the next front point; the last point, and pairs involving a
            weight of 0 or 1, score -inf. Of duplicate points the first row's weight is used.
            Needs 2 points and at least one pair of neighbours with weights inside (0, 1).

    ``weights`` is ignored by the other methods, ``sensitivity`` by all but kneedle. ``sense``:
    ``None`` (both objectives minimized), ``"max"`` or a pair such as ``("min", "max")``.

    Raises:
        InputError: unknown method, bad points, too few front points ("kneedle needs at least 3
            front points, got 2"), bad sensitivity or sense, or missing or bad weights for
            tradeoff.
    """
    return _scores_and_tiers(points, method, weights, sensitivity, sense)[2]


def rank_knees(points, method: str, *, weights=None, sense=None, **kw) -> np.ndarray:
    """Indices into ``points`` of the unique front points, most knee-like first.

    Ordered by :func:`knee_scores` descending (for kneedle, confirmed knees first), ties by
    the best f1 first. Keyword arguments other than ``weights`` and ``sense`` go to
    :func:`knee_scores`.

    Raises:
        InputError: as :func:`knee_scores`.
    """
    unknown = set(kw) - {"sensitivity"}
    if unknown:
        raise InputError(f"unknown option for rank_knees: {', '.join(sorted(unknown))}")
    idx, fr, scores, tiers = _scores_and_tiers(points, method, weights, kw.get("sensitivity", 1.0),
                                               sense)
    order = np.lexsort((fr[:, 0], -scores, tiers))
    return idx[order]
