"""Printing records for people and for pipes.

One function, :func:`emit`, prints a table of records in the format the user chose:

* ``table`` -- a rich table on a terminal; plain aligned text, without colour, when standard
  output is not a terminal (so ``paretoprune show runs/x | less`` stays readable);
* ``csv`` -- comma-separated values with a header row;
* ``json`` -- a JSON array of objects, NaN and missing values written as ``null``, dates and
  times as ISO 8601 strings (a Parquet datetime column), other objects as their text.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence

import pandas as pd

from paretoprune.fileio import jsonable
from paretoprune.methods import METHODS

FORMATS = ("table", "csv", "json")

#: The columns a wide table shows on screen by default (``--columns all`` shows every one;
#: csv and json always carry every column). Chosen to fit an 80-column terminal.
PREFERRED_COLUMNS = (
    "run", "role", *dict.fromkeys(m.parameter for m in METHODS.values() if m.parameter),
    "loss", "l1", "sparsity", "nnz", "val_acc", "test_acc", "drop", "status", "pareto",
    "selected", "knee_rank",
)
#: A table with more columns than this is narrowed to the preferred columns in ``table`` format.
MAX_TABLE_COLUMNS = 12


def as_frame(records: pd.DataFrame | Sequence[Mapping] | Mapping) -> pd.DataFrame:
    """Records as a DataFrame: a DataFrame, a list of mappings, or one mapping (one row)."""
    if isinstance(records, pd.DataFrame):
        return records
    if isinstance(records, Mapping):
        return pd.DataFrame([dict(records)])
    return pd.DataFrame([dict(r) for r in records])


def display_columns(frame: pd.DataFrame, columns: Sequence[str] | None, fmt: str) -> list[str]:
    """The columns to print: those asked for, else all of them, except that in ``table`` format
    empty columns are dropped and a wide table is narrowed to the preferred columns it has."""
    if columns:
        return list(columns)
    names = [str(c) for c in frame.columns]
    if fmt == "table" and len(frame):
        # A column with no value at all (val_acc without a validation split) is noise on screen.
        names = [c for c in names if frame[c].notna().any()]
    if fmt != "table" or len(names) <= MAX_TABLE_COLUMNS:
        return names
    preferred = [c for c in PREFERRED_COLUMNS if c in names]
    return preferred if len(preferred) >= 3 else names[:MAX_TABLE_COLUMNS]


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.6g}"
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _jsonable(value):
    # pandas' missing markers (NA, NaT, None) first: fileio.jsonable would write pd.NA as text.
    if pd.api.types.is_scalar(value) and not isinstance(value, str) and pd.isna(value):
        return None
    return jsonable(value)


def emit(
    records: pd.DataFrame | Sequence[Mapping] | Mapping,
    fmt: str = "table",
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    file=None,
) -> None:
    """Print ``records`` to ``file`` (standard output by default) in format ``fmt``.

    ``title`` is shown above a ``table`` (never in ``csv``/``json``, which stay machine-readable).
    ``columns`` selects and orders the columns; unknown names are ignored.
    """
    out = file or sys.stdout
    frame = as_frame(records)
    chosen = [c for c in display_columns(frame, columns, fmt) if c in frame.columns]
    frame = frame[chosen]
    if fmt == "csv":
        frame.to_csv(out, index=False, lineterminator="\n")
    elif fmt == "json":
        rows = [{str(k): _jsonable(v) for k, v in row.items()} for row in frame.to_dict("records")]
        out.write(json.dumps(rows, indent=2) + "\n")
    elif fmt == "table":
        _emit_table(frame, title, out)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def _emit_table(frame: pd.DataFrame, title: str | None, out) -> None:
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, header_style="bold")
        for name in frame.columns:
            numeric = pd.api.types.is_numeric_dtype(frame[name]) and frame[name].dtype != bool
            table.add_column(str(name), justify="right" if numeric else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*(_cell(v) for v in row))
        Console(file=out).print(table)
        return
    # Not a terminal: aligned plain text, no colour, no box characters.
    cells = [[str(c) for c in frame.columns]] + [
        [_cell(v) for v in row] for row in frame.itertuples(index=False)
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(frame.columns))]
    if title:
        out.write(f"# {title}\n")
    for r in cells:
        out.write("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")
