"""Tables of points: load them from anywhere, mark their front, rank their knees.

This is the pandas layer between the pure Pareto math (:mod:`paretoprune.pareto`, numpy only)
and the commands. A *table of points* is any DataFrame with two numeric objective columns, both
minimized (by default the sweep's ``loss`` and ``l1``). Tables written by a sweep also carry a
``status`` column; rows whose status is not ``"ok"`` (failed runs) never join the front.

Input checking for tables happens here, in one place, so that every command reports bad input the
same way: one line, raised as :class:`~paretoprune.errors.InputError`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from paretoprune.errors import InputError
from paretoprune.pareto import KNEE_METHODS, front_indices, knee_scores, pareto_mask, rank_knees

DEFAULT_X = "loss"
DEFAULT_Y = "l1"
DEFAULT_WEIGHT = "weight"

#: Columns that :func:`knee` adds to the rows it returns.
KNEE_RANK, KNEE_SCORE = "knee_rank", "knee_score"


def load_table(source: str | Path) -> pd.DataFrame:
    """Read a table of points from a CSV, TSV, Parquet, JSON or JSON-lines file, a sweep directory,
    or ``"-"`` (CSV on standard input).

    Raises :class:`InputError` with one line for a missing file, an unreadable file or an empty
    table.
    """
    text = str(source)
    if text == "-":
        data = sys.stdin.read()
        frame = _parse(lambda: pd.read_csv(io.StringIO(data)), "standard input", "CSV")
        return _non_empty(frame, "standard input")
    path = Path(text)
    if path.is_dir():
        from paretoprune.store import SweepStore  # the store layer; imported only when needed

        if not SweepStore.is_sweep_dir(path):
            raise InputError(f"{path} is a directory but not a sweep directory (no sweep.json)")
        return _non_empty(SweepStore.open(path).points(), f"sweep {path}")
    if not path.exists():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = _parse(lambda: pd.read_parquet(path), path, "Parquet")
    elif suffix == ".jsonl":
        frame = _parse(lambda: pd.read_json(path, lines=True), path, "JSON lines")
    elif suffix == ".json":
        frame = _parse(lambda: pd.read_json(path), path, "JSON")
    elif suffix == ".tsv":
        frame = _parse(lambda: pd.read_csv(path, sep="\t"), path, "TSV")
    else:
        frame = _parse(lambda: pd.read_csv(path), path, "CSV")
    return _non_empty(frame, path)


def _parse(read, where, kind: str) -> pd.DataFrame:
    try:
        return read()
    except pd.errors.EmptyDataError:
        raise InputError(f"{where} is empty") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(f"cannot read {where} as {kind}: {first_line}") from None
    except Exception as err:  # pyarrow and friends raise their own types
        raise InputError(f"cannot read {where} as {kind}: {type(err).__name__}: {err}") from None


def _non_empty(frame: pd.DataFrame, where) -> pd.DataFrame:
    if len(frame) == 0:
        raise InputError(f"{where} has no rows")
    return frame.reset_index(drop=True)


def usable_rows(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows that may join a front: all rows, or with a ``status`` column, the
    rows whose status is ``"ok"``."""
    if "status" in frame.columns:
        return frame["status"].astype(str).eq("ok")
    return pd.Series(True, index=frame.index)


def objective_values(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """The given columns of the usable rows as a float array of shape ``(n_usable, len(columns))``.

    Raises :class:`InputError` for an unknown column, a non-numeric value, or NaN/inf in a usable
    row (failed rows of a sweep may hold NaN: they are not usable and are not checked).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        known = ", ".join(map(str, frame.columns))
        raise InputError(f"unknown column {missing[0]!r}; the table has: {known}")
    usable = usable_rows(frame)
    values = []
    for column in columns:
        raw = frame.loc[usable, column]
        numeric = pd.to_numeric(raw, errors="coerce")
        bad = numeric.isna() & raw.notna()
        if bad.any():
            row = bad.idxmax()
            raise InputError(f"column {column!r} has a non-numeric value {raw[row]!r} in row {row}")
        finite = np.isfinite(numeric.to_numpy(dtype=float))
        if not finite.all():
            row = numeric.index[np.argmin(finite)]
            raise InputError(f"column {column!r} has a missing, NaN or infinite value in row {row}")
        values.append(numeric.to_numpy(dtype=float))
    return np.column_stack(values) if values else np.empty((0, 0))


def with_pareto(frame: pd.DataFrame, x: str = DEFAULT_X, y: str = DEFAULT_Y) -> pd.DataFrame:
    """A copy of ``frame`` with a boolean ``pareto`` column: True for the nondominated usable rows
    when both ``x`` and ``y`` are minimized."""
    points = objective_values(frame, [x, y])
    out = frame.copy()
    mask = np.zeros(len(frame), dtype=bool)
    mask[np.flatnonzero(usable_rows(frame).to_numpy())] = pareto_mask(points)
    out["pareto"] = mask
    return out


def knee(
    frame: pd.DataFrame,
    method: str = "distance",
    *,
    x: str = DEFAULT_X,
    y: str = DEFAULT_Y,
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
        The objective columns, both minimized.
    weight:
        The column holding the scalarization weight of each row (used by ``tradeoff`` only).
    top:
        Keep only the ``top`` best-ranked rows (all front rows by default).
    options:
        Passed to the method (for example ``sensitivity`` for ``kneedle``).

    Returns
    -------
    The front rows of ``frame`` (original index kept) with ``knee_rank`` (1 is the knee) and
    ``knee_score`` (higher is more knee-like; its scale depends on the method) added.
    """
    if method not in KNEE_METHODS:
        raise InputError(f"unknown knee method {method!r}; choose from {', '.join(KNEE_METHODS)}")
    usable_index = frame.index[usable_rows(frame).to_numpy()]
    points = objective_values(frame, [x, y])
    if len(points) == 0:
        raise InputError("the table has no usable rows (every run failed?)")
    weights = None
    if method == "tradeoff":
        if weight not in frame.columns:
            raise InputError(f"the tradeoff method needs a {weight!r} column (use --weight-column)")
        weights = objective_values(frame, [weight])[:, 0]
    order = rank_knees(points, method, weights=weights, **options)
    scores = knee_scores(points, method, weights=weights, **options)
    score_of = dict(zip(front_indices(points).tolist(), scores.tolist(), strict=True))
    ranked = frame.loc[usable_index[order]].copy()
    ranked[KNEE_RANK] = np.arange(1, len(order) + 1)
    ranked[KNEE_SCORE] = [score_of[i] for i in order]
    return ranked if top is None else ranked.head(top)
