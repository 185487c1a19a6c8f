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


def test_sweep_writes_a_store_and_prints_front_and_selection(sweep_dir):
    out, result = sweep_dir
    points = pd.read_csv(out / "points.csv")  # plain pandas reads it
    assert points["role"].tolist().count("dense") == 1
    trials = points[points["role"] == "trial"]
    assert len(trials) == 5 and trials["weight"].is_unique and 0.0 in set(trials["weight"])
    assert points["pareto"].any() and points["selected"].sum() == 1
    for run_id in points["run"]:
        assert (out / "checkpoints" / f"run-{run_id:04d}.pt").exists()
        assert (out / "logs" / f"run-{run_id:04d}.jsonl").exists()
    config = json.loads((out / "sweep.json").read_text())
    assert config["config"]["budget"] == 5 and "torch" in config["versions"]
    assert "front of" in result.stdout and "selected: knee (distance)" in result.stdout
    # one plain line per finished run on stderr in quiet mode, then the stop line
    assert sum(line.startswith("run ") for line in result.stderr.splitlines()) == 6
    assert "stopped: budget reached" in result.stderr


def test_show_knee_plot_accept_the_sweep_dir(sweep_dir, tmp_path):
    out, _ = sweep_dir
    shown = json.loads(run("show", out, "--format", "json").stdout)
    assert len(shown) == 6
    best = json.loads(run("knee", out, "--format", "json").stdout)[0]
    assert best["status"] == "ok" and best["role"] == "trial"
    html = tmp_path / "front.html"
    assert run("plot", out, "-o", html).exit_code == 0
    assert html.stat().st_size > 100_000  # plotly.js inlined


def test_knee_max_drop_and_check_max_acc_drop_agree(sweep_dir):
    out, _ = sweep_dir
    chosen = json.loads(run("knee", out, "--max-drop", "0.05", "--format", "json").stdout)[0]
    check = run("check", out, "--max-acc-drop", "0.05", "--format", "json")
    assert check.exit_code == 0, check.output
    assert f"check of run {chosen['run']}" not in check.stdout  # json: no title
    table = pd.read_csv(out / "points.csv")
    ref = table.loc[table["role"] == "dense", "val_acc"].item()
    assert chosen["val_acc"] >= ref - 0.05
    plain = run("check", out, "--max-acc-drop", "0.05")
    assert f"check of run {chosen['run']} " in plain.stdout
    # nothing within a zero drop of the dense run on validation: both say so with exit 1
    if (table.loc[table["role"] == "trial", "val_acc"] < ref).all():
        assert run("knee", out, "--max-drop", "0").exit_code == 1
        assert run("check", out, "--max-acc-drop", "0").exit_code == 1


def test_knee_check_and_export_agree_on_the_certified_answer(sweep_dir, tmp_path):
    out, _ = sweep_dir
    knee = run("knee", out, "--max-drop", "0.05", "--format", "json")
    assert knee.exit_code == 0, knee.output
    chosen = json.loads(knee.stdout)[0]
    assert chosen["certified"] and chosen["drop_upper"] <= 0.05
    assert chosen["drop_upper"] >= chosen["drop"] and chosen["test_drop_upper"] is not None
    check = run("check", out, "--max-acc-drop", "0.05")
    assert check.exit_code == 0 and f"check of run {chosen['run']} " in check.stdout
    assert "upper bound at 95%" in check.stdout  # the bound is what is checked
    exported = run("export", out, "--max-drop", "0.05", "-o", tmp_path / "m.pt", "--format",
                   "json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)[0]["run"] == chosen["run"]
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["predictions"] == "m.predictions.npz" and meta["rule"] == "certified at 95%"
    import numpy as np

    with np.load(tmp_path / "m.predictions.npz") as carried:
        stored = SweepStore.open(out).load_predictions(chosen["run"])
        assert (carried["val"] == stored["val"]).all() and len(carried["test"]) > 0


def test_a_sweep_without_predictions_reads_with_the_point_rule(sweep_dir, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(sweep_dir[0], old)
    shutil.rmtree(old / "predictions")  # as written before predictions were stored
    knee = run("knee", old, "--max-drop", "0.05")
    assert knee.exit_code == 0, knee.output
    assert "point rule (no per-example predictions" in knee.stderr
    assert len(knee.stderr.strip().splitlines()) == 1
    table = json.loads(run("show", old, "--format", "json").stdout)
    assert all(row["drop_upper"] is None for row in table)


def test_predictions_that_disagree_with_the_split_are_one_line_exit_2(sweep_dir, tmp_path):
    import shutil

    import numpy as np

    bad = tmp_path / "bad"
    shutil.copytree(sweep_dir[0], bad)
    path = bad / "predictions" / "run-0002.npz"
    with np.load(path) as stored:
        arrays = {k: stored[k] for k in stored.files}
    arrays["val"] = arrays["val"][:-3]
    np.savez(path, **arrays)
    journal = (bad / "journal.jsonl").read_bytes()
    result = run("knee", bad, "--max-drop", "0.05")
    assert result.exit_code == 2 and "do not match" in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert (bad / "journal.jsonl").read_bytes() == journal  # nothing lost


def test_resume_with_a_bigger_budget_keeps_finished_runs(sweep_dir):
    out, _ = sweep_dir
    before = pd.read_csv(out / "points.csv")
    result = run("sweep", out, *FAST, "--budget", "6", "--quiet")
    assert result.exit_code == 0, result.output
    assert "resuming: 6 finished run(s) kept" in result.stderr
    after = pd.read_csv(out / "points.csv")
    assert (after["role"] == "trial").sum() == 6 and after["run"].is_unique
    kept = after[after["run"].isin(before["run"])].reset_index(drop=True)
    pd.testing.assert_series_equal(kept["loss"], before["loss"])


def test_export_loads_with_plain_torch(sweep_dir, tmp_path):
    out, _ = sweep_dir
    target = tmp_path / "chosen.pt"
    result = run("export", out, "-o", target, "--format", "json")
    assert result.exit_code == 0, result.output
    state = torch.load(target)  # weights_only: plain tensors, no paretoprune classes
    meta = json.loads(target.with_suffix(".json").read_text())
    zeros = sum(int((t == 0).sum()) for k, t in state.items() if k.endswith("weight"))
    assert zeros > 0 or meta["metrics"]["sparsity"] == 0
    assert meta["metrics"]["run"] == json.loads(result.stdout)[0]["run"]
    assert meta["metrics"]["selected"] is True
    by_knee = run("export", out, "--knee", "angle", "-o", tmp_path / "k.pt")
    assert by_knee.exit_code == 0, by_knee.output


def test_check_exit_codes(sweep_dir):
    out, _ = sweep_dir
    ok = run("check", out, "--min-sparsity", "0", "--max-acc-drop", "1")
    assert ok.exit_code == 0, ok.output
    fail = run("check", out, "--min-sparsity", "1.0", "--max-acc-drop", "1")
    assert fail.exit_code == 1
    assert "--min-sparsity 1 not met" in fail.stderr
    bad = run("check", out, "--max-acc-drop", "5")
    assert bad.exit_code == 2 and "fraction" in bad.stderr
    assert run("check", out).exit_code == 2  # no bound given
    nan = run("check", out, "--max-loss", "nan")
    assert nan.exit_code == 2 and "finite" in nan.stderr


def test_bad_sweep_input_creates_nothing(tmp_path, sweep_dir):
    out, _ = sweep_dir
    cases = [
        (["sweep", tmp_path / "a", *FAST, "--budget", "1"], "--budget must be an integer >= 2"),
        (["sweep", tmp_path / "b", *FAST, "--range", "0.5:1.5"], "--range must lie within 0:1"),
        (["sweep", tmp_path / "c", *FAST, "--range", "abc"], "LO:HI"),
        (["sweep", tmp_path / "d", "--resume", *FAST], "nothing to resume"),
        (["sweep", tmp_path / "e", "--model", "nope"], "unknown model"),
        (["sweep", tmp_path / "f", *FAST, "--max-drop", "1.5"], "--max-drop must be"),
        (["sweep", tmp_path / "g", *FAST, "--trial-epochs", "9"], "must not exceed --epochs"),
        (["sweep", tmp_path / "h", *FAST, "--tol", "nan"], "--tol must be"),
        (["sweep", tmp_path / "i", *FAST, "--gpus-per-run", "-1"], "--gpus-per-run must be"),
        (["sweep", tmp_path / "j", *FAST, "--weight", "0.3"], "the sweep chooses --weight"),
        (["sweep", tmp_path / "k", *FAST, "--method", "smgd"], "chooses its own trade-off"),
        (["sweep", tmp_path / "l", *FAST, "--rule", "bound"], "does not apply"),
        (["sweep", tmp_path / "m", *FAST, "--confidence", "1"], "--confidence must be"),
        (["sweep", tmp_path / "n", *FAST, "--confidence", "-0.1"], "--confidence must be"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not Path(args[1]).exists(), args  # nothing created


def test_a_different_sweep_names_each_setting(sweep_dir):
    out, _ = sweep_dir
    result = run("sweep", out, *FAST[:-2], "--seed", "1", "--budget", "5")
    assert result.exit_code == 2
    assert "seed is 0 there, 1 here" in result.stderr, result.stderr
    assert "--force" in result.stderr


def test_corrupted_journal_is_reported_not_overwritten(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, *FAST, "--budget", "2", "--quiet").exit_code == 0
    journal = out / "journal.jsonl"
    journal.write_bytes(b'{"run": 0}\n\x00\x00garbage\n{"run": 1}\n')
    damaged = journal.read_bytes()
    result = run("sweep", out, *FAST, "--budget", "3", "--quiet")
    assert result.exit_code == 2 and "journal.jsonl" in result.stderr
    assert journal.read_bytes() == damaged
    assert run("show", out).exit_code == 2


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
    assert result.exit_code == 2 and "unknown setting 'colour'" in result.stderr


def _rows(path: Path) -> int:
    try:
        return sum(1 for line in (path / "journal.jsonl").read_bytes().splitlines() if line)
    except FileNotFoundError:
        return 0


def test_sigkill_mid_sweep_then_resume_loses_and_repeats_nothing(tmp_path):
    out = tmp_path / "killed"
    # 150 epochs make each run last a second or two, so the kill lands mid-sweep.
    args = [sys.executable, "-m", "paretoprune", "sweep", str(out), "--model", "mlp",
            "--dataset", "digits", "--epochs", "150", "--batch-size", "64", "--budget", "5",
            "--quiet"]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait on progress (rows appearing), with a generous ceiling for a slow machine
    ceiling = time.monotonic() + 1800
    while _rows(out) < 2 and proc.poll() is None and time.monotonic() < ceiling:
        time.sleep(0.1)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    assert _rows(out) >= 2, "no progress within the ceiling"
    proc.send_signal(signal.SIGKILL)  # the next run is in flight now
    proc.wait()
    before = SweepStore.open(out).points()
    assert 2 <= len(before) < 6

    resumed = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming: {len(before)} finished run(s) kept" in resumed.stderr
    after = SweepStore.open(out).points()
    trials = after[after["role"] == "trial"]
    assert len(trials) == 5 and trials["weight"].is_unique and after["run"].is_unique
    kept = after[after["run"].isin(before["run"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[before.columns], before, check_dtype=False)
    assert after["status"].eq("ok").all()


def test_a_sweep_of_the_previous_version_is_read_and_resumed(tmp_path):
    """tests/data/sweep-flat-options: an epsilon sweep written by the previous version (main at
    a68f98f: every method's options flat in sweep.json, None where another method's; its
    checkpoints left out to keep the repository small) by ``paretoprune sweep OUT --method
    epsilon --epochs 2 --budget 2 --max-train-samples 300``."""
    import shutil

    out = tmp_path / "old"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "sweep-flat-options", out)
    before = pd.read_csv(out / "points.csv")
    shown = json.loads(run("show", out, "--format", "json").stdout)
    assert [r["run"] for r in shown] == [0, 1, 2]
    # the same command with a larger budget resumes it: the finished runs are kept. The default
    # --val-fraction changed since (0.1 -> 0.35, to certify answers): the refusal names it, and
    # the stored value resumes it
    command = ["sweep", out, "--method", "epsilon", "--epochs", "2", "--budget", "3",
               "--max-train-samples", "300", "--quiet"]
    refused = run(*command)
    assert refused.exit_code == 2 and "val_fraction is 0.1 there, 0.35 here" in refused.stderr
    result = run(*command, "--val-fraction", "0.1")
    assert result.exit_code == 0, result.output
    assert "resuming: 3 finished run(s) kept" in result.stderr
    after = pd.read_csv(out / "points.csv")
    assert after["run"].tolist() == [0, 1, 2, 3] and after["role"].tolist()[-1] == "trial"
    pd.testing.assert_series_equal(after["loss"][:3], before["loss"])
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["config"]["train"]["options"]["ramp_every"] == 10  # rewritten, nested
    # another setting is still another sweep
    other = run("sweep", out, "--method", "epsilon", "--epochs", "3", "--budget", "3",
                "--max-train-samples", "300", "--quiet")
    assert other.exit_code == 2 and "holds a different sweep: epochs is 2 there, 3 here" \
        in other.stderr


def test_a_validation_set_too_small_to_certify_is_said_before_training(tmp_path):
    out = tmp_path / "small"
    result = run("sweep", out, *FAST, "--budget", "2", "--max-drop", "0.01",
                 "--val-fraction", "0.1", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    warning = next(i for i, line in enumerate(lines) if "too few to certify" in line)
    assert lines[warning].startswith("paretoprune: warning: 135 validation examples are too "
                                     "few to certify a drop of 0.01 at 95%")
    first_run = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert warning < first_run  # before training
    needed = int(lines[warning].split("needs about ")[1].split()[0])
    assert needed > 135
    assert sum("too few to certify" in line for line in lines) == 1  # said once
    # the quick start's defaults (20 epochs, 35 % for validation) need no warning for its
    # own drop of two points, neither from the prior nor from the dense run's error rate
    quick = run("sweep", tmp_path / "quick", "--budget", "2", "--max-drop", "0.02", "--quiet")
    assert quick.exit_code == 0 and "too few to certify" not in quick.stderr
