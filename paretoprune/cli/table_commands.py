"""``show``, ``knee``, ``plot`` and ``compare``: commands that work on any table of points or
sweep directory."""

from __future__ import annotations

import click

from paretoprune.cli.common import columns_option, emit, format_option, parse_columns
from paretoprune.errors import CheckFailed, InputError
from paretoprune.pareto import KNEE_METHODS
from paretoprune.table_analysis import (
    DEFAULT_LEVELS,
    DEFAULT_SELECT,
    DEFAULT_SPARSITY,
    KNEE_RANK,
    KNEE_SCORE,
    best_first,
    default_objectives,
    knee,
    parse_objective,
    require_columns,
    table_labels,
    usable_rows,
    with_pareto,
)
from paretoprune.table_loading import load_table

TABLE_HELP = "TABLE is a CSV, TSV, Parquet, JSON or JSON-lines file, a sweep directory, or '-' (CSV on stdin)."
OBJECTIVE_HELP = ("Prefix a column with max: to maximize it (--x max:accuracy), min: (the default) "
                  "to minimize it.")


def objective_options(f):
    """``--x`` and ``--y``: the two objective columns, each ``COL``, ``min:COL`` or ``max:COL``."""
    f = click.option("--y", "y", default=None, metavar="[min:|max:]COL",
                     help="Second objective column. Default: the sweep method's second objective "
                          "(l1), else l1.")(f)
    return click.option("--x", "x", default=None, metavar="[min:|max:]COL",
                        help="First objective column. Default: the sweep method's first "
                             f"objective (loss), else loss. {OBJECTIVE_HELP}")(f)


def objectives(frame, x: str | None, y: str | None) -> tuple[str, str, tuple[str, str]]:
    """The ``--x``/``--y`` values as ``(x, y, sense)``, defaults from the table's method."""
    default_x, default_y = default_objectives(frame)
    x_column, x_sense = parse_objective(x if x is not None else default_x)
    y_column, y_sense = parse_objective(y if y is not None else default_y)
    return x_column, y_column, (x_sense, y_sense)


def chosen_columns(value: str | None, frame) -> list[str] | None:
    """The ``--columns`` value checked against ``frame``: an unknown name is an error."""
    wanted = parse_columns(value, frame)
    if wanted is not None:
        require_columns(frame, wanted, "for --columns")
    return wanted


@click.command("show", epilog=TABLE_HELP)
@click.argument("table")
@objective_options
@click.option("--front", is_flag=True,
              help="Only the nondominated rows, from the best first objective to the worst.")
@columns_option
@format_option
def show_command(table, x, y, front, columns, fmt):
    """Print the rows of TABLE with a 'pareto' column (True for the front)."""
    frame = load_table(table)
    x, y, sense = objectives(frame, x, y)
    frame = with_pareto(frame, x, y, sense=sense)
    if front:
        frame = best_first(frame, x, y, sense=sense)
    wanted = chosen_columns(columns, frame)
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


def _max_drop(ctx, param, value):
    if value is not None and not 0.0 <= value < 1.0:
        raise click.BadParameter(f"must be in [0, 1), got {value:g}", ctx=ctx, param=param)
    return value


@click.command("knee", epilog=TABLE_HELP)
@click.argument("table")
@objective_options
@click.option("--knee", "method", type=click.Choice(KNEE_METHODS), default="distance",
              show_default=True,
              help="distance: farthest from the line through the extremes (Das); kneedle: Satopaa "
                   "et al.; angle, utility: Branke et al.; tradeoff: largest jump in the weight "
                   "ratio (needs the weight column).")
@click.option("--max-drop", type=float, default=None, callback=_max_drop, metavar="D",
              help="Instead of a knee: the sparsest rows (fewest nonzero weights, nnz) whose "
                   "--metric is within D of the dense reference (the role=dense row, else the "
                   "best row); 0.01 = one point.")
@click.option("--metric", default=None, metavar="COL",
              help="Column --max-drop reads [default: val_acc; train_acc, with a warning, when "
                   "there is no validation metric; never the test set].")
@click.option("--top", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many ranked candidates to print.")
@click.option("--weight-column", default="weight", show_default=True,
              help="Column with each row's scalarization weight (for --knee tradeoff).")
@click.option("--sensitivity", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Kneedle's sensitivity S.")
@columns_option
@format_option
def knee_command(table, x, y, method, max_drop, metric, top, weight_column, sensitivity, columns,
                 fmt):
    """Print the knee point(s) of TABLE's front, best first -- or, with --max-drop, the
    sparsest rows within that drop of the dense reference.

    Exits with 1 when the table has no usable row (every run failed or collapsed) or no row
    is within --max-drop.
    """
    frame = load_table(table)
    if max_drop is not None:
        from paretoprune.selection import chosen_row, select_within

        found = select_within(frame, max_drop, metric)
        rule = found.attrs.get("rule", "")
        if rule.startswith("point rule"):
            click.echo(f"note: {table}: {rule}", err=True)
        if found.empty:
            chosen_row(frame, None, max_drop=max_drop, metric=metric, where=str(table))
            raise CheckFailed(f"no usable row of {table} is within {max_drop:g} of the reference")
        wanted = chosen_columns(columns, found)
        if wanted is None and fmt == "table":
            wanted = [c for c in ("run", "role", "method", "nnz", "sparsity", "val_acc",
                                  "test_acc", "reference", "drop", "drop_upper", "test_drop",
                                  "test_drop_upper", "certified") if c in found] or None
        emit(found.head(top), fmt, title=f"sparsest of {table} within {max_drop:g} ({rule})",
             columns=wanted)
        return
    x, y, sense = objectives(frame, x, y)
    if not usable_rows(frame).any():
        raise CheckFailed(f"no knee in {table}: no usable row (every run failed or collapsed)")
    options = {"sensitivity": sensitivity} if method == "kneedle" else {}
    ranked = knee(frame, method, x=x, y=y, sense=sense, weight=weight_column, top=top, **options)
    if ranked.empty:
        raise CheckFailed(f"no knee found in {table}")
    wanted = chosen_columns(columns, ranked)
    if wanted is None and fmt == "table":
        wanted = [KNEE_RANK, KNEE_SCORE] + [c for c in _with_objectives(ranked, x, y)
                                            if c not in (KNEE_RANK, KNEE_SCORE)]
    emit(ranked, fmt, title=f"knee of {table} ({method})", columns=wanted)


def load_tables(tables, names) -> dict:
    """The tables by label: ``--name`` in order, else :func:`table_labels` (the method, or the
    path when methods repeat); a repeated label gets a number."""
    frames = [load_table(t) for t in tables]
    labels = list(names)[: len(tables)]
    labels += table_labels(tables, frames)[len(labels):]
    out = {}
    for label, frame in zip(labels, frames, strict=True):
        out[_unique(label, out)] = frame
    return out


def _unique(label: str, taken) -> str:
    name, n = label, 2
    while name in taken:
        name, n = f"{label} ({n})", n + 1
    return name


def _column_list(ctx, param, value):
    if value is None or value == "all":
        return value
    names = [c.strip() for c in value.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("give comma-separated column names", ctx=ctx, param=param)
    return names


@click.command("plot", epilog=TABLE_HELP)
@click.argument("tables", nargs=-1, required=True)
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="The HTML file to write (self-contained: works offline). Default: front.html, "
                   "or none when --png is given.")
@click.option("--png", "png", default=None, type=click.Path(dir_okay=False),
              help="Also (or only, without -o) write a static PNG: the figure at 1000 px wide, "
                   "without toolbar or blank margin, drawn by a headless Chromium found on PATH "
                   "(chromium, google-chrome; or $PARETOPRUNE_CHROMIUM). Debian: apt-get install "
                   "chromium.")
@click.option("--view", type=click.Choice(["decision", "objectives", "both"]), default=None,
              help="decision: accuracy against nonzero weights; objectives: the two objectives "
                   "and the knee; both: decision on top. Default: both for sweeps (tables with "
                   "nnz and val_acc or test_acc), objectives for other tables.")
@objective_options
@click.option("--metric", default=None,
              help="Decision view: the accuracy column whose front, reference and selection are "
                   "drawn. Default: val_acc when it has values, else test_acc (both are drawn).")
@click.option("--max-drop", type=float, default=None, callback=_max_drop, metavar="D",
              help="Decision view: draw the band D below the dense reference and mark the "
                   "sparsest run within it. Default: the sweep's --max-drop and its selected run.")
@click.option("--knee", "method", type=click.Choice(KNEE_METHODS), default="distance",
              show_default=True, help="Knee method for the marked knee (objective view).")
@click.option("--weight-column", default="weight", show_default=True,
              help="Column with each row's scalarization weight (for --knee tradeoff).")
@click.option("--log-x", is_flag=True, help="Objective view: logarithmic x axis.")
@click.option("--log-y", is_flag=True, help="Objective view: logarithmic y axis.")
@click.option("--color", default=None, metavar="COL",
              help="Colour the points by a column: discrete colours and a legend for text or "
                   "booleans, a colour scale for numbers.")
@click.option("--hover", default=None, metavar="A,B,...|all", callback=_column_list,
              help="Columns the hover box shows. Default: at most 10 that vary (run, role, "
                   "method, its parameter, the axes, ...), numbers to 4 significant digits.")
@click.option("--max-points", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="At most this many dominated points (and failed or collapsed ones) drawn per "
                   "table and view; a fixed random sample, counted in the legend.")
@click.option("--title", default=None, help="Figure title.")
@click.option("--name", "names", multiple=True,
              help="Legend name of each table, in order (default: its method, or its path when "
                   "methods repeat).")
@format_option
def plot_command(tables, output, png, view, x, y, metric, max_drop, method, weight_column, log_x,
                 log_y, color, hover, max_points, title, names, fmt):
    """Write an interactive Plotly figure of the fronts of TABLES to an HTML file.

    For a sweep, the decision view shows validation and test accuracy against the nonzero
    prunable weights (log scale), the dense reference accuracy with the --max-drop band below
    it, the selected run (star), and failed or collapsed runs faded; the objective view shows
    the front of the two objectives as a staircase with its knee. Several tables overlay their
    fronts, one colour each, with each front's hypervolume in the legend (normalized over all
    the tables together, so they compare). Large tables draw at most --max-points dominated
    points each, with WebGL. Exits with 1 when no table has a usable row.

    \b
    For the README's picture: --png FILE (no HTML unless -o is given too), e.g.
      paretoprune plot runs/mnist5k-lenet5 --png runs/mnist5k-lenet5/front.png
    """
    from paretoprune.presentation.plot import plot_data, plot_figure, write_html, write_png

    frames = load_tables(tables, names)
    first = next(iter(frames.values()))
    x, y, sense = objectives(first, x, y)
    hover_columns = None
    if hover == "all":
        hover_columns = list(dict.fromkeys(str(c) for f in frames.values() for c in f.columns))
    elif hover:
        hover_columns = hover
    if not any(usable_rows(f).any() for f in frames.values()):
        raise CheckFailed("nothing to plot: no usable row (every run failed or collapsed)")
    data = plot_data(frames, view=view, x=x, y=y, sense=sense, metric=metric, max_drop=max_drop,
                     knee_method=method, weight=weight_column, max_points=max_points)
    drawing = {"title": title, "color": color, "hover": hover_columns, "log_x": log_x,
               "log_y": log_y}
    written = []
    if output is not None or png is None:
        written.append(write_html(plot_figure(data, **drawing), output or "front.html"))
    if png is not None:
        written.append(write_png(plot_figure(data, webgl=False, **drawing), png))
    emit(_plot_summary(data), fmt, title="wrote " + ", ".join(map(str, written)))


def _plot_summary(data) -> list[dict]:
    rows = []
    for i, name in enumerate(data.names):
        row = {"table": name}
        if data.decision:
            t = data.decision.traces[i]
            row.update({"rows": len(t.front) + t.n_dominated + t.n_faded, "metric": t.metric,
                        "decision_front": len(t.front), "decision_hypervolume": t.hypervolume})
            if len(t.selected) and "run" in t.selected:
                row["selected_run"] = t.selected["run"].iloc[0]
        if data.objectives:
            t = data.objectives.traces[i]
            row.update({"rows": len(t.rows), "front": len(t.front), "hypervolume": t.hypervolume})
        rows.append(row)
    return rows


def _levels(ctx, param, value):
    try:
        levels = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"give comma-separated numbers in [0, 1], got {value!r}",
                                 ctx=ctx, param=param) from None
    if not levels or any(not 0.0 <= v <= 1.0 for v in levels):
        raise click.BadParameter(f"give comma-separated numbers in [0, 1], got {value!r}",
                                 ctx=ctx, param=param)
    return levels


@click.command("compare", epilog=TABLE_HELP)
@click.argument("tables", nargs=-1, required=True)
@click.option("--metric", default="test_acc", show_default=True,
              help="The accuracy column reported for the chosen networks (test: it reports, it "
                   "never chooses).")
@click.option("--select", "select", default=DEFAULT_SELECT, show_default=True,
              help="The accuracy column each table's networks are chosen on (validation).")
@click.option("--levels", default=",".join(f"{v:g}" for v in DEFAULT_LEVELS), show_default=True,
              callback=_levels, help="Comma-separated sparsity levels in [0, 1].")
@click.option("--sparsity-column", default=DEFAULT_SPARSITY, show_default=True,
              help="The sparsity column the levels refer to.")
@click.option("--name", "names", multiple=True,
              help="Label of each table, in order (default: its method, or its path when "
                   "methods repeat).")
@format_option
def compare_command(tables, metric, select, levels, sparsity_column, names, fmt):
    """Compare the fronts of TABLES (sweeps or tables) at matched sparsity levels.

    Each table's networks are chosen on validation (--select): its front of validation
    accuracy against sparsity. The test accuracy (--metric) of those networks is reported at
    each level, interpolated linearly in log nonzero weights (log(1 - sparsity)) between the
    two chosen networks around it -- never the best test result near a level, which flatters.
    A level outside the chosen networks' sparsity range takes the nearest end's value and is
    marked extrapolated ('*' in the table, the 'extrapolated' column in csv and json). Also the
    hypervolume of the chosen networks in decision space (test error against nnz), normalized
    over all the tables together, and the total training time (the sum of wall_time, failed
    runs included). A table without a usable row has empty values; exits with 1 when no table
    has one.
    """
    from paretoprune.table_analysis import compare_tables, level_column

    frames = load_tables(tables, names)
    for label, frame in frames.items():
        try:
            require_columns(frame, [metric, select, sparsity_column])
        except InputError as err:
            raise InputError(f"{label}: {err}") from None
    if not any(usable_rows(f).any() for f in frames.values()):
        raise CheckFailed("nothing to compare: no usable row (every run failed or collapsed)")
    result = compare_tables(frames, levels, metric=metric, select=select, sparsity=sparsity_column)
    result = result.rename(columns={"wall_time": "wall_time_sum"})
    if fmt != "table":
        emit(result, fmt)
        return
    shown = result.copy()
    for level in levels:
        column = level_column(metric, level)
        marked = [f"{level:g}" in str(e).split(",") for e in shown["extrapolated"]]
        shown[column] = [f"{v:.4f}{'*' if m else ''}" if v == v else ""
                         for v, m in zip(shown[column], marked, strict=True)]
    columns = ["table", *[level_column(metric, lv) for lv in levels], "hypervolume", "chosen",
               "wall_time_sum", "usable", "rows"]
    emit(shown, fmt, columns=columns,
         title=f"{metric} of the networks chosen on {select}, at {sparsity_column} levels "
               "(log-nnz interpolation); HV: error against nnz, shared normalization")
    if any(shown["extrapolated"].astype(str).str.len() > 0):
        click.echo("* extrapolated: outside the front's sparsity range (the nearest end's value)")
