"""Choosing a network: the dense reference, collapsed runs, and the sparsest run within δ.

The question users bring is "how small can this network get while staying within δ of the dense
network's accuracy?". The answer is read here, the same way by every command (the sweep
summary, ``knee --max-drop``, ``check --max-acc-drop``, ``export``):

* the **reference** is the metric of the table's ``role = dense`` row (a run trained without
  pruning; a sweep with ``--trial-epochs`` has one trained as long as its trials and one as
  long as its retrain, and each row is measured against the one trained as long as itself),
  or, in a table without one (a foreign CSV), the best value of the metric;
* a row is **collapsed** when it has no nonzero prunable weight left (``nnz == 0``) or its metric
  kept less than a quarter of the reference's margin over chance, i.e.
  ``metric < chance + COLLAPSE_SHARE·(reference - chance)`` with ``chance = 1 / num_classes``
  (for MNIST with a 97.5 % reference: below 31.9 %). Collapsed rows stay in tables, marked,
  but join no front, no normalization and no knee;
* the **selected** row is the sparsest usable row (fewest nonzero prunable weights, ``nnz``)
  whose metric is at least ``reference - max_drop``; a sweep without ``--max-drop`` selects the
  knee of its front (:func:`select_run`), and its retrain and fine-tuning inherit the mark.

Selection reads validation metrics (``val_acc``) by default; the test set only reports. Without
a validation column (a sweep with ``--val-fraction 0``) it falls back to ``train_acc`` with a
warning, never to the test set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from paretoprune.config import SweepConfig
from paretoprune.errors import InputError
from paretoprune.pareto import pareto_mask
from paretoprune.table_analysis import knee

__all__ = [
    "COLLAPSE_SHARE",
    "SelectionWarning",
    "collapsed_mask",
    "is_collapsed",
    "reference_value",
    "reference_values",
    "select_within",
    "select_run",
    "selection_metric",
    "size_column",
    "sweep_table",
]

#: Share of the reference's margin over chance below which a network counts as collapsed.
COLLAPSE_SHARE = 0.25
ROLE = "role"
DENSE, TRIAL, FINAL, FINETUNED = "dense", "trial", "final", "finetuned"


class SelectionWarning(UserWarning):
    """Selection had to fall back (no validation metric)."""


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def is_collapsed(row: Mapping, metric: str, reference: float | None) -> bool:
    """Whether one row (a mapping) is collapsed (see the module docstring)."""
    if _number(row.get("nnz")) == 0:
        return True
    value = _number(row.get(metric))
    classes = _number(row.get("num_classes"))
    if math.isnan(value) or not classes > 0:
        return False
    chance = 1.0 / classes
    ref = 1.0 if reference is None or math.isnan(reference) else reference
    return value < chance + COLLAPSE_SHARE * (ref - chance)


def selection_metric(frame: pd.DataFrame, metric: str | None = None) -> str:
    """The column selection reads: ``metric`` if given (it must exist and be numeric), else
    ``val_acc`` when it holds values, else ``train_acc`` (with a :class:`SelectionWarning`);
    :class:`InputError` when there is none."""
    if metric is not None:
        if metric not in frame.columns:
            raise InputError(f"unknown column {metric!r} for --metric; the table has: "
                             f"{', '.join(map(str, frame.columns))}")
        values = pd.to_numeric(frame[metric], errors="coerce")
        if values.isna().all() or (values.isna() & frame[metric].notna()).any():
            raise InputError(f"column {metric!r} is not numeric; --metric needs numbers")
        return metric
    for name in ("val_acc", "train_acc"):
        if name in frame.columns and pd.to_numeric(frame[name], errors="coerce").notna().any():
            if name == "train_acc":
                warnings.warn("no validation metric (val_acc): selecting on train_acc; keep a "
                              "validation split (--val-fraction) to select on held-out data",
                              SelectionWarning, stacklevel=2)
            return name
    raise InputError("the table has no val_acc or train_acc column to select on; give --metric")


def _dense_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    ok = frame["status"].astype(str).eq("ok") if "status" in frame else \
        pd.Series(True, index=frame.index)
    values = pd.to_numeric(frame[metric], errors="coerce")
    if ROLE not in frame:
        return frame.iloc[:0]
    return frame[ok & frame[ROLE].astype(str).eq(DENSE) & values.notna()]


def reference_value(frame: pd.DataFrame, metric: str) -> float:
    """The metric of the dense reference row (``role = dense``, status ok; the longest-trained
    one when a sweep has two), else the best value of the metric among the ok rows; NaN when
    there is none."""
    dense = _dense_rows(frame, metric)
    if len(dense):
        if "epochs" in dense:
            dense = dense.iloc[[int(np.argmax(pd.to_numeric(dense["epochs"], errors="coerce")
                                             .fillna(-1).to_numpy()))]]
        return float(pd.to_numeric(dense[metric], errors="coerce").iloc[-1])
    ok = frame["status"].astype(str).eq("ok") if "status" in frame else \
        pd.Series(True, index=frame.index)
    best = pd.to_numeric(frame[metric], errors="coerce")[ok].max()
    return float(best) if pd.notna(best) else math.nan


def reference_values(frame: pd.DataFrame, metric: str) -> np.ndarray:
    """The reference of every row: for a trial, the dense row trained for as many epochs (a
    sweep with ``--trial-epochs`` has a short dense run for its trials and a full one for the
    retrain); for every other row, and without such a dense row, :func:`reference_value`."""
    out = np.full(len(frame), reference_value(frame, metric), dtype=float)
    dense = _dense_rows(frame, metric)
    if len(dense) > 1 and "epochs" in frame:
        by_epochs = dict(zip(pd.to_numeric(dense["epochs"], errors="coerce"),
                             pd.to_numeric(dense[metric], errors="coerce"), strict=True))
        epochs = pd.to_numeric(frame["epochs"], errors="coerce").to_numpy()
        # only trials: a retrain or a fine-tuning is judged by the full reference, whatever
        # its own length
        trials = frame[ROLE].astype(str).eq(TRIAL).to_numpy()
        for e, value in by_epochs.items():
            out[trials & (epochs == e)] = value
    return out


def collapsed_mask(frame: pd.DataFrame, metric: str | None = None) -> np.ndarray:
    """:func:`is_collapsed` for every row, vectorized (failed rows are not collapsed: they
    failed)."""
    metric = metric or _quiet_metric(frame)
    ok = frame["status"].astype(str).eq("ok").to_numpy() if "status" in frame else \
        np.ones(len(frame), dtype=bool)
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


def _quiet_metric(frame: pd.DataFrame) -> str | None:
    for name in ("val_acc", "train_acc"):
        if name in frame.columns:
            return name
    return None


def size_column(frame: pd.DataFrame) -> str:
    """The column that measures a network's size in ``frame``: its method's
    (:attr:`paretoprune.methods.Method.size`, ``flops`` for gates) when the table holds one
    known method, else ``nnz`` (nonzero prunable weights)."""
    from paretoprune.methods import METHODS

    methods = frame["method"].dropna().astype(str).unique() if "method" in frame else []
    if len(methods) == 1 and methods[0] in METHODS and METHODS[methods[0]].size in frame:
        return METHODS[methods[0]].size
    return "nnz"


def select_within(frame: pd.DataFrame, max_drop: float, metric: str | None = None, *,
                  sparsity: str | None = None, roles: tuple[str, ...] = ("trial", "final",
                                                                   "finetuned")) -> pd.DataFrame:
    """The rows whose ``metric`` is within ``max_drop`` of the reference, sparsest first
    (fewest ``sparsity`` -- default :func:`size_column`: nonzero weights, or FLOPs for a
    structured method -- then the best metric). Only usable rows (ok, not
    collapsed) of the given roles qualify (rows without a role column all qualify). Adds
    ``reference`` and ``drop`` columns. Empty when none qualifies.

    Raises :class:`InputError` for a ``max_drop`` outside [0, 1], a missing or non-numeric
    metric, or a table without the ``sparsity`` column.
    """
    if not (isinstance(max_drop, (int, float)) and 0.0 <= float(max_drop) <= 1.0):
        raise InputError(f"--max-drop must be a number in [0, 1], got {max_drop!r}")
    metric = selection_metric(frame, metric)
    sparsity = sparsity or size_column(frame)
    if sparsity not in frame.columns:
        raise InputError(f"the table has no {sparsity!r} column (nonzero weights) to find the "
                         "sparsest row")
    ref = pd.Series(reference_values(frame, metric), index=frame.index)
    values = pd.to_numeric(frame[metric], errors="coerce")
    usable = frame["status"].astype(str).eq("ok") if "status" in frame else \
        pd.Series(True, index=frame.index)
    usable &= ~pd.Series(collapsed_mask(frame, metric), index=frame.index)
    if ROLE in frame:
        usable &= frame[ROLE].astype(str).isin(roles)
    chosen = frame[usable & values.notna() & (values >= ref - float(max_drop) - 1e-12)].copy()
    chosen["reference"] = ref[chosen.index]
    chosen["drop"] = chosen["reference"] - pd.to_numeric(chosen[metric], errors="coerce")
    order = pd.to_numeric(chosen[sparsity], errors="coerce")
    chosen = chosen.assign(_key=order, _m=-pd.to_numeric(chosen[metric], errors="coerce"))
    return chosen.sort_values(["_key", "_m"], kind="stable").drop(columns=["_key", "_m"])


# ----------------------------------------------------------------------------------------------
# a sweep's table
# ----------------------------------------------------------------------------------------------


def sweep_table(points: pd.DataFrame, config: SweepConfig) -> pd.DataFrame:
    """The store's rows with the derived columns: ``collapsed`` (recomputed against the dense
    reference), ``drop`` (reference metric minus the row's), ``pareto`` (usable trial rows on
    the front of the method's objectives) and ``selected``."""
    frame = points.copy()
    if frame.empty:
        return frame
    metric = config.selection_metric()
    if metric not in frame:
        frame[metric] = math.nan
    ok = frame["status"].astype(str).eq("ok")
    frame["collapsed"] = collapsed_mask(frame, metric) & ok.to_numpy()
    frame["drop"] = reference_values(frame, metric) - pd.to_numeric(frame[metric],
                                                                    errors="coerce")
    x, y = config.method.objectives
    usable = ok & ~frame["collapsed"] & frame["role"].astype(str).eq(TRIAL)
    pareto = pd.Series(False, index=frame.index)
    if usable.any():
        pareto[usable] = pareto_mask(frame.loc[usable, [x, y]].to_numpy(dtype=float))
    frame["pareto"] = pareto
    selected = select_run(frame, config)
    frame["selected"] = False
    if selected is not None:
        chosen = {selected["run"]}
        for role in (FINAL, FINETUNED):  # its retrain, and the fine-tuning of either
            if "parent" in frame:
                chosen |= set(frame.loc[frame["role"].eq(role) & ok
                                        & frame["parent"].isin(chosen), "run"])
        frame.loc[frame["run"].isin(chosen), "selected"] = True
    return frame


def select_run(frame: pd.DataFrame, config: SweepConfig) -> pd.Series | None:
    """The trial the sweep selects: with ``--max-drop`` the sparsest within it (validation
    metric); else the knee (``--knee``) of the usable trials' front. None when none."""
    trials = frame[frame["role"].astype(str).eq(TRIAL)] if "role" in frame else frame
    if trials.empty:
        return None
    if config.max_drop is not None:
        with_ref = pd.concat([frame[frame["role"].astype(str).eq(DENSE)], trials])
        found = select_within(with_ref, config.max_drop, config.selection_metric(),
                              roles=(TRIAL,))
        return None if found.empty else found.iloc[0]
    collapsed = frame.loc[trials.index, "collapsed"] if "collapsed" in frame else False
    usable = trials[trials["status"].astype(str).eq("ok") & ~collapsed]
    if usable.empty:
        return None
    x, y = config.method.objectives
    try:
        return knee(usable, config.knee, x=x, y=y, weight=config.method.parameter or "weight",
                    top=1).iloc[0]
    except InputError:
        return None
