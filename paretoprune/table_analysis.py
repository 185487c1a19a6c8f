"""Analysis of tables of points: mark their front, rank their knees.

This is the pandas layer between the pure Pareto math (:mod:`paretoprune.pareto`, numpy only)
and the commands. A *table of points* is any DataFrame with two numeric objective columns, each
minimized (the default; by default the sweep's ``loss`` and ``l1``) or maximized (``sense``,
e.g. ``("max", "min")`` for accuracy against size). Tables written by a sweep also carry a
``status`` column; rows whose status is not ``"ok"`` (failed runs) and rows marked
``collapsed`` never join a front.

It also compares tables (:func:`compare_tables`): each table's networks are chosen on validation
accuracy, and their test accuracy is reported at fixed sparsity levels (interpolated in log
nonzero weights) with the hypervolume of their points in one shared normalization.

Input checking for tables happens here, in one place, so that every command reports bad input the
same way: one line, raised as :class:`~paretoprune.errors.InputError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from paretoprune.errors import InputError
from paretoprune.pareto import (
    KNEE_METHODS,
    SENSES,
    Normalization,
    as_sense,
    front_indices,
    hypervolume,
    knee_scores,
    minimized,
    pareto_mask,
    rank_knees,
)
from paretoprune.rows import ROLE, TRIAL, number, usable_rows

DEFAULT_X = "loss"
DEFAULT_Y = "l1"
DEFAULT_WEIGHT = "weight"
#: What :func:`compare_tables` reads: sparsity of the dense (prunable) layers, at these levels.
DEFAULT_SPARSITY = "sparsity_dense"
DEFAULT_LEVELS = (0.9, 0.95, 0.98, 0.99)
#: The column :func:`compare_tables` chooses each table's networks on (validation accuracy).
DEFAULT_SELECT = "val_acc"
#: The smallest share of nonzero weights :func:`log_density` tells apart (a log has no 0).
MIN_DENSITY = 1e-12
#: The reference point of hypervolumes that compare tables, in the shared normalized coordinates.
REFERENCE = (1.1, 1.1)

#: Columns that :func:`knee` adds to the rows it returns.
KNEE_RANK, KNEE_SCORE = "knee_rank", "knee_score"


def numbers(values: pd.Series) -> pd.Series:
    """``values`` as floats; anything that is not a number becomes NaN, a number too large for
    a float (a 401-digit integer) becomes +-inf instead of raising ``OverflowError``."""
    try:
        return pd.to_numeric(values, errors="coerce").astype(float)
    except OverflowError:
        return values.map(number).astype(float)


def objective_values(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The given columns of the usable rows as a float array of shape ``(n_usable, len(columns))``.

    Raises :class:`InputError` for an unknown column, a non-numeric value, or NaN/inf (or a
    number too large for a float) in a usable row (failed rows of a sweep may hold NaN: they are
    not usable and are not checked).
    """
    require_columns(frame, columns)
    usable = usable_rows(frame)
    values = []
    for column in columns:
        raw = frame.loc[usable, column]
        numeric = numbers(raw)
        bad = numeric.isna() & raw.notna()
        if bad.any():
            row = bad.idxmax()
            raise InputError(f"column {column!r} has a non-numeric value {raw[row]!r} in row {row}")
        finite = np.isfinite(numeric.to_numpy(dtype=float))
        if not finite.all():
            row = numeric.index[np.argmin(finite)]
            raise InputError(f"column {column!r} has a missing, NaN, infinite or too large value "
                             f"in row {row}")
        values.append(numeric.to_numpy(dtype=float))
    return np.column_stack(values) if values else np.empty((0, 0))


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str = "") -> None:
    """Raise :class:`InputError` naming the first of ``columns`` that ``frame`` lacks (and the
    columns it has); ``what`` says what the column was for (``"for --color"``)."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        known = ", ".join(map(str, frame.columns))
        where = f" {what}" if what else ""
        raise InputError(f"unknown column {missing[0]!r}{where}; the table has: {known}")


def parse_objective(spec: str) -> tuple[str, str]:
    """An objective as the command line writes it: ``"max:accuracy"`` is ``("accuracy",
    "max")``; ``"min:loss"`` and plain ``"loss"`` are ``("loss", "min")``.

    Only the prefixes ``min:`` and ``max:`` (any case) are read; any other name, even one with a
    colon (``nnz:conv``), is a column name.
    """
    text = str(spec)
    head, sep, column = text.partition(":")
    if sep and head.lower() in SENSES:
        if not column:
            raise InputError(f"no column after {head}: in {text!r}; write {head.lower()}:COLUMN")
        return column, head.lower()
    return text, "min"


def with_pareto(frame: pd.DataFrame, x: str = DEFAULT_X, y: str = DEFAULT_Y, *,
                sense=None) -> pd.DataFrame:
    """A copy of ``frame`` with a boolean ``pareto`` column: True for the nondominated usable
    rows. ``sense`` says whether ``x`` and ``y`` are minimized (``None``, the default) or
    maximized, e.g. ``("max", "min")`` (see :func:`paretoprune.pareto.as_sense`)."""
    sense = as_sense(sense)
    points = objective_values(frame, [x, y])
    out = frame.copy()
    mask = np.zeros(len(frame), dtype=bool)
    mask[np.flatnonzero(usable_rows(frame).to_numpy())] = pareto_mask(points, sense)
    out["pareto"] = mask
    return out


def front_rows(frame: pd.DataFrame, x: str = DEFAULT_X, y: str = DEFAULT_Y, *,
               sense=None) -> pd.DataFrame:
    """The nondominated usable rows of ``frame`` (copies of one point all kept), sorted from the
    best ``x`` to the worst (so from the worst ``y`` to the best), with the ``pareto`` column."""
    return best_first(with_pareto(frame, x, y, sense=sense), x, y, sense=sense)


def best_first(marked: pd.DataFrame, x: str, y: str, *, sense=None) -> pd.DataFrame:
    """The rows of ``marked`` (a :func:`with_pareto` result) whose ``pareto`` flag is set,
    sorted from the best ``x`` to the worst, ties by the best ``y``."""
    front = marked[marked["pareto"].to_numpy(dtype=bool)]
    points = minimized(front[[x, y]].to_numpy(dtype=float), sense)
    return front.iloc[np.lexsort((points[:, 1], points[:, 0]))]


def knee(
    frame: pd.DataFrame,
    method: str = "distance",
    *,
    x: str = DEFAULT_X,
    y: str = DEFAULT_Y,
    sense=None,
    weight: str = DEFAULT_WEIGHT,
    top: int | None = None,
    **options,
) -> pd.DataFrame:
    """Rank the front rows of a table of points as knee candidates, best first.

    Parameters
    ----------
    frame:
        A table of points (any DataFrame with the two objective columns).
    method:
        One of :data:`paretoprune.pareto.KNEE_METHODS`: ``distance`` (Das), ``kneedle``
        (Satopaa et al.), ``angle`` and ``utility`` (Branke et al.), or ``tradeoff`` (the original
        authors' largest jump in the weight ratio, which needs the ``weight`` column).
    x, y:
        The objective columns.
    sense:
        Whether each objective is minimized or maximized: ``None`` (both minimized), ``"max"``
        (both maximized), or a pair such as ``("max", "min")`` for accuracy against size.
    weight:
        The column holding the scalarization weight of each row (used by ``tradeoff`` only).
    top:
        Keep only the ``top`` best-ranked rows (all front rows by default).
    options:
        Passed to the method (for example ``sensitivity`` for ``kneedle``).

    Returns
    -------
    The front rows of ``frame`` (original index kept; in a sweep's table only its ``trial``
    rows compete) with ``knee_rank`` (1 is the knee) and
    ``knee_score`` (higher is more knee-like; its scale depends on the method) added.
    """
    if method not in KNEE_METHODS:
        raise InputError(f"unknown knee method {method!r}; choose from {', '.join(KNEE_METHODS)}")
    sense = as_sense(sense)
    if ROLE in frame.columns and frame[ROLE].astype(str).eq(TRIAL).any():
        # a sweep's knee is one of its explored runs, not its dense reference or a retrain
        frame = frame[frame[ROLE].astype(str).eq(TRIAL)]
    usable_index = frame.index[usable_rows(frame).to_numpy()]
    points = objective_values(frame, [x, y])
    if len(points) == 0:
        raise InputError("the table has no usable rows (every run failed?)")
    weights = None
    if method == "tradeoff":
        if weight not in frame.columns:
            raise InputError(f"the tradeoff method needs a {weight!r} column (use --weight-column)")
        weights = objective_values(frame, [weight])[:, 0]
    order = rank_knees(points, method, weights=weights, sense=sense, **options)
    scores = knee_scores(points, method, weights=weights, sense=sense, **options)
    score_of = dict(zip(front_indices(points, sense).tolist(), scores.tolist(), strict=True))
    ranked = frame.loc[usable_index[order]].copy()
    ranked[KNEE_RANK] = np.arange(1, len(order) + 1)
    ranked[KNEE_SCORE] = [score_of[i] for i in order]
    return ranked if top is None else ranked.head(top)


def shared_hypervolumes(point_sets: Sequence, sense=None, reference=REFERENCE
                        ) -> tuple[Normalization | None, list[float]]:
    """The hypervolume of each set of points in one shared normalization, so that they compare.

    Maximized objectives (``sense``) are negated first; the normalization maps the ideal and
    nadir of the union of all sets to 0 and 1, and each hypervolume is taken against
    ``reference`` (``(1.1, 1.1)``) in those coordinates. Returns the normalization (in that
    minimized orientation; None when every set is empty) and one hypervolume per set (0.0 for
    an empty one).
    """
    oriented = [minimized(points, sense) for points in point_sets]
    filled = [points for points in oriented if len(points)]
    if not filled:
        return None, [0.0] * len(oriented)
    norm = Normalization.from_points(np.vstack(filled))
    return norm, [float(hypervolume(norm.apply(p), reference, strict=False)) if len(p) else 0.0
                  for p in oriented]


def table_method(frame: pd.DataFrame) -> str | None:
    """The training method of a table's runs (the ``method`` column of its non-dense rows, else
    the sweep configuration's); None when unknown or mixed."""
    if "method" in frame.columns:
        rows = frame if "role" not in frame.columns else frame[frame["role"].astype(str) != "dense"]
        names = rows["method"].dropna().astype(str).unique()
        if len(names) == 1:
            return str(names[0])
        if len(names) > 1:
            return None
    train = frame.attrs.get("sweep", {}).get("train", {})
    method = train.get("method") if isinstance(train, dict) else None
    return str(method) if method else None


def table_labels(paths: Sequence[str], frames: Sequence[pd.DataFrame]) -> list[str]:
    """A label per table: its method (:func:`table_method`) where that names it alone among the
    tables, else its path."""
    methods = [table_method(f) for f in frames]
    counts = {m: methods.count(m) for m in methods}
    return [m if m and counts[m] == 1 else str(p) for p, m in zip(paths, methods, strict=True)]


def method_of(frame: pd.DataFrame):
    """The :class:`paretoprune.methods.Method` of a table's runs, or None for a foreign table (or
    one whose method this version does not know)."""
    name = table_method(frame)
    if name is None:
        return None
    try:
        from paretoprune.methods import get_method

        return get_method(name)
    except (ImportError, InputError):
        return None


def default_objectives(frame: pd.DataFrame) -> tuple[str, str]:
    """The objective columns of a table: its method's (``loss`` and ``l1`` for the weighted
    sum), else ``loss`` and ``l1``."""
    method = method_of(frame)
    objectives = getattr(method, "objectives", None)
    return tuple(objectives) if objectives else (DEFAULT_X, DEFAULT_Y)


def accuracy_at(frame: pd.DataFrame, levels: Sequence[float], *, metric: str = "test_acc",
                select: str = DEFAULT_SELECT, sparsity: str = DEFAULT_SPARSITY) -> pd.DataFrame:
    """The ``metric`` of a table's validation-chosen networks at fixed sparsity ``levels``.

    The networks are chosen on ``select`` (validation accuracy): they are the front of the
    usable rows in (sparsity, ``select``), both maximized -- never an envelope of ``metric``,
    which would pick each level's best test result and flatter the table. ``metric`` (test
    accuracy) of those networks is then read at each level, interpolated linearly in log
    nonzero weights, i.e. in ``log(1 - sparsity)``: two tables are compared at matched nonzero
    weights, and a factor of two in size counts the same at every level. Outside the chosen
    networks' sparsity range the value is the nearest end's and the row says ``extrapolated``.

    Returns one row per level: ``level``, ``value``, ``extrapolated``. Raises
    :class:`InputError` for a missing or non-numeric column, or a table without usable rows.
    """
    require_columns(frame, [select], "to choose the networks on (--select)")
    usable = usable_rows(frame)
    if not usable.any():
        raise InputError("the table has no usable rows (every run failed or collapsed?)")
    if not numbers(frame.loc[usable, select]).notna().any():
        raise InputError(f"column {select!r} has no values to choose the networks on (a sweep "
                         "without a validation split?); choose another validation column (--select)")
    front = front_rows(frame, sparsity, select, sense=("max", "max"))
    chosen = pd.DataFrame({"x": log_density(front[sparsity].to_numpy(dtype=float)),
                           "value": numbers(front[metric]).to_numpy(dtype=float)})
    # copies of one point on the front (same sparsity and select value) count once, averaged
    chosen = chosen.groupby("x", sort=True)["value"].mean()
    x, value = chosen.index.to_numpy(dtype=float), chosen.to_numpy(dtype=float)
    at = log_density(np.asarray(levels, dtype=float))
    return pd.DataFrame({"level": np.asarray(levels, dtype=float),
                         "value": np.interp(at, x, value),
                         "extrapolated": (at < x[0]) | (at > x[-1])})


def log_density(sparsity: np.ndarray) -> np.ndarray:
    """``log(1 - sparsity)``: the log of the share of nonzero weights, so log nonzero weights
    up to a constant per architecture. A sparsity of 1 (no weight left) maps to
    ``log(1e-12)``, below any real network, instead of ``-inf``."""
    return np.log(np.maximum(1.0 - np.asarray(sparsity, dtype=float), MIN_DENSITY))


def compare_tables(tables: Mapping[str, pd.DataFrame], levels: Sequence[float] = DEFAULT_LEVELS,
                   *, metric: str = "test_acc", select: str = DEFAULT_SELECT,
                   sparsity: str = DEFAULT_SPARSITY, size: str = "nnz") -> pd.DataFrame:
    """One row per table, each table's networks chosen on ``select`` (validation), ``metric``
    (test) reported for them only.

    Columns: ``metric`` at each sparsity level (:func:`accuracy_at`, columns
    ``<metric>@<level>``, and ``extrapolated``, the levels read outside the chosen networks'
    range); the hypervolume of those networks' (``size``, ``metric``) points (``metric``
    maximized, ``size`` minimized) in one normalization shared by every table that has
    ``size``; ``chosen``, how many networks the validation front holds; the rows and usable
    rows; and the total ``wall_time`` (failed runs cost time too). A table without a usable row
    gets NaN values and a hypervolume of 0."""
    out = []
    decision_points = {}
    for label, frame in tables.items():
        usable = int(usable_rows(frame).sum())
        if usable:
            at = accuracy_at(frame, levels, metric=metric, select=select, sparsity=sparsity)
        else:  # every run failed or collapsed: nothing to read, said by usable = 0
            require_columns(frame, [metric, select, sparsity])
            at = pd.DataFrame({"level": list(levels), "value": math.nan, "extrapolated": False})
        row = {"table": label, "method": table_method(frame), "rows": len(frame),
               "usable": usable}
        row.update({level_column(metric, lv): v for lv, v in zip(at["level"], at["value"],
                                                                   strict=True)})
        row["extrapolated"] = ",".join(f"{lv:g}" for lv in at.loc[at["extrapolated"], "level"])
        row["wall_time"] = (float(numbers(frame["wall_time"]).sum())
                            if "wall_time" in frame.columns else math.nan)
        chosen = (front_rows(frame, sparsity, select, sense=("max", "max")) if usable
                  else frame.iloc[:0])
        row["chosen"] = len(chosen)
        if size in frame.columns:
            decision_points[label] = objective_values(chosen, [size, metric])
        out.append(row)
    _, hvs = shared_hypervolumes(list(decision_points.values()), sense=("min", "max"))
    hv_of = dict(zip(decision_points, hvs, strict=True))
    for row in out:
        row["hypervolume"] = hv_of.get(row["table"], math.nan)
    return pd.DataFrame(out)


def level_column(metric: str, level: float) -> str:
    """The column name of ``metric`` at a sparsity level, e.g. ``test_acc@0.95``."""
    return f"{metric}@{level:g}"
