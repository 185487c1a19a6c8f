"""The benchmark scripts are not run by the tests (they train for minutes), but they must keep
importing: a rename in the package once broke two of them unnoticed."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

SCRIPTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py")
                 if p.stem != "__init__")


def test_there_are_benchmark_scripts():
    assert "bench_certified" in SCRIPTS and "common" in SCRIPTS


@pytest.mark.parametrize("name", SCRIPTS)
def test_each_benchmark_script_imports_and_has_a_main(name):
    module = importlib.import_module(f"benchmarks.{name}")
    if name.startswith("bench_") or name.endswith("_campaign"):
        assert callable(getattr(module, "main", None))
