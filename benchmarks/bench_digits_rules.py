"""Hypervolume reached by the rules normal, midpoint and grid at the same budget, on digits.

    python tests/benchmarks/bench_digits_rules.py [--budget 8] [--seeds 0 1 2]

Each rule runs the default sweep (``paretoprune sweep`` defaults: mlp on the bundled digits)
through ``run_sweep``; hypervolumes are ratios to the union front of all the rules of a seed,
in that front's frozen normalization with the reference point (1.1, 1.1), as in
bench_front.py. Results: runs/benchmarks/digits_rules.json and .md. A few minutes on 2 cores.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_front import OUT_DIR, hv_ratio, reference_for  # noqa: E402

RULES = ("normal", "midpoint", "grid")


def main(argv=None) -> int:
    from paretoprune.config import SweepConfig, TrainSpec
    from paretoprune.sweep import run_sweep

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="bench-digits-"))
    started = time.perf_counter()
    per_seed = {}
    try:
        for seed in args.seeds:
            train = TrainSpec(seed=seed)  # the CLI's defaults
            rows = {}
            for rule in RULES:
                config = SweepConfig(train=train, budget=args.budget, rule=rule)
                frame = run_sweep(folder / f"{rule}-{seed}", config)
                rows[rule] = json.loads(frame.to_json(orient="records"))
            norm, ref_hv = reference_for(list(rows.values()))
            per_seed[seed] = {rule: hv_ratio(r, norm, ref_hv) for rule, r in rows.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    summary = {rule: {"mean": statistics.fmean(s[rule] for s in per_seed.values()),
                      "per_seed": {str(k): s[rule] for k, s in per_seed.items()}} for rule in RULES}
    report = {"command": "python tests/benchmarks/bench_digits_rules.py", "budget": args.budget,
              "settings": "paretoprune sweep defaults: " + json.dumps(TrainSpec().to_dict()),
              "hv_ratio_to_union_front": summary, "total_s": time.perf_counter() - started}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "digits_rules.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Rules on digits at budget {args.budget}", "",
             f"Command: `{report['command']}`; sweep defaults (mlp on digits); "
             f"{report['total_s']:.0f} s in all.", "",
             "Hypervolume as a ratio to the union front of the three rules of each seed.", "",
             "| rule | mean | " + " | ".join(f"seed {s}" for s in args.seeds) + " |",
             "|---|---|" + "---|" * len(args.seeds)]
    for rule in RULES:
        cells = [f"{summary[rule]['per_seed'][str(s)]:.4f}" for s in args.seeds]
        lines.append(f"| {rule} | {summary[rule]['mean']:.4f} | " + " | ".join(cells) + " |")
    (OUT_DIR / "digits_rules.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
