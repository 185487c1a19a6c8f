"""A user's own model and dataset (``--model mymods:tiny --dataset mymods:blobs``): the README's
example runs as written, from the current directory, and a factory that fails is one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
# -P: the current directory is not on sys.path by itself (as for the installed `paretoprune`
# script), so these runs show that paretoprune looks there first
PARETOPRUNE = [sys.executable, "-P", "-c", "import sys; from paretoprune.cli import main; "
               "sys.argv[0] = 'paretoprune'; main()"]
WAIT_S = 600  # patience for a slow machine, never a pass/fail criterion


def readme_example() -> tuple[str, list[str]]:
    """The module and the commands of the README's section on your own model and dataset."""
    section = README.read_text().split("## Your own model and dataset", 1)[1].split("\n## ")[0]
    module = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    commands = re.search(r"```bash\n(.*?)```", section, re.S).group(1).strip().splitlines()
    return module, commands


def paretoprune(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(README.parent), os.environ.get("PYTHONPATH", "")) if p)}
    return subprocess.run([*PARETOPRUNE, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=WAIT_S)


@pytest.mark.slow
def test_the_readme_example_runs_from_the_current_directory(tmp_path):
    module, commands = readme_example()
    assert module.startswith("# mymods.py") and len(commands) == 2
    (tmp_path / "mymods.py").write_text(module)
    for command in commands:
        args = command.split()
        assert args[0] == "paretoprune"
        result = paretoprune(tmp_path, *args[1:], "--quiet")
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr
    from paretoprune.store import SweepStore

    points = SweepStore.open(tmp_path / "runs" / "blobs").points()
    trials = points[points["role"] == "trial"]
    assert len(trials) == 4 and (points["status"] == "ok").all()
    assert points.loc[points["role"] == "dense", "test_acc"].item() > 0.7  # chance: 0.5


@pytest.mark.slow
@pytest.mark.parametrize("command", ["train", "sweep"])
def test_a_factory_that_raises_is_one_line_naming_it(tmp_path, command):
    module, _ = readme_example()
    (tmp_path / "mymods.py").write_text(module + "\n\ndef broken():\n    return nn.Linear(1, 1)\n")
    args = [command, *(["OUT"] if command == "sweep" else []), "--model", "mymods:broken",
            "--dataset", "mymods:blobs", "--epochs", "1", "--quiet"]
    result = paretoprune(tmp_path, *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "mymods:broken" in lines[0] and "TypeError" in lines[0], lines[0]
    assert not (tmp_path / "OUT").exists()
