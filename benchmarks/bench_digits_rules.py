"""Hypervolume reached by the rules normal, midpoint and grid at the same budget, on digits.

Run from the repository root (a few minutes on 2 cores)::

    python -m benchmarks.bench_digits_rules [--budget 8] [--seeds 0 1 2]

Each rule runs the default sweep (``paretoprune sweep`` defaults: mlp on the bundled digits)
through ``run_sweep``; hypervolumes (training objectives: loss, l1; usable trials) are ratios
to the union front of all the rules of a seed, in that front's normalization with the reference
point (1.1, 1.1), as in bench_front. Results: runs/benchmarks/digits_rules.json and .md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    SEEDS,
    command_line,
    hypervolume_in,
    objective_points,
    union_front_normalization,
    usable_trials,
    write_report,
)

RULES = ("normal", "midpoint", "grid")


def main(argv=None) -> int:
    from paretoprune.config import SweepConfig, TrainSpec
    from paretoprune.sweep import run_sweep

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-digits-"))
    started = time.perf_counter()
    per_seed = {}
    try:
        for seed in args.seeds:
            train = TrainSpec(seed=seed)  # the CLI's defaults
            points = {}
            for rule in RULES:
                config = SweepConfig(train=train, budget=args.budget, rule=rule)
                frame = run_sweep(folder / f"{rule}-{seed}", config)
                rows = json.loads(frame.to_json(orient="records"))
                points[rule] = objective_points(usable_trials(rows))
            norm, union_hv = union_front_normalization(np.vstack(list(points.values())))
            per_seed[seed] = {rule: hypervolume_in(p, norm) / union_hv
                              for rule, p in points.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = {rule: {"mean": statistics.fmean(s[rule] for s in per_seed.values()),
                      "per_seed": {str(k): s[rule] for k, s in per_seed.items()}} for rule in RULES}
    report = {"command": command_line("bench_digits_rules", argv), "budget": args.budget,
              "settings": "paretoprune sweep defaults: " + json.dumps(TrainSpec().to_dict()),
              "hv_ratio_to_union_front": summary, "total_s": time.perf_counter() - started}
    lines = [f"# Rules on digits at budget {args.budget}", "",
             f"Command: `{report['command']}`; sweep defaults (mlp on digits); "
             f"{report['total_s']:.0f} s in all.", "",
             "Hypervolume as a ratio to the union front of the three rules of each seed.", "",
             "| rule | mean | " + " | ".join(f"seed {s}" for s in args.seeds) + " |",
             "|---|---|" + "---|" * len(args.seeds)]
    for rule in RULES:
        cells = [f"{summary[rule]['per_seed'][str(s)]:.4f}" for s in args.seeds]
        lines.append(f"| {rule} | {summary[rule]['mean']:.4f} | " + " | ".join(cells) + " |")
    write_report("digits_rules", report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
