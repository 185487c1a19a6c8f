"""paretoprune: find how small a neural network can get without losing accuracy.

Pruning as a biobjective problem, prediction loss against the l1 norm of the prunable weights,
explored with weighted-sum training runs that prune during training.

The public API::

    pareto_mask(points)            # boolean mask of the nondominated rows (both minimized)
    hypervolume(points, ref=None)  # exact 2-D hypervolume
    knee(frame, method=...)        # front rows of a table ranked as knee candidates
    explore(evaluate, budget=...)  # the adaptive weight exploration, generic over evaluate()

Names are imported on first use, so ``import paretoprune`` stays light (no torch, no pandas
until needed).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "pareto_mask": "paretoprune.pareto",
    "hypervolume": "paretoprune.pareto",
    "knee": "paretoprune.table_analysis",
    "explore": "paretoprune.exploration",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'paretoprune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
