"""show, knee, plot and compare through click's CliRunner, on tables made by hand."""

import csv
import io
import json
import re
import sys

import pandas as pd
import pytest
from _tables import sweep_frame
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
    for name in ("sweep", "train", "show", "knee", "plot", "compare", "export", "check"):
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
    result = run("knee", csv_path, "--x", "err", "--y", "size", "--knee", method,
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
    assert "base: size against err front (HV" in html
    assert not re.search(r"<script[^>]+src=[\"']https?://", html)


BAD = [
    (["show", "missing.csv"], "no such file"),
    (["show", "{csv}", "--x", "nope"], "unknown column 'nope'"),
    (["knee", "{csv}", "--x", "name", "--y", "size"], "non-numeric"),
    (["knee", "{empty}"], "has no rows"),
    (["knee", "{two}", "--x", "err", "--y", "size", "--knee", "angle"], "at least 3"),
    (["knee", "{csv}", "--x", "err", "--y", "size", "--knee", "tradeoff"], "'weight' column"),
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


# --- one line and the documented exit code, never a traceback ----------------------------------


def assert_error(result, code: int, message: str) -> None:
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("paretoprune: error: ") and result.stderr.count("\n") == 1, \
        result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output


@pytest.fixture
def sweep_csv(tmp_path):
    path = tmp_path / "sweep.csv"
    sweep_frame().to_csv(path, index=False)
    return path


def test_plot_into_a_read_only_place_is_one_line(csv_path, tmp_path):
    common = ["--x", "err", "--y", "size"]
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert_error(run("plot", csv_path, "-o", blocker / "front.html", *common), 2, "cannot write")
    assert_error(run("plot", csv_path, "-o", tmp_path / "no" / "f.html", *common), 2,
                 "does not exist")
    if sys.platform.startswith("linux"):
        assert_error(run("plot", csv_path, "-o", "/proc/paretoprune.html", *common), 2,
                     "/proc/paretoprune.html")


@pytest.mark.parametrize("others", ["0.5,0.1", "5,1"])  # pandas reads floats or Python ints
@pytest.mark.parametrize("command", [["show"], ["knee"], ["plot", "-o", "{out}"],
                                     ["compare", "--metric", "l1", "--select", "l1",
                                      "--sparsity-column", "loss"]])
def test_a_401_digit_number_is_one_line(tmp_path, command, others):
    path = tmp_path / "big.csv"
    second, third = others.split(",")
    path.write_text(f"loss,l1\n0.1,{'9' * 401}\n0.2,{second}\n0.3,{third}\n")
    args = [a.format(out=tmp_path / "f.html") for a in command]
    assert_error(run(args[0], path, *args[1:]), 2, "too large")


def test_a_401_digit_number_outside_the_objectives_is_printed(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(f"loss,l1,note\n0.1,1.0,{'9' * 401}\n0.2,0.5,3\n")
    result = run("show", path, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["note"] == int("9" * 401)
    assert run("plot", path, "-o", tmp_path / "f.html").exit_code == 0


def test_parquet_datetimes_as_json(tmp_path):
    path = tmp_path / "t.parquet"
    TABLE.assign(when=pd.to_datetime([f"2024-01-0{i + 1}" for i in range(6)]),
                 missing=pd.NaT).to_parquet(path)
    result = run("show", path, "--x", "err", "--y", "size", "--format", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)[0]
    assert row["when"] == "2024-01-01T00:00:00" and row["missing"] is None


def test_knee_without_a_usable_row_exits_1(tmp_path):
    path = tmp_path / "failed.csv"
    TABLE.assign(status="failed").to_csv(path, index=False)
    assert_error(run("knee", path, "--x", "err", "--y", "size"), 1, "no usable row")


def test_unknown_columns_are_named(csv_path):
    assert_error(run("show", csv_path, "--x", "err", "--y", "size", "--columns", "name,nosuch"),
                 2, "unknown column 'nosuch' for --columns")
    assert_error(run("knee", csv_path, "--x", "err", "--y", "size", "--columns", "nosuch"),
                 2, "unknown column 'nosuch' for --columns")
    assert_error(run("show", csv_path, "--x", "max:nosuch", "--y", "size"), 2,
                 "unknown column 'nosuch'")
    assert_error(run("knee", csv_path, "--x", "err", "--y", "max:"), 2, "no column after max:")


ZOO = pd.DataFrame({"model": ["big", "mid", "bad", "small"],
                    "accuracy": [0.95, 0.90, 0.50, 0.80], "params": [20, 10, 30, 15]})


def test_show_front_of_a_maximized_accuracy(tmp_path):
    path = tmp_path / "zoo.csv"
    ZOO.to_csv(path, index=False)
    result = run("show", path, "--x", "max:accuracy", "--y", "params", "--front", "--format",
                 "json")
    assert result.exit_code == 0, result.output
    assert [r["model"] for r in json.loads(result.stdout)] == ["big", "mid"]
    result = run("knee", path, "--x", "max:accuracy", "--y", "min:params", "--format", "json",
                 "--top", "2")
    assert {r["model"] for r in json.loads(result.stdout)} == {"big", "mid"}
    out = tmp_path / "zoo.html"
    result = run("plot", path, "--x", "max:accuracy", "--y", "params", "-o", out)
    assert result.exit_code == 0, result.output
    assert "accuracy (maximized)" in out.read_text()


def test_plot_a_sweep_table_in_both_views(sweep_csv, tmp_path):
    out = tmp_path / "front.html"
    result = run("plot", sweep_csv, "-o", out, "--max-drop", "0.06", "--format", "json")
    assert result.exit_code == 0, result.output
    (summary,) = json.loads(result.stdout)
    assert summary["metric"] == "val_acc" and summary["selected_run"] == 3
    assert summary["decision_front"] == 5 and summary["front"] >= 1
    html = out.read_text()
    assert "band: within 0.06" in html and "nonzero prunable weights" in html


def test_plot_options(sweep_csv, tmp_path):
    out = tmp_path / "front.html"
    result = run("plot", sweep_csv, "-o", out, "--view", "objectives", "--color", "role",
                 "--hover", "run,loss", "--log-x", "--log-y", "--max-points", "1")
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "role = trial" in html and "run: %{customdata[0]}" in html
    assert_error(run("plot", sweep_csv, "-o", out, "--color", "nope"), 2,
                 "unknown column 'nope' for --color")
    assert_error(run("plot", sweep_csv, "-o", out, "--max-drop", "2"), 2, "--max-drop")
    assert_error(run("plot", csv_path_of(tmp_path), "-o", out, "--view", "decision", "--x",
                     "err", "--y", "size"), 2, "unknown column 'nnz' for the decision view")


def csv_path_of(tmp_path):
    path = tmp_path / "plain.csv"
    TABLE.to_csv(path, index=False)
    return path


def test_plot_with_nothing_usable_exits_1(tmp_path):
    path = tmp_path / "failed.csv"
    sweep_frame().assign(collapsed=True).to_csv(path, index=False)
    assert_error(run("plot", path, "-o", tmp_path / "f.html"), 1, "nothing to plot")


def test_plot_png_only(sweep_csv, tmp_path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text(f"#!{sys.executable}\nimport sys\n"
                    "[open(a.split('=', 1)[1], 'wb').write(b'png') for a in sys.argv "
                    "if a.startswith('--screenshot=')]\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PARETOPRUNE_CHROMIUM", str(fake))
    monkeypatch.chdir(tmp_path)
    result = run("plot", sweep_csv, "--png", "front.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "front.png").read_bytes() == b"png"
    assert not (tmp_path / "front.html").exists()  # --png alone writes no HTML


# --- compare -----------------------------------------------------------------------------------


@pytest.fixture
def two_sweeps(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    sweep_frame().to_csv(a, index=False)
    worse = sweep_frame("gmp")
    worse["test_acc"] = worse["test_acc"] - 0.01
    worse.to_csv(b, index=False)
    return a, b


def test_compare_json(two_sweeps):
    result = run("compare", *two_sweeps, "--levels", "0.9,0.995", "--format", "json")
    assert result.exit_code == 0, result.output
    ws, gmp = json.loads(result.stdout)
    assert (ws["table"], gmp["table"]) == ("weighted-sum", "gmp")  # labelled by method
    assert ws["test_acc@0.9"] == pytest.approx(0.970)
    assert ws["extrapolated"] == "0.995"
    assert ws["hypervolume"] > gmp["hypervolume"] and ws["wall_time_sum"] == 75.0


def test_compare_table_marks_extrapolated_values(two_sweeps):
    result = run("compare", *two_sweeps, "--levels", "0.9,0.995")
    assert result.exit_code == 0, result.output
    assert "0.9700 " in result.stdout or "0.9700\n" in result.stdout
    assert "0.4800*" in result.stdout and "* extrapolated" in result.stdout


def test_compare_chooses_on_validation_and_says_so(tmp_path):
    lucky = sweep_frame()
    lucky.loc[lucky["run"] == 4, "test_acc"] = 0.99  # dominated on validation
    path = tmp_path / "lucky.csv"
    lucky.to_csv(path, index=False)
    result = run("compare", path, "--levels", "0.6", "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["test_acc@0.6"] == pytest.approx(0.972) and row["chosen"] == 5
    table = run("compare", path, "--levels", "0.6")
    assert "networks chosen on val_acc" in table.stdout
    no_validation = tmp_path / "no_val.csv"
    lucky.assign(val_acc=float("nan")).to_csv(no_validation, index=False)
    assert_error(run("compare", no_validation), 2, "'val_acc' has no values")


def test_compare_same_method_is_labelled_by_path(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    sweep_frame().to_csv(a, index=False)
    sweep_frame().to_csv(b, index=False)
    result = run("compare", a, b, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["table"] for r in rows] == [str(a), str(b)]


@pytest.mark.parametrize("args, message", [
    (["--levels", "0.9,abc"], "comma-separated numbers"),
    (["--levels", "1.5"], "comma-separated numbers"),
    (["--metric", "acc"], "unknown column 'acc'"),
    (["--sparsity-column", "sparse"], "unknown column 'sparse'"),
    (["--select", "val"], "unknown column 'val'"),
])
def test_compare_bad_input(two_sweeps, args, message):
    assert_error(run("compare", *two_sweeps, *args), 2, message)


def test_compare_a_table_without_usable_rows(two_sweeps, tmp_path):
    failed = tmp_path / "failed.csv"
    sweep_frame("pso").assign(status="failed").to_csv(failed, index=False)
    result = run("compare", two_sweeps[0], failed, "--format", "json")
    assert result.exit_code == 0, result.output
    ok, bad = json.loads(result.stdout)
    assert bad["usable"] == 0 and bad["test_acc@0.9"] is None and bad["hypervolume"] == 0.0
    assert_error(run("compare", failed), 1, "nothing to compare")


def test_knee_max_drop_on_a_foreign_table_uses_the_point_rule_with_a_note(sweep_csv):
    result = run("knee", sweep_csv, "--max-drop", "0.01", "--format", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"note: {sweep_csv}: point rule (no per-example "
                                     "predictions to bound the drop)")
    chosen = json.loads(result.stdout)[0]
    assert chosen["nnz"] == 100 and chosen["drop"] <= 0.01  # the sparsest within one point
