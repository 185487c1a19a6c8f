"""Fixtures shared across test folders."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """One torch thread for the test: the CI machines are small and shared, and intra-op
    threads only slow tiny models down."""
    import torch  # imported here so that torch-free tests stay torch-free

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
