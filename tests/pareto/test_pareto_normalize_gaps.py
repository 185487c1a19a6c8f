"""Normalization and gaps."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paretoprune.errors import InputError
from paretoprune.pareto import Gap, Normalization, gaps


def test_from_points_uses_column_extremes():
    norm = Normalization.from_points([[2.0, 10.0], [4.0, 30.0], [3.0, 20.0]])
    assert norm.ideal == (2.0, 10.0) and norm.nadir == (4.0, 30.0)
    np.testing.assert_allclose(
        norm.apply([[2.0, 10.0], [4.0, 30.0], [3.0, 25.0]]), [[0, 0], [1, 1], [0.5, 0.75]]
    )
    # a single point (shape (2,)) stays a single point
    np.testing.assert_allclose(norm.apply([3.0, 20.0]), [0.5, 0.5])
    assert isinstance(norm.ideal[0], float)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)),
        min_size=1,
        max_size=20,
    )
)
def test_round_trip(rows):
    pts = np.array(rows, dtype=float)
    norm = Normalization.from_points(pts)
    np.testing.assert_allclose(norm.invert(norm.apply(pts)), pts, rtol=1e-12, atol=1e-9)


def test_zero_range_falls_back_to_scale_one():
    norm = Normalization.from_points([[1.0, 5.0], [3.0, 5.0]])
    assert norm.scale == (2.0, 1.0)
    np.testing.assert_allclose(norm.apply([[2.0, 7.0]]), [[0.5, 2.0]])
    np.testing.assert_allclose(norm.invert([[0.5, 2.0]]), [[2.0, 7.0]])


def test_frozen_and_validated():
    norm = Normalization((0.0, 0.0), (1.0, 2.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        norm.ideal = (1.0, 1.0)  # type: ignore[misc]
    with pytest.raises(InputError, match="nadir"):
        Normalization((0.0, 0.0), (-1.0, 2.0))
    with pytest.raises(InputError):
        Normalization((0.0, np.nan), (1.0, 2.0))
    with pytest.raises(InputError, match="at least 1"):
        Normalization.from_points([])


def test_gaps_by_hand():
    # input order scrambled on purpose: indices refer to the input rows
    pts = np.array(
        [
            [1.0, 0.0],  # 0: right end
            [0.0, 4.0],  # 1: left end
            [0.5, 1.0],  # 2
            [0.6, 2.0],  # 3: dominated by 2
            [0.25, 2.0],  # 4
        ]
    )
    found = gaps(pts)
    # front by f1: 1 (0,4), 4 (.25,2), 2 (.5,1), 0 (1,0)
    # boxes: (1,4): .25*2 = .5 ; (4,2): .25*1 = .25 ; (2,0): .5*1 = .5
    assert found == [Gap(1, 4, 0.5), Gap(2, 0, 0.5), Gap(4, 2, 0.25)]


def test_gaps_duplicates_and_degenerate():
    assert gaps([]) == []
    assert gaps([[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]) == []
    # duplicates are represented by their first row
    assert gaps([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]) == [Gap(0, 1, 1.0)]
