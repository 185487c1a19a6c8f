"""Choosing a network: the paired drop against the dense reference, its bound, certification,
and the network a sweep hands over.

The question users bring is "how small can this network get while staying within δ of the
dense network's accuracy?". The answer is read here, the same way by every command (the sweep
summary, ``knee --max-drop``, ``check --max-acc-drop``, ``export``, ``plot``). The row rules
(ok, usable, collapsed, roles, each row's reference row) are :mod:`paretoprune.rows`.

* **drop** (every row): its reference row's metric minus its own (``val_acc`` by default);
  **test_drop** the same on ``test_acc`` (reported only);
* **drop_upper** and **test_drop_upper**: the one-sided upper confidence bounds of those drops
  at ``--confidence C`` (default 0.95), from the stored per-example predictions of the row and
  its reference row (:func:`paretoprune.stats.upper_bound`); NaN without predictions;
* **certified** (with a maximum drop D): the trials are tested in a fixed order, dense to
  sparse (most nonzero weights first: an order that reads no validation label), each at level
  ``1 - C``, stopping at the first whose ``drop_upper`` exceeds D (fixed-sequence testing: no
  multiplicity correction is needed, :mod:`paretoprune.stats`). A retrain (``final``,
  ``finetuned``) is tested on its own against the dense reference trained as long as it, at
  ``1 - (1 - C) / RETRAIN_ATTEMPTS`` (Bonferroni over the retrains a sweep may make, so that
  what ships is wrong with probability at most ``1 - C``);
* the **answer** for D: the sparsest certified row that ships (a retrain, or a trial trained as
  long as the full reference) -- fewest nonzero weights (:func:`size_column`), then the most
  finished role, then the best metric;
* **the point rule** (``--confidence 0``, or a table without predictions such as a foreign
  CSV): "within D" means ``drop <= D``, labelled so; it misses about half the time at the
  boundary.

Selection reads validation metrics (``val_acc``) by default; the test set only reports. Without
a validation column (a sweep with ``--val-fraction 0``) it falls back to ``train_acc`` with a
warning, never to the test set.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from paretoprune.config import SweepConfig
from paretoprune.errors import CheckFailed, InputError
from paretoprune.pareto import pareto_mask
from paretoprune.points import knee
from paretoprune.rows import (
    COLLAPSE_SHARE,
    DENSE,
    FINAL,
    FINETUNED,
    ROLE,
    TRIAL,
    collapsed_mask,
    flag,
    is_collapsed,
    ok_rows,
    reference_index,
    reference_value,
    reference_values,
    role_rank,
    usable_rows,
)

__all__ = [
    "COLLAPSE_SHARE",
    "DEFAULT_CONFIDENCE",
    "RETRAIN_ATTEMPTS",
    "SelectionWarning",
    "certify",
    "chosen_row",
    "collapsed_mask",
    "is_collapsed",
    "paired_columns",
    "reference_value",
    "reference_values",
    "rule_label",
    "select_run",
    "select_within",
    "selection_metric",
    "size_column",
    "sweep_table",
]

DEFAULT_CONFIDENCE = 0.95
#: Retrains (final runs) a sweep may make for one answer: the first at the selected parameter,
#: then at the next denser certified one when it fails. Each is tested at (1 - C) / this.
RETRAIN_ATTEMPTS = 2
#: The columns :func:`paired_columns` adds.
PAIRED_COLUMNS = ("drop", "drop_upper", "test_drop", "test_drop_upper")
#: Predictions of a run by its id (None when it has none): what a sweep directory stores.
Predictions = Callable[[int], "dict | None"]


class SelectionWarning(UserWarning):
    """Selection had to fall back (no validation metric)."""


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


def size_column(frame: pd.DataFrame) -> str:
    """The column that measures a network's size in ``frame``: its method's
    (:attr:`paretoprune.methods.Method.size`, ``flops`` for gates) when the table holds one
    known method, else ``nnz`` (nonzero prunable weights)."""
    from paretoprune.methods import METHODS

    methods = frame["method"].dropna().astype(str).unique() if "method" in frame else []
    if len(methods) == 1 and methods[0] in METHODS and METHODS[methods[0]].size in frame:
        return METHODS[methods[0]].size
    return "nnz"



# ----------------------------------------------------------------------------------------------
# the paired drop and its bound
# ----------------------------------------------------------------------------------------------


def _level(role: str, confidence: float) -> float:
    """The confidence a row of ``role`` is tested at (see the module docstring)."""
    if confidence > 0 and role in (FINAL, FINETUNED):
        return 1.0 - (1.0 - confidence) / RETRAIN_ATTEMPTS
    return confidence


def paired_columns(frame: pd.DataFrame, metric: str, confidence: float,
                   predictions: Predictions | None = None) -> pd.DataFrame:
    """``frame`` with ``drop``, ``drop_upper``, ``test_drop``, ``test_drop_upper`` (see the
    module docstring). The bounds need ``predictions`` (a run id -> its stored predictions) and
    the metric ``val_acc``; they are NaN for the reference rows themselves, for failed rows and
    for rows without predictions. :class:`InputError` when a run's predictions disagree with
    its reference's examples (another length or other labels)."""
    from paretoprune.stats import paired_drop

    out = frame.copy()
    refs = reference_index(out, metric)
    out["drop"] = reference_values(out, metric) - pd.to_numeric(out[metric], errors="coerce")
    if "test_acc" in out:
        out["test_drop"] = reference_values(out, "test_acc") - pd.to_numeric(out["test_acc"],
                                                                              errors="coerce")
    else:
        out["test_drop"] = math.nan
    out["drop_upper"] = math.nan
    out["test_drop_upper"] = math.nan
    if predictions is None or "run" not in out:
        return out
    cache: dict[int, dict | None] = {}

    def of(run: int):
        if run not in cache:
            cache[run] = predictions(run)
        return cache[run]

    ok = ok_rows(out)
    roles = out[ROLE].astype(str) if ROLE in out else pd.Series(TRIAL, index=out.index)
    for label in out.index[ok]:
        ref_label = refs[label]
        if ref_label is None or ref_label == label or roles[label] == DENSE:
            continue
        run, ref_run = int(out.at[label, "run"]), int(out.at[ref_label, "run"])
        mine, theirs = of(run), of(ref_run)
        if mine is None or theirs is None:
            continue
        level = _level(roles[label], confidence)
        for split, column, used in (("val", "drop_upper", metric == "val_acc"),
                                    ("test", "test_drop_upper", True)):
            if not used or split not in mine or split not in theirs:
                continue
            labels, other = mine[f"{split}_labels"], theirs[f"{split}_labels"]
            if len(mine[split]) != len(labels) or len(labels) != len(other) or \
                    not np.array_equal(labels, other):
                raise InputError(
                    f"the {split} predictions of run {run} ({len(mine[split])} for "
                    f"{len(labels)} examples) do not match those of its reference run {ref_run} "
                    f"({len(other)} examples): not the same {split} split")
            out.at[label, column] = paired_drop(theirs[split], mine[split], labels, level).upper
    return out


# ----------------------------------------------------------------------------------------------
# certification and the answer
# ----------------------------------------------------------------------------------------------


def _uses_bounds(frame: pd.DataFrame, candidates: pd.Series, confidence: float) -> bool:
    """Whether certification reads bounds (else the point rule): confidence above 0 and a
    ``drop_upper`` for the usable candidate rows."""
    if confidence <= 0 or "drop_upper" not in frame:
        return False
    upper = pd.to_numeric(frame.loc[candidates, "drop_upper"], errors="coerce")
    return bool(candidates.any() and upper.notna().any())


def rule_label(frame: pd.DataFrame, confidence: float) -> str:
    """How "within D" is read for this table: ``certified at 95 %`` or the point rule and why."""
    if confidence <= 0:
        return "point rule (--confidence 0)"
    if "drop_upper" not in frame or pd.to_numeric(frame["drop_upper"],
                                                  errors="coerce").notna().sum() == 0:
        return "point rule (no per-example predictions to bound the drop)"
    return f"certified at {confidence:.0%}"


def _shippable(frame: pd.DataFrame, metric: str) -> pd.Series:
    """Rows that can be handed over: retrains, and trials whose reference is the
    longest-trained dense run (trained as long as what ships)."""
    roles = frame[ROLE].astype(str) if ROLE in frame else pd.Series(TRIAL, index=frame.index)
    refs = reference_index(frame, metric)
    longest = reference_index(frame[roles.eq(DENSE)], metric) if roles.eq(DENSE).any() else None
    full = None if longest is None or longest.empty else longest.iloc[0]
    trial_ok = roles.eq(TRIAL) & (refs.map(lambda r: full is None or r == full))
    return roles.isin((FINAL, FINETUNED)) | trial_ok


def certify(frame: pd.DataFrame, max_drop: float, metric: str, confidence: float, *,
            sparsity: str | None = None) -> pd.Series:
    """Boolean ``certified`` of every row for a maximum drop ``max_drop`` (see the module
    docstring; needs the ``drop`` column and, for bounds, ``drop_upper``)."""
    sparsity = sparsity or size_column(frame)
    roles = frame[ROLE].astype(str) if ROLE in frame else pd.Series(TRIAL, index=frame.index)
    usable = usable_rows(frame) & ~pd.Series(collapsed_mask(frame, metric), index=frame.index)
    candidates = usable & roles.isin((TRIAL, FINAL, FINETUNED))
    out = pd.Series(False, index=frame.index)
    limit = float(max_drop) + 1e-12
    if not _uses_bounds(frame, candidates, confidence):
        drop = pd.to_numeric(frame["drop"], errors="coerce")
        return candidates & (drop <= limit)
    upper = pd.to_numeric(frame["drop_upper"], errors="coerce")
    # trials: fixed sequence, dense to sparse (the order reads no validation label); a
    # collapsed trial is a hypothesis that fails, a failed run is none
    trials = frame[ok_rows(frame) & roles.eq(TRIAL)]
    size = pd.to_numeric(trials[sparsity], errors="coerce").fillna(math.inf)
    order = trials.assign(_size=-size, _run=pd.to_numeric(trials["run"], errors="coerce")
                          if "run" in trials else 0).sort_values(["_size", "_run"]).index
    for label in order:
        if not (candidates[label] and upper[label] <= limit):
            break
        out[label] = True
    retrains = candidates & roles.isin((FINAL, FINETUNED))
    out[retrains] = upper[retrains] <= limit
    return out


def select_within(frame: pd.DataFrame, max_drop: float, metric: str | None = None, *,
                  sparsity: str | None = None, confidence: float | None = None,
                  roles: tuple[str, ...] = (TRIAL, FINAL, FINETUNED),
                  shippable: bool = True) -> pd.DataFrame:
    """The certified rows for ``max_drop`` (:func:`certify`) of the given roles, best answer
    first: fewest ``sparsity`` (default :func:`size_column`: nonzero weights, or FLOPs for a
    structured method), then the most finished role, then the best metric. ``shippable``: only
    rows that can be handed over (not the short trials of a sweep that retrains). ``confidence``
    defaults to the table's (``attrs["confidence"]``, else 0.95); the result's
    ``attrs["rule"]`` says how it was read (:func:`rule_label`). Adds ``reference``. Empty
    when none qualifies.

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
    if confidence is None:
        confidence = float(frame.attrs.get("confidence", DEFAULT_CONFIDENCE))
    table = frame
    if "drop" not in table or metric != frame.attrs.get("metric", "val_acc"):
        table = paired_columns(frame.drop(columns=["drop_upper", "test_drop_upper"],
                                          errors="ignore"), metric, confidence)
    certified = certify(table, max_drop, metric, confidence, sparsity=sparsity)
    keep = certified
    if ROLE in table:
        keep = keep & table[ROLE].astype(str).isin(roles)
    if shippable:
        keep = keep & _shippable(table, metric)
    chosen = table[keep].copy()
    chosen["reference"] = pd.Series(reference_values(table, metric), index=table.index)[keep]
    chosen["certified"] = True
    chosen = chosen.assign(
        _key=pd.to_numeric(chosen[sparsity], errors="coerce"),
        _role=role_rank(chosen[ROLE]) if ROLE in chosen else 0,
        _m=-pd.to_numeric(chosen[metric], errors="coerce"))
    chosen = chosen.sort_values(["_key", "_role", "_m"], kind="stable").drop(
        columns=["_key", "_role", "_m"])
    chosen.attrs["rule"] = rule_label(table, confidence)
    chosen.attrs["confidence"] = confidence
    return chosen


# ----------------------------------------------------------------------------------------------
# a sweep's table
# ----------------------------------------------------------------------------------------------


def sweep_table(points: pd.DataFrame, config: SweepConfig,
                predictions: Predictions | None = None) -> pd.DataFrame:
    """The store's rows with the derived columns: ``collapsed`` (recomputed against the dense
    reference), ``drop``, ``drop_upper``, ``test_drop``, ``test_drop_upper`` (the bounds from
    ``predictions``, a run id -> its stored predictions), ``certified`` (for the sweep's
    ``--max-drop``; False without one), ``pareto`` (usable trial rows on the front of the
    method's objectives) and ``selected`` (the chain of the answer: its trial, retrain and
    fine-tuning). ``attrs``: ``metric``, ``confidence``, ``rule``."""
    frame = points.copy()
    if frame.empty:
        return frame
    metric = config.selection_metric()
    if metric not in frame:
        frame[metric] = math.nan
    ok = ok_rows(frame)
    frame["collapsed"] = collapsed_mask(frame, metric) & ok.to_numpy()
    frame = paired_columns(frame, metric, config.confidence, predictions)
    frame["certified"] = False
    if config.max_drop is not None:
        frame["certified"] = certify(frame, config.max_drop, metric, config.confidence)
    x, y = config.method.objectives
    usable = ok & ~frame["collapsed"] & frame["role"].astype(str).eq(TRIAL)
    pareto = pd.Series(False, index=frame.index)
    if usable.any():
        pareto[usable] = pareto_mask(frame.loc[usable, [x, y]].to_numpy(dtype=float))
    frame["pareto"] = pareto
    frame.attrs.update(metric=metric, confidence=config.confidence,
                       rule=rule_label(frame, config.confidence))
    frame["selected"] = False
    selected = select_run(frame, config)
    if selected is not None:
        chain = {selected["run"]}
        if "parent" in frame:
            parent = pd.to_numeric(pd.Series([selected.get("parent")]), errors="coerce").iloc[0]
            if pd.notna(parent):
                chain.add(int(parent))
            for role in (FINAL, FINETUNED):  # its retrain, and the fine-tuning of either
                if selected.get(ROLE) == TRIAL or role == FINETUNED:
                    chain |= set(frame.loc[frame["role"].eq(role) & ok
                                           & frame["parent"].isin(chain), "run"])
        frame.loc[frame["run"].isin(chain), "selected"] = True
    return frame


def select_run(frame: pd.DataFrame, config: SweepConfig) -> pd.Series | None:
    """The row the sweep selects. With ``--max-drop``: the answer (the sparsest certified row
    that ships), else -- while the sweep has not retrained it yet -- the sparsest certified
    trial. Without: the knee (``--knee``) of the usable trials' front. None when none."""
    trials = frame[frame["role"].astype(str).eq(TRIAL)] if "role" in frame else frame
    if trials.empty:
        return None
    metric = config.selection_metric()
    if config.max_drop is not None:
        found = select_within(frame, config.max_drop, metric, confidence=config.confidence)
        if found.empty:
            found = select_within(frame, config.max_drop, metric, confidence=config.confidence,
                                  roles=(TRIAL,), shippable=False)
        return None if found.empty else found.iloc[0]
    usable = trials[usable_rows(trials)]
    if usable.empty:
        return None
    x, y = config.method.objectives
    try:
        return knee(usable, config.knee, x=x, y=y, weight=config.method.parameter or "weight",
                    top=1).iloc[0]
    except InputError:
        return None


def shipped_row(frame: pd.DataFrame) -> pd.Series | None:
    """The network a sweep hands over: of its ``selected`` chain, the most finished ok row."""
    if "selected" not in frame:
        return None
    chosen = frame[frame["selected"].map(flag) & ok_rows(frame)]
    if chosen.empty:
        return None
    return chosen.assign(_r=role_rank(chosen[ROLE])).sort_values("_r").drop(columns="_r").iloc[0]


def chosen_row(frame: pd.DataFrame, config: SweepConfig, *, run: int | None = None,
               knee_method: str | None = None, max_drop: float | None = None,
               metric: str | None = None, where: str = "the sweep") -> pd.Series:
    """The row a command acts on: ``run``; else the answer for ``max_drop``
    (:func:`select_within`); else the knee by ``knee_method``; else the network the sweep hands
    over (:func:`shipped_row`). :class:`CheckFailed` when there is none."""
    if run is not None:
        rows = frame[frame["run"] == run]
        if rows.empty:
            raise InputError(f"{where} has no run {run}; runs are "
                             f"{frame['run'].min()}..{frame['run'].max()}")
        return rows.iloc[0]
    if max_drop is not None:
        found = select_within(frame, max_drop, metric)
        if found.empty:
            raise CheckFailed(f"no run of {where} is within {max_drop:g} of the reference "
                              f"({found.attrs.get('rule')}){_best_point_candidate(frame, max_drop, metric)}")
        return found.iloc[0]
    if knee_method is not None:
        usable = frame[usable_rows(frame) & frame["role"].astype(str).eq(TRIAL)]
        x, y = config.method.objectives
        return knee(usable, knee_method, x=x, y=y, weight=config.method.parameter, top=1).iloc[0]
    row = shipped_row(frame)
    if row is None:
        raise CheckFailed(f"{where} has no selected network (no usable run"
                          + (f" certified within {config.max_drop:g}"
                             if config.max_drop is not None else "") + ")")
    return row


def _best_point_candidate(frame: pd.DataFrame, max_drop: float, metric: str | None) -> str:
    """'; the point rule would take run N (...)' -- said when nothing is certified."""
    found = select_within(frame, max_drop, metric, confidence=0.0)
    if found.empty or frame.attrs.get("confidence", DEFAULT_CONFIDENCE) <= 0:
        return ""
    row = found.iloc[0]
    upper = row.get("drop_upper")
    bound = f", bound {float(upper):.4f}" if upper is not None and pd.notna(upper) else ""
    return (f"; the best point-rule candidate is run {int(row['run'])} (drop "
            f"{float(row['drop']):.4f}{bound}), not certified")
