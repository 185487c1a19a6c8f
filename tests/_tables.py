"""Sweep tables made by hand, with the columns ``load_table`` gives a sweep directory.

``sweep_frame()`` is small and explicit, so tests can work out their expectations by hand;
``big_sweep_frame(n)`` is random and large (for sampling, WebGL and the plot benchmark).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

N_PRUNABLE = 1000

#: run, role, weight, nnz, val_acc, test_acc, loss, l1, status, collapsed, selected, wall_time
ROWS = [
    (0, "dense", 0.0, 1000, 0.980, 0.975, 0.01, 1.00, "ok", False, False, 10.0),
    (1, "trial", 0.2, 400, 0.978, 0.972, 0.02, 0.50, "ok", False, False, 10.0),
    (2, "trial", 0.4, 100, 0.972, 0.970, 0.05, 0.20, "ok", False, True, 10.0),
    (3, "trial", 0.6, 30, 0.930, 0.925, 0.20, 0.08, "ok", False, False, 10.0),
    (4, "trial", 0.5, 200, 0.960, 0.950, 0.10, 0.40, "ok", False, False, 10.0),  # dominated
    (5, "trial", 0.9, 0, 0.100, 0.098, 2.30, 0.00, "ok", True, False, 10.0),  # collapsed
    (6, "trial", 0.7, np.nan, np.nan, np.nan, np.nan, np.nan, "failed", False, False, 5.0),
    (7, "trial", 0.8, 10, 0.500, 0.480, 1.00, 0.03, "ok", False, False, 10.0),
]
COLUMNS = ["run", "role", "weight", "nnz", "val_acc", "test_acc", "loss", "l1", "status",
           "collapsed", "selected", "wall_time"]


def sweep_frame(method: str = "weighted-sum", max_drop: float | None = None) -> pd.DataFrame:
    """Eight runs: a dense one, five on the decision front (nnz 10, 30, 100, 400, 1000 with
    val_acc 0.5, 0.93, 0.972, 0.978, 0.98), one dominated (nnz 200), one collapsed (nnz 0) and
    one failed (NaN). Run 2 is selected. ``attrs["sweep"]`` holds ``max_drop``."""
    frame = pd.DataFrame(ROWS, columns=COLUMNS)
    frame.insert(2, "method", method)
    frame["n_prunable"] = N_PRUNABLE
    frame["sparsity_dense"] = 1.0 - frame["nnz"] / N_PRUNABLE
    frame["num_classes"] = 10
    frame.attrs["sweep"] = {"max_drop": max_drop, "train": {"method": method}}
    return frame


def big_sweep_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` random runs of a sweep-like table: accuracy rising with nnz, loss falling with l1,
    about 1% failed and the runs with fewer than 5 weights collapsed."""
    rng = np.random.default_rng(seed)
    nnz = rng.integers(0, 60_000, n)
    noise = rng.normal(0.0, 0.01, n)
    val = np.clip(0.98 - 0.85 * np.exp(-nnz / 400.0) - np.abs(noise), 0.0, 1.0)
    l1 = nnz / 60_000 + rng.uniform(0.0, 0.05, n)
    loss = 0.02 / (l1 + 0.01) + rng.uniform(0.0, 0.1, n)
    failed = rng.random(n) < 0.01
    frame = pd.DataFrame({
        "run": np.arange(n), "role": "trial", "method": "weighted-sum",
        "weight": rng.random(n), "loss": loss, "l1": l1, "nnz": nnz,
        "sparsity_dense": 1.0 - nnz / 60_000, "val_acc": val,
        "test_acc": np.clip(val - rng.uniform(0.0, 0.01, n), 0.0, 1.0),
        "status": np.where(failed, "failed", "ok"), "collapsed": (nnz < 5) & ~failed,
        "selected": False, "wall_time": rng.uniform(5.0, 15.0, n), "epochs": 30, "seed": 0,
    })
    frame.loc[0, "role"] = "dense"
    frame.loc[frame.index[frame["status"].eq("ok") & ~frame["collapsed"]][1], "selected"] = True
    return frame
