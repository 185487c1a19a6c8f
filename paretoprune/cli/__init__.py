"""The ``paretoprune`` command line: a thin click layer that parses and delegates.

Subcommands are imported only when they run, so that ``paretoprune show`` answers without
importing torch. Every error a user can cause -- click's own usage errors included -- is one
line on standard error, ``paretoprune: error: ...``, with the documented exit code: 0 ok; 1 a
check failed, a run failed or nothing was found; 2 bad input; 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
import threading


def _interrupted_while_starting(_signum, _frame):
    """Ctrl-C during the imports below: one line and exit 130, not their traceback."""
    os.write(2, b"paretoprune: interrupted\n")
    os._exit(130)  # EXIT_INTERRUPTED (not imported yet); nothing has begun


# a Ctrl-C during the imports below would print their traceback; click takes over in main()
_STARTING = threading.current_thread() is threading.main_thread() and \
    signal.getsignal(signal.SIGINT) is signal.default_int_handler
if _STARTING:
    signal.signal(signal.SIGINT, _interrupted_while_starting)

import difflib  # noqa: E402
import importlib  # noqa: E402

import click  # noqa: E402

from paretoprune import __version__  # noqa: E402
from paretoprune.cli.common import error_line, run_cli  # noqa: E402
from paretoprune.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED  # noqa: E402

if _STARTING:
    signal.signal(signal.SIGINT, signal.default_int_handler)

#: name -> "module:attribute" of each subcommand.
COMMANDS = {
    "train": "paretoprune.cli.train_command:train_command",
    "sweep": "paretoprune.cli.sweep_commands:sweep_command",
    "show": "paretoprune.cli.table_commands:show_command",
    "knee": "paretoprune.cli.table_commands:knee_command",
    "plot": "paretoprune.cli.table_commands:plot_command",
    "compare": "paretoprune.cli.table_commands:compare_command",
    "export": "paretoprune.cli.sweep_commands:export_command",
    "check": "paretoprune.cli.sweep_commands:check_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use, and whose errors are one line."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; commands: {', '.join(COMMANDS)}"
            raise click.UsageError(f"no such command '{name}'{hint}", ctx)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx):
        return run_cli(super().invoke, ctx)

    def main(self, args=None, prog_name=None, **extra):
        """Run the command line; usage errors become one line and exit code 2."""
        try:
            return self._main(args, prog_name, **extra)
        finally:
            if args is None and threading.current_thread() is threading.main_thread():
                # the program itself (not a test runner) has its exit code and has printed
                # its output: a Ctrl-C while the interpreter exits leaves them as they are
                # (Python's own handler is gone by then and would kill it with SIGINT)
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    def _main(self, args, prog_name, **extra):
        try:
            code = super().main(args, prog_name or "paretoprune", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as err:  # bare "paretoprune": the help
            click.echo(err.ctx.get_help() if err.ctx else "", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.ClickException as err:
            click.echo(error_line(err.format_message()), err=True)
            sys.exit(err.exit_code)
        except click.exceptions.Abort:
            click.echo("paretoprune: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.version_option(__version__, prog_name="paretoprune")
def main():
    """Find how small a neural network can get without losing accuracy.

    paretoprune treats pruning as a biobjective problem, prediction loss (cross-entropy) against
    complexity (the l1 norm of the prunable weights), and explores the front with training runs
    that prune during training. It answers: the sparsest network within δ of a dense one.

    \b
    Typical use:
      paretoprune sweep runs/digits --max-drop 0.01   # the sparsest net within 1 point
      paretoprune knee runs/digits --max-drop 0.01    # read the answer again
      paretoprune plot runs/digits -o runs/digits/front.html

    show, knee and plot also work on any CSV, Parquet or JSON table of points ('-' reads CSV
    from standard input). Exit codes: 0 ok, 1 a check failed, a run failed or nothing was
    found, 2 bad input, 130 interrupted.
    """
