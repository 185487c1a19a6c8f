"""The Pareto core: filtering, normalization, hypervolume, gaps, next-weight rules, knees.

Two objectives, each minimized (the default) or maximized: functions that filter, measure or
rank take ``sense=("min", "max")`` and the like, checked in one place
(:func:`~paretoprune.pareto.validate.as_sense`), and negate maximized columns before their
minimization algorithms. The sweep's own machinery (normalization, gaps, weight rules) works on
minimized objectives only. Pure numpy; no torch and no pandas, so it is cheap to import
and usable on any table of (f1, f2) values. Bad input raises
:class:`paretoprune.errors.InputError` with one line of explanation.
"""

from paretoprune.pareto.front import front, front_indices, pareto_mask
from paretoprune.pareto.gaps import Gap, gaps
from paretoprune.pareto.hypervolume import hypervolume, reference_point
from paretoprune.pareto.knee import KNEE_METHODS, knee_scores, rank_knees
from paretoprune.pareto.normalize import Normalization
from paretoprune.pareto.validate import SENSES, as_point, as_points, as_sense, minimized
from paretoprune.pareto.weights import (
    RULES,
    grid_order,
    grid_weights,
    improves,
    midpoint_weight,
    next_weight,
    normal_weight,
)

__all__ = [
    "KNEE_METHODS",
    "RULES",
    "SENSES",
    "Gap",
    "Normalization",
    "as_point",
    "as_points",
    "as_sense",
    "front",
    "front_indices",
    "gaps",
    "grid_order",
    "grid_weights",
    "hypervolume",
    "improves",
    "knee_scores",
    "midpoint_weight",
    "minimized",
    "next_weight",
    "normal_weight",
    "pareto_mask",
    "rank_knees",
    "reference_point",
]
