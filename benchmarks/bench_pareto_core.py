"""Benchmark: pareto_mask + hypervolume on 10^6 uniform random points (best of 5).

Run from the repository root::

    python -m benchmarks.bench_pareto_core

Prints the figure and writes ``runs/benchmarks/pareto_core.json``. The target is under 1 s for
the uniform cloud. A second, harder case is timed too: 10^6 points that are ALL nondominated
(on the line f1 + f2 = 1, shuffled), where the O(n) pivot pre-filter removes nothing and the
full O(n log n) sort runs twice.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from benchmarks.common import OUT_DIR
from paretoprune.pareto import hypervolume, pareto_mask

N = 1_000_000
REPEATS = 5
OUT = OUT_DIR / "pareto_core.json"


def best_of(fn, repeats: int = REPEATS) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), times


def bench(points: np.ndarray) -> dict:
    ref = (1.1, 1.1)
    mask = pareto_mask(points)
    hv = hypervolume(points, ref)
    total, total_times = best_of(lambda: (pareto_mask(points), hypervolume(points, ref)))
    mask_s, _ = best_of(lambda: pareto_mask(points))
    hv_s, _ = best_of(lambda: hypervolume(points, ref))
    return {
        "best_total_s": total,
        "all_total_s": total_times,
        "best_pareto_mask_s": mask_s,
        "best_hypervolume_s": hv_s,
        "front_size": int(mask.sum()),
        "hypervolume": hv,
    }


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    rng = np.random.default_rng(0)
    uniform = rng.random((N, 2))
    t = rng.permutation(N) / (N - 1)
    all_front = np.c_[t, 1.0 - t]
    result = {
        "benchmark": "pareto_mask + hypervolume, best of 5",
        "n_points": N,
        "uniform": bench(uniform),
        "all_nondominated": bench(all_front),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    u, a = result["uniform"], result["all_nondominated"]
    print(
        f"pareto_mask + hypervolume on {N:,} uniform points: {u['best_total_s']:.3f} s best of {REPEATS} "
        f"(mask {u['best_pareto_mask_s']:.3f} s, hypervolume {u['best_hypervolume_s']:.3f} s, front {u['front_size']})"
    )
    print(f"all {N:,} points nondominated: {a['best_total_s']:.3f} s best of {REPEATS}")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
