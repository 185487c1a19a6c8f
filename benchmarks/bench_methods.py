"""The weighted sum against the ε-constraint and gradual magnitude pruning, on MNIST.

Run from the repository root::

    python -m benchmarks.bench_methods           # 3 seeds, 30 epochs: about 20 min on 2 cores
    python -m benchmarks.bench_methods --quick   # a smoke run: 1 epoch, 1 seed, 5 runs

Settings: lenet5 on ../shared/datasets/mnist-5k (or $PARETOPRUNE_SHARED_DATASETS/mnist-5k), Adam
lr 1e-3, batch 32, the same number of epochs (30) for every run of every method, CPU, one torch
thread per run. Validation: ``--val-split test`` by default, a seeded half of the 10,000 test
images (the other half reports test accuracy): 10 % of the 5,000 training images is 500 images,
a standard error of about 1 point at 95 % accuracy, too coarse to choose between runs that
differ by less; 5,000 images bring it to about 0.3 points, and training keeps all 5,000 images.

Each method is one ``paretoprune sweep`` (``run_sweep`` with a ``SweepConfig``, ``--workers 2``
processes) with the same budget of training runs (8), its default rule and range, no warm starts:

* ``weighted-sum`` -- the default: (1-λ)·CE + λ·l1, the normal rule over λ;
* ``epsilon`` -- CE subject to l1 <= ε·l1_init (the l1-ball projection), the bound rule over ε;
* ``gmp`` -- gradual magnitude pruning (global magnitude, paretoprune's default), over S;
* ``gmp-layer`` -- the same with Zhu and Gupta's layer-wise magnitude (``--gmp-scope layer``).

The sweeps train no dense reference (``dense=False``); one dense run per seed (λ = 0, no pruning)
is trained once and used by every method (collapse, the reported dense accuracy).

What it reports (runs/benchmarks/methods.json and .md; ``--quick`` writes methods-quick.*):

1. Test accuracy at 90 / 95 / 98 / 99 % dense-layer sparsity, read as ``paretoprune compare``
   reads it (:func:`benchmarks.common.at_level`): each method's networks chosen on validation
   (its front of validation accuracy against sparsity), their test accuracy interpolated in log
   nonzero weights at each level -- matched nonzero weights, never "the best run at or above a
   level" -- per seed, mean ± sd over seeds; no value where a level lies outside the chosen
   networks' range.
2. The hypervolume of each method's front in decision space -- validation error against
   nonzero weights (nnz), collapsed runs excluded -- in one normalization shared by the methods
   of a seed, reference (1.1, 1.1); also with log10(nnz), which weighs the sparse end (where
   the methods differ) as much as the dense end.
3. Total training time per method (the sum of its runs' wall time, and the sweep's wall clock).
4. Paired differences, seed by seed, default minus each other method at every level, mean and
   95 % t-interval; the goal: the default at least as accurate as GMP at 98 and 99 %.

Sweeps are kept in runs/benchmarks/.cache/methods/<epochs>ep-val-<split>/ and resume when the
script is run again with the same settings (``--fresh`` starts over). ``--reanalyse`` trains
nothing: it reads the runs of the committed runs/benchmarks/methods.json and rewrites the report
with this version's analysis.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time

import numpy as np

from benchmarks.common import (
    CACHE_DIR,
    OUT_DIR,
    SEEDS,
    accuracy_at_levels,
    command_line,
    lenet_spec,
    level_table,
    machine,
    mean_sd_text,
    paired,
    pct,
    pp,
    require_mnist,
    summary,
    sweep_trials,
    train_dense,
    usable_trials,
    write_report,
)

LEVELS = (0.90, 0.95, 0.98, 0.99)
#: label -> the method and its options, as the command line gives them (flat)
METHODS = {
    "weighted-sum": {"method": "weighted-sum"},
    "epsilon": {"method": "epsilon"},
    "gmp": {"method": "gmp"},
    "gmp-layer": {"method": "gmp", "gmp_scope": "layer"},
}
DEFAULT, BASELINE, GOAL_LEVELS = "weighted-sum", "gmp", (0.98, 0.99)


# --- analysis ---------------------------------------------------------------------------------


def hypervolumes(per_method: dict[str, list[dict]], dense: dict) -> dict[str, dict]:
    """The decision-space hypervolume of each method's usable runs, one shared normalization
    per scale (nnz, log10 nnz)."""
    from paretoprune.table_analysis import shared_hypervolumes

    labels = list(per_method)
    out = {label: {} for label in labels}
    for scale in ("linear", "log"):
        sets = []
        for label in labels:
            rows = usable_trials(per_method[label], dense)
            nnz = np.array([r["nnz"] for r in rows], dtype=float)
            x = np.log10(np.maximum(nnz, 1.0)) if scale == "log" else nnz
            acc = np.array([r["val_acc"] for r in rows], dtype=float)
            sets.append(np.column_stack([x, acc]) if len(rows) else np.zeros((0, 2)))
        _, hvs = shared_hypervolumes(sets, sense=("min", "max"))
        for label, hv in zip(labels, hvs, strict=True):
            out[label][scale] = hv
    return out


def analyse(results: dict, seeds: list[int], labels: list[str]) -> dict:
    """Levels, hypervolumes, times and paired differences from the per-seed results."""
    levels, hv, times, pairs = {}, {}, {}, {}
    for label in labels:
        levels[label] = accuracy_at_levels(
            {s: results[str(s)]["methods"][label]["rows"] for s in seeds}, LEVELS)
        hv[label] = {scale: summary([results[str(s)]["hypervolume"][label][scale] for s in seeds])
                     for scale in ("linear", "log")}
        runs = [results[str(s)]["methods"][label] for s in seeds]
        times[label] = {
            "run_wall_s": summary([sum(r["wall_time"] or 0.0 for r in m["rows"]) for m in runs]),
            "sweep_wall_s": summary([m["sweep_wall_s"] for m in runs]),
            "runs": summary([len(m["rows"]) for m in runs]),
            "collapsed": sum(sum(bool(r.get("collapsed")) for r in m["rows"]) for m in runs),
        }
    for other in labels:
        if other == DEFAULT:
            continue
        pairs[other] = {}
        for level in LEVELS:
            key = f"{level:g}"
            test_acc = {label: {s: c["test_acc"] for s, c in levels[label][key]["per_seed"].items()
                                if c} for label in (DEFAULT, other)}
            pairs[other][key] = paired(test_acc[DEFAULT], test_acc[other])
    return {"levels": levels, "hypervolume": hv, "time": times, "paired": pairs}


def verdicts(analysis: dict) -> list[str]:
    """The goal, said plainly: the default at least as accurate as GMP at 98 and 99 %."""
    out = []
    for level in GOAL_LEVELS:
        key = f"{level:g}"
        d = analysis["paired"].get(BASELINE, {}).get(key)
        if not d or d["n"] == 0:
            out.append(f"{level:.0%}: no paired result (outside a method's chosen networks)")
            continue
        resolved = d["lo"] is not None
        ci = f"95 % interval [{pp(d['lo'])}, {pp(d['hi'])}]" if resolved else "one seed"
        if resolved and (d["lo"] > 0 or d["hi"] < 0):
            sure = "; the whole interval is on that side"
        else:
            sure = f"; not resolved by {d['n']} seed(s)" if d["n"] else ""
        if d["mean"] >= 0:
            out.append(f"{level:.0%}: met -- the default is {pp(d['mean'])} points ahead of gmp "
                       f"on average ({ci}{sure})")
        else:
            out.append(f"{level:.0%}: MISSED -- gmp is {pp(-d['mean'])} points more accurate "
                       f"than the default here on average ({ci}{sure})")
    return out


# --- report -----------------------------------------------------------------------------------


def markdown(rep: dict) -> str:
    a, labels, seeds = rep["analysis"], rep["methods"], rep["seeds"]
    lines = [f"# Methods on mnist-5k (lenet5){' -- QUICK smoke run' if rep['quick'] else ''}", "",
             f"Command: `{rep['command']}`  "
             + (f"\nAnalysis redone without training: `{rep['reanalysed']}`  "
                if rep.get("reanalysed") else ""), f"Settings: {rep['settings']}  ",
             f"Machine: {rep['machine']}  ",
             f"Total time: {rep['total_s'] / 60:.1f} min", "",
             "Dense reference (λ = 0, no pruning), test accuracy per seed: "
             + ", ".join(f"seed {s}: {pct(rep['results'][str(s)]['dense']['test_acc'])}"
                         for s in seeds), "",
             f"## Test accuracy at dense-layer sparsity (mean ± sd over {len(seeds)} seeds, %)", "",
             "Each method's networks chosen on validation (its front of validation accuracy "
             "against sparsity), their test accuracy interpolated in log nonzero weights at each "
             "level (as `paretoprune compare`). (n) = seeds whose chosen networks span the "
             "level.", "",
             "| method | " + " | ".join(f"{lv:.0%}" for lv in LEVELS) + " |",
             "|---|" + "---|" * len(LEVELS)]
    for label in labels:
        cells = []
        for lv in LEVELS:
            s = a["levels"][label][f"{lv:g}"]["test_acc"]
            cells.append(mean_sd_text(s) + (f" ({s['n']})" if s["n"] != len(seeds) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Per seed (test accuracy at the level):", ""]
    lines += level_table(a["levels"], labels, seeds, LEVELS)
    lines += ["", "## Hypervolume in decision space (validation error vs nonzero weights)", "",
              "One normalization per seed shared by all methods, reference (1.1, 1.1), collapsed "
              "runs excluded; mean ± sd over seeds.", "",
              "| method | nnz | log10 nnz | per seed (nnz) |", "|---|---|---|---|"]
    for label in labels:
        h = a["hypervolume"][label]
        lines.append(f"| {label} | {mean_sd_text(h['linear'], False, 4)} | "
                     f"{mean_sd_text(h['log'], False, 4)} | "
                     + ", ".join(f"{v:.4f}" for v in h["linear"]["values"]) + " |")
    lines += ["", "## Training time per method (sum over its runs, per seed)", "",
              "| method | runs | collapsed (all seeds) | run wall time (s) | sweep wall clock (s) |",
              "|---|---|---|---|---|"]
    for label in labels:
        t = a["time"][label]
        lines.append(f"| {label} | {t['runs']['mean']:.0f} | {t['collapsed']} | "
                     f"{mean_sd_text(t['run_wall_s'], False, 0)} | "
                     f"{mean_sd_text(t['sweep_wall_s'], False, 0)} |")
    lines += ["", f"## Paired differences: {DEFAULT} minus each method (test accuracy, points)",
              "", "| method | level | per seed | mean | 95 % interval |", "|---|---|---|---|---|"]
    for other, per in a["paired"].items():
        for lv in LEVELS:
            d = per[f"{lv:g}"]
            seeds_text = ", ".join(f"{pp(v)}" for v in d["per_seed"].values()) or "—"
            interval = f"[{pp(d['lo'])}, {pp(d['hi'])}]" if d["lo"] is not None else "—"
            lines.append(f"| {other} | {lv:.0%} | {seeds_text} | {pp(d['mean'])} | {interval} |")
    lines += ["", "## The goal: the default at least as accurate as GMP at 98 % and 99 %", ""]
    lines += [f"- {v}" for v in rep["verdicts"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=30, help="every run of every method")
    parser.add_argument("--budget", type=int, default=8, help="training runs per method")
    parser.add_argument("--workers", type=int, default=2, help="processes of each sweep")
    parser.add_argument("--val-split", choices=("test", "train"), default="test")
    parser.add_argument("--methods", nargs="+", choices=tuple(METHODS), default=list(METHODS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1 epoch, seed 0, 5 runs per method")
    parser.add_argument("--fresh", action="store_true", help="start every sweep over")
    parser.add_argument("--reanalyse", action="store_true",
                        help="train nothing: rewrite the report from the runs in the committed "
                             "runs/benchmarks/methods.json with this version's analysis")
    args = parser.parse_args(argv)
    if args.reanalyse:
        report = json.loads((OUT_DIR / "methods.json").read_text())
        report["analysis"] = analyse(report["results"], report["seeds"], report["methods"])
        report["verdicts"] = verdicts(report["analysis"]) if BASELINE in report["methods"] \
            else []
        report["reanalysed"] = command_line("bench_methods", argv)
        write_report("methods", report, markdown(report))
        return 0
    if args.quick:
        args.epochs, args.seeds, args.budget = 1, [0], 5
    if DEFAULT not in args.methods:
        parser.error(f"--methods must include the default, {DEFAULT}")
    require_mnist("bench_methods")
    command = command_line("bench_methods", argv)
    cache = CACHE_DIR / "methods" / f"{args.epochs}ep-val-{args.val_split}"
    if args.fresh:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"{command}\nsweeps in {cache}; {len(args.seeds)} seeds x {len(args.methods)} methods x "
          f"{args.budget} runs of {args.epochs} epochs", flush=True)
    started = time.perf_counter()
    results = {}
    for seed in args.seeds:
        folder = cache / f"seed{seed}"
        base = lenet_spec(seed, args.epochs, val_split=args.val_split)
        dense = train_dense(base, folder)
        print(f"[{time.perf_counter() - started:.0f}s] seed {seed}: dense test acc "
              f"{pct(dense['test_acc'])}", flush=True)
        per_method = {}
        for label in args.methods:
            spec = lenet_spec(seed, args.epochs, val_split=args.val_split, **METHODS[label])
            rows, wall = sweep_trials(spec, folder / label, args.budget, args.workers)
            per_method[label] = {"rows": rows, "sweep_wall_s": wall}
            print(f"[{time.perf_counter() - started:.0f}s] seed {seed}: {label} "
                  f"({len(rows)} runs, {wall:.0f} s)", flush=True)
        results[str(seed)] = {
            "dense": {k: dense.get(k) for k in ("test_acc", "val_acc", "num_classes", "nnz",
                                                 "wall_time")},
            "methods": per_method,
            "hypervolume": hypervolumes({k: v["rows"] for k, v in per_method.items()},
                                        dense),
        }
    analysis = analyse(results, args.seeds, args.methods)
    report = {
        "command": command, "quick": args.quick,
        "settings": (f"lenet5 on mnist-5k (train 5,000; validation: "
                     f"{'half of the 10,000 test images, test the other half' if args.val_split == 'test' else '10 % of the training images'}), "
                     f"Adam lr 1e-3, batch 32, {args.epochs} epochs per run, {args.budget} runs per "
                     f"method, sweeps with {args.workers} worker processes, one torch thread per "
                     f"run, CPU, seeds {args.seeds}"),
        "machine": machine(args.workers), "seeds": args.seeds,
        "methods": args.methods, "levels": list(LEVELS), "results": results,
        "analysis": analysis, "total_s": time.perf_counter() - started,
    }
    report["verdicts"] = verdicts(analysis) if BASELINE in args.methods else []
    write_report("methods-quick" if args.quick else "methods", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
