"""``paretoprune train`` through the real click group (CliRunner)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from paretoprune.cli import main
from paretoprune.cli.train import TRAINING_OPTIONS, train_command
from paretoprune.config import TrainSpec, settings_of
from paretoprune.methods import option_owners
from paretoprune.training import load_checkpoint, model_from_checkpoint

QUICK = ["--epochs", "2", "--max-train-samples", "300", "--device", "cpu", "--quiet",
         "--threads", "1"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(*args):
    return CliRunner().invoke(main, ["train", *map(str, args)])


def test_options_are_generated_from_the_train_spec():
    import paretoprune.cli.train as train_module

    assert not hasattr(train_module, "DEFAULTS")  # no second table of defaults
    cli_fields = [n for n, s in settings_of(TrainSpec).items() if s.cli]
    cli_fields += [n for n in option_owners() if n not in cli_fields]  # each method's options
    assert sorted(o.name for o in TRAINING_OPTIONS) == sorted(cli_fields)
    params = {p.name: p for p in train_command.params}
    assert set(params) == set(cli_fields) | {"output", "fmt", "quiet", "help"} - {"help"}
    for name in cli_fields:
        assert params[name].default is None, name  # the spec's default applies
        assert params[name].opts[0] == "--" + name.replace("_", "-")
    assert params["output"].opts == ["-o", "--output"]
    assert "--out" not in [o for p in train_command.params for o in p.opts]
    # --help shows the spec's defaults and which method an option belongs to
    help_text = CliRunner().invoke(main, ["train", "--help"]).stdout
    assert "default: 20" in help_text and "--method smgd" in help_text
    assert "--fixed-weights" in help_text and "-o, --output FILE" in help_text


def test_json_output_and_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "run.pt"
    result = run(*QUICK, "--weight", "0.4", "--format", "json", "-o", out)
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["weight"] == 0.4 and record["status"] == "ok" and record["epochs"] == 2
    assert record["method"] == "weighted-sum" and 0 <= record["density"] <= 1
    assert 0 <= record["sparsity"] <= 1 and record["val_acc"] is not None  # val_fraction 0.35
    checkpoint = load_checkpoint(out)
    assert checkpoint["metrics"]["weight"] == 0.4 and checkpoint["spec"]["epochs"] == 2
    spec = TrainSpec.from_dict(checkpoint["spec"])
    assert spec == TrainSpec.from_flat(dict(epochs=2, max_train_samples=300, device="cpu",
                                           threads=1, weight=0.4))
    model = model_from_checkpoint(out)
    nnz = sum(int(torch.count_nonzero(model.state_dict()[n]))
              for n in checkpoint["state"]["prunable"])
    assert nnz == record["nnz"]
    assert result.stderr == ""  # no progress bar when not on a terminal
    long_form = run(*QUICK, "--epochs", "1", "--format", "json", "--output", tmp_path / "b.pt")
    assert long_form.exit_code == 0 and (tmp_path / "b.pt").is_file()


def test_csv_and_table_output():
    csv = run(*QUICK, "--format", "csv", "--val-split", "test", "--val-fraction", "0")
    assert csv.exit_code == 0, csv.output
    header, row = csv.stdout.strip().splitlines()
    columns = header.split(",")
    assert columns[:2] == ["weight", "loss"] and "method" in columns and "num_classes" in columns
    values = dict(zip(columns, row.split(","), strict=True))
    assert values["val_acc"] not in ("", "nan") and values["method"] == "weighted-sum"
    table = run(*QUICK, "--epochs", "1")
    assert table.exit_code == 0
    assert "test_acc" in table.stdout and "sparsity_dense" in table.stdout


def test_smgd_with_madam():
    result = run(*QUICK, "--method", "smgd", "--optimizer", "madam", "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)
    assert record["method"] == "smgd" and record["optimizer"] == "madam"
    assert 0 <= record["weight"] <= 1  # the mean c2 of the last epoch
    fixed = run(*QUICK, "--method", "smgd", "--optimizer", "mrmsprop", "--fixed-weights",
                "--weight", "0.3", "--mo-l1-scale", "init", "--format", "json")
    assert fixed.exit_code == 0, fixed.output
    assert json.loads(fixed.stdout)[0]["weight"] == 0.3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet7"], "unknown model 'resnet7'; known: mlp, lenet5"),
        (["--weight", "1.5"], "--weight must be a number in [0, 1], got 1.5"),
        (["--weight", "nan"], "--weight must be a number in [0, 1], got nan"),
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--lr", "0"], "--lr must be a number > 0, got 0"),
        (["--lr", "inf"], "--lr must be a number > 0, got inf"),
        (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
        (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs' for --method weighted-sum"),
        (["--optimizer", "madam"], "(it belongs to --method smgd)"),
        (["--fixed-weights"],
         "--fixed-weights is an option of --method smgd, not of --method weighted-sum"),
        (["--mo-l1-scale", "init"], "--mo-l1-scale is an option of --method smgd"),
        (["--optimizer", "sgd", "--nesterov", "--momentum", "0"], "--nesterov needs"),
        (["--method", "adamw"], "'adamw' is not one of 'weighted-sum', "),
        (["--epochs", "two"], "'two' is not a valid integer"),
        # click suggests the close names (--epochs, and --epsilon of --method epsilon)
        (["--epoch", "3"], "No such option '--epoch'. (Did you mean one of: '--epochs'"),
        (["--out", "x.pt"], "No such option '--out'."),  # renamed -o/--output
        (["--model", "no_such_pkg_xyz.models:net"], "does not import"),
        (["--model", "lenet5"], "data whose shape (1, 8, 8) does not fit the model 'lenet5'"),
        (["--dataset", "mnist", "--data-dir", "/nonexistent/pp-data"], "--download"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message):
    result = run(*QUICK, *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paretoprune: error: ") and message in lines[0], lines[0]
    assert "Traceback" not in result.output and result.stdout == ""


def test_output_into_a_missing_folder_is_bad_input(tmp_path):
    result = run(*QUICK, "--epochs", "1", "-o", tmp_path / "missing" / "run.pt")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("paretoprune: error: cannot write")


def test_a_diverging_run_prints_its_record_and_exits_1(tmp_path):
    out = tmp_path / "failed.pt"
    result = run(*QUICK, "--lr", "1e9", "--format", "json", "-o", out)
    assert result.exit_code == 1, result.output
    (record,) = json.loads(result.stdout)
    assert record["status"] == "failed" and record["error"].startswith("training diverged")
    assert record["test_acc"] is None or math.isnan(record["test_acc"])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretoprune: error: training failed: "
                                                   "training diverged")
    assert load_checkpoint(out)["metrics"]["status"] == "failed"  # kept for a post-mortem
