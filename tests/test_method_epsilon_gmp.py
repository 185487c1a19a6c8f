"""--method epsilon and --method gmp through the real CLI on the bundled digits data: train (the
issue's done-when command), sweep, knee, plot, export, check, compare, resume, and bad input."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from _planning import drive
from click.testing import CliRunner

from paretoprune.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

FAST = ["--model", "mlp", "--dataset", "digits", "--epochs", "3", "--batch-size", "64",
        "--seed", "0", "--threads", "1"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def train_json(*args) -> dict:
    result = run("train", *args, "--quiet", "--format", "json", "--threads", "1")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]


# --- train ------------------------------------------------------------------------------------


def test_done_when_epsilon_target_sparsity_ends_at_90_percent():
    # the command, as it stands (default mlp, 20 epochs)
    m = train_json("--dataset", "digits", "--method", "epsilon", "--target-sparsity", "0.9")
    assert m["status"] == "ok" and m["method"] == "epsilon"
    assert abs(m["sparsity"] - 0.9) <= 0.005  # within ±0.5 points (in fact exact)
    assert m["nnz"] == m["n_prunable"] - round(0.9 * m["n_prunable"])


def test_train_epsilon_and_gmp_write_checkpoints(tmp_path):
    from paretoprune.training import load_checkpoint

    m = train_json(*FAST, "--method", "epsilon", "--epsilon", "0.3", "-o", tmp_path / "e.pt")
    assert m["l1"] <= 0.3 * (1 + 1e-6) and m["epsilon"] == 0.3
    g = train_json(*FAST, "--method", "gmp", "--target-sparsity", "0.8", "--gmp-scope", "layer",
                   "--ramp-every", "3", "-o", tmp_path / "g.pt")
    assert abs(g["sparsity"] - 0.8) <= 3 * 0.5 / g["n_prunable"]  # one weight per layer
    saved = load_checkpoint(tmp_path / "g.pt")
    assert saved["spec"]["method"] == "gmp" and saved["spec"]["options"]["gmp_scope"] == "layer"
    kept = sum(int(mask.sum()) for mask in saved["state"]["masks"].values())
    assert kept == g["nnz"]


# --- sweeps -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    root = tmp_path_factory.mktemp("methods")
    out = {}
    for method in ("epsilon", "gmp"):
        folder = root / method
        result = run("sweep", folder, "--method", method, *FAST, "--budget", "4", "--quiet")
        assert result.exit_code == 0, result.output
        out[method] = folder
    return out


def test_epsilon_sweep_keeps_every_bound_and_never_trains_the_all_zero_end(sweeps):
    points = pd.read_csv(sweeps["epsilon"] / "points.csv")
    trials = points[points["role"] == "trial"]
    assert len(trials) == 4 and trials["epsilon"].is_unique
    assert (trials["method"] == "epsilon").all()
    assert trials["epsilon"].iloc[0] == 1.0  # the dense end first
    assert (trials["epsilon"] > 0).all()  # ε = 0 (all zero) is known, not trained
    ok = trials[trials["status"] == "ok"]
    assert (ok["l1"] <= ok["epsilon"] * (1 + 1e-6)).all()  # the constraint of each run
    assert points["pareto"].any() and points["selected"].sum() == 1
    config = json.loads((sweeps["epsilon"] / "sweep.json").read_text())["config"]
    assert config["rule"] == "bound" and config["train"]["method"] == "epsilon"


def test_gmp_sweep_runs_hit_their_targets(sweeps):
    points = pd.read_csv(sweeps["gmp"] / "points.csv")
    trials = points[points["role"] == "trial"]
    assert len(trials) == 4 and trials["target_sparsity"].is_unique
    # S = 0 would train the dense reference again: the planner is told the reference instead
    assert (trials["target_sparsity"] > 0).all() and (trials["target_sparsity"] < 1).all()
    assert (points["role"] == "dense").sum() == 1
    n = trials["n_prunable"]
    assert (trials["nnz"] == n - (trials["target_sparsity"] * n).round()).all()
    assert (trials["density"] == 1 - trials["sparsity"]).all()


@pytest.mark.parametrize("method", ["epsilon", "gmp"])
def test_knee_plot_export_check_read_the_sweeps(sweeps, method, tmp_path):
    out = sweeps[method]
    knee = run("knee", out, "--format", "json")
    assert knee.exit_code == 0, knee.output
    best = json.loads(knee.stdout)[0]
    assert best["role"] == "trial" and best["method"] == method
    html = tmp_path / "front.html"
    assert run("plot", out, "-o", html).exit_code == 0 and html.stat().st_size > 100_000
    target = tmp_path / "chosen.pt"
    exported = run("export", out, "-o", target, "--format", "json")
    assert exported.exit_code == 0, exported.output
    state = torch.load(target)
    meta = json.loads(target.with_suffix(".json").read_text())
    zeros = sum(int((t == 0).sum()) for k, t in state.items() if k.endswith("weight"))
    assert zeros == meta["metrics"]["n_prunable"] - meta["metrics"]["nnz"]
    assert run("check", out, "--min-sparsity", "0", "--max-acc-drop", "1").exit_code == 0
    assert run("check", out, "--min-sparsity", "1.0", "--max-acc-drop", "1").exit_code == 1


def test_plot_and_compare_overlay_both_methods(sweeps, tmp_path):
    html = tmp_path / "both.html"
    assert run("plot", sweeps["epsilon"], sweeps["gmp"], "-o", html).exit_code == 0
    compared = run("compare", sweeps["epsilon"], sweeps["gmp"], "--format", "json")
    assert compared.exit_code == 0, compared.output
    rows = {r["table"]: r for r in json.loads(compared.stdout)}
    assert set(rows) == {"epsilon", "gmp"}
    assert all(r["usable"] > 0 for r in rows.values())


@pytest.mark.parametrize("method", ["epsilon", "gmp"])
def test_resume_with_a_bigger_budget_keeps_finished_runs(sweeps, method):
    out = sweeps[method]
    before = pd.read_csv(out / "points.csv")
    result = run("sweep", out, "--method", method, *FAST, "--budget", "5", "--quiet")
    assert result.exit_code == 0, result.output
    assert "resuming: 5 finished run(s) kept" in result.stderr  # the dense reference and 4
    after = pd.read_csv(out / "points.csv")
    assert (after["role"] == "trial").sum() == 5 and after["run"].is_unique
    kept = after[after["run"].isin(before["run"])].reset_index(drop=True)
    pd.testing.assert_series_equal(kept["loss"], before["loss"])
    param = "epsilon" if method == "epsilon" else "target_sparsity"
    assert after.loc[after["role"] == "trial", param].is_unique  # nothing trained twice


# --- the planner of a parallel ε or gmp sweep ------------------------------------------------


def gmp_front(S):
    """A gmp-like front: the loss grows like 1 / density, the network collapses beyond 99.6 %."""
    if S > 0.996:
        return {"loss": 2.3, "density": 1 - S, "collapsed": True}
    return {"loss": 0.01 + 0.002 / (1 - S), "density": 1 - S}


def epsilon_front(eps):
    if eps < 0.005:
        return {"loss": 2.3, "l1": eps, "collapsed": True}
    return {"loss": 0.02 + 0.001 / eps, "l1": eps}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_parallel_sweep_halves_towards_the_collapse_edge_like_a_serial_one(workers):
    from paretoprune.methods import get_method
    from paretoprune.planner import Planner

    for name, evaluate in (("gmp", gmp_front), ("epsilon", epsilon_front)):
        method = get_method(name)
        planner = Planner(rule="bound", scalarization=method.scalarization,
                          x=method.objectives[0], y=method.objectives[1], param=method.parameter,
                          dense_end=method.dense_end, sparse_end_known=True,
                          parameter_for_bound=method.parameter_for_bound)
        rows = drive(planner, evaluate, 9, workers, param=method.parameter)
        values = sorted((float(r[method.parameter]) for r in rows), reverse=name == "epsilon")
        dense = 0.0 if name == "gmp" else 1.0
        # the dense end, then each probe halves the density (or ε) until the first collapse:
        # a second worker continues the halving beyond the probe in flight
        expected = [dense] + [1 - 2.0**-k if name == "gmp" else 2.0**-k for k in range(1, 9)]
        assert values == pytest.approx(expected)
        collapsed = sum(bool(r.get("collapsed")) for r in rows)
        assert collapsed <= workers  # at most one speculative probe beyond the first collapse


# --- bad input --------------------------------------------------------------------------------


BAD = [
    (["--method", "epsilon", "--epsilon", "0"], "--epsilon must be a number > 0, got 0"),
    (["--method", "epsilon", "--epsilon", "-1"], "--epsilon must be a number > 0"),
    (["--method", "gmp", "--target-sparsity", "1"], "--target-sparsity must be a number in [0, 1)"),
    (["--method", "epsilon", "--target-sparsity", "-0.1"], "--target-sparsity must be a number"),
    (["--method", "epsilon", "--target-sparsity", "1.5"], "--target-sparsity must be a number"),
    (["--method", "gmp", "--epsilon", "0.1"], "--epsilon is an option of --method epsilon, "
                                               "not of --method gmp"),
    (["--target-sparsity", "0.9"], "--target-sparsity is an option of --method epsilon or gmp"),
    (["--method", "epsilon", "--gmp-scope", "layer"], "--gmp-scope is an option of --method gmp"),
    (["--method", "gmp", "--weight", "0.5"], "--weight is an option of --method weighted-sum"),
    (["--ramp-every", "5"], "--ramp-every is an option of --method epsilon or gmp"),
    (["--method", "epsilon", "--epsilon", "0.1", "--target-sparsity", "0.9"], "not both"),
    (["--method", "gmp", "--regrow"], "--method gmp keeps its masks"),
    (["--method", "gmp", "--ramp-start", "0.8", "--ramp-end", "0.5"], "--ramp-end (0.5) must"),
    (["--method", "gmpp"], "'gmpp' is not one of 'weighted-sum', "),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_train_input_is_one_line_and_creates_nothing(tmp_path, args, message):
    target = tmp_path / "run.pt"
    result = run("train", *args, "-o", target, "--quiet")
    assert result.exit_code == 2
    assert result.stderr.startswith("paretoprune: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not target.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "epsilon", "--target-sparsity", "0.9"], "--target-sparsity does not apply"),
    (["--method", "epsilon", "--epsilon", "0.3"], "the sweep chooses --epsilon"),
    (["--method", "gmp", "--target-sparsity", "0.9"], "the sweep chooses --target-sparsity"),
    (["--method", "gmp", "--range", "0:1.5"], "--range must lie within 0:1"),
    (["--method", "epsilon", "--rule", "normal"], "rule 'normal' does not apply"),
    (["--method", "nope"], "'nope' is not one of"),
])
def test_bad_sweep_input_is_one_line_and_creates_nothing(tmp_path, args, message):
    out = tmp_path / "sweep"
    result = run("sweep", out, *FAST, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("paretoprune: error: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()
