"""show, knee and plot through click's CliRunner, on tables that no sweep wrote."""

import json
import re

import pandas as pd
import pytest
from click.testing import CliRunner

from paretoprune.cli import main

TABLE = pd.DataFrame({
    "name": ["a", "b", "c", "d", "e", "f"],
    "lam": [0.0, 0.2, 0.4, 0.6, 1.0, 0.3],
    "err": [0.05, 0.10, 0.20, 0.60, 2.30, 0.50],
    "size": [1.00, 0.30, 0.10, 0.05, 0.00, 0.60],
})


@pytest.fixture
def csv_path(tmp_path):
    path = tmp_path / "points.csv"
    TABLE.to_csv(path, index=False)
    return path


def run(*args, input=None):
    result = CliRunner().invoke(main, [str(a) for a in args], input=input)
    return result


def test_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for name in ("sweep", "train", "show", "knee", "plot", "export", "check"):
        assert name in result.output


def test_show_json_has_the_pareto_column(csv_path):
    result = run("show", csv_path, "--x", "err", "--y", "size", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["pareto"] for r in rows] == [True, True, True, True, True, False]
    assert set(rows[0]) == {"name", "lam", "err", "size", "pareto"}


def test_show_front_csv_from_stdin():
    result = run("show", "-", "--x", "err", "--y", "size", "--front", "--format", "csv",
                 input=TABLE.to_csv(index=False))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "name,lam,err,size,pareto"
    assert [ln.split(",")[0] for ln in lines[1:]] == ["a", "b", "c", "d", "e"]


def test_show_plain_table_in_a_pipe(csv_path):
    result = run("show", csv_path, "--x", "err", "--y", "size")
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout and "pareto" in result.stdout


def test_knee_default_and_top(csv_path):
    result = run("knee", csv_path, "--x", "err", "--y", "size", "--format", "json")
    assert result.exit_code == 0, result.output
    (best,) = json.loads(result.stdout)
    assert best["name"] == "c" and best["knee_rank"] == 1
    result = run("knee", csv_path, "--x", "err", "--y", "size", "--top", "3", "--format", "json")
    assert [r["knee_rank"] for r in json.loads(result.stdout)] == [1, 2, 3]


@pytest.mark.parametrize("method", ["distance", "kneedle", "angle", "utility", "tradeoff"])
def test_knee_every_method(csv_path, method):
    result = run("knee", csv_path, "--x", "err", "--y", "size", "--method", method,
                 "--weight-column", "lam", "--format", "json")
    assert result.exit_code == 0, result.output
    (best,) = json.loads(result.stdout)
    assert best["name"] in {"a", "b", "c", "d", "e"}  # a front row, never the dominated f


def test_plot_writes_offline_html(csv_path, tmp_path):
    other = tmp_path / "other.json"
    TABLE.assign(err=TABLE["err"] * 1.5).to_json(other, orient="records")
    out = tmp_path / "front.html"
    result = run("plot", csv_path, other, "-o", out, "--x", "err", "--y", "size",
                 "--name", "base", "--format", "json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert [s["table"] for s in summary] == ["base", str(other)]
    assert summary[0]["hypervolume"] > summary[1]["hypervolume"]
    html = out.read_text()
    assert "base (HV" in html
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)


BAD = [
    (["show", "missing.csv"], "no such file"),
    (["show", "{csv}", "--x", "nope"], "unknown column 'nope'"),
    (["knee", "{csv}", "--x", "name", "--y", "size"], "non-numeric"),
    (["knee", "{empty}"], "has no rows"),
    (["knee", "{two}", "--x", "err", "--y", "size", "--method", "angle"], "at least 3"),
    (["knee", "{csv}", "--x", "err", "--y", "size", "--method", "tradeoff"], "'weight' column"),
    (["show", "{csv}", "--format", "xml"], "Invalid value"),
]


@pytest.mark.parametrize("args, message", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, csv_path, args, message):
    empty = tmp_path / "empty.csv"
    empty.write_text("err,size\n")
    two = tmp_path / "two.csv"
    TABLE.head(2).to_csv(two, index=False)
    args = [a.format(csv=csv_path, empty=empty, two=two) for a in args]
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and result.exception is None or isinstance(
        result.exception, SystemExit)
    if "Invalid value" not in message:
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("paretoprune: error:")
