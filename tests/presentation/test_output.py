"""emit(): tables for people, CSV and JSON for pipes."""

import io
import json
import math

import pandas as pd

from paretoprune.presentation.output import MAX_TABLE_COLUMNS, emit

ROWS = [{"run": 0, "loss": 0.125, "l1": 1.0, "status": "ok"},
        {"run": 1, "loss": math.nan, "l1": 0.5, "status": "failed"}]


def test_json_is_parseable_and_nan_is_null():
    out = io.StringIO()
    emit(ROWS, "json", file=out)
    data = json.loads(out.getvalue())
    assert data[0] == {"run": 0, "loss": 0.125, "l1": 1.0, "status": "ok"}
    assert data[1]["loss"] is None


def test_csv_round_trips_through_pandas():
    out = io.StringIO()
    emit(ROWS, "csv", title="ignored in csv", file=out)
    assert "ignored" not in out.getvalue()
    back = pd.read_csv(io.StringIO(out.getvalue()))
    assert back["l1"].tolist() == [1.0, 0.5]


def test_plain_table_when_not_a_terminal():
    out = io.StringIO()  # isatty() is False
    emit(ROWS, "table", title="points", file=out)
    text = out.getvalue()
    assert "\x1b[" not in text  # no colour codes
    assert text.splitlines()[0] == "# points"
    assert "0.125" in text and "failed" in text


def test_wide_tables_are_narrowed_in_table_format_only():
    row = {f"nnz.layer{i}": i for i in range(20)} | {"loss": 0.1, "l1": 0.2, "weight": 0.5}
    out = io.StringIO()
    emit([row], "table", file=out)
    header = out.getvalue().split()
    assert len(header) < MAX_TABLE_COLUMNS and "loss" in header
    out = io.StringIO()
    emit([row], "csv", file=out)
    assert out.getvalue().splitlines()[0].count(",") == len(row) - 1


def test_column_selection_keeps_order():
    out = io.StringIO()
    emit(ROWS, "csv", columns=["status", "run"], file=out)
    assert out.getvalue().splitlines()[0] == "status,run"


def test_json_writes_dates_as_iso_text_and_missing_values_as_null():
    frame = pd.DataFrame({"when": pd.to_datetime(["2024-01-02 03:04:05", None]),
                          "n": pd.array([1, None], dtype="Int64"),
                          "big": [10**401, 1]})
    out = io.StringIO()
    emit(frame, "json", file=out)
    rows = json.loads(out.getvalue())
    assert rows[0] == {"when": "2024-01-02T03:04:05", "n": 1, "big": 10**401}
    assert rows[1]["when"] is None and rows[1]["n"] is None
