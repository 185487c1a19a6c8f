"""What a user sees at the worst moment: Ctrl-C at random moments, a full disk, a second sweep
on a locked directory, resuming after an upgrade, a table cut short, and what ``check`` says
it checked."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from paretoprune.cli import main
from paretoprune.config import SweepConfig
from paretoprune.store import SweepStore, fingerprint

pytestmark = pytest.mark.slow

FAST = ["--epochs", "2", "--batch-size", "64", "--seed", "0"]
PARETOPRUNE = [sys.executable, "-m", "paretoprune"]
WAIT_S = 600  # patience for a slow machine, never a pass/fail criterion


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def journal_runs(out: Path) -> list[int]:
    try:
        text = (out / "journal.jsonl").read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line)["run"] for line in text.splitlines() if line.strip()]


def wait_for(predicate, proc: subprocess.Popen) -> bool:
    """Wait on progress (``predicate``) while the command runs; False if it ended first."""
    ceiling = time.monotonic() + WAIT_S
    while not predicate():
        if proc.poll() is not None or time.monotonic() > ceiling:
            return False
        time.sleep(0.02)
    return True


# --------------------------------------------------------------------------------------------
# Ctrl-C


def test_ctrl_c_at_random_moments_is_one_line_exit_130_and_the_sweep_resumes(tmp_path):
    """SIGINT to the whole process group (as a terminal sends it) of a two-worker sweep: during
    its imports, while it checks its inputs and the workers start, while runs train, later."""
    rng = random.Random(19)
    stages = {
        "imports": lambda out: True,  # at once, plus a random fraction of a second
        "preflight": lambda out: (out / ".lock").exists(),
        "first run": lambda out: len(journal_runs(out)) >= 1,
        "training": lambda out: len(journal_runs(out)) >= 3,
    }
    for trial, (stage, reached) in enumerate(stages.items()):
        out = tmp_path / f"t{trial}"
        proc = subprocess.Popen([*PARETOPRUNE, "sweep", str(out), "--workers", "2", "--budget",
                                 "4", *FAST, "--quiet"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        if wait_for(lambda out=out, reached=reached: reached(out), proc):
            time.sleep(rng.uniform(0.0, 0.4))
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=WAIT_S)
        where = f"trial {trial} ({stage}): {err}"
        assert "Traceback" not in err and "terminate called" not in err, where
        if proc.returncode == 0:  # it finished before the signal came: nothing to resume
            continue
        assert proc.returncode == 130, where
        assert err.strip().splitlines()[-1] == "paretoprune: interrupted", where
        if (out / "sweep.json").exists():
            resumed = subprocess.run([*PARETOPRUNE, "sweep", str(out), "--resume", "--quiet"],
                                     capture_output=True, text=True, timeout=WAIT_S)
            assert resumed.returncode == 0, (where, resumed.stderr)
            runs = journal_runs(out)
            assert len(runs) == len(set(runs)) == 5, where  # the dense run and 4 trials
        else:  # stopped before the sweep was created: nothing of it is left
            assert not out.exists() or not any(out.iterdir()), where


# --------------------------------------------------------------------------------------------
# a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A 60 KB tmpfs (root only), or skip."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "small"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60k", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_a_full_disk_is_one_line_naming_the_file_and_exit_2(small_disk, tmp_path):
    out = small_disk / "s"
    result = subprocess.run([*PARETOPRUNE, "sweep", str(out), "--budget", "3", *FAST, "--quiet"],
                            capture_output=True, text=True, timeout=WAIT_S)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert lines[-1].startswith("paretoprune: error: cannot ") and str(out) in lines[-1]
    assert "No space left on device" in lines[-1], lines[-1]
    finished = journal_runs(out)
    assert all((out / "checkpoints" / f"run-{run:04d}.pt").exists() for run in finished)
    # the commands that write elsewhere: export and plot onto the full disk
    elsewhere = tmp_path / "elsewhere"
    assert run("sweep", elsewhere, "--budget", "2", *FAST, "--quiet").exit_code == 0
    shutil.rmtree(out)  # room again, but less than the weights (70 KB) or the figure need
    for args in (["export", elsewhere, "-o", small_disk / "model.pt"],
                 ["plot", elsewhere, "-o", small_disk / "front.html"]):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith("paretoprune: error: cannot write ") and str(small_disk) in line


# --------------------------------------------------------------------------------------------
# a second sweep, resuming after an upgrade


def test_a_locked_sweep_is_refused_before_torch_with_the_holders_pid(tmp_path):
    out = tmp_path / "held"
    config = SweepConfig()
    holder = SweepStore.create_or_open(out, config.to_dict(), identity=config.identity())
    script = ("import sys; from paretoprune.cli import main\n"
              "try:\n    main(['sweep', sys.argv[1], '--workers', '2', '--quiet'])\n"
              "finally:\n    print('torch' in sys.modules)")
    try:
        result = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True,
                                text=True, timeout=WAIT_S)
    finally:
        holder.close()
    assert result.returncode == 2 and result.stdout.strip() == "False", result
    assert f"is locked by pid {os.getpid()} on host " in result.stderr and " since " in \
        result.stderr


def test_resume_uses_the_stored_settings_and_refuses_only_given_differences(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, "--budget", "2", *FAST, "--quiet").exit_code == 0
    resumed = run("sweep", out, "--resume", "--budget", "3", "--quiet")  # --epochs 2 kept
    assert resumed.exit_code == 0, resumed.output
    frame = SweepStore.open(out).points()
    assert (frame["role"] == "trial").sum() == 3 and (frame["epochs"] == 2).all()
    # an older release wrote another value where today's default differs (lr), and knew no
    # setting added since (val_fraction): neither blocks resuming
    meta = json.loads((out / "sweep.json").read_text())
    for part in (meta["config"]["train"], meta["identity"]):
        part["lr"] = 0.0123
        part.pop("val_fraction")
    meta["fingerprint"] = fingerprint(meta["identity"])
    (out / "sweep.json").write_text(json.dumps(meta))
    resumed = run("sweep", out, "--resume", "--budget", "4", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert SweepStore.open(out).config["train"]["lr"] == 0.0123
    refused = run("sweep", out, "--resume", "--lr", "0.001", "--quiet")  # given and different
    assert refused.exit_code == 2 and "lr is 0.0123 there, 0.001 here" in refused.stderr


# --------------------------------------------------------------------------------------------
# a table cut short, check and the summary


def test_a_table_cut_in_the_middle_of_a_row_names_its_line(tmp_path):
    table = tmp_path / "cut.csv"
    table.write_text("run,loss,l1,status\n0,0.5,2.0,ok\n1,0.4,3.0,ok\n2,0.3")
    result = run("show", table)
    assert result.exit_code == 2
    assert "line 4 of" in result.stderr and "has 2 of 4 fields" in result.stderr


def test_check_names_the_run_and_why_and_the_summary_front_matches_show(tmp_path):
    out = tmp_path / "s"
    swept = run("sweep", out, "--budget", "4", *FAST, "--max-drop", "0.05", "--format", "json")
    assert swept.exit_code == 0, swept.output
    front = run("show", out, "--front", "--format", "json")
    assert [r["run"] for r in json.loads(swept.stdout)["front"]] == [
        r["run"] for r in json.loads(front.stdout)]  # the dense run included, or not, in both
    checked = run("check", out, "--max-acc-drop", "0.2", "--format", "json")
    assert checked.exit_code in (0, 1), checked.output
    result = json.loads(checked.stdout)[0]
    table = pd.read_csv(out / "points.csv")
    assert result["run"] in set(table["run"])
    assert result["chosen"].startswith("the sparsest within --max-acc-drop 0.2 of the dense "
                                       "val_acc")
    selected = int(table.loc[table["selected"] & (table["role"] == "trial"), "run"].item())
    assert (f"(the sweep selected run {selected})" in result["chosen"]) == (
        result["run"] != selected)
