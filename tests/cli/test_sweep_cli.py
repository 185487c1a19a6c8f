"""sweep, export and check end to end on the bundled digits data, through the real CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from paretoprune.cli import main
from paretoprune.store import SweepStore

pytestmark = pytest.mark.slow

# Small and quick: the mlp on digits for a few epochs.
FAST = ["--model", "mlp", "--dataset", "digits", "--epochs", "3", "--batch-size", "64",
        "--seed", "0"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweeps") / "digits"
    result = run("sweep", out, *FAST, "--budget", "5", "--quiet")
    assert result.exit_code == 0, result.output
    return out, result


def test_sweep_writes_a_store_and_prints_front_and_knee(sweep_dir):
    out, result = sweep_dir
    points = pd.read_csv(out / "points.csv")  # plain pandas reads it
    assert len(points) == 5
    assert points["weight"].is_unique
    assert {0.0, 1.0} <= set(points["weight"])
    assert points["pareto"].any()
    for run_id in points["run"]:
        assert (out / "checkpoints" / f"run-{run_id:04d}.pt").exists()
        assert (out / "logs" / f"run-{run_id:04d}.jsonl").exists()
    config = json.loads((out / "sweep.json").read_text())
    assert config["config"]["budget"] == 5 and "torch" in config["versions"]
    assert "front of" in result.stdout and "knee (distance)" in result.stdout
    # one plain line per finished run on stderr in quiet mode
    assert sum(line.startswith("run ") for line in result.stderr.splitlines()) == 5


def test_show_knee_plot_accept_the_sweep_dir(sweep_dir, tmp_path):
    out, _ = sweep_dir
    shown = json.loads(run("show", out, "--format", "json").stdout)
    assert len(shown) == 5
    best = json.loads(run("knee", out, "--format", "json").stdout)[0]
    assert best["status"] == "ok"
    html = tmp_path / "front.html"
    assert run("plot", out, "-o", html).exit_code == 0
    assert html.stat().st_size > 100_000  # plotly.js inlined


def test_resume_with_a_bigger_budget_keeps_finished_runs(sweep_dir):
    out, _ = sweep_dir
    before = pd.read_csv(out / "points.csv")
    result = run("sweep", out, *FAST, "--budget", "6", "--quiet")
    assert result.exit_code == 0, result.output
    after = pd.read_csv(out / "points.csv")
    assert len(after) == 6 and after["weight"].is_unique
    pd.testing.assert_frame_equal(after.head(5).drop(columns="pareto"),
                                  before.drop(columns="pareto"))


def test_export_knee_loads_with_plain_torch(sweep_dir, tmp_path):
    out, _ = sweep_dir
    target = tmp_path / "knee.pt"
    result = run("export", out, "--knee", "-o", target, "--format", "json")
    assert result.exit_code == 0, result.output
    state = torch.load(target)  # weights_only: plain tensors, no paretoprune classes
    meta = json.loads(target.with_suffix(".json").read_text())
    zeros = sum(int((t == 0).sum()) for k, t in state.items() if k.endswith("weight"))
    assert zeros > 0 or meta["metrics"]["sparsity"] == 0
    assert meta["metrics"]["run"] == json.loads(result.stdout)[0]["run"]


def test_check_exit_codes(sweep_dir):
    out, _ = sweep_dir
    ok = run("check", out, "--min-sparsity", "0", "--max-acc-drop", "1")
    assert ok.exit_code == 0, ok.output
    fail = run("check", out, "--min-sparsity", "1.0", "--max-acc-drop", "1")
    assert fail.exit_code == 1
    assert "--min-sparsity 1.0 not met" in fail.stderr
    bad = run("check", out, "--max-acc-drop", "5")
    assert bad.exit_code == 2 and "fraction" in bad.stderr
    assert run("check", out).exit_code == 2  # no bound given


def test_bad_sweep_input(tmp_path, sweep_dir):
    out, _ = sweep_dir
    cases = [
        (["sweep", tmp_path / "a", *FAST, "--budget", "1"], "budget must be at least 2"),
        (["sweep", tmp_path / "b", *FAST, "--weights", "0.5:1.5"], "0 <= LO < HI <= 1"),
        (["sweep", tmp_path / "c", *FAST, "--weights", "abc"], "LO:HI"),
        (["sweep", out, *FAST[:-2], "--seed", "1", "--budget", "5"], "different sweep"),
        (["sweep", tmp_path / "d", "--resume", *FAST], "nothing to resume"),
        (["sweep", tmp_path / "e", "--model", "nope"], "unknown model"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_corrupted_points_table_is_reported_not_overwritten(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, *FAST, "--budget", "2", "--quiet").exit_code == 0
    (out / "points.csv").write_bytes(b"run,weight\n0,0.0\n1,\x00\x00garbage,,,,\n")
    damaged = (out / "points.csv").read_bytes()
    result = run("sweep", out, *FAST, "--budget", "3", "--quiet")
    assert result.exit_code == 2 and "points.csv" in result.stderr
    assert (out / "points.csv").read_bytes() == damaged


def test_config_file_sets_options_and_flags_override(tmp_path):
    config = tmp_path / "sweep.toml"
    config.write_text('budget = 3\nmodel = "mlp"\nepochs = 2\nrule = "midpoint"\n')
    out = tmp_path / "s"
    result = run("sweep", out, "--config", config, "--budget", "2", "--quiet")
    assert result.exit_code == 0, result.output
    stored = json.loads((out / "sweep.json").read_text())["config"]
    assert stored["budget"] == 2 and stored["rule"] == "midpoint"
    assert stored["train"]["epochs"] == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'red'\n")
    result = run("sweep", tmp_path / "t", "--config", bad)
    assert result.exit_code == 2 and "unknown setting 'colour'" in result.output


def _rows(path: Path) -> int:
    try:
        return len(pd.read_csv(path / "points.csv"))
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return 0


def test_sigkill_mid_sweep_then_resume_loses_and_repeats_nothing(tmp_path):
    out = tmp_path / "killed"
    # 150 epochs make each run last a second or two, so the kill lands mid-sweep.
    args = [sys.executable, "-m", "paretoprune", "sweep", str(out), "--model", "mlp",
            "--dataset", "digits", "--epochs", "150", "--batch-size", "64", "--budget", "5",
            "--quiet"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _rows(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    proc.send_signal(signal.SIGKILL)  # the next run is in flight now
    proc.wait()
    before = pd.read_csv(out / "points.csv")
    assert 2 <= len(before) < 5
    assert (out / ".lock").exists()  # left behind by the killed process

    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} finished run(s) kept" in resumed.stderr
    assert "stale" in resumed.stderr.lower() or "took over" in resumed.stderr.lower()
    after = pd.read_csv(out / "points.csv")
    assert len(after) == 5 and after["weight"].is_unique and after["run"].is_unique
    kept = after[after["run"].isin(before["run"])].drop(columns="pareto").reset_index(drop=True)
    # check_dtype=False: plain read_csv reads a text column with no value yet as float NaN
    pd.testing.assert_frame_equal(kept, before.drop(columns="pareto"), check_dtype=False)
    assert not (out / ".lock").exists()
    assert SweepStore.open(out).points()["status"].eq("ok").all()
