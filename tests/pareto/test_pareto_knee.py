"""Knee methods on fronts with a known knee, exact utility against a numeric oracle, errors."""

from __future__ import annotations

import numpy as np
import pytest

from paretoprune.errors import InputError
from paretoprune.pareto import KNEE_METHODS, front_indices, knee_scores, rank_knees

GEOMETRIC_METHODS = ("distance", "kneedle", "angle", "utility")


def l_shaped_front() -> np.ndarray:
    """Two straight arms meeting at a sharp corner (0.1, 0.1) (row 4), rows scrambled below."""
    arm1 = np.c_[np.linspace(0, 0.1, 5), np.linspace(1, 0.1, 5)]
    arm2 = np.c_[np.linspace(0.1, 1, 11)[1:], np.linspace(0.1, 0, 11)[1:]]
    return np.vstack([arm1, arm2])


def hyperbola_front() -> np.ndarray:
    """f2 = 1 / f1 on a geometric grid, symmetric about f1 = f2: the knee is (1, 1) (row 10)."""
    x = 10.0 ** np.linspace(-1, 1, 21)
    return np.c_[x, 1 / x]


def test_methods_listed():
    assert KNEE_METHODS == ("distance", "kneedle", "angle", "utility", "tradeoff")


@pytest.mark.parametrize("method", GEOMETRIC_METHODS)
def test_sharp_corner_is_the_knee(method):
    pts = l_shaped_front()
    perm = np.random.default_rng(1).permutation(len(pts))
    shuffled = np.vstack([pts[perm], [[0.5, 0.5], [0.1, 0.1]]])  # a dominated point and a duplicate
    ranked = rank_knees(shuffled, method)
    assert np.all(shuffled[ranked[0]] == [0.1, 0.1])
    # the duplicate (last row) is represented by its first copy; the dominated row never appears
    assert len(shuffled) - 1 not in ranked and len(shuffled) - 2 not in ranked
    assert sorted(ranked) == sorted(front_indices(shuffled))


@pytest.mark.parametrize("method", GEOMETRIC_METHODS)
def test_symmetric_hyperbola_knee(method):
    pts = hyperbola_front()
    assert rank_knees(pts, method)[0] == 10
    scores = knee_scores(pts, method)
    # symmetric curve, symmetric scores
    np.testing.assert_allclose(scores[1:-1], scores[1:-1][::-1], rtol=1e-6, atol=1e-12)


def test_distance_scores_by_hand():
    scores = knee_scores([[0, 10], [2, 2], [10, 0]], "distance")
    # normalized: (0, 1), (0.2, 0.2), (1, 0)
    np.testing.assert_allclose(scores, [0, 0.6, 0])
    assert knee_scores([[3.0, 4.0]], "distance").tolist() == [1.0]  # single point: (0, 0)


def test_angle_scores_by_hand():
    # normalized (0, 1), (0.1, 0.1), (1, 0): rays to the neighbours (-0.1, 0.9) and (0.9, -0.1)
    # are 102.68 degrees apart away from the ideal, so 257.32 on the ideal's side
    scores = knee_scores([[0, 1], [0.1, 0.1], [1, 0]], "angle")
    assert scores[0] == -np.inf and scores[2] == -np.inf
    expected = 360 - np.degrees(np.arccos(-0.18 / 0.82))
    assert scores[1] == pytest.approx(expected)
    # straight: 180 ; concave dent: less than 180
    assert knee_scores([[0, 1], [0.5, 0.5], [1, 0]], "angle")[1] == pytest.approx(180.0)
    assert knee_scores([[0, 1], [0.8, 0.8], [1, 0]], "angle")[1] < 180.0


def test_utility_by_hand():
    # normalized (0, 1), (0.1, 0.1), (1, 0). The best point switches at lam = 0.9 and 0.1.
    # corner on [0.1, 0.9]: loss = integral of min(lam, 1 - lam) - 0.1 = 0.16
    # left end on [0.9, 1]: integral of (0.1 - (1 - lam)) = 0.005 ; right end likewise
    np.testing.assert_allclose(
        knee_scores([[0, 1], [0.1, 0.1], [1, 0]], "utility"), [0.005, 0.16, 0.005]
    )
    # collinear middle point: no utility lost without it
    np.testing.assert_allclose(
        knee_scores([[0, 1], [0.5, 0.5], [1, 0]], "utility"), [0.125, 0.0, 0.125]
    )
    # point above the convex hull: 0
    assert knee_scores([[0, 1], [0.7, 0.7], [1, 0]], "utility")[1] == 0.0


def numeric_utility(fn: np.ndarray, samples: int = 200_001) -> np.ndarray:
    """Oracle: trapezoid over a dense lam grid of (second best - best) credited to the best."""
    lam = np.linspace(0.0, 1.0, samples)
    u = lam[:, None] * fn[None, :, 0] + (1 - lam[:, None]) * fn[None, :, 1]
    order = np.argsort(u, axis=1, kind="stable")
    best = order[:, 0]
    gain = u[np.arange(samples), order[:, 1]] - u[np.arange(samples), best]
    out = np.zeros(fn.shape[0])
    weights = np.full(samples, lam[1] - lam[0])
    weights[[0, -1]] /= 2
    np.add.at(out, best, gain * weights)
    return out


def test_utility_matches_numeric_integration():
    rng = np.random.default_rng(11)
    for _ in range(15):
        n = int(rng.integers(3, 12))
        t = np.sort(rng.random(n))
        f2 = (1 - t ** rng.uniform(0.3, 1.0)) ** rng.uniform(1.0, 3.0)  # convex-ish with noise
        pts = np.c_[t, f2 + 0.02 * rng.random(n)]
        idx = front_indices(pts)
        fr = pts[idx]
        fn = (fr - fr.min(axis=0)) / (fr.max(axis=0) - fr.min(axis=0))
        np.testing.assert_allclose(knee_scores(pts, "utility"), numeric_utility(fn), atol=2e-6)


def kneedle_front() -> np.ndarray:
    """Front whose normalized difference curve is d = [0, .3, .25, .3, .2, .1, 0] at x = k/6."""
    x = np.arange(7) / 6
    d = np.array([0, 0.3, 0.25, 0.3, 0.2, 0.1, 0])
    return np.c_[x, 1 - x - d]


def test_kneedle_threshold_by_hand():
    pts = kneedle_front()
    np.testing.assert_allclose(
        knee_scores(pts, "kneedle"), [0, 0.3, 0.25, 0.3, 0.2, 0.1, 0], atol=1e-12
    )
    # S = 1: threshold = 0.3 - 1/6 = 0.133. After the local max at 1 the curve only dips to
    # 0.25 before the next local max (3): not a knee. After 3 it drops to 0.1: a knee.
    ranked = rank_knees(pts, "kneedle", sensitivity=1.0)
    assert ranked[0] == 3 and ranked[1] == 1
    # S = 0.2: threshold = 0.3 - 0.033 = 0.267 and 0.25 is below it: both are knees
    assert set(rank_knees(pts, "kneedle", sensitivity=0.2)[:2]) == {1, 3}
    # S = 10: no knee passes; the ranking falls back to the difference value
    ranked = rank_knees(pts, "kneedle", sensitivity=10.0)
    assert set(ranked[:2]) == {1, 3} and ranked[2] == 2
    # distance ranks the same values without the threshold (1 and 3 equal up to rounding)
    ranked = rank_knees(pts, "distance")
    assert set(ranked[:2]) == {1, 3} and ranked[2] == 2


def test_ties_are_broken_by_f1():
    # exactly equal distance scores on a front symmetric by construction
    pts = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
    assert rank_knees(pts, "distance").tolist() == [1, 2, 0, 3]
    assert rank_knees(pts[::-1], "distance").tolist() == [2, 1, 3, 0]


def test_tradeoff_by_hand():
    pts = np.array([[0.0, 1.0], [0.1, 0.7], [0.2, 0.5], [0.3, 0.4], [0.6, 0.2], [1.0, 0.0]])
    w = np.array([0.0, 0.01, 0.02, 0.03, 0.5, 1.0])
    # logits: -, -4.595, -3.892, -3.476, 0, - ; jumps after 1, 2, 3: 0.7033, 0.4157, 3.4761
    scores = knee_scores(pts, "tradeoff", weights=w)
    assert scores[0] == -np.inf and scores[4] == -np.inf and scores[5] == -np.inf

    def logit(v):
        return np.log(v / (1 - v))

    expected = [logit(0.02) - logit(0.01), logit(0.03) - logit(0.02), logit(0.5) - logit(0.03)]
    np.testing.assert_allclose(scores[1:4], expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [0.7033, 0.4157, 3.4761], atol=1e-4)
    assert rank_knees(pts, "tradeoff", weights=w)[0] == 3  # just before the largest jump
    # scrambled input: weights follow their rows
    perm = np.array([5, 3, 0, 4, 2, 1])
    assert perm[rank_knees(pts[perm], "tradeoff", weights=w[perm])[0]] == 3


def test_tradeoff_is_scale_free():
    pts = np.array([[0.0, 1.0], [0.2, 0.5], [0.4, 0.3], [1.0, 0.0]])
    r = np.array([0.5, 1.0, 8.0, 9.0])  # ratios; multiplying all by 3 must not change the jumps
    w1 = r / (1 + r)
    w2 = 3 * r / (1 + 3 * r)
    np.testing.assert_allclose(
        knee_scores(pts, "tradeoff", weights=w1), knee_scores(pts, "tradeoff", weights=w2)
    )


@pytest.mark.parametrize(
    ("method", "pts", "message"),
    [
        ("kneedle", [[0, 1], [1, 0]], "kneedle needs at least 3 front points, got 2"),
        ("angle", [[0, 1], [1, 0], [2, 2]], "angle needs at least 3 front points, got 2"),
        ("utility", [[0, 1]], "utility needs at least 2 front points, got 1"),
        ("distance", [], "distance needs at least 1 front points, got 0"),
        ("nope", [[0, 1]], "unknown knee method 'nope'"),
    ],
)
def test_too_few_points_and_unknown_method(method, pts, message):
    with pytest.raises(InputError, match=message):
        knee_scores(pts, method)


def test_tradeoff_errors():
    pts = [[0, 1], [0.5, 0.5], [1, 0]]
    with pytest.raises(InputError, match="needs the weights"):
        knee_scores(pts, "tradeoff")
    with pytest.raises(InputError, match="NaN or inf at row 1"):
        knee_scores(pts, "tradeoff", weights=[0.1, np.nan, 0.9])
    with pytest.raises(InputError, match="one value per point"):
        knee_scores(pts, "tradeoff", weights=[0.1, 0.9])
    with pytest.raises(InputError, match=r"in \[0, 1\]"):
        knee_scores(pts, "tradeoff", weights=[0.1, 0.5, 1.5])
    with pytest.raises(InputError, match="strictly between 0 and 1"):
        knee_scores(pts, "tradeoff", weights=[0.0, 0.5, 1.0])


def test_bad_options():
    with pytest.raises(InputError, match="sensitivity"):
        knee_scores(kneedle_front(), "kneedle", sensitivity=-1)
    with pytest.raises(InputError, match="unknown option"):
        rank_knees(kneedle_front(), "distance", samples=3)
    with pytest.raises(InputError, match="NaN or inf"):
        knee_scores([[0, 1], [np.nan, 0]], "distance")
