"""The ``paretoprune`` command line: a thin click layer that parses and delegates.

Subcommands are imported only when they run, so that ``paretoprune show`` answers without
importing torch.

Exit codes: 0 ok; 1 a check failed or nothing was found; 2 bad input; 130 interrupted.
"""

from __future__ import annotations

import importlib

import click

from paretoprune import __version__
from paretoprune.cli.common import run_cli

#: name -> "module:attribute" of each subcommand.
COMMANDS = {
    "train": "paretoprune.cli.train:train_command",
    "sweep": "paretoprune.cli.sweep:sweep_command",
    "show": "paretoprune.cli.points:show_command",
    "knee": "paretoprune.cli.points:knee_command",
    "plot": "paretoprune.cli.points:plot_command",
    "export": "paretoprune.cli.sweep:export_command",
    "check": "paretoprune.cli.sweep:check_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        return run_cli(super().invoke, ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="paretoprune")
def main():
    """Find how small a neural network can get without losing accuracy.

    paretoprune treats pruning as a biobjective problem, prediction loss (cross-entropy) against
    complexity (the l1 norm of the prunable weights), and explores the front with weighted-sum
    training runs that prune during training.

    \b
    Typical use:
      paretoprune sweep runs/digits             # adaptive sweep on the bundled digits data
      paretoprune knee runs/digits              # the knee solution
      paretoprune plot runs/digits -o front.html

    show, knee and plot also work on any CSV, Parquet or JSON table of points ('-' reads CSV
    from standard input). Exit codes: 0 ok, 1 a check failed or nothing was found, 2 bad input,
    130 interrupted.
    """
