"""Nondominated filtering and input validation of the Pareto core."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paretoprune.errors import InputError
from paretoprune.pareto import as_point, as_points, front, front_indices, pareto_mask


def brute_mask(pts: np.ndarray) -> np.ndarray:
    """O(n^2) oracle straight from the definition."""
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]):
                keep[i] = False
                break
    return keep


def dominates(q, p) -> bool:
    return bool(np.all(q <= p) and np.any(q < p))


# Small integer grids give many ties and exact duplicates, the cases a sort-based filter gets wrong.
tied_points = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=0, max_size=40
).map(lambda rows: np.array(rows, dtype=float).reshape(-1, 2))
float_points = st.lists(
    st.tuples(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=40,
).map(lambda rows: np.array(rows, dtype=float))


@settings(max_examples=150, deadline=None)
@given(st.one_of(tied_points, float_points))
def test_mask_matches_definition(pts):
    np.testing.assert_array_equal(pareto_mask(pts), brute_mask(pts))


@settings(max_examples=100, deadline=None)
@given(tied_points, st.randoms(use_true_random=False))
def test_mask_invariants(pts, rnd):
    mask = pareto_mask(pts)
    kept, dropped = pts[mask], pts[~mask]
    # idempotent
    assert pareto_mask(kept).all()
    # no kept point is dominated by any point
    for p in kept:
        assert not any(dominates(q, p) for q in pts)
    # every dropped point is dominated by a kept point
    for p in dropped:
        assert any(dominates(q, p) for q in kept)
    # order-independent: permuting the rows permutes the mask
    perm = list(range(len(pts)))
    rnd.shuffle(perm)
    np.testing.assert_array_equal(pareto_mask(pts[perm]), mask[perm])


def test_duplicates_of_a_front_point_are_all_kept():
    pts = np.array([[1, 2], [0, 3], [1, 2], [2, 2], [1, 2], [2, 1]], dtype=float)
    np.testing.assert_array_equal(pareto_mask(pts), [True, True, True, False, True, True])
    # front_indices keeps the first copy only
    np.testing.assert_array_equal(front_indices(pts), [1, 0, 5])
    np.testing.assert_array_equal(front(pts), [[0, 3], [1, 2], [2, 1]])


def test_equal_f1_and_equal_f2_ties():
    # same f1: only the smaller f2 survives; same f2: only the smaller f1
    pts = np.array([[1, 5], [1, 3], [0, 9], [4, 0], [6, 0]], dtype=float)
    np.testing.assert_array_equal(pareto_mask(pts), [False, True, True, True, False])


def test_large_input_with_pivot_prefilter_matches_definition():
    rng = np.random.default_rng(7)
    # rounded values: many ties; plus a dense front segment the pivot cannot remove
    cloud = np.round(rng.random((1500, 2)), 2)
    line = np.c_[np.linspace(0, 1, 300), 1 - np.linspace(0, 1, 300)] - 0.2
    pts = np.vstack([cloud, line, line[:50]])
    np.testing.assert_array_equal(pareto_mask(pts), brute_mask(pts))


def test_front_is_sorted_unique_nondominated():
    rng = np.random.default_rng(3)
    pts = rng.integers(0, 20, size=(300, 2)).astype(float)
    f = front(pts)
    assert np.all(np.diff(f[:, 0]) > 0) and np.all(np.diff(f[:, 1]) < 0)
    idx = front_indices(pts)
    np.testing.assert_array_equal(pts[idx], f)
    for i in idx:  # first occurrence
        assert not np.any(np.all(pts[:i] == pts[i], axis=1))


def test_empty_input():
    assert pareto_mask([]).shape == (0,)
    assert pareto_mask(np.empty((0, 2))).dtype == bool
    assert front([]).shape == (0, 2)
    assert front_indices([]).shape == (0,)


def test_input_not_modified_and_lists_accepted():
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [3.0, 3.0]])
    before = pts.copy()
    pareto_mask(pts)
    front(pts)
    np.testing.assert_array_equal(pts, before)
    np.testing.assert_array_equal(pareto_mask(pts.tolist()), [True, True, True, False])


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([[0, 1], [1, 0], [2, 0], [np.nan, 1]], "points contain NaN or inf at row 3"),
        ([[0, 1], [np.inf, 0]], "points contain NaN or inf at row 1"),
        ([[0, 1, 2]], r"shape \(n, 2\), got \(1, 3\)"),
        ([0.0, 1.0], r"a single point is written \[\[f1, f2\]\]"),
        ([[0, 1], [1]], "rows have different lengths"),
        ([["a", "b"]], "must be numeric"),
        ([[1 + 1j, 0]], "complex"),
    ],
)
def test_bad_points_raise_one_line(bad, message):
    with pytest.raises(InputError, match=message) as info:
        pareto_mask(bad)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_as_points_min_points_and_name():
    with pytest.raises(InputError, match="front needs at least 2 points, got 1"):
        as_points([[0, 1]], name="front", min_points=2)
    out = as_points([[1, 2]])
    assert out.dtype == np.float64 and out.shape == (1, 2)
    with pytest.raises(InputError, match="ref"):
        as_point([1, 2, 3], name="ref")
    with pytest.raises(InputError, match="NaN or inf"):
        as_point([1, np.nan])
