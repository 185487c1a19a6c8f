"""Interactive Plotly figures of fronts: the decision view and the objective view.

As in Optuna's visualization module, a figure is made in two steps: :func:`plot_data` (or its
parts :func:`decision_plot_data` and :func:`front_plot_data`) computes a data object -- which
rows are on a front, which are drawn, the knee, the selected run, the hypervolumes -- and
:func:`plot_figure` only draws it. Tests check the data, not the picture.

Two views:

* the **decision view** (tables of a sweep: with ``nnz`` and an accuracy column): validation and
  test accuracy against the nonzero prunable weights (log x), the front of the selection metric
  as a staircase, the dense reference accuracy as a dashed line with the ``max_drop`` band below
  it, the selected run as a star, and failed or collapsed runs faded (drawn, not on the front);
* the **objective view** (any table): the two objectives the sweep optimizes (``loss`` and
  ``l1`` by default, each minimized or maximized), the front as a staircase, the knee as a star.

Several tables are drawn together to compare fronts. Their hypervolumes are then computed in
one shared normalization (the ideal and nadir of the union of their usable points) with one shared
reference point, ``(1.1, 1.1)`` in that normalization, so the numbers in the legend compare.

Large tables stay usable: at most ``max_points`` (20,000) dominated points per table and view
are drawn, a deterministic random sample (the legend says "N of M dominated points shown"); a
front longer than that is drawn through evenly spaced points of it (its hypervolume is still
that of the whole front); and a trace of more than 1,000 points is drawn with WebGL
(``Scattergl``), Plotly Express's own threshold. The hover box shows at most 10 fields, numbers with 4 significant digits.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from paretoprune.errors import InputError, first_line
from paretoprune.fileio import atomic_write_bytes, atomic_write_text
from paretoprune.pareto import Normalization, as_sense
from paretoprune.rows import flag
from paretoprune.table_analysis import (
    REFERENCE,
    best_first,
    knee,
    method_of,
    numbers,
    objective_values,
    require_columns,
    shared_hypervolumes,
    usable_rows,
    with_pareto,
)

VIEWS = ("decision", "objectives", "both")
#: The accuracy columns the decision view draws, the first with values defining its front.
ACCURACY_COLUMNS = ("val_acc", "test_acc")
#: The x axis of the decision view: nonzero prunable weights.
SIZE = "nnz"
#: At most this many dominated (and, separately, faded) points of a table are drawn per view.
MAX_POINTS = 20_000
#: A trace with more points than this is drawn with WebGL (Plotly Express's threshold).
WEBGL_ABOVE = 1000
#: The hover box: at most this many fields, names and values cut to these lengths, so that a
#: line stays under about 60 characters (about 420 px: well inside a 900-px window).
MAX_HOVER_FIELDS = 10
MAX_HOVER_NAME = 20
MAX_HOVER_VALUE = 36
#: Size of a PNG (``write_png``): width, and height per view.
PNG_WIDTH, PNG_VIEW_HEIGHT = 1000, 520
#: The drop columns of each accuracy column, (drop, its upper confidence bound), as a sweep writes
#: them: drawn as error bars below the points.
BOUNDS = {"val_acc": ("drop", "drop_upper"), "test_acc": ("test_drop", "test_drop_upper")}
#: The column that marks a network certified within the max drop.
CERTIFIED = "certified"
#: The accuracy axis spans the usable runs, widened by this share of their span (at least
#: ``MIN_AXIS_SPAN``: a front of one point still gets an axis).
AXIS_MARGIN, MIN_AXIS_SPAN = 0.08, 0.01
#: Executables :func:`write_png` looks for on PATH (``PARETOPRUNE_CHROMIUM`` overrides).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

_FIRST_HOVER = ("run", "role", "method")
_LATER_HOVER = ("nnz", "sparsity_dense", "sparsity", "val_acc", "test_acc", "drop", "loss", "l1",
                "status", "error", "epochs", "wall_time")
_NOT_HOVERED = ("pareto", "knee_rank", "knee_score")


# ---------------------------------------------------------------------------- the data objects


class _ShownFront:
    """``shown_front``: the front rows drawn (all of them, or ``front_shown``: evenly spaced
    ones of a front too long to draw)."""

    @property
    def shown_front(self) -> pd.DataFrame:
        return self.front if self.front_shown is None else self.front_shown


@dataclass
class FrontTrace(_ShownFront):
    """What the objective view draws for one table: its rows with a ``pareto`` flag, the front
    sorted from the best ``x`` to the worst, the knee row (None if the method could not rank
    one), the normalized hypervolume, the dominated usable rows drawn (a sample of
    ``n_dominated``) and the unusable rows drawn faded (failed, collapsed; a sample of
    ``n_faded``)."""

    name: str
    rows: pd.DataFrame
    front: pd.DataFrame
    knee: pd.Series | None
    hypervolume: float
    dominated: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_dominated: int = 0
    faded: pd.DataFrame = field(default_factory=pd.DataFrame)
    n_faded: int = 0
    front_shown: pd.DataFrame | None = None


@dataclass
class FrontPlotData:
    """Everything the objective view shows. ``normalization`` is that of the shared
    hypervolumes, in the minimized orientation (maximized columns negated). ``x_span`` and
    ``y_span``: the lowest and highest value of the usable points drawn, which set the axes
    (failed and collapsed points outside them are drawn on the edge); None without any."""

    x: str
    y: str
    traces: list[FrontTrace]
    normalization: Normalization | None
    reference: tuple[float, float]
    knee_method: str
    sense: tuple[str, str] = ("min", "min")
    x_span: tuple[float, float] | None = None
    y_span: tuple[float, float] | None = None


@dataclass
class DecisionTrace(_ShownFront):
    """What the decision view draws for one table.

    ``metric`` is the accuracy column whose front (fewest ``nnz``, highest metric) is drawn as
    a staircase, and against which ``reference`` (the dense run's value) and the selection are
    read; ``metrics`` are all the accuracy columns drawn (``metric`` first). ``front`` is sorted
    sparsest first; ``dominated`` and ``faded`` are the drawn samples of ``n_dominated`` usable
    rows off the front and ``n_faded`` failed or collapsed rows that have values to draw.
    ``selected`` holds the selected run(s), possibly none.

    ``bounds`` maps each drawn metric to its pair of drop columns (``drop``, ``drop_upper`` for
    validation; ``test_drop``, ``test_drop_upper`` for test) where the table has both: the
    upper confidence bound of the drop is drawn as an error bar below the point, of length
    ``upper - drop``. ``certified`` holds the rows within ``max_drop`` under the table's rule
    (its ``certified`` column; for another ``max_drop``,
    :func:`paretoprune.selection.select_within` read again), none when the table has no such
    column; ``rule`` says how they were read (``certified at 95 %``, or the point rule and why;
    None when unknown)."""

    name: str
    metric: str
    metrics: tuple[str, ...]
    front: pd.DataFrame
    dominated: pd.DataFrame
    n_dominated: int
    faded: pd.DataFrame
    n_faded: int
    reference: float
    max_drop: float | None
    selected: pd.DataFrame
    hypervolume: float
    front_shown: pd.DataFrame | None = None
    bounds: dict[str, tuple[str, str]] = field(default_factory=dict)
    certified: pd.DataFrame = field(default_factory=pd.DataFrame)
    rule: str | None = None


@dataclass
class DecisionPlotData:
    """Everything the decision view shows. Rows with ``nnz = 0`` (the all-zero network) are
    drawn at ``zero_x``, left of every other point, since a log axis has no 0.

    ``y_range`` is the accuracy axis: it spans the usable runs (their drawn accuracies and the
    lower ends of their error bars), the dense references and the ``max_drop`` bands, with a
    margin -- not the collapsed or failed runs, which are drawn at its edge when they fall
    outside (None when nothing usable is drawn: the axis then fits itself)."""

    traces: list[DecisionTrace]
    normalization: Normalization | None
    reference: tuple[float, float]
    zero_x: float
    y_range: tuple[float, float] | None = None


@dataclass
class PlotData:
    """A whole figure: the view (``decision``, ``objectives`` or ``both``) and its parts."""

    view: str
    decision: DecisionPlotData | None = None
    objectives: FrontPlotData | None = None

    @property
    def names(self) -> list[str]:
        part = self.decision or self.objectives
        return [t.name for t in part.traces] if part else []


# ------------------------------------------------------------------------------ computing them


def is_sweep_table(frame: pd.DataFrame) -> bool:
    """Whether the decision view can draw ``frame``: it has ``nnz`` and an accuracy column
    (``val_acc`` or ``test_acc``) with values."""
    return SIZE in frame.columns and any(_has_values(frame, c) for c in ACCURACY_COLUMNS)


def default_view(tables: Mapping[str, pd.DataFrame]) -> str:
    """``both`` when every table is a sweep's (:func:`is_sweep_table`), else ``objectives``."""
    return "both" if tables and all(map(is_sweep_table, tables.values())) else "objectives"


def decision_metric(frame: pd.DataFrame, metric: str | None = None) -> str:
    """The accuracy column whose front the decision view draws: ``metric`` if given, else
    ``val_acc`` when it has values (selection reads validation), else ``test_acc``."""
    if metric is not None:
        require_columns(frame, [metric], "for --metric")
        return metric
    for name in ACCURACY_COLUMNS:
        if _has_values(frame, name):
            return name
    raise InputError(f"the decision view needs {SIZE!r} and an accuracy column "
                     f"({' or '.join(ACCURACY_COLUMNS)}, or give --metric); use --view objectives")


def _has_values(frame: pd.DataFrame, column: str) -> bool:
    return column in frame.columns and bool(numbers(frame[column]).notna().any())


def sample_rows(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` of ``rows``: all of them, or a uniform random sample drawn with a fixed
    seed (the same rows every time), in their original order."""
    if len(rows) <= limit:
        return rows
    pick = np.random.default_rng(0).choice(len(rows), size=limit, replace=False)
    return rows.iloc[np.sort(pick)]


def thin_rows(rows: pd.DataFrame, limit: int) -> pd.DataFrame:
    """At most ``limit`` of ``rows``, evenly spaced in their order, the first and last kept: a
    front stays a front (its ends and shape) when a very long one is drawn in part."""
    if len(rows) <= limit:
        return rows
    if limit < 2:
        return rows.iloc[:1]
    return rows.iloc[np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))]


def _faded_rows(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The unusable rows (failed, collapsed) that have a finite value in every column."""
    rows = frame[~usable_rows(frame).to_numpy()]
    if rows.empty:
        return rows
    finite = np.ones(len(rows), dtype=bool)
    for column in columns:
        finite &= np.isfinite(numbers(rows[column]).to_numpy(dtype=float))
    return rows[finite]


def front_plot_data(
    tables: Mapping[str, pd.DataFrame],
    *,
    x: str = "loss",
    y: str = "l1",
    sense=None,
    knee_method: str = "distance",
    weight: str = "weight",
    max_points: int = MAX_POINTS,
) -> FrontPlotData:
    """Compute what the objective view of the named tables shows (see the module docstring).
    ``sense`` says whether ``x`` and ``y`` are minimized (the default) or maximized."""
    if not tables:
        raise InputError("nothing to plot: no table given")
    sense = as_sense(sense)
    sets = [objective_values(t, [x, y]) for t in tables.values()]
    if not any(len(s) for s in sets):
        raise InputError("nothing to plot: no usable rows")
    traces = []
    for name, table in tables.items():
        rows = with_pareto(table, x, y, sense=sense)
        front = best_first(rows, x, y, sense=sense)
        knee_row = None
        try:
            knee_row = knee(table, knee_method, x=x, y=y, sense=sense, weight=weight,
                            top=1).iloc[0]
        except InputError:
            # Too few points for this method (or no weights for tradeoff): draw without a knee.
            knee_row = None
        dominated = rows[usable_rows(rows).to_numpy() & ~rows["pareto"].to_numpy()]
        faded = _faded_rows(table, [x, y])
        traces.append(FrontTrace(name, rows, front, knee_row, 0.0,
                                 sample_rows(dominated, max_points), len(dominated),
                                 sample_rows(faded, max_points), len(faded),
                                 thin_rows(front, max_points)))
    # The hypervolume of a front is that of all usable points: dominated ones add nothing.
    norm, hvs = shared_hypervolumes([t.front[[x, y]].to_numpy(dtype=float) for t in traces],
                                    sense)
    for trace, hv in zip(traces, hvs, strict=True):
        trace.hypervolume = hv
    usable = [part for t in traces for part in (t.shown_front, t.dominated) if len(part)]
    return FrontPlotData(x, y, traces, norm, REFERENCE, knee_method, sense,
                         _span(usable, x), _span(usable, y))


def _span(frames: Sequence[pd.DataFrame], column: str) -> tuple[float, float] | None:
    values = np.concatenate([numbers(f[column]).to_numpy(dtype=float) for f in frames]) \
        if frames else np.empty(0)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else None


def axis_range(span: tuple[float, float] | None, log: bool = False, least_width: float = 0.0):
    """An axis that shows ``span`` (low, high) with a margin of :data:`AXIS_MARGIN` of its
    width (at least ``least_width``) on each side, in log10 units on a log axis:
    ``(range, limits)``, the range as Plotly takes it (log10 units on a log axis) and the same
    in data units, where points outside are drawn. None when there is no span, or a log axis
    would need a value <= 0."""
    if span is None:
        return None
    low, high = span
    if log:
        if low <= 0:
            return None
        low, high = math.log10(low), math.log10(high)
    width = max(high - low, least_width)
    if width <= 0:  # one value: a margin of its size
        width = abs(high) or 1.0
    margin = AXIS_MARGIN * width
    shown = (low - margin, high + margin)
    return shown, ((10 ** shown[0], 10 ** shown[1]) if log else shown)


def decision_plot_data(
    tables: Mapping[str, pd.DataFrame],
    *,
    metric: str | None = None,
    max_drop: float | None = None,
    max_points: int = MAX_POINTS,
) -> DecisionPlotData:
    """Compute what the decision view of the named tables shows (see the module docstring).

    ``metric``: the accuracy column of the front (default: :func:`decision_metric`).
    ``max_drop``: the band below the reference and the selection; by default the sweep's own
    (``frame.attrs["sweep"]["max_drop"]``) and its ``selected`` column; given, it overrides both
    (the selected run is then the sparsest within it, :func:`paretoprune.selection.select_within`).
    """
    from paretoprune.selection import reference_value, select_within

    if not tables:
        raise InputError("nothing to plot: no table given")
    if max_drop is not None and not 0.0 <= max_drop < 1.0:
        raise InputError(f"--max-drop must be a number in [0, 1), got {max_drop!r}")
    traces = []
    for name, table in tables.items():
        require_columns(table, [SIZE], "for the decision view (use --view objectives)")
        chosen = decision_metric(table, metric)
        metrics = (chosen, *[c for c in ACCURACY_COLUMNS if c != chosen and _has_values(table, c)])
        rows = with_pareto(table, SIZE, chosen, sense=("min", "max"))
        front = best_first(rows, SIZE, chosen, sense=("min", "max"))
        dominated = rows[usable_rows(rows).to_numpy() & ~rows["pareto"].to_numpy()]
        faded = _faded_rows(table, [SIZE, chosen])
        drop = max_drop
        if drop is None:
            sweep_drop = table.attrs.get("sweep", {}).get("max_drop")
            drop = float(sweep_drop) if sweep_drop is not None else None
        rule = table.attrs.get("rule")
        if max_drop is None:
            # the sweep's own answer and its certified rows, as its table says
            selected = table[table["selected"].map(flag).to_numpy(dtype=bool)] \
                if "selected" in table.columns else table.iloc[:0]
            usable = rows[usable_rows(rows).to_numpy()]
            certified = usable[usable[CERTIFIED].map(flag).to_numpy(dtype=bool)] \
                if CERTIFIED in usable.columns else usable.iloc[:0]
        elif not front.empty:  # another max drop: the same rule, read again for it
            certified = select_within(table, drop, chosen, sparsity=SIZE, shippable=False)
            selected = select_within(table, drop, chosen, sparsity=SIZE).head(1)
            rule = certified.attrs.get("rule", rule)
        else:
            selected = certified = table.iloc[:0]
        traces.append(DecisionTrace(
            name, chosen, metrics, front, sample_rows(dominated, max_points), len(dominated),
            sample_rows(faded, max_points), len(faded), reference_value(table, chosen), drop,
            selected, 0.0, thin_rows(front, max_points), bound_columns(table, metrics),
            sample_rows(certified, max_points), rule))
    sets = [t.front[[SIZE, t.metric]].to_numpy(dtype=float) for t in traces]
    norm, hvs = shared_hypervolumes(sets, ("min", "max"))
    for trace, hv in zip(traces, hvs, strict=True):
        trace.hypervolume = hv
    sizes = np.concatenate([numbers(part[SIZE]).to_numpy(dtype=float) for t in traces
                            for part in (t.front, t.dominated, t.faded, t.selected)])
    positive = sizes[np.isfinite(sizes) & (sizes > 0)]
    zero_x = float(positive.min()) / 2 if positive.size else 0.5
    return DecisionPlotData(traces, norm, REFERENCE, zero_x, accuracy_range(traces))


def bound_columns(frame: pd.DataFrame, metrics: Sequence[str]) -> dict[str, tuple[str, str]]:
    """For each of ``metrics`` with a drop and its upper bound in ``frame`` (:data:`BOUNDS`),
    the two column names; a table without them (a foreign one, or an older sweep) gets none."""
    return {m: BOUNDS[m] for m in metrics
            if m in BOUNDS and all(_has_values(frame, c) for c in BOUNDS[m])}


def bound_lengths(rows: pd.DataFrame, columns: tuple[str, str] | None) -> np.ndarray | None:
    """How far below each row's accuracy its bound lies: ``upper - drop`` (0 where either is
    missing or the bound is below the drop); None without bound columns."""
    if columns is None or not len(rows):
        return None
    drop, upper = (numbers(rows[c]).to_numpy(dtype=float) for c in columns)
    length = upper - drop
    return np.where(np.isfinite(length) & (length > 0), length, 0.0)


def accuracy_range(traces: Sequence[DecisionTrace]) -> tuple[float, float] | None:
    """The accuracy axis of the decision view (see :class:`DecisionPlotData`): from the lowest
    to the highest of the usable runs' drawn accuracies (less their error bars), the dense
    references and the bands below them, widened by :data:`AXIS_MARGIN` of that span (at least
    :data:`MIN_AXIS_SPAN`)."""
    values = []
    for t in traces:
        for metric in t.metrics:
            for rows in (t.shown_front, t.dominated, t.selected):
                if not len(rows):
                    continue
                ys = numbers(rows[metric]).to_numpy(dtype=float)
                values.append(ys)
                lengths = bound_lengths(rows, t.bounds.get(metric))
                if lengths is not None:
                    values.append(ys - lengths)
        if math.isfinite(t.reference):
            values.append(np.array([t.reference, t.reference - (t.max_drop or 0.0)]))
    finite = np.concatenate(values) if values else np.empty(0)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    return axis_range((float(finite.min()), float(finite.max())), least_width=MIN_AXIS_SPAN)[0]


def plot_data(
    tables: Mapping[str, pd.DataFrame],
    *,
    view: str | None = None,
    x: str = "loss",
    y: str = "l1",
    sense=None,
    metric: str | None = None,
    max_drop: float | None = None,
    knee_method: str = "distance",
    weight: str = "weight",
    max_points: int = MAX_POINTS,
) -> PlotData:
    """The data of a whole figure: ``view`` is ``decision``, ``objectives`` or ``both``
    (default: :func:`default_view`); the other arguments go to :func:`decision_plot_data` and
    :func:`front_plot_data`."""
    view = view or default_view(tables)
    if view not in VIEWS:
        raise InputError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
    if max_points < 1:
        raise InputError(f"max_points must be at least 1, got {max_points}")
    data = PlotData(view)
    if view in ("decision", "both"):
        data.decision = decision_plot_data(tables, metric=metric, max_drop=max_drop,
                                           max_points=max_points)
    if view in ("objectives", "both"):
        data.objectives = front_plot_data(tables, x=x, y=y, sense=sense, knee_method=knee_method,
                                          weight=weight, max_points=max_points)
    return data


# ------------------------------------------------------------------------------------- hover


def parameter_column(frame: pd.DataFrame) -> str:
    """The column of the parameter the table's method varies (``weight`` for the weighted sum,
    and when the method is unknown)."""
    return getattr(method_of(frame), "parameter", None) or "weight"


def hover_fields(frame: pd.DataFrame, first: Sequence[str] = (),
                 limit: int = MAX_HOVER_FIELDS) -> list[str]:
    """At most ``limit`` columns worth showing when hovering a row of ``frame``: run, role,
    method and its parameter, the ``first`` columns (the axes), then the sweep's usual columns,
    then any other; a column without a value, or with one value in every row of ``frame``
    (which should be the rows drawn), is left out unless it is among ``first``."""
    order = [*_FIRST_HOVER, parameter_column(frame), *first, *_LATER_HOVER,
             *map(str, frame.columns)]
    chosen: list[str] = []
    for name in dict.fromkeys(order):
        if len(chosen) >= limit:
            break
        if name not in frame.columns or name in _NOT_HOVERED:
            continue
        values = frame[name]
        if name in first or (values.notna().any() and (len(frame) < 2 or _varies(values))):
            chosen.append(name)
    return chosen


def _varies(values: pd.Series) -> bool:
    try:
        return values.nunique(dropna=False) > 1
    except TypeError:  # unhashable cells (lists from JSON)
        return True


def format_value(value) -> str:
    """A cell as hover text: numbers with 4 significant digits (counts in full), text cut to
    ``MAX_HOVER_VALUE`` characters, missing values empty."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        text = str(bool(value))
    elif isinstance(value, (int, np.integer)):
        text = str(int(value))
    elif isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return ""
        integral = math.isfinite(number) and number.is_integer() and abs(number) < 1e15
        text = str(int(number)) if integral else f"{number:.4g}"
    elif pd.api.types.is_scalar(value) and pd.isna(value):
        return ""
    else:
        text = " ".join(str(value).split())
    return text if len(text) <= MAX_HOVER_VALUE else text[: MAX_HOVER_VALUE - 1] + "…"


def hover_data(rows: pd.DataFrame, fields: Sequence[str]) -> tuple[np.ndarray, str]:
    """customdata (one formatted string per row and field) and the hovertemplate showing it."""
    present = [f for f in fields if f in rows.columns]
    custom = np.empty((len(rows), len(present)), dtype=object)
    for j, name in enumerate(present):
        custom[:, j] = [format_value(v) for v in rows[name].tolist()]
    lines = []
    for j, name in enumerate(present):
        label = name if len(name) <= MAX_HOVER_NAME else name[: MAX_HOVER_NAME - 1] + "…"
        lines.append(f"{label}: %{{customdata[{j}]}}")
    return custom, "<br>".join(lines) + "<extra></extra>"


# ------------------------------------------------------------------------------------ drawing


@dataclass
class _Style:
    """Choices that hold for the whole figure."""

    hover: Sequence[str] | None
    color: str | None
    color_kind: str = ""  # "numeric" or "categorical"
    categories: dict = field(default_factory=dict)
    webgl: bool = True
    shown_categories: set = field(default_factory=set)


def _coloring(data: PlotData, color: str | None, hover: Sequence[str] | None,
              webgl: bool) -> _Style:
    style = _Style(hover=list(hover) if hover else None, color=color, webgl=webgl)
    frames = _drawn_frames(data)
    for frame in frames:
        if color:
            require_columns(frame, [color], "for --color")
        if style.hover:
            require_columns(frame, style.hover, "for --hover")
    if color:
        values = pd.concat([f[color] for f in frames if len(f)], ignore_index=True)
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        style.color_kind = "numeric" if numeric else "categorical"
        if not numeric:
            from plotly.colors import qualitative

            palette = qualitative.Dark24
            keys = sorted(values.astype(str).unique())
            style.categories = {k: palette[i % len(palette)] for i, k in enumerate(keys)}
    return style


def _drawn_frames(data: PlotData) -> list[pd.DataFrame]:
    frames = []
    if data.decision:
        for t in data.decision.traces:
            frames += [t.shown_front, t.dominated, t.faded, t.selected]
    if data.objectives:
        for t in data.objectives.traces:
            frames += [t.shown_front, t.dominated, t.faded]
    return [f for f in frames if len(f)]


def _scatter(n: int, style: _Style):
    import plotly.graph_objects as go

    return go.Scattergl if style.webgl and n > WEBGL_ABOVE else go.Scatter


def _add(fig, cell, trace) -> None:
    if cell is None:
        fig.add_trace(trace)
    else:
        fig.add_trace(trace, row=cell, col=1)


#: Legend order (smaller first), whatever the drawing order (faded points are drawn first, below).
_RANK = {"front": 1, "dominated": 2, "other": 3, "star": 4, "certified": 5, "faded": 6,
         "line": 7}


def _points(fig, cell, rows, xs, ys, *, name, color, style, fields, group, marker,
            mode="markers", line=None, opacity=1.0, colorable=True, rank="front",
            showlegend=True, below=None, cliponaxis=True) -> None:
    """Draw ``rows`` at ``(xs, ys)``: one trace, or with ``--color`` one per category (or one
    on a colour scale), the hover showing ``fields``; ``rank`` places it in the legend,
    ``showlegend`` False leaves it out (its ``group``'s entry still toggles it). ``below``: the
    length of an error bar below each point (a confidence bound), or None."""
    if len(rows) == 0:
        return
    fields = style.hover or fields
    by_color = style.color if colorable else None
    if by_color and "lines" in mode:
        # The staircase keeps the table's colour; the markers on it take the --color colours.
        _points(fig, cell, rows, xs, ys, name=name, color=color, style=style, fields=fields,
                group=group, marker=marker, mode="lines", line=line, opacity=opacity,
                colorable=False, rank=rank, showlegend=showlegend)
        name, mode, below = f"{name} (markers)", "markers", below
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)

    def error(pick=slice(None)):
        if below is None:
            return {}
        return {"error_y": {"type": "data", "symmetric": False, "array": np.zeros_like(ys[pick]),
                            "arrayminus": np.asarray(below, dtype=float)[pick], "width": 3,
                            "thickness": 1}}

    if by_color and style.color_kind == "categorical":
        keys = rows[by_color].astype(str).to_numpy()
        for key in dict.fromkeys(keys):
            pick = keys == key
            first = key not in style.shown_categories
            style.shown_categories.add(key)
            custom, template = hover_data(rows[pick], fields)
            kind = _scatter(int(pick.sum()), style)
            _add(fig, cell, kind(
                x=xs[pick], y=ys[pick], mode=mode, name=f"{by_color} = {key}",
                legendgroup=f"color:{key}", showlegend=first, opacity=opacity,
                legendrank=_RANK[rank], cliponaxis=cliponaxis,
                marker={**marker, "color": style.categories[key]},
                customdata=custom, hovertemplate=template, **error(pick)))
        return
    marker = {**marker, "color": color}
    if by_color:
        marker.update(color=numbers(rows[by_color]).to_numpy(dtype=float), coloraxis="coloraxis")
    custom, template = hover_data(rows, fields)
    spec = {"x": xs, "y": ys, "mode": mode, "name": name, "legendgroup": group,
            "opacity": opacity, "marker": marker, "customdata": custom, "hovertemplate": template,
            "legendrank": _RANK[rank], "showlegend": showlegend, **error()}
    if not cliponaxis:
        spec["cliponaxis"] = False
    if line is not None and "lines" in mode:
        spec["line"] = {**line, "color": color}
    if "error_y" in spec:
        spec["error_y"]["color"] = color
    _add(fig, cell, _scatter(len(rows), style)(**spec))


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    filled = [f for f in frames if len(f)]
    return pd.concat(filled) if len(filled) > 1 else (filled[0] if filled else frames[0])


def _label(name: str | None, text: str) -> str:
    """A legend entry: ``text``, after the table's name when several tables share the figure
    (``name`` None: one table, whose name is in the title)."""
    return text if name is None else f"{name}: {text}"


def _sample_note(name: str | None, what: str, shown: int, total: int) -> str:
    if shown < total:
        return _label(name, f"{shown:,} of {total:,} {what} points shown")
    return _label(name, what)


def _front_note(shown: pd.DataFrame, front: pd.DataFrame) -> str:
    return f" ({len(shown):,} of {len(front):,} front points shown)" if len(shown) < len(front) \
        else ""


def _palette():
    from plotly.colors import qualitative

    return qualitative.Plotly


_FADED_MARKER = {"size": 8, "symbol": "x-thin-open", "line": {"width": 1.5, "color": "#7a7a7a"}}


def _draw_decision(fig, cell, data: DecisionPlotData, style: _Style) -> None:
    palette = _palette()
    single = len(data.traces) == 1
    symbols = ("circle", "diamond-open", "square-open")
    for i, t in enumerate(data.traces):
        group = f"decision-{i}"
        base = palette[i % len(palette)]
        name = None if single else t.name

        def color_of(k: int, i=i) -> str:
            # One table: a colour per metric; several: a colour per table, a symbol per metric.
            return palette[k % len(palette)] if single else palette[i % len(palette)]

        def xs(rows, zero=data.zero_x):
            size = numbers(rows[SIZE]).to_numpy(dtype=float)
            return np.where(size > 0, size, zero)

        front = t.shown_front
        drawn = _concat(front, t.dominated)
        fields = hover_fields(drawn, (SIZE, *t.metrics))
        # Faded first: drawn below the usable points, never covering them. Those outside the
        # accuracy axis (which the usable runs set) sit on its edge, their value in the hover.
        if len(t.faded):
            ys = numbers(t.faded[t.metric]).to_numpy(dtype=float)
            notes = []
            if data.y_range is not None:
                clipped = np.clip(ys, *data.y_range)
                if (clipped != ys).any():
                    notes.append("off the axis: at its edge")
                ys = clipped
            if (numbers(t.faded[SIZE]) <= 0).any():
                notes.append("nnz 0 at the left edge")
            note = f" ({'; '.join(notes)})" if notes else ""
            _points(fig, cell, t.faded, xs(t.faded), ys,
                    name=_sample_note(name, "collapsed or failed", len(t.faded), t.n_faded)
                    + note, rank="faded", color="#7a7a7a", style=style, fields=fields,
                    group=f"faded-{i}", opacity=0.6, marker=_FADED_MARKER, colorable=False,
                    cliponaxis=False)
        bound = t.bounds.get(t.metric)
        bounded = " (bar: its bound)" if bound else ""
        _points(fig, cell, front, xs(front), numbers(front[t.metric]),
                name=_label(name, f"{t.metric} front (HV {t.hypervolume:.4f})")
                + _front_note(front, t.front) + bounded, color=color_of(0),
                style=style, fields=fields, group=group, mode="lines+markers",
                line={"shape": "hv", "width": 2}, marker={"size": 8, "symbol": symbols[0]},
                below=bound_lengths(front, bound))
        # The dominated runs toggle with the front; their own entry only says a sample is shown.
        _points(fig, cell, t.dominated, xs(t.dominated), numbers(t.dominated[t.metric]),
                name=_sample_note(name, f"dominated {t.metric}", len(t.dominated),
                                  t.n_dominated),
                color=color_of(0), style=style, fields=fields, group=group, opacity=0.45,
                marker={"size": 6, "symbol": "circle-open"}, rank="dominated",
                showlegend=len(t.dominated) < t.n_dominated,
                below=bound_lengths(t.dominated, bound))
        for k, other in enumerate(t.metrics[1:], start=1):
            _points(fig, cell, drawn, xs(drawn), numbers(drawn[other]),
                    name=_label(name, f"{other} of the same runs"), color=color_of(k),
                    style=style, fields=fields, group=f"{group}-{other}", opacity=0.8,
                    marker={"size": 7, "symbol": symbols[min(k, len(symbols) - 1)]},
                    rank="other", below=bound_lengths(drawn, t.bounds.get(other)))
        if len(t.certified):
            within = f"within {t.max_drop:g}" if t.max_drop is not None else "within"
            rule = f": {t.rule}" if t.rule else ""
            _points(fig, cell, t.certified, xs(t.certified), numbers(t.certified[t.metric]),
                    name=_label(name, f"{within}{rule}"),
                    color="#2ca02c", style=style, fields=fields, group=f"{group}-certified",
                    marker={"size": 22, "symbol": "circle-open", "line": {"width": 2}},
                    colorable=False, rank="certified")
        if len(t.selected):
            runs = ", ".join(format_value(r) for r in t.selected.get("run", pd.Series([])).tolist())
            _points(fig, cell, t.selected, xs(t.selected), numbers(t.selected[t.metric]),
                    name=_label(name, "selected" + (f" (run {runs})" if runs else "")),
                    color=base, style=style, fields=fields, group=f"{group}-selected",
                    marker={"size": 18, "symbol": "star", "line": {"width": 1, "color": "black"}},
                    colorable=False, rank="star")
        if math.isfinite(t.reference):
            axis = {} if cell is None else {"row": cell, "col": 1}
            reference = f"dense reference {t.metric} {t.reference:.4g}"
            fig.add_hline(y=t.reference, line={"dash": "dash", "color": base, "width": 1},
                          name=_label(name, reference), showlegend=not t.max_drop,
                          legendgroup=f"{group}-ref", legendrank=_RANK["line"], **axis)
            if t.max_drop:
                # one legend entry for the line and its band
                fig.add_hrect(y0=t.reference - t.max_drop, y1=t.reference, fillcolor=base,
                              opacity=0.12, line_width=0, layer="below",
                              name=_label(name, f"{reference}; band: within {t.max_drop:g}"),
                              showlegend=True, legendgroup=f"{group}-ref",
                              legendrank=_RANK["line"], **axis)


def _draw_objectives(fig, cell, data: FrontPlotData, style: _Style, *,
                     shared_legend: bool = False, limits=(None, None)) -> None:
    """Draw the objective view. ``shared_legend``: the decision view is drawn too, and its
    entry for the collapsed or failed runs toggles these as well. ``limits``: the x and y axes'
    ends in data units (or None); failed or collapsed points beyond them sit on the edge."""
    palette = _palette()
    single = len(data.traces) == 1
    for i, t in enumerate(data.traces):
        color = palette[i % len(palette)]
        group = f"objectives-{i}"
        name = None if single else t.name
        front = t.shown_front
        fields = hover_fields(_concat(front, t.dominated), (data.x, data.y))
        faded_xy, off = [], False
        for column, limit in zip((data.x, data.y), limits, strict=True):
            values = numbers(t.faded[column]).to_numpy(dtype=float) if len(t.faded) \
                else np.empty(0)
            if limit is not None:
                clipped = np.clip(values, *limit)
                off |= bool((clipped != values).any())
                values = clipped
            faded_xy.append(values)
        _points(fig, cell, t.faded, *faded_xy,
                name=_sample_note(name, "collapsed or failed", len(t.faded), t.n_faded)
                + (" (off the axis: at its edge)" if off else ""),
                rank="faded", color="#7a7a7a", style=style, fields=fields, group=f"faded-{i}",
                opacity=0.6, colorable=False, marker=_FADED_MARKER,
                showlegend=not shared_legend, cliponaxis=False)
        _points(fig, cell, front, front[data.x], front[data.y],
                name=_label(name, f"{data.y} against {data.x} front (HV {t.hypervolume:.4f})")
                + _front_note(front, t.front),
                color=color, style=style, fields=fields, group=group, mode="lines+markers",
                line={"shape": "hv", "width": 2}, marker={"size": 8})
        _points(fig, cell, t.dominated, t.dominated[data.x], t.dominated[data.y],
                name=_sample_note(name, "dominated", len(t.dominated), t.n_dominated),
                color=color, style=style, fields=fields, group=group, opacity=0.35,
                marker={"size": 6, "symbol": "circle-open"}, rank="dominated",
                showlegend=len(t.dominated) < t.n_dominated)
        if t.knee is not None:
            row = t.knee.to_frame().T
            _points(fig, cell, row, numbers(row[data.x]), numbers(row[data.y]),
                    name=_label(name, f"knee ({data.knee_method})"), color=color, style=style,
                    fields=fields, group=f"{group}-knee", colorable=False,
                    marker={"size": 18, "symbol": "star", "line": {"width": 1, "color": "black"}},
                    rank="star")


def _objective_title(column: str, sense: str) -> str:
    return f"{column} ({'maximized' if sense == 'max' else 'minimized'})"


def plot_figure(
    data: PlotData,
    *,
    title: str | None = None,
    color: str | None = None,
    hover: Sequence[str] | None = None,
    log_x: bool = False,
    log_y: bool = False,
    webgl: bool = True,
):
    """Draw :class:`PlotData` as one Plotly figure (two panels, decision view on top, for
    ``both``).

    ``color``: a column to colour the points by (text or booleans: discrete colours and a
    legend entry per value; numbers: a colour scale). ``hover``: the columns the hover box shows
    (default: :func:`hover_fields`). ``log_x``, ``log_y``: log axes for the objective view (the
    decision view's x axis is always logarithmic). ``webgl``: False draws every trace as SVG
    (for a static picture).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    style = _coloring(data, color, hover, webgl)
    panels = [p for p in ("decision", "objectives")
              if getattr(data, p) is not None]
    titles = {"decision": "Accuracy against nonzero prunable weights",
              "objectives": "Objectives"}
    if data.objectives is not None:
        o = data.objectives
        titles["objectives"] = f"{o.y} against {o.x}: the front and its knee"
    if len(panels) == 2:
        fig = make_subplots(rows=2, cols=1, vertical_spacing=0.16,
                            subplot_titles=[titles[p] for p in panels])
        cells = {"decision": 1, "objectives": 2}
    else:
        fig = go.Figure()
        cells = {panels[0]: None} if panels else {}

    def axes(cell, **kw):
        if cell is None:
            fig.update_xaxes(**kw.get("x", {}))
            fig.update_yaxes(**kw.get("y", {}))
        else:
            fig.update_xaxes(row=cell, col=1, **kw.get("x", {}))
            fig.update_yaxes(row=cell, col=1, **kw.get("y", {}))

    if data.decision is not None:
        cell = cells["decision"]
        _draw_decision(fig, cell, data.decision, style)
        metrics = dict.fromkeys(m for t in data.decision.traces for m in t.metrics)
        y_axis = {"title": {"text": " / ".join(metrics) + " (maximized)"}}
        if data.decision.y_range is not None:
            y_axis["range"] = list(data.decision.y_range)
        axes(cell, x={"type": "log", "title": {"text": "nonzero prunable weights (nnz, log)"}},
             y=y_axis)
    if data.objectives is not None:
        cell = cells["objectives"]
        o = data.objectives
        x_axis, y_axis = axis_range(o.x_span, log_x), axis_range(o.y_span, log_y)
        _draw_objectives(fig, cell, o, style, shared_legend=data.decision is not None,
                         limits=(x_axis and x_axis[1], y_axis and y_axis[1]))
        x_layout = {"type": "log" if log_x else "linear",
                    "title": {"text": _objective_title(o.x, o.sense[0])}}
        y_layout = {"type": "log" if log_y else "linear",
                    "title": {"text": _objective_title(o.y, o.sense[1])}}
        if x_axis:
            x_layout["range"] = list(x_axis[0])
        if y_axis:
            y_layout["range"] = list(y_axis[0])
        axes(cell, x=x_layout, y=y_layout)
    height = 560 if len(panels) < 2 else 1000
    default_title = titles[panels[0]] if len(panels) == 1 else "Pruning front"
    if len(data.names) == 1:  # the legend leaves the one table's name out: the title says it
        default_title += f" of {data.names[0]}"
    fig.update_layout(
        title={"text": title or default_title},
        template="plotly_white", hovermode="closest", height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        hoverlabel={"align": "left"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.08 if len(panels) == 2 else -0.14,
                "xanchor": "left", "x": 0,
                "title": {"text": "HV: normalized over all tables, reference (1.1, 1.1)",
                          "side": "top"}},
    )
    if style.color_kind == "numeric":
        fig.update_layout(coloraxis={"colorscale": "Viridis",
                                     "colorbar": {"title": {"text": style.color}}})
    return fig


# ------------------------------------------------------------------------------------ writing


def _check_folder(path: Path) -> None:
    if path.parent and not path.parent.exists():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")


def write_html(fig, path: str | Path) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined: it works offline).

    Raises :class:`InputError` (one line) when the file cannot be written: a missing folder, a
    read-only place, a folder in the way.
    """
    path = Path(path)
    _check_folder(path)
    html = fig.to_html(include_plotlyjs=True, full_html=True,
                       config={"displaylogo": False, "responsive": True})
    return atomic_write_text(path, html, what="figure")


def chromium_path() -> str | None:
    """The headless browser :func:`write_png` uses: ``$PARETOPRUNE_CHROMIUM``, else the first
    of :data:`CHROMIUM_NAMES` on PATH; None when there is none."""
    given = os.environ.get("PARETOPRUNE_CHROMIUM")
    if given:
        return given
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def write_png(fig, path: str | Path, *, width: int = PNG_WIDTH, height: int | None = None,
              timeout: float = 120.0) -> Path:
    """Write a figure as a PNG of exactly ``width`` x ``height`` pixels, without the toolbar or
    blank margins, through a headless Chromium (see :func:`chromium_path`).

    Why Chromium and not kaleido: kaleido 1.x drives a Chrome too (it cannot download one
    offline), so it would add a dependency without removing the browser; a browser the user
    has, called directly, needs nothing else. The figure is drawn as SVG (no WebGL) in a page
    with no margin, at the figure's own size.

    Raises :class:`InputError` (one line) when no browser is found, it fails, or the file
    cannot be written.
    """
    path = Path(path)
    _check_folder(path)
    browser = chromium_path()
    if browser is None:
        raise InputError("--png needs a headless Chromium and none was found on PATH "
                         f"({', '.join(CHROMIUM_NAMES)}); install one (Debian: apt-get install "
                         "chromium) or set PARETOPRUNE_CHROMIUM to its path")
    height = height or int(fig.layout.height or PNG_VIEW_HEIGHT)
    static = type(fig)(fig)
    static.update_layout(width=width, height=height, autosize=False)
    html = static.to_html(include_plotlyjs=True, full_html=True,
                          config={"displayModeBar": False, "staticPlot": True})
    html = html.replace("<body>", '<body style="margin:0;overflow:hidden">', 1)
    with tempfile.TemporaryDirectory(prefix="paretoprune-png-") as tmp:
        page, shot = Path(tmp) / "figure.html", Path(tmp) / "figure.png"
        page.write_text(html, encoding="utf-8")
        command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   "--no-first-run", "--disable-dev-shm-usage", "--force-device-scale-factor=1",
                   f"--user-data-dir={Path(tmp) / 'profile'}", f"--window-size={width},{height}",
                   "--virtual-time-budget=10000", f"--screenshot={shot}", page.as_uri()]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise InputError(f"cannot write {path}: {browser} did not run: {first_line(err)}"
                             ) from None
        if done.returncode != 0 or not shot.exists():
            raise InputError(f"cannot write {path}: {browser} exited with {done.returncode}: "
                             f"{first_line(done.stderr or 'no output')}")
        return atomic_write_bytes(path, shot.read_bytes(), what="picture")
