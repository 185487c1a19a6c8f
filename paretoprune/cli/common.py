"""What every command shares: error handling, the ``--format`` option and printing.

Commands stay thin: they parse options, call the library, and print with :func:`emit`. A
:class:`~paretoprune.errors.ParetoPruneError` raised anywhere below becomes one line on standard
error, ``paretoprune: error: <message>``, and the error's documented exit code.
"""

from __future__ import annotations

import sys
import warnings

import click

from paretoprune.errors import EXIT_INTERRUPTED, ParetoPruneError
from paretoprune.presentation.output import FORMATS
from paretoprune.presentation.output import emit as _emit


def error_line(message: str) -> str:
    """``paretoprune: error: <message>`` on one line (newlines in click's messages folded)."""
    return "paretoprune: error: " + " ".join(str(message).split())


class CliError(click.ClickException):
    """A user-facing error with its own exit code, printed as one line."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None) -> None:
        click.echo(error_line(self.message), err=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings meant for users (a stale lock taken over, a directory moved aside) as one line."""
    click.echo(f"paretoprune: warning: {message}", err=True)


def run_cli(fn, *args, **kwargs):
    """Call ``fn`` and turn user-facing errors into :class:`CliError` (one line, exit code)."""
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return fn(*args, **kwargs)
    except ParetoPruneError as err:
        raise CliError(str(err), err.exit_code) from None
    except KeyboardInterrupt:
        click.echo("paretoprune: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def format_option(f):
    """``--format table|csv|json``."""
    return click.option(
        "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
        help="table: a rich table on a terminal, plain text in a pipe; csv or json: for scripts.",
    )(f)


def columns_option(f):
    """``--columns a,b,c``: which columns to print."""
    return click.option(
        "--columns", default=None, metavar="A,B,...",
        help="Comma-separated columns to print, or 'all'. Default: all columns, except that a wide "
             "table in table format shows the most useful ones.",
    )(f)


def parse_columns(value: str | None, frame=None) -> list[str] | None:
    """The ``--columns`` value as a list (None for the default choice)."""
    if not value:
        return None
    if value == "all":
        return None if frame is None else [str(c) for c in frame.columns]
    return [c.strip() for c in value.split(",") if c.strip()]


def emit(records, fmt: str = "table", *, title=None, columns=None) -> None:
    """Print records to standard output (see :func:`paretoprune.presentation.output.emit`)."""
    _emit(records, fmt, title=title, columns=columns, file=sys.stdout)
