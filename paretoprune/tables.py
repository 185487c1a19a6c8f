"""Tables of points from anywhere: CSV, TSV, Parquet, JSON, JSON lines, standard input, or a
sweep directory (with its derived columns).

The one place that reads tables for the commands (``show``, ``knee``, ``plot``, ``compare``);
bad input is one :class:`~paretoprune.errors.InputError` line.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pandas as pd

from paretoprune.errors import InputError, first_line

__all__ = ["load_sweep_table", "load_table"]


def load_table(source: str | Path) -> pd.DataFrame:
    """Read a table of points from a CSV, TSV, Parquet, JSON or JSON-lines file, a sweep directory,
    or ``"-"`` (CSV on standard input).

    Raises :class:`InputError` with one line for a missing file, an unreadable file or an empty
    table.
    """
    text = str(source)
    if text == "-":
        data = sys.stdin.read()
        frame = _parse(lambda: pd.read_csv(io.StringIO(data)), "standard input", "CSV")
        return _non_empty(frame, "standard input")
    path = Path(text)
    if path.is_dir():
        return _non_empty(load_sweep_table(path), f"sweep {path}")
    if not path.exists():
        raise InputError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = _parse(lambda: pd.read_parquet(path), path, "Parquet")
    elif suffix == ".jsonl":
        frame = _parse(lambda: pd.read_json(path, lines=True), path, "JSON lines")
    elif suffix == ".json":
        frame = _parse(lambda: pd.read_json(path), path, "JSON")
    elif suffix == ".tsv":
        frame = _parse(lambda: pd.read_csv(path, sep="\t"), path, "TSV")
    else:
        frame = _parse(lambda: pd.read_csv(path), path, "CSV")
    return _non_empty(frame, path)


def load_sweep_table(path: str | Path) -> pd.DataFrame:
    """The table of a sweep directory with its derived columns (``collapsed``, ``drop``,
    ``drop_upper``, ``test_drop``, ``test_drop_upper``, ``certified``, ``pareto``,
    ``selected``; see :func:`paretoprune.selection.sweep_table`); ``attrs["sweep"]``
    holds the sweep's configuration as a dict."""
    from paretoprune.config import SweepConfig
    from paretoprune.selection import sweep_table
    from paretoprune.store import META_FILE, SweepStore  # imported only when needed

    if not (Path(path) / META_FILE).exists():
        raise InputError(f"{path} is a directory but not a sweep directory (no {META_FILE})")
    store = SweepStore.open(path)  # a broken or newer sweep.json is reported as such
    config = SweepConfig.from_dict(store.config)
    frame = sweep_table(store.points(), config, store.load_predictions)
    frame.attrs["sweep"] = config.to_dict()
    return frame


def _parse(read, where, kind: str) -> pd.DataFrame:
    try:
        return read()
    except pd.errors.EmptyDataError:
        raise InputError(f"{where} is empty") from None
    except (ValueError, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {where} as {kind}: {first_line(err)}") from None
    except Exception as err:  # pyarrow and friends raise their own types
        raise InputError(f"cannot read {where} as {kind}: {type(err).__name__}: {err}") from None


def _non_empty(frame: pd.DataFrame, where) -> pd.DataFrame:
    if len(frame) == 0:
        raise InputError(f"{where} has no rows")
    return frame.reset_index(drop=True)
