"""Maximized objectives: every sense-aware function equals its minimization on negated columns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paretoprune.errors import InputError
from paretoprune.pareto import (
    as_sense,
    front,
    front_indices,
    hypervolume,
    knee_scores,
    minimized,
    pareto_mask,
    rank_knees,
    reference_point,
)

points = st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=30).map(
    lambda rows: np.array(rows, dtype=float)
)
SENSES = [("min", "min"), ("min", "max"), ("max", "min"), ("max", "max")]


def negate(pts: np.ndarray, sense) -> np.ndarray:
    signs = np.array([1.0 if s == "min" else -1.0 for s in sense])
    return pts * signs


@settings(max_examples=80, deadline=None)
@given(points, st.sampled_from(SENSES))
def test_mask_and_front_equal_minimization_of_negated_columns(pts, sense):
    np.testing.assert_array_equal(pareto_mask(pts, sense), pareto_mask(negate(pts, sense)))
    np.testing.assert_array_equal(front_indices(pts, sense), front_indices(negate(pts, sense)))
    np.testing.assert_array_equal(front(pts, sense), pts[front_indices(pts, sense)])


@settings(max_examples=80, deadline=None)
@given(points, st.sampled_from(SENSES))
def test_hypervolume_reads_the_reference_in_user_units(pts, sense):
    ref = reference_point(pts, sense)
    flipped = negate(pts, sense)
    np.testing.assert_allclose(negate(ref, sense), reference_point(flipped))
    assert hypervolume(pts, ref, sense=sense) == pytest.approx(hypervolume(flipped, negate(ref, sense)))
    assert hypervolume(pts, sense=sense) == pytest.approx(hypervolume(flipped))


def test_maximized_accuracy_keeps_the_best_models():
    # accuracy (maximized) against parameters (minimized): (0.9, 10) and (0.95, 20) are the front
    zoo = np.array([[0.90, 10.0], [0.95, 20.0], [0.50, 30.0], [0.80, 15.0]])
    assert pareto_mask(zoo, ("max", "min")).tolist() == [True, True, False, False]
    # minimizing both would keep the worst model (0.5) and drop the best (0.95)
    assert pareto_mask(zoo).tolist() == [True, False, True, True]
    # sorted from the best accuracy to the worst
    assert front(zoo, ("max", "min")).tolist() == [[0.95, 20.0], [0.90, 10.0]]
    # reference (0, 40) in user units: areas 0.95 * 20 + 0.90 * 10
    assert hypervolume(zoo, (0.0, 40.0), sense=("max", "min")) == pytest.approx(0.95 * 20 + 0.9 * 10)


def test_reference_on_the_wrong_side_of_a_maximized_objective():
    with pytest.raises(InputError, match=r"reference point \(1, 40\).*point \(0.95, 20\)"):
        hypervolume([[0.95, 20.0]], (1.0, 40.0), sense=("max", "min"))


def test_knees_of_a_maximized_objective():
    # f1 maximized, f2 minimized: the front rises in both; (0.3, 0.5) is dominated by (0.5, 0.2)
    pts = np.array([[0.2, 0.1], [0.5, 0.2], [0.9, 0.8], [1.0, 1.0], [0.3, 0.5]])
    sense = ("max", "min")
    for method in ("distance", "angle", "utility", "kneedle"):
        np.testing.assert_array_equal(rank_knees(pts, method, sense=sense),
                                      rank_knees(negate(pts, sense), method))
        np.testing.assert_allclose(knee_scores(pts, method, sense=sense),
                                   knee_scores(negate(pts, sense), method))


@pytest.mark.parametrize("sense, expected", [(None, ("min", "min")), ("max", ("max", "max")),
                                             (["min", "max"], ("min", "max"))])
def test_as_sense_accepts(sense, expected):
    assert as_sense(sense) == expected


@pytest.mark.parametrize("sense, message", [
    ("maximize", "'min' or 'max'"), (("min",), "a pair"), (("min", "max", "min"), "a pair"),
    (("min", "up"), "'up'"), (3, "a pair"),
])
def test_as_sense_rejects_in_one_line(sense, message):
    with pytest.raises(InputError, match=message) as err:
        pareto_mask([[0.0, 1.0]], sense)
    assert "\n" not in str(err.value)


def test_minimized_does_not_modify_the_input():
    pts = np.array([[1.0, 2.0]])
    assert minimized(pts, ("max", "min")).tolist() == [[-1.0, 2.0]]
    assert pts.tolist() == [[1.0, 2.0]]
    assert minimized(pts) is pts  # already float64: no copy when nothing is maximized
