"""``paretoprune train``: one training run.

Its options are generated from :class:`~paretoprune.config.TrainSpec` and the methods' options
classes (one place for every default and check), so a bad value is one line before torch is
imported.
"""

from __future__ import annotations

import sys

import click

from paretoprune.cli.common import emit, format_option
from paretoprune.cli.options import (
    GroupedCommand,
    add_options,
    methods_epilog,
    train_spec,
    training_options,
)
from paretoprune.errors import TrainingError

TRAINING_OPTIONS = training_options()


class _EpochBar:
    """A rich progress bar per epoch on standard error (only on a terminal, not with --quiet)."""

    def __init__(self, total: int, enabled: bool):
        self.progress = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(), TextColumn("epochs"),
            TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
            console=Console(stderr=True), transient=True,
        )
        self.task = self.progress.add_task("train", total=total, info="")

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, record: dict) -> None:
        if self.progress is None:
            return
        info = f"loss {record['loss']:.4f}  l1 {record['l1']:.4f}  sparsity {record['sparsity']:.1%}"
        if "c2" in record:
            info += f"  c2 {record['c2']:.3f}"
        self.progress.update(self.task, completed=record["epoch"], info=info)


@click.command("train", cls=GroupedCommand, epilog=methods_epilog())
@add_options(TRAINING_OPTIONS)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the run's checkpoint (weights, masks, settings, metrics) to FILE.")
@format_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_command(output, fmt, quiet, **options):
    """Train one network with intra-training pruning and print its metrics.

    The default method, the weighted sum, minimizes (1-λ)·cross-entropy + λ·l1, where l1 is the
    l1 norm of the prunable weights divided by its value at the dense initialization; weights
    below --threshold are zeroed after every step. Defaults train a small MLP on the bundled
    digits in a few seconds. Exit codes: 0 ok, 1 the run failed (diverged), 2 bad input.
    """
    spec = train_spec(options)  # checked here, before torch is imported
    import torch

    from paretoprune.training import save_checkpoint, train_run

    if spec.threads is not None:
        torch.set_num_threads(spec.threads)
    bar = _EpochBar(spec.epochs, enabled=not quiet and sys.stderr.isatty())
    with bar:
        result = train_run(spec, on_epoch=bar)
    metrics = result.metrics
    if output:
        save_checkpoint(output, result.state, spec=spec, metrics=metrics, history=result.history)
    if fmt == "table":
        rows = [{"metric": k, "value": v} for k, v in metrics.items()]
        emit(rows, fmt, title=f"{spec.method} · {spec.model} on {spec.dataset}")
    else:
        emit([metrics], fmt)
    if metrics["status"] != "ok":
        raise TrainingError(f"training failed: {metrics['error']}")
