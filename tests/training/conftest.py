"""Shared fixtures of the training tests: one torch thread (the CI machines are small and
shared, and intra-op threads only slow tiny models down), the shared real-data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every training test runs with one torch thread (``one_thread`` in tests/conftest.py)."""


def shared_datasets() -> Path:
    """``../shared/datasets`` next to the checkout, or ``$PARETOPRUNE_SHARED_DATASETS``."""
    env = os.environ.get("PARETOPRUNE_SHARED_DATASETS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


@pytest.fixture
def mnist5k() -> Path:
    root = shared_datasets() / "mnist-5k"
    if not (root / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file():
        pytest.skip(f"real MNIST subset not available at {root} (set PARETOPRUNE_SHARED_DATASETS)")
    return root
