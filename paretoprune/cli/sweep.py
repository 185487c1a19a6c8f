"""``sweep``, ``export`` and ``check``: commands on sweep directories."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from paretoprune.cli.common import emit, format_option
from paretoprune.cli.train import spec_from_options, training_options
from paretoprune.errors import CheckFailed, InputError
from paretoprune.pareto import KNEE_METHODS, RULES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _load_config(ctx: click.Context, _param, value):
    """``--config FILE``: a TOML file whose keys are option names (dashes or underscores); they
    become defaults, so flags given on the command line override them."""
    if not value:
        return value
    try:
        data = tomllib.loads(Path(value).read_text())
    except FileNotFoundError:
        raise click.BadParameter(f"no such file: {value}") from None
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise click.BadParameter(f"cannot read {value} as TOML: {err}") from None
    data = data.get("sweep", data)  # a [sweep] table or top-level keys
    names = {p.name for p in ctx.command.params}
    defaults = {}
    for key, item in data.items():
        name = key.replace("-", "_")
        if name not in names:
            raise click.BadParameter(f"unknown setting {key!r} in {value}")
        defaults[name] = item
    ctx.default_map = {**(ctx.default_map or {}), **defaults}
    return value


@click.command("sweep")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--config", type=click.Path(dir_okay=False), callback=_load_config, is_eager=True,
              expose_value=False, help="TOML file with any of these options (flags override it).")
@training_options
@click.option("--budget", type=int, default=8, show_default=True,
              help="Total training runs, finished runs of a resumed sweep included.")
@click.option("--rule", type=click.Choice(RULES), default="normal", show_default=True,
              help="Next weight for a gap: normal (dichotomic/NISE), midpoint (bisection), "
                   "grid (uniform baseline), random (baseline).")
@click.option("--weights", "weight_range", default="0:1", show_default=True, metavar="LO:HI",
              help="Range of the scalarization weight λ.")
@click.option("--tol", type=float, default=1e-3, show_default=True,
              help="A new point must land this far below its gap's segment (normalized) or the gap closes.")
@click.option("--warm-start/--no-warm-start", default=False, show_default=True,
              help="Start each run from the checkpoint of the nearest finished run.")
@click.option("--warm-epochs", type=int, default=5, show_default=True,
              help="Epochs of a warm-started run.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Runs in parallel (one round proposes this many weights).")
@click.option("--executor", type=click.Choice(["auto", "serial", "process", "ray"]), default="auto",
              show_default=True, help="auto: serial for one worker, a process pool for more.")
@click.option("--ray-address", default=None, help="Address of an existing Ray cluster (default: start a local one).")
@click.option("--gpus-per-run", type=float, default=0.0, show_default=True, help="GPUs per Ray task.")
@click.option("--force", is_flag=True, help="Use OUT even if it holds a different sweep (the old one is moved aside).")
@click.option("--resume", is_flag=True,
              help="Require OUT to hold a sweep to continue (running the same command again resumes anyway).")
@click.option("--knee-method", type=click.Choice(KNEE_METHODS), default="distance", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No live display: one plain line per finished run.")
@click.option("--log-format", type=click.Choice(["plain", "json"]), default="plain", show_default=True,
              help="Format of the per-run lines on stderr when not live.")
@format_option
def sweep_command(out, budget, rule, weight_range, tol, warm_start, warm_epochs, workers, executor,
                  ray_address, gpus_per_run, force, resume, knee_method, quiet, log_format, fmt,
                  **training):
    """Explore the loss/complexity front with weighted-sum training runs into directory OUT.

    It starts from both ends of the weight range, then repeatedly bisects the largest hypervolume
    gap of the front found so far. Every finished run is saved at once; running the same command
    again (or with --resume) continues a killed sweep. At the end it prints the front and the knee.
    """
    from paretoprune.presentation.progress import SweepReporter
    from paretoprune.store import SweepStore
    from paretoprune.sweep import SweepConfig, parse_weight_range, run_sweep

    if resume and not SweepStore.is_sweep_dir(out):
        raise InputError(f"nothing to resume: {out} holds no sweep")
    config = SweepConfig(
        train=spec_from_options(**training).to_dict(), budget=budget, rule=rule,
        weights=parse_weight_range(weight_range), tol=tol, warm_start=warm_start,
        warm_epochs=warm_epochs, workers=workers, executor=executor, ray_address=ray_address,
        gpus_per_run=gpus_per_run,
    ).validate()
    reporter = SweepReporter(live=False if quiet else None, log_format=log_format)
    try:
        frame = run_sweep(out, config, force=force, reporter=reporter)
    finally:
        reporter.close()
    _print_result(frame, out, knee_method, fmt)


def _print_result(frame, out, knee_method, fmt) -> None:
    from paretoprune.points import knee

    front = frame[frame["pareto"]].sort_values("loss")
    if fmt != "table":
        emit(front, fmt)
        return
    emit(front, fmt, title=f"front of {out} ({len(front)} of {len(frame)} runs)")
    try:
        best = knee(frame, knee_method, top=1)
    except InputError as err:
        click.echo(f"no knee: {err}", err=True)
        return
    emit(best, fmt, title=f"knee ({knee_method})")


def _chosen_run(out, run, method):
    """The sweep's points and the chosen row: ``run`` if given, else the knee by ``method``."""
    from paretoprune.points import knee
    from paretoprune.store import SweepStore

    store = SweepStore.open(out)
    points = store.points()
    if points.empty:
        raise CheckFailed(f"{out} has no finished runs")
    if run is not None:
        rows = points[points["run"] == run]
        if rows.empty:
            raise InputError(f"{out} has no run {run}; runs are {points['run'].min()}..{points['run'].max()}")
        return store, points, rows.iloc[0]
    return store, points, knee(points, method, top=1).iloc[0]


@click.command("export")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--knee", "use_knee", is_flag=True, help="Export the knee run (the default).")
@click.option("--run", type=int, default=None, help="Export this run instead of the knee.")
@click.option("--method", type=click.Choice(KNEE_METHODS), default="distance", show_default=True,
              help="Knee method for --knee.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="File for the model weights (a plain torch state dict; a JSON with the config "
                   "and metrics is written beside it).")
@format_option
def export_command(out, use_knee, run, method, output, fmt):
    """Export a run of sweep OUT: its weights with the masks folded in (pruned weights are plain
    zeros, loadable with torch.load), and its config and metrics in a JSON beside them."""
    from paretoprune.training import export_state

    if use_knee and run is not None:
        raise InputError("give --knee or --run, not both")
    store, _points, row = _chosen_run(out, run, method)
    run_id = int(row["run"])
    checkpoint = store.load_checkpoint(run_id)
    if checkpoint is None:
        raise InputError(f"run {run_id} of {out} has no checkpoint")
    output = Path(output)
    if not output.parent.exists():
        raise InputError(f"cannot write {output}: folder {output.parent} does not exist")
    model = export_state(checkpoint["state"], output)
    metrics = {k: _json_value(v) for k, v in row.items()}
    meta = {"run": run_id, "sweep": str(out), "model": model,
            "config": checkpoint.get("config", {}), "metrics": metrics,
            "load": "state = torch.load(PATH); model = paretoprune.training.build_model("
                    "meta['model']['model'], meta['model']['num_classes'], "
                    "meta['model']['input_shape']); model.load_state_dict(state)"}
    meta_path = output.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    emit({"run": run_id, "weights": str(output), "meta": str(meta_path),
          "sparsity": metrics.get("sparsity"), "test_acc": metrics.get("test_acc")}, fmt)


def _json_value(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


BOUNDS = {
    # option name: (column, kind, description)
    "min_sparsity": ("sparsity", "min", "share of prunable weights that are zero"),
    "min_sparsity_dense": ("sparsity_dense", "min", "share of dense-layer weights that are zero"),
    "min_acc": ("test_acc", "min", "test accuracy"),
    "max_acc_drop": ("acc_drop", "max", "test accuracy drop against the dense run (lowest weight)"),
    "max_loss": ("loss", "max", "training loss"),
    "max_nnz": ("nnz", "max", "non-zero prunable weights"),
}


@click.command("check")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--min-sparsity", type=float, default=None, help="Lowest allowed sparsity (0..1).")
@click.option("--min-sparsity-dense", type=float, default=None,
              help="Lowest allowed dense-layer sparsity (0..1).")
@click.option("--min-acc", type=float, default=None, help="Lowest allowed test accuracy (0..1).")
@click.option("--max-acc-drop", type=float, default=None,
              help="Largest allowed test-accuracy drop against the dense run, as a fraction "
                   "(0.01 = one percentage point).")
@click.option("--max-loss", type=float, default=None, help="Largest allowed training loss.")
@click.option("--max-nnz", type=int, default=None, help="Largest allowed number of non-zero weights.")
@click.option("--run", type=int, default=None, help="Check this run instead of the knee.")
@click.option("--method", type=click.Choice(KNEE_METHODS), default="distance", show_default=True)
@format_option
def check_command(out, run, method, fmt, **bounds):
    """Gate a CI pipeline on sweep OUT: exit 0 when the knee (or --run) meets every bound, 1 when
    one fails (saying which), 2 for bad input."""
    given = {name: value for name, value in bounds.items() if value is not None}
    if not given:
        raise InputError("give at least one bound, for example --min-sparsity 0.9")
    for name in ("min_sparsity", "min_sparsity_dense", "min_acc", "max_acc_drop"):
        if name in given and not 0.0 <= given[name] <= 1.0:
            raise InputError(f"--{name.replace('_', '-')} is a fraction in [0, 1], got {given[name]}")
    _store, points, row = _chosen_run(out, run, method)
    results = [_check_bound(name, limit, row, points) for name, limit in given.items()]
    emit(results, fmt, title=f"check of run {int(row['run'])} of {out}")
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise CheckFailed("; ".join(f"{r['bound']} {r['limit']} not met (value {r['value']:.6g})"
                                    for r in failed))


def _check_bound(name, limit, row, points) -> dict:
    column, kind, _ = BOUNDS[name]
    if column == "acc_drop":
        ok_rows = points[points["status"].astype(str).eq("ok")]
        dense = ok_rows.loc[ok_rows["weight"].idxmin()]
        value = float(dense["test_acc"]) - float(row["test_acc"])
    else:
        if column not in row.index:
            raise InputError(f"the sweep has no {column!r} column for --{name.replace('_', '-')}")
        value = float(row[column])
    ok = value >= limit if kind == "min" else value <= limit
    return {"bound": f"--{name.replace('_', '-')}", "limit": limit, "value": value, "ok": bool(ok)}
