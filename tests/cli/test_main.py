"""The command line as a whole: one-line errors with suggestions, inputs that would fail every run,
and commands that must not import torch to reject bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from paretoprune.cli import main

FAST = ["--epochs", "2", "--batch-size", "64", "--device", "cpu"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, code=2):
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paretoprune: error: "), result.stderr
    return lines[0]


def test_misspelled_commands_and_options_get_a_suggestion():
    assert "did you mean 'sweep'" in one_line_error(run("swep", "x"))
    assert "'--epochs'" in one_line_error(run("train", "--epoch", "3"))  # did you mean
    assert "commands:" in one_line_error(run("frobnicate"))


def test_a_device_this_machine_lacks_stops_before_anything_is_written(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the error case cannot happen here")
    line = one_line_error(run("sweep", tmp_path / "s", *FAST[:-2], "--device", "cuda"))
    assert "not available on this machine" in line
    assert not (tmp_path / "s").exists()


def test_export_into_a_folder_named_like_its_json_writes_nothing(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, *FAST, "--budget", "2", "--quiet").exit_code == 0
    (tmp_path / "model.json").mkdir()
    line = one_line_error(run("export", out, "-o", tmp_path / "model.pt"))
    assert "is a folder" in line
    assert not (tmp_path / "model.pt").exists()  # not even the weights


def test_check_with_a_column_that_is_not_numeric(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, *FAST, "--budget", "2", "--quiet").exit_code == 0
    line = one_line_error(run("check", out, "--max-acc-drop", "0.5", "--metric", "method"))
    assert "not numeric" in line
    assert "unknown column" in one_line_error(
        run("check", out, "--max-acc-drop", "0.5", "--metric", "nosuch"))


def test_resume_of_a_broken_sweep_says_what_is_broken(tmp_path):
    out = tmp_path / "s"
    assert run("sweep", out, *FAST, "--budget", "2", "--quiet").exit_code == 0
    (out / "sweep.json").write_text("[" * 100_000)
    for args in (("sweep", out, *FAST, "--budget", "3", "--resume"), ("show", out),
                 ("knee", out), ("plot", out, "-o", tmp_path / "f.html")):
        line = one_line_error(run(*args))
        assert "sweep.json" in line and "nothing to resume" not in line, args
    (out / "sweep.json").write_text(json.dumps({"schema_version": 7, "kind": "paretoprune-sweep"}))
    assert "newer paretoprune" in one_line_error(run("show", out))


@pytest.mark.parametrize("args", [
    ["sweep", "{out}", "--epochs", "0"],
    ["sweep", "{out}", "--tol", "inf"],
    ["sweep", "{out}", "--max-drop", "2"],
    ["train", "--lr", "-1"],
])
def test_bad_options_are_rejected_before_torch_is_imported(tmp_path, args):
    args = [a.format(out=tmp_path / "s") for a in args]
    script = textwrap.dedent(f"""
        import sys
        from paretoprune.cli import main
        try:
            main({args!r})
        except SystemExit as done:
            print("exit", done.code, "torch" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "exit 2 False", (result.stdout, result.stderr)
    assert result.stderr.startswith("paretoprune: error: ")
    assert not (tmp_path / "s").exists()
