"""The rules of a table's rows, in one place: which rows are ok, usable or collapsed, the order
of the roles, and which row is each row's dense reference.

Every reader of a table -- the planner, selection, the tables, the plots and the commands --
asks these functions, so that "usable" means one thing everywhere:

* a row is **ok** when its ``status`` (if the table has one) is ``"ok"``;
* a row is **collapsed** when it has no nonzero prunable weight left (``nnz == 0``) or its
  metric kept less than a quarter of the reference's margin over chance, i.e.
  ``metric < chance + COLLAPSE_SHARE·(reference - chance)`` with ``chance = 1 / num_classes``
  (for MNIST with a 97.5 % reference: below 31.9 %). Collapsed rows stay in tables, marked,
  but join no front, no normalization, no knee and no selection;
* a row is **usable** when it is ok and not collapsed;
* the **roles** of a sweep's rows: ``dense`` (the reference), ``trial`` (exploration),
  ``final`` (a trial's parameter retrained for ``--epochs``) and ``finetuned``; what ships is
  the most finished of a chain: finetuned, then final, then trial (:data:`SHIPPED_FIRST`);
* the **reference row** of a row is the ok ``dense`` row trained as long as it (a sweep with
  ``--trial-epochs`` has a short one for its trials and a full one for the retrains); a row
  with no such dense row, and every non-trial row, takes the longest-trained dense row; a
  table without a dense row (a foreign CSV) has none, and its reference value is the best value
  of the metric.

pandas and numpy only (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "COLLAPSE_SHARE",
    "DENSE",
    "FINAL",
    "FINETUNED",
    "ROLE",
    "SHIPPED_FIRST",
    "TRIAL",
    "collapsed_mask",
    "flag",
    "is_collapsed",
    "number",
    "ok_rows",
    "reference_index",
    "reference_value",
    "reference_values",
    "role_rank",
    "usable_rows",
]

#: Share of the reference's margin over chance below which a network counts as collapsed.
COLLAPSE_SHARE = 0.25
ROLE = "role"
DENSE, TRIAL, FINAL, FINETUNED = "dense", "trial", "final", "finetuned"
#: The roles of a chain, most finished (what ships) first.
SHIPPED_FIRST = (FINETUNED, FINAL, TRIAL)


def number(value) -> float:
    """``value`` as a float; NaN for anything that is not a number, +-inf for an integer too
    large for a float."""
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range
        return math.inf if value > 0 else -math.inf
    except (TypeError, ValueError):
        return math.nan


def flag(value) -> bool:
    """A boolean cell: True, ``"true"``, ``"True"`` (a CSV round trip) are true; anything
    else (False, NaN, None, text) is false."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    return str(value).strip().lower() == "true"


def _flags(column: pd.Series) -> pd.Series:
    # the bool fast path keeps a table of 10^6 rows cheap
    return column if column.dtype == bool else column.astype(str).str.strip().str.lower().eq("true")


def ok_rows(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the ok rows (all rows of a table without ``status``)."""
    if "status" in frame.columns:
        return frame["status"].astype(str).eq("ok")
    return pd.Series(True, index=frame.index)


def usable_rows(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows that may join a front: ok and not marked ``collapsed``."""
    mask = ok_rows(frame)
    if "collapsed" in frame.columns:
        mask &= ~_flags(frame["collapsed"])
    return mask


def role_rank(roles: pd.Series) -> pd.Series:
    """0 for finetuned, 1 for final, 2 for trial, 3 for anything else: sort by it to put what
    ships first."""
    return roles.astype(str).map({r: i for i, r in enumerate(SHIPPED_FIRST)}).fillna(
        len(SHIPPED_FIRST)).astype(int)


# ----------------------------------------------------------------------------------------------
# the reference
# ----------------------------------------------------------------------------------------------


def _dense_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    if ROLE not in frame or metric not in frame:
        return frame.iloc[:0]
    values = pd.to_numeric(frame[metric], errors="coerce")
    return frame[ok_rows(frame) & frame[ROLE].astype(str).eq(DENSE) & values.notna()]


def reference_index(frame: pd.DataFrame, metric: str) -> pd.Series:
    """The index label of each row's reference row (see the module docstring); None where
    there is none."""
    dense = _dense_rows(frame, metric)
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if dense.empty:
        return out
    epochs = pd.to_numeric(dense["epochs"], errors="coerce").fillna(-1) if "epochs" in dense \
        else pd.Series(-1, index=dense.index)
    longest = epochs.idxmax()
    out[:] = longest
    if len(dense) > 1 and "epochs" in frame:
        by_epochs = {e: i for i, e in zip(dense.index, epochs, strict=True)}
        row_epochs = pd.to_numeric(frame["epochs"], errors="coerce")
        # only trials: a retrain or a fine-tuning is judged by the full reference, whatever
        # its own length
        trials = frame[ROLE].astype(str).eq(TRIAL)
        for label in frame.index[trials]:
            found = by_epochs.get(row_epochs[label])
            if found is not None:
                out[label] = found
    return out


def reference_value(frame: pd.DataFrame, metric: str) -> float:
    """The metric of the longest-trained dense reference row, else the best value of the
    metric among the ok rows; NaN when there is none."""
    dense = _dense_rows(frame, metric)
    if len(dense):
        index = reference_index(dense, metric).iloc[0]
        return float(pd.to_numeric(dense[metric], errors="coerce")[index])
    best = pd.to_numeric(frame[metric], errors="coerce")[ok_rows(frame)].max()
    return float(best) if pd.notna(best) else math.nan


def reference_values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """The reference value of every row: its reference row's metric, else
    :func:`reference_value`."""
    out = np.full(len(frame), reference_value(frame, metric), dtype=float)
    refs = reference_index(frame, metric)
    values = pd.to_numeric(frame[metric], errors="coerce") if metric in frame else None
    for pos, label in enumerate(refs):
        if label is not None and values is not None:
            out[pos] = float(values[label])
    return out


# ----------------------------------------------------------------------------------------------
# collapse
# ----------------------------------------------------------------------------------------------


def is_collapsed(row: Mapping, metric: str, reference: float | None) -> bool:
    """Whether one row (a mapping) is collapsed (see the module docstring)."""
    if number(row.get("nnz")) == 0:
        return True
    value = number(row.get(metric))
    classes = number(row.get("num_classes"))
    if math.isnan(value) or not classes > 0:
        return False
    chance = 1.0 / classes
    ref = 1.0 if reference is None or math.isnan(reference) else reference
    return value < chance + COLLAPSE_SHARE * (ref - chance)


def collapsed_mask(frame: pd.DataFrame, metric: str | None = None) -> np.ndarray:
    """:func:`is_collapsed` for every row, vectorized (failed rows are not collapsed: they
    failed). ``metric`` defaults to ``val_acc``, else ``train_acc``."""
    if metric is None:
        metric = next((m for m in ("val_acc", "train_acc") if m in frame.columns), None)
    ok = ok_rows(frame).to_numpy()
    nnz = pd.to_numeric(frame["nnz"], errors="coerce").to_numpy(dtype=float) \
        if "nnz" in frame else np.full(len(frame), np.nan)
    empty = nnz == 0
    if metric is None or metric not in frame or "num_classes" not in frame:
        return ok & empty
    ref = reference_values(frame, metric)
    ref = np.where(np.isnan(ref), 1.0, ref)
    value = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=float)
    classes = pd.to_numeric(frame["num_classes"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        chance = 1.0 / classes
        at_chance = (classes > 0) & (value < chance + COLLAPSE_SHARE * (ref - chance))
    return ok & (empty | (at_chance & ~np.isnan(value)))
