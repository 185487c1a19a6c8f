"""A test mixin for gradient runs with persistent masks (epsilon and gmp)."""

from __future__ import annotations


class NoRegrowth:
    """Put before a :class:`~paretoprune.training.GradientRun` subclass: asserts before every
    step that no weight that was zero after the previous one has come back."""

    def step(self, xb, yb):
        flat = self.pruner.flat
        if hasattr(self, "zero"):
            assert not (self.zero & (flat != 0)).any(), f"regrowth at step {self.global_step}"
        ce = super().step(xb, yb)
        self.zero = flat == 0
        return ce
