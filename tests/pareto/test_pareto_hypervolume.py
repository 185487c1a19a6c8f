"""Exact 2-D hypervolume: against moocore, closed forms, reference-point rules."""

from __future__ import annotations

import moocore
import numpy as np
import pytest

from paretoprune.errors import InputError
from paretoprune.pareto import front, hypervolume, reference_point


def test_matches_moocore_on_1000_random_sets():
    rng = np.random.default_rng(2024)
    for k in range(1000):
        n = int(rng.integers(1, 60))
        if k % 3 == 0:  # ties and duplicates
            pts = rng.integers(0, 8, size=(n, 2)).astype(float)
        elif k % 3 == 1:  # a convex front plus dominated noise
            t = rng.random(n)
            pts = np.c_[t, (1 - np.sqrt(t)) ** 2] + rng.random((n, 2)) * (rng.random((n, 1)) < 0.3)
        else:  # wide dynamic range
            pts = rng.normal(size=(n, 2)) * 10.0 ** rng.integers(-3, 4, size=2)
        ref = pts.max(axis=0) + rng.random(2) + 1e-3
        expected = moocore.hypervolume(pts, ref=ref)
        assert hypervolume(pts, ref) == pytest.approx(expected, rel=1e-12, abs=0)
        # a reference inside the cloud: points beyond it are ignored (strict=False), as moocore does
        inner = np.quantile(pts, 0.7, axis=0)
        expected_inner = moocore.hypervolume(pts, ref=inner)
        got_inner = hypervolume(pts, inner, strict=False)
        assert got_inner == pytest.approx(expected_inner, rel=1e-12, abs=1e-300)


def test_single_point():
    assert hypervolume([[1.0, 2.0]], ref=(4.0, 6.0)) == 3.0 * 4.0


def test_staircase():
    pts = [[0, 3], [1, 2], [2, 1], [3, 0]]
    # boxes to ref (4, 4): widths 4, 3, 2, 1 times height 1 each
    assert hypervolume(pts, ref=(4, 4)) == 4 * 1 + 3 * 1 + 2 * 1 + 1 * 1
    # dominated points and duplicates add nothing
    assert hypervolume([*pts, [3, 3], [1, 2], [2, 2.5]], ref=(4, 4)) == 10.0


@pytest.mark.parametrize("m", [1, 2, 5, 100])
def test_points_on_the_line_f1_plus_f2_equal_1(m):
    k = np.arange(m + 1) / m
    pts = np.c_[k, 1 - k]
    r = 1.5
    # Union of the boxes = r^2 minus the staircase above the line: r^2 - (m + 1) / (2 m).
    assert hypervolume(pts, ref=(r, r)) == pytest.approx(r * r - (m + 1) / (2 * m), rel=1e-13)


def test_default_reference_is_ten_percent_beyond_the_front():
    pts = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 2.0]])  # last one dominated
    np.testing.assert_allclose(reference_point(pts), [1.1, 1.1])
    assert hypervolume(pts) == pytest.approx(hypervolume(pts, (1.1, 1.1)))
    # adding a dominated point does not move the default reference
    assert hypervolume(pts) == hypervolume(front(pts))


def test_default_reference_with_zero_range():
    # a single point: 10% of max(|value|, 1) beyond it
    np.testing.assert_allclose(reference_point([[5.0, -0.5]]), [5.5, -0.4])
    assert hypervolume([[5.0, -0.5]]) == pytest.approx(0.5 * 0.1)


def test_empty_is_zero():
    assert hypervolume([]) == 0.0
    assert hypervolume(np.empty((0, 2)), ref=(1, 1)) == 0.0


def test_strict_reference_error_and_non_strict_ignores():
    pts = [[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]
    with pytest.raises(
        InputError, match=r"reference point \(2, 3\) does not dominate the front: point \(2, 0\)"
    ):
        hypervolume(pts, ref=(2.0, 3.0))
    # a point ON the reference is not strictly better either
    with pytest.raises(InputError, match="does not dominate"):
        hypervolume([[1.0, 1.0]], ref=(1.0, 2.0))
    assert hypervolume(pts, ref=(2.0, 3.0), strict=False) == 2 * 1 + 1 * 1
    assert hypervolume(pts, ref=(-1.0, -1.0), strict=False) == 0.0


@pytest.mark.parametrize("ref", [(1.0,), (1.0, np.nan), "ab", (1.0, 2.0, 3.0)])
def test_bad_reference(ref):
    with pytest.raises(InputError):
        hypervolume([[0.0, 0.0]], ref=ref)


def test_bad_points():
    with pytest.raises(InputError, match="points contain NaN or inf at row 1"):
        hypervolume([[0.0, 1.0], [np.nan, 0.0]], ref=(2, 2))


def test_million_points_match_moocore():
    rng = np.random.default_rng(0)
    pts = rng.random((1_000_000, 2))
    ref = (1.1, 1.1)
    assert hypervolume(pts, ref) == pytest.approx(moocore.hypervolume(pts, ref=ref), rel=1e-12)


def test_a_hypervolume_call_checks_its_input_once(monkeypatch):
    """The core checks at its public entry and trusts the checked array inside (a front of 10^6
    points is converted and scanned for NaN once, not once per helper)."""
    from paretoprune.pareto import validate

    calls = []
    convert = validate._to_float_array
    monkeypatch.setattr(validate, "_to_float_array",
                        lambda values, name: calls.append(name) or convert(values, name))
    points = np.random.default_rng(0).random((50, 2))
    hypervolume(points)
    assert calls == ["points"]
    calls.clear()
    hypervolume(points, ref=(2.0, -1.0), sense=("min", "max"))
    assert calls == ["points", "reference point"]
    calls.clear()
    reference_point(points)
    front(points)
    assert calls == ["points", "points"]
