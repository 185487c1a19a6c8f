"""--method gates through the CLI: a digits sweep, its export --shrink (a smaller network plain
PyTorch loads and that predicts like the gated one), the deployment columns, bad input."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from paretoprune.cli import main

pytestmark = pytest.mark.slow

# the mlp on digits; a large gate learning rate so that the gates move in a dozen epochs
FAST = ["--model", "mlp", "--dataset", "digits", "--epochs", "12", "--batch-size", "64",
        "--seed", "0", "--method", "gates", "--gate-lr", "0.1"]
COLUMNS = ["params", "params_nonzero", "flops", "flops_nonzero", "size_bytes", "complexity",
           "latency_b1", "latency_b256"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *parts):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretoprune: error: "), result.stderr
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("gates") / "digits"
    result = run("sweep", out, *FAST, "--budget", "3", "--quiet")
    assert result.exit_code == 0, result.output
    return out


def test_every_row_has_the_deployment_columns(sweep_dir):
    points = pd.read_csv(sweep_dir / "points.csv")
    assert points[COLUMNS].notna().all().all()
    dense = points[points["role"] == "dense"].iloc[0]
    assert dense["complexity"] == 1.0 and dense["latency_b256"] == 1.0
    trials = points[points["role"] == "trial"]
    assert (trials["method"] == "gates").all() and trials["complexity_weight"].is_unique
    assert (trials["complexity"] < 1).any()
    assert (trials["flops"] <= dense["flops"]).all() and (trials["params"] <= dense["params"]).all()
    smaller = trials[trials["complexity"] < 1]
    assert (smaller["size_bytes"] < dense["size_bytes"]).all()


def test_export_shrink_writes_a_smaller_network_plain_pytorch_loads(sweep_dir, tmp_path, caplog):
    from paretoprune.store import SweepStore
    from paretoprune.training import model_from_checkpoint
    from paretoprune.training.loop import load_data

    points = pd.read_csv(sweep_dir / "points.csv")
    usable = points[(points["role"] == "trial") & ~points["collapsed"]]
    chosen = usable.sort_values("complexity").iloc[0]
    assert chosen["complexity"] < 1
    path = tmp_path / "small.pt2"
    result = run("export", sweep_dir, "--run", int(chosen["run"]), "--shrink", "-o", path,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["load"].startswith("model = torch.export.load(PATH).module()")
    assert meta["model"]["params"] == chosen["params"]

    with caplog.at_level(logging.WARNING):
        shrunk = torch.export.load(str(path)).module()  # plain PyTorch, no paretoprune types
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    n_params = sum(t.numel() for t in shrunk.state_dict().values() if t.is_floating_point())
    assert n_params < points.loc[points["role"] == "dense", "params"].iloc[0]

    # the gated network: the run's checkpoint (its test-time gates folded in)
    checkpoint = SweepStore.open(sweep_dir).load_checkpoint(int(chosen["run"]))
    gated = model_from_checkpoint(checkpoint).eval()
    from paretoprune.config import TrainSpec

    data = load_data(TrainSpec(model="mlp", dataset="digits", seed=0))
    with torch.no_grad():
        expected, got = gated(data.x_test), shrunk(data.x_test)
    assert (got - expected).abs().max() < 1e-4
    assert torch.equal(got.argmax(1), expected.argmax(1))
    assert float((got.argmax(1) == data.y_test).float().mean()) == pytest.approx(
        chosen["test_acc"])


@pytest.mark.parametrize("name", ["small.pt", "small", "small.pt2.bak"])
def test_export_shrink_needs_a_pt2_name_and_writes_nothing_else(sweep_dir, tmp_path, name):
    # torch.export.load reads an archive only from a name ending in .pt2
    result = run("export", sweep_dir, "--run", 1, "--shrink", "-o", tmp_path / name)
    one_line_error(result, "--shrink", "must end in .pt2", name)
    assert not list(tmp_path.iterdir())


def test_export_shrink_of_a_run_that_removes_no_structure_is_refused(sweep_dir, tmp_path):
    path = tmp_path / "dense.pt2"
    result = run("export", sweep_dir, "--run", 0, "--shrink", "-o", path)  # the dense reference
    one_line_error(result, "--method weighted-sum, which removes no structure")
    assert not list(tmp_path.iterdir())


def test_a_model_gates_cannot_gate_is_refused_naming_the_layer(tmp_path):
    out = tmp_path / "nope"
    result = run("sweep", out, *FAST, "--model", "_cifar_like:sigmoid_mlp", "--budget", "2")
    one_line_error(result, "cannot gate model '_cifar_like:sigmoid_mlp'", "layer '2' (Sigmoid)")
    assert not out.exists()
    result = run("train", *FAST, "--model", "_cifar_like:sigmoid_mlp", "-o", tmp_path / "x.pt")
    one_line_error(result, "layer '2' (Sigmoid)")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("flag, value, message", [
    ("--flops-share", "1.5", "--flops-share must be a number in [0, 1], got 1.5"),
    ("--flops-share", "-0.2", "--flops-share must be a number in [0, 1]"),
    ("--layer-share", "2", "--layer-share must be a number in [0, 1]"),
])
def test_a_cost_mix_outside_0_1_is_refused(tmp_path, flag, value, message):
    out = tmp_path / "out"
    one_line_error(run("sweep", out, *FAST, flag, value), message)
    assert not out.exists()


def test_help_says_it_is_a_reconstruction():
    text = run("sweep", "--help").output
    assert "--complexity-weight" in text and "--flops-share" in text and "--layer-share" in text
    flat = " ".join(text.split())
    assert "a reconstruction from the abstract of Guenter & Sideris 2024" in flat
