"""``paretoprune train`` through the real click group (CliRunner)."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from click.testing import CliRunner

from paretoprune.cli import main
from paretoprune.cli.train import DEFAULTS, TRAINING_OPTION_NAMES, spec_from_options
from paretoprune.training import TrainSpec, load_checkpoint

QUICK = ["--epochs", "2", "--max-train-samples", "300", "--device", "cpu", "--quiet", "--threads", "1"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(*args):
    return CliRunner().invoke(main, ["train", *map(str, args)])


def test_json_output_parses_and_holds_the_metrics(tmp_path):
    out = tmp_path / "run.pt"
    result = run(*QUICK, "--weight", "0.4", "--format", "json", "--out", out)
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["weight"] == 0.4 and record["status"] == "ok" and record["epochs"] == 2
    assert 0 <= record["sparsity"] <= 1 and record["val_acc"] is None
    checkpoint = load_checkpoint(out)
    assert checkpoint["weight"] == 0.4 and checkpoint["spec"]["epochs"] == 2
    assert result.stderr == ""  # no progress bar when not on a terminal


def test_csv_and_table_output():
    csv = run(*QUICK, "--format", "csv", "--optimizer", "madam")
    assert csv.exit_code == 0, csv.output
    header, row = csv.stdout.strip().splitlines()
    assert header.split(",")[:3] == ["weight", "loss", "l1"] and "madam" in row
    table = run(*QUICK, "--epochs", "1")
    assert table.exit_code == 0
    assert "test_acc" in table.stdout and "sparsity_dense" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet7"], "unknown model 'resnet7'; known: mlp, lenet5"),
        (["--weight", "1.5"], "weight must be in [0, 1]"),
        (["--epochs", "0"], "epochs must be at least 1"),
        (["--lr", "0"], "learning rate must be positive"),
        (["--model", "no_such_pkg_xyz.models:net"], "does not import"),
        (["--model", "lenet5"], "data whose shape (1, 8, 8) does not fit the model 'lenet5'"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/pp-data"], "--download"),
        (["--optimizer", "lbfgs"], "unknown optimizer"),
        (["--threads", "0"], "threads must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run(*QUICK, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paretoprune: error: ") and message in lines[0]
    assert "Traceback" not in result.output


def test_failed_run_prints_its_record_and_exits_nonzero():
    result = run(*QUICK, "--optimizer", "sgd", "--lr", "1e12", "--format", "json")
    assert result.exit_code != 0
    (record,) = json.loads(result.stdout)
    assert record["status"] == "failed" and "diverged" in record["error"]
    assert result.stderr.strip().startswith("paretoprune: error: training failed")


def test_option_defaults_are_the_specs():
    spec_defaults = {f.name: f.default for f in fields(TrainSpec)}
    for name, value in DEFAULTS.items():
        assert spec_defaults[name] == value, name
    assert set(TRAINING_OPTION_NAMES) <= set(spec_defaults)
    spec = spec_from_options({"model": "mlp", "budget": 3}, epochs=4)  # non-training keys ignored
    assert spec.epochs == 4 and spec.model == "mlp"
