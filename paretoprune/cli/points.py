"""``show``, ``knee`` and ``plot``: commands that work on any table of points or sweep directory."""

from __future__ import annotations

import click

from paretoprune.cli.common import (
    columns_option,
    emit,
    format_option,
    objective_options,
    parse_columns,
)
from paretoprune.errors import CheckFailed
from paretoprune.pareto import KNEE_METHODS
from paretoprune.points import KNEE_RANK, KNEE_SCORE, knee, load_table, with_pareto

TABLE_HELP = "TABLE is a CSV, TSV, Parquet, JSON or JSON-lines file, a sweep directory, or '-' (CSV on stdin)."


@click.command("show", epilog=TABLE_HELP)
@click.argument("table")
@objective_options
@click.option("--front", is_flag=True, help="Only the nondominated rows, sorted by the first objective.")
@columns_option
@format_option
def show_command(table, x, y, front, columns, fmt):
    """Print the rows of TABLE with a 'pareto' column (True for the front)."""
    frame = with_pareto(load_table(table), x, y)
    if front:
        frame = frame[frame["pareto"]].sort_values([x, y])
    wanted = parse_columns(columns, frame)
    if wanted is None and fmt == "table":
        wanted = _with_objectives(frame, x, y)
    emit(frame, fmt, title=f"{table}: {int(frame['pareto'].sum())} front points", columns=wanted)


def _with_objectives(frame, x, y):
    """The default table columns, making sure the chosen objectives are among them."""
    from paretoprune.presentation.output import display_columns

    chosen = display_columns(frame, None, "table")
    for name in (y, x):
        if name not in chosen:
            chosen.insert(0, name)
    return chosen


@click.command("knee", epilog=TABLE_HELP)
@click.argument("table")
@objective_options
@click.option("--method", type=click.Choice(KNEE_METHODS), default="distance", show_default=True,
              help="distance: farthest from the line through the extremes (Das); kneedle: Satopaa "
                   "et al.; angle, utility: Branke et al.; tradeoff: largest jump in the weight "
                   "ratio (needs the weight column).")
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many ranked knee candidates to print.")
@click.option("--weight-column", default="weight", show_default=True,
              help="Column with each row's scalarization weight (for --method tradeoff).")
@click.option("--sensitivity", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Kneedle's sensitivity S.")
@columns_option
@format_option
def knee_command(table, x, y, method, top, weight_column, sensitivity, columns, fmt):
    """Print the knee point(s) of TABLE's front, best first.

    Exits with 1 when the table has no usable row (for example every run failed).
    """
    frame = load_table(table)
    options = {"sensitivity": sensitivity} if method == "kneedle" else {}
    ranked = knee(frame, method, x=x, y=y, weight=weight_column, top=top, **options)
    if ranked.empty:
        raise CheckFailed(f"no knee found in {table}")
    wanted = parse_columns(columns, ranked)
    if wanted is None and fmt == "table":
        wanted = [KNEE_RANK, KNEE_SCORE] + [c for c in _with_objectives(ranked, x, y)
                                            if c not in (KNEE_RANK, KNEE_SCORE)]
    emit(ranked, fmt, title=f"knee of {table} ({method})", columns=wanted)


@click.command("plot", epilog=TABLE_HELP)
@click.argument("tables", nargs=-1, required=True)
@click.option("-o", "--output", default="front.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML file to write (self-contained: works offline).")
@objective_options
@click.option("--method", type=click.Choice(KNEE_METHODS), default="distance", show_default=True,
              help="Knee method for the marked knee.")
@click.option("--weight-column", default="weight", show_default=True,
              help="Column with each row's scalarization weight (for --method tradeoff).")
@click.option("--title", default=None, help="Figure title.")
@click.option("--name", "names", multiple=True,
              help="Legend name of each table, in order (default: the table's path).")
@format_option
def plot_command(tables, output, x, y, method, weight_column, title, names, fmt):
    """Write an interactive Plotly figure of the fronts of TABLES to an HTML file.

    The front is joined as a staircase, dominated points are faded, the knee is marked, hovering
    a point shows every column of its row, and the legend gives each front's hypervolume
    (normalized over all the tables together, so they compare). Give several tables to compare
    their fronts.
    """
    from paretoprune.presentation.plot import front_figure, front_plot_data, write_html

    labels = list(names) + list(tables[len(names):])
    frames = {}
    for label, table in zip(labels, tables, strict=False):
        frames[_unique(label, frames)] = load_table(table)
    data = front_plot_data(frames, x=x, y=y, knee_method=method, weight=weight_column)
    path = write_html(front_figure(data, title=title), output)
    summary = [{"table": t.name, "rows": len(t.rows), "front": len(t.front),
                "hypervolume": t.hypervolume} for t in data.traces]
    emit(summary, fmt, title=f"wrote {path}")


def _unique(label: str, taken) -> str:
    name, n = label, 2
    while name in taken:
        name, n = f"{label} ({n})", n + 1
    return name
