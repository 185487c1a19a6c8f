"""Next-weight rules and the gap-closing test, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from paretoprune.errors import InputError
from paretoprune.pareto import (
    RULES,
    grid_order,
    grid_weights,
    improves,
    midpoint_weight,
    next_weight,
    normal_weight,
)


def test_rules():
    assert RULES == ("normal", "midpoint", "grid", "random")


def test_normal_weight_by_hand():
    # a = (1, 5), b = (3, 1): d1 = 2, d2 = 4 -> w = 2 / 6
    assert normal_weight((1.0, 5.0), (3.0, 1.0)) == pytest.approx(1 / 3)
    # symmetric in a and b
    assert normal_weight((3.0, 1.0), (1.0, 5.0)) == pytest.approx(1 / 3)
    # the level line of (1 - w) f1 + w f2 is parallel to the segment: a and b tie
    w = normal_weight((1.0, 5.0), (3.0, 1.0))
    assert (1 - w) * 1 + w * 5 == pytest.approx((1 - w) * 3 + w * 1)


def test_normal_weight_uses_raw_scale():
    # the same two points with f2 scaled by 100 give another weight: the rule is scale-dependent
    assert normal_weight((0.0, 100.0), (1.0, 0.0)) == pytest.approx(1 / 101)
    assert normal_weight((0.0, 1.0), (1.0, 0.0)) == pytest.approx(0.5)


def test_normal_weight_on_a_known_front():
    # front f1 = t^2, f2 = (1 - t)^2; minimizing (1 - w) f1 + w f2 gives t = w.
    # For the points of weights 0.2 and 0.6 the normal weight is (0.2 + 0.6) / 2.
    a = (0.2**2, 0.8**2)
    b = (0.6**2, 0.4**2)
    assert normal_weight(a, b) == pytest.approx(0.4)


def test_normal_weight_rejects_non_tradeoff():
    with pytest.raises(InputError, match="mutually nondominated"):
        normal_weight((0.0, 0.0), (1.0, 1.0))
    with pytest.raises(InputError):
        normal_weight((0.0, 1.0), (0.0, 1.0))


def test_midpoint():
    assert midpoint_weight(0.25, 0.5) == 0.375
    assert next_weight("midpoint", (0, 1), (1, 0), 0.5, 0.25) == 0.375


def test_next_weight_normal_inside_and_fallback():
    a, b = (1.0, 5.0), (3.0, 1.0)  # normal weight 1/3
    assert next_weight("normal", a, b, 0.0, 1.0) == pytest.approx(1 / 3)
    # the order of the two weights does not matter
    assert next_weight("normal", a, b, 1.0, 0.0) == pytest.approx(1 / 3)
    # 1/3 is not strictly inside (0.5, 0.9): midpoint
    assert next_weight("normal", a, b, 0.5, 0.9) == pytest.approx(0.7)
    # on the boundary is not strictly inside either
    assert next_weight("normal", a, b, 1 / 3, 0.5) == pytest.approx((1 / 3 + 0.5) / 2)
    # a and b without trade-off (noise): midpoint
    assert next_weight("normal", (0, 0), (1, 1), 0.2, 0.4) == pytest.approx(0.3)


def test_next_weight_random_is_inside_and_reproducible():
    draws = [
        next_weight("random", None, None, 0.2, 0.3, rng=np.random.default_rng(5)) for _ in range(3)
    ]
    assert draws[0] == draws[1] == draws[2]
    rng = np.random.default_rng(1)
    for _ in range(200):
        w = next_weight("random", None, None, 0.3, 0.2, rng=rng)
        assert 0.2 < w < 0.3


def test_next_weight_errors():
    with pytest.raises(InputError, match="unknown rule 'foo'"):
        next_weight("foo", (0, 1), (1, 0), 0, 1)
    with pytest.raises(InputError, match="grid"):
        next_weight("grid", (0, 1), (1, 0), 0, 1)
    with pytest.raises(InputError, match="must differ"):
        next_weight("midpoint", (0, 1), (1, 0), 0.5, 0.5)
    with pytest.raises(InputError, match="finite"):
        next_weight("midpoint", (0, 1), (1, 0), 0.5, math.nan)


def test_grid_weights():
    np.testing.assert_allclose(grid_weights(0.0, 1.0, 5), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(grid_weights(0.2, 0.4, 1), [0.2])
    with pytest.raises(InputError):
        grid_weights(0.0, 1.0, 0)
    with pytest.raises(InputError):
        grid_weights(1.0, 0.0, 3)


def test_grid_order_by_hand():
    assert grid_order(0) == []
    assert grid_order(1) == [0]
    assert grid_order(2) == [0, 1]
    assert grid_order(3) == [0, 2, 1]
    assert grid_order(5) == [0, 4, 2, 1, 3]
    # n = 8: [0, 7], middle 3 ; intervals (0,3) len 3, (3,7) len 4 -> 5 ; then (0,3) -> 1 ;
    # then (3,5), (5,7), (1,3) all len 2, leftmost first -> 2, 4, 6
    assert grid_order(8) == [0, 7, 3, 5, 1, 2, 4, 6]


@pytest.mark.parametrize("n", range(0, 40))
def test_grid_order_is_a_permutation_and_spread(n):
    order = grid_order(n)
    assert sorted(order) == list(range(n))
    # every prefix of length k >= 2 leaves no hole wider than twice the even spacing
    for k in range(2, n + 1):
        chosen = sorted(order[:k])
        widest = max(np.diff(chosen))
        assert widest <= 2 * math.ceil((n - 1) / (k - 1))


def test_improves_by_hand():
    a, b = (0.0, 1.0), (1.0, 0.0)  # line f1 + f2 = 1
    # (0.25, 0.25): distance below = (1 - 0.5) / sqrt(2) = 0.3536
    assert improves(a, b, (0.25, 0.25), tol=0.35)
    assert not improves(a, b, (0.25, 0.25), tol=0.36)
    # on the segment, or above it: no
    assert not improves(a, b, (0.5, 0.5), tol=0.0)
    assert not improves(a, b, (0.6, 0.6), tol=0.0)
    # below by 0.01 * sqrt(2) / 2 = 0.00707 with tol 1e-3: yes; with tol 0.01: no
    assert improves(a, b, (0.495, 0.495), tol=1e-3)
    assert not improves(a, b, (0.495, 0.495), tol=0.01)
    # order of a and b does not matter
    assert improves(b, a, (0.25, 0.25), tol=0.1)


def test_improves_rejects_points_dominated_by_an_end():
    a, b = (0.0, 1.0), (1.0, 0.0)
    # A point weakly dominated by a or b is never below the line through them (geometry), so
    # the dominance condition agrees with the distance one; check both on a sample anyway.
    rng = np.random.default_rng(0)
    for end in (a, b):
        for _ in range(100):
            p = np.asarray(end) + rng.random(2) * (rng.random(2) < 0.7)
            assert not improves(a, b, p, tol=0.0)
    assert not improves(a, b, (1.0, -0.0), tol=0.0)  # -0.0 == 0.0: a copy of b
    # below the extended line outside the box, but not dominated: it counts (definition)
    assert improves(a, b, (-0.5, 1.2), tol=0.1)  # (1 - 0.7)/sqrt(2) = 0.21 > 0.1
    # a tilted segment: a = (0, 2), b = (1, 0): line 2 f1 + f2 = 2, unit normal (2, 1)/sqrt(5)
    d = (2 - (2 * 0.5 + 0.5)) / math.sqrt(5)  # point (0.5, 0.5): 0.2236
    assert improves((0, 2), (1, 0), (0.5, 0.5), tol=d - 1e-9)
    assert not improves((0, 2), (1, 0), (0.5, 0.5), tol=d + 1e-9)


def test_improves_errors():
    with pytest.raises(InputError, match="tol"):
        improves((0, 1), (1, 0), (0.2, 0.2), tol=-1)
    with pytest.raises(InputError, match="mutually nondominated"):
        improves((0, 0), (1, 1), (0.2, 0.2), tol=0)
