"""Interactive Plotly figures of fronts.

As in Optuna's visualization module, a figure is made in two steps: :func:`front_plot_data`
computes a small data object (which rows are on the front, the staircase, the knee, the
hypervolume), and :func:`front_figure` only draws it. Tests check the data, not the picture.

Several tables can be drawn together to compare fronts. Their hypervolumes are then computed in
one shared normalization (the ideal and nadir of the union of their usable points) with one shared
reference point, ``(1.1, 1.1)`` in that normalization, so the numbers in the legend can be
compared with each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from paretoprune.errors import InputError
from paretoprune.pareto import Normalization, hypervolume
from paretoprune.points import knee, objective_values, usable_rows, with_pareto

#: The reference point of legend hypervolumes, in the shared normalized coordinates.
REFERENCE = (1.1, 1.1)


@dataclass
class FrontTrace:
    """What is drawn for one table: its rows with a ``pareto`` flag, the front sorted by ``x``,
    the knee row (or None if the method could not rank one) and the normalized hypervolume."""

    name: str
    rows: pd.DataFrame
    front: pd.DataFrame
    knee: pd.Series | None
    hypervolume: float


@dataclass
class FrontPlotData:
    """Everything a front figure shows."""

    x: str
    y: str
    traces: list[FrontTrace]
    normalization: Normalization
    reference: tuple[float, float]
    knee_method: str


def front_plot_data(
    tables: Mapping[str, pd.DataFrame],
    *,
    x: str = "loss",
    y: str = "l1",
    knee_method: str = "distance",
    weight: str = "weight",
) -> FrontPlotData:
    """Compute what a front figure of the named tables shows (see the module docstring)."""
    if not tables:
        raise InputError("nothing to plot: no table given")
    all_points = np.vstack([objective_values(t, [x, y]) for t in tables.values()])
    if len(all_points) == 0:
        raise InputError("nothing to plot: no usable rows")
    norm = Normalization.from_points(all_points)
    traces = []
    for name, table in tables.items():
        rows = with_pareto(table, x, y)
        front = rows[rows["pareto"]].sort_values([x, y])
        points = norm.apply(front[[x, y]].to_numpy(dtype=float))
        hv = hypervolume(points, REFERENCE, strict=False) if len(points) else 0.0
        knee_row = None
        try:
            knee_row = knee(rows, knee_method, x=x, y=y, weight=weight, top=1).iloc[0]
        except InputError:
            # Too few points for this method (or no weights for tradeoff): draw without a knee.
            knee_row = None
        traces.append(FrontTrace(name, rows, front, knee_row, float(hv)))
    return FrontPlotData(x, y, traces, norm, REFERENCE, knee_method)


def _hover(frame: pd.DataFrame) -> tuple[np.ndarray, str]:
    """customdata and a hovertemplate that show every column of the row."""
    columns = [str(c) for c in frame.columns]
    custom = frame.astype(object).where(frame.notna(), "").to_numpy()
    lines = [f"{name}: %{{customdata[{i}]}}" for i, name in enumerate(columns)]
    return custom, "<br>".join(lines) + "<extra></extra>"


def front_figure(data: FrontPlotData, *, title: str | None = None):
    """Draw :class:`FrontPlotData` as a Plotly figure: per table, the front joined as a staircase,
    dominated points faded, the knee marked, and the hypervolume in the legend."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    fig = go.Figure()
    palette = qualitative.Plotly
    for i, trace in enumerate(data.traces):
        color = palette[i % len(palette)]
        group = f"t{i}"
        usable = trace.rows[usable_rows(trace.rows)]
        dominated = usable[~usable["pareto"]]
        label = f"{trace.name} (HV {trace.hypervolume:.4f})"
        custom, template = _hover(trace.front)
        fig.add_trace(go.Scatter(
            x=trace.front[data.x], y=trace.front[data.y], mode="lines+markers", name=label,
            line={"shape": "hv", "color": color}, marker={"size": 9, "color": color},
            customdata=custom, hovertemplate=template, legendgroup=group,
        ))
        if len(dominated):
            custom, template = _hover(dominated)
            fig.add_trace(go.Scatter(
                x=dominated[data.x], y=dominated[data.y], mode="markers",
                name=f"{trace.name}: dominated", opacity=0.35,
                marker={"size": 7, "color": color, "symbol": "circle-open"},
                customdata=custom, hovertemplate=template, legendgroup=group,
            ))
        if trace.knee is not None:
            row = trace.knee.to_frame().T
            custom, template = _hover(row)
            fig.add_trace(go.Scatter(
                x=row[data.x], y=row[data.y], mode="markers",
                name=f"{trace.name}: knee ({data.knee_method})",
                marker={"size": 18, "color": color, "symbol": "star",
                        "line": {"width": 1, "color": "black"}},
                customdata=custom, hovertemplate=template, legendgroup=group,
            ))
    fig.update_layout(
        title=title or f"Pareto front: {data.y} against {data.x}",
        xaxis_title=f"{data.x} (minimized)", yaxis_title=f"{data.y} (minimized)",
        template="plotly_white", hovermode="closest",
        legend={"title": {"text": "HV: normalized, shared reference (1.1, 1.1)"}},
    )
    return fig


def write_html(fig, path: str | Path) -> Path:
    """Write a figure as a self-contained HTML page (plotly.js inlined: it works offline)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
    fig.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path
