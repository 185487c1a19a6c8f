"""--method relevance and --method pso through the CLI: sweeps on digits next to a weighted-sum
sweep (plot, knee, export, check, compare, resume) and bad input in one line."""

from __future__ import annotations

import json
import textwrap

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from paretoprune.cli import main

pytestmark = pytest.mark.slow

TINY = ["--dataset", "digits", "--model", "mlp", "--epochs", "2", "--batch-size", "64",
        "--max-train-samples", "400", "--seed", "0", "--quiet"]
# relevance prunes within a share of the validation loss: barely trained, at ln(10), the empty
# network would be within it, so its runs train a little longer
RELEVANCE = ["--method", "relevance", "--epochs", "5", "--max-train-samples", "1000",
             "--plateau", "1"]
PSO = ["--method", "pso", "--epochs", "3", "--swarm-size", "8", "--swarm-iterations", "20",
       "--fitness-samples", "256"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    ok(run("sweep", root / "ws", *TINY, "--budget", "3"))
    ok(run("sweep", root / "relevance", *TINY, *RELEVANCE, "--budget", "6"))
    ok(run("sweep", root / "pso", *TINY, *PSO, "--budget", "4"))
    return root


def points(path):
    return pd.read_csv(path / "points.csv")


def test_relevance_sweep_varies_the_decay_and_writes_every_column(sweeps):
    table, ws = points(sweeps / "relevance"), points(sweeps / "ws")
    trials = table[table["role"] == "trial"]
    assert len(trials) == 6 and trials["decay"].is_unique
    assert set(trials["method"]) == {"relevance"} and (trials["status"] == "ok").all()
    assert {0.0, 30.0} <= set(trials["decay"])  # the parameter's range, bisected
    assert table.loc[table["role"] == "dense", "method"].item() == "relevance"
    assert set(ws.columns) - {"weight", "gap_lo", "gap_hi"} <= set(table.columns)
    assert (trials["prune_steps"] >= 1).all() and trials["sparsity"].max() > 0.5
    assert not trials["collapsed"].all()
    config = json.loads((sweeps / "relevance" / "sweep.json").read_text())["config"]
    assert config["rule"] == "midpoint" and config["train"]["options"]["tolerance"] == 0.1


def test_pso_sweep_varies_the_zero_norm_weight(sweeps):
    table = points(sweeps / "pso")
    trials = table[table["role"] == "trial"]
    assert len(trials) == 4 and set(trials["method"]) == {"pso"}
    assert 1.0 not in set(trials["zero_norm_weight"])  # the empty mask is known, not trained
    assert (trials["optimizer"] == "pso").all() and trials["nnz.net.1"].notna().all()
    config = json.loads((sweeps / "pso" / "sweep.json").read_text())["config"]
    assert config["rule"] == "normal"


def test_plot_draws_them_next_to_the_weighted_sum(sweeps, tmp_path):
    html = tmp_path / "front.html"
    ok(run("plot", sweeps / "ws", sweeps / "relevance", sweeps / "pso", "-o", html))
    text = html.read_text()
    for label in ("weighted-sum", "relevance", "pso"):
        assert f'"{label}' in text
    compared = ok(run("compare", sweeps / "ws", sweeps / "relevance", sweeps / "pso",
                      "--format", "json"))
    assert {"relevance", "pso"} <= set(compared.stdout.replace('"', " ").split())


@pytest.mark.parametrize("method", ["relevance", "pso"])
def test_knee_export_and_check_read_their_sweeps(sweeps, tmp_path, method):
    out = sweeps / method
    best = json.loads(ok(run("knee", out, "--format", "json")).stdout)[0]
    assert best["method"] == method and best["status"] == "ok"
    target = tmp_path / f"{method}.pt"
    ok(run("export", out, "--knee", "distance", "-o", target))
    state = torch.load(target)
    meta = json.loads(target.with_suffix(".json").read_text())
    nnz = sum(int(torch.count_nonzero(t)) for k, t in state.items()
              if k.endswith("weight"))
    assert nnz == meta["metrics"]["nnz"]
    assert run("check", out, "--min-sparsity", "0", "--max-acc-drop", "1").exit_code == 0
    assert run("check", out, "--min-sparsity", "1", "--max-acc-drop", "1").exit_code == 1


def test_a_relevance_sweep_resumes_with_its_rows_kept(sweeps):
    out = sweeps / "relevance"
    before = points(out)
    result = ok(run("sweep", out, *TINY, *RELEVANCE, "--budget", "7"))
    assert "resuming" in result.stderr
    assert "trial [7/7] decay " in result.stderr  # progress lines name the method's parameter
    after = points(out)
    assert (after["role"] == "trial").sum() == 7
    kept = after[after["run"].isin(before["run"])].reset_index(drop=True)
    pd.testing.assert_series_equal(kept["loss"], before["loss"])


def test_train_runs_each_method_and_warns_without_a_validation_split():
    rows = json.loads(ok(run("train", *TINY, *RELEVANCE, "--format", "json")).stdout)
    assert rows[0]["method"] == "relevance" and rows[0]["decay"] == 3.0
    rows = json.loads(ok(run("train", *TINY, *PSO, "--format", "json")).stdout)
    assert rows[0]["method"] == "pso" and 0 <= rows[0]["density"] <= 1
    result = ok(run("train", *TINY, "--method", "relevance", "--val-fraction", "0"))
    assert "paretoprune: warning: --method relevance has no validation split" in result.stderr


@pytest.fixture
def conv_factory(tmp_path, monkeypatch):
    package = tmp_path / "pp_relevance_pso_nets"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "conv.py").write_text(textwrap.dedent("""
        from torch import nn

        def small(num_classes, input_shape):
            return nn.Sequential(nn.Conv2d(input_shape[0], 4, 3), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * (input_shape[1] - 2) * (input_shape[2] - 2),
                                           num_classes))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "pp_relevance_pso_nets.conv:small"


def test_bad_input_is_one_line_and_creates_nothing(tmp_path, conv_factory):
    cases = [
        (["sweep", tmp_path / "a", *TINY, "--decay", "3"],
         "--decay is an option of --method relevance, not of --method weighted-sum"),
        (["train", *TINY, "--swarm-size", "4"],
         "--swarm-size is an option of --method pso"),
        (["sweep", tmp_path / "b", *TINY, "--method", "relevance", "--tolerance", "1"],
         "--tolerance must be a number in [0, 1)"),
        (["sweep", tmp_path / "c", *TINY, "--method", "relevance", "--tolerance", "-0.1"],
         "--tolerance must be a number in [0, 1)"),
        (["sweep", tmp_path / "d", *TINY, "--method", "relevance", "--plateau", "0"],
         "--plateau must be an integer >= 1"),
        (["sweep", tmp_path / "e", *TINY, "--method", "relevance", "--decay", "3"],
         "the sweep chooses --decay"),
        (["sweep", tmp_path / "f", *TINY, "--method", "relevance", "--range", "0:50"],
         "--range must lie within 0:30"),
        (["sweep", tmp_path / "g", *TINY, "--method", "pso", "--swarm-size", "1"],
         "--swarm-size must be an integer >= 2"),
        (["sweep", tmp_path / "h", *TINY, "--method", "pso", "--model", conv_factory],
         "--method pso supports multilayer perceptrons only"),
        (["sweep", tmp_path / "i", *TINY, "--method", "pso", "--optimizer", "adam"],
         "unknown optimizer 'adam' for --method pso"),
        (["sweep", tmp_path / "j", *TINY, "--method", "relevance", "--inertia", "0.5"],
         "--inertia is an option of --method pso"),
        (["train", *TINY, "--method", "pso", "--model", conv_factory, "-o", tmp_path / "k.pt"],
         "--method pso supports multilayer perceptrons only"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("paretoprune: error: "), result.stderr
        assert message in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == [tmp_path / "pp_relevance_pso_nets"]  # nothing created
