"""Errors that reach users as one clear line.

Every error meant for a user derives from :class:`ParetoPruneError`. The CLI catches it,
prints ``paretoprune: error: <message>`` on stderr and exits with ``exit_code``; anything else
is a bug and keeps its traceback. Library callers can catch the built-in bases as well
(``InputError`` is a ``ValueError``), so the errors read naturally outside the CLI too.

Exit codes (documented in the README):

* 0 -- success;
* 1 -- a check failed, a training run failed, or nothing was found;
* 2 -- bad input: a missing file, an unknown name or column, a value out of range, a corrupted
  or locked store;
* 130 -- interrupted (Ctrl-C); a sweep store stays readable and resumable.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class ParetoPruneError(Exception):
    """Base of every user-facing error; ``str(err)`` is the one line shown to the user."""

    exit_code = EXIT_BAD_INPUT


class InputError(ParetoPruneError, ValueError):
    """Bad input: a value, file, column or name the user gave that cannot be used."""


class StoreError(ParetoPruneError):
    """A sweep directory that cannot be used: corrupted, foreign, or locked."""


class LockHeldError(StoreError):
    """Another live process holds the lock of a sweep directory."""


class TrainingError(ParetoPruneError):
    """A training run that did not finish (it diverged, say); a sweep records it as a failed
    run, ``paretoprune train`` exits with 1."""

    exit_code = EXIT_FAILED


class CheckFailed(ParetoPruneError):
    """A ``paretoprune check`` bound was not met, or nothing was found."""

    exit_code = EXIT_FAILED


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error message (or of a text), for one-line reports.

    For an exception with an empty message, its type name. This is the one helper every layer
    uses to turn an exception into the single line a user sees.
    """
    text = str(error)
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__ if isinstance(error, BaseException) else ""
