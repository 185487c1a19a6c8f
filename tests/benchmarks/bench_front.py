"""How well and how fast paretoprune finds the front (issue: benchmarks), on real MNIST.

Run from the repository root (not part of the default test run)::

    python tests/benchmarks/bench_front.py            # the full suite: about an hour on 2 cores
    python tests/benchmarks/bench_front.py --seeds 0 1   # two seeds: about 40 minutes
    python tests/benchmarks/bench_front.py --quick    # a smoke run: 2 epochs, 1 seed

Settings: ../shared/datasets/mnist-5k (or $PARETOPRUNE_SHARED_DATASETS/mnist-5k), lenet5, Adam
lr 1e-3, batch 32, 30 epochs per cold run, CPU, one torch thread per process.

What it measures (results in runs/benchmarks/front.json and front.md):

1. Exploration efficiency: the hypervolume after 4, 6, 8, 12 and 16 runs of the rules normal,
   midpoint, grid (a separate uniform grid for each budget) and random, and of Optuna's TPE and
   NSGA-II samplers (a multi-objective study over the weight), each as a ratio to the hypervolume
   of the reference front of its seed: the union of every point any method found, in one frozen
   normalization (its ideal and nadir) with the reference point (1.1, 1.1). Three seeds.
2. Warm start: training epochs and wall time a warm-started sweep needs to reach the hypervolume
   of 8 cold runs of the default rule.
3. Knee quality: the knee's sparsity and test-accuracy drop against the dense run (weight 0), and
   where single smgd and madam runs land relative to the weighted-sum front.
4. Sweep cost: the wall time of a 12-run cold sweep (``run_sweep``: store, checkpoints and all)
   against 12 times the plain PyTorch loop, measured in the same process.

It also writes the reference sweep (seed 0, the default rule, 16 runs; points table and config,
no checkpoints) to runs/mnist5k-lenet5/.

Every cold training run is cached in runs/benchmarks/.cache/ (training is deterministic on the
CPU for a given seed and weight), so an interrupted suite continues where it stopped; --fresh
empties the cache.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

OUT_DIR = ROOT / "runs" / "benchmarks"
CACHE = OUT_DIR / ".cache" / "front-runs.jsonl"
REFERENCE_SWEEP = ROOT / "runs" / "mnist5k-lenet5"
BUDGETS = (4, 6, 8, 12, 16)
RULE_METHODS = ("normal", "midpoint", "random")
ALL_METHODS = ("normal", "midpoint", "grid", "random", "optuna-tpe", "optuna-nsga2")
TARGETS = {"normal@8": 0.95, "normal@16": 0.98, "warm_epoch_share": 0.50,
           "knee_sparsity_dense": 0.98, "knee_acc_drop_pp": 1.0, "sweep_cost_ratio": 1.10}


def data_dir() -> Path:
    base = os.environ.get("PARETOPRUNE_SHARED_DATASETS")
    return Path(base) / "mnist-5k" if base else ROOT.parent / "shared" / "datasets" / "mnist-5k"


def base_spec(seed: int, epochs: int, **changes):
    from paretoprune.training import TrainSpec

    settings = dict(model="lenet5", dataset="mnist", data_dir=str(data_dir()), epochs=epochs,
                    batch_size=32, lr=1e-3, optimizer="adam", device="cpu", seed=seed)
    settings.update(changes)
    return TrainSpec(**settings)


# --- the run cache ---------------------------------------------------------------------------
def _key(seed: int, epochs: int, weight: float, optimizer: str = "adam") -> str:
    return f"{optimizer}|{seed}|{epochs}|{weight!r}"


def cache_lookup(key: str) -> dict | None:
    if not CACHE.exists():
        return None
    with CACHE.open() as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if record.get("key") == key:
                return record["metrics"]
    return None


def cache_store(key: str, metrics: dict) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"key": key, "metrics": metrics}, default=float) + "\n"
    with CACHE.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(line)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


class CachedEvaluator:
    """``evaluate(weight)``: a cold lenet5 run, from the cache when it was trained before."""

    def __init__(self, seed: int, epochs: int):
        self.seed, self.epochs = seed, epochs

    def __call__(self, weight: float) -> dict:
        weight = float(weight)
        key = _key(self.seed, self.epochs, weight)
        found = cache_lookup(key)
        if found is not None:
            return found
        from paretoprune.training import train_run

        metrics = dict(train_run(base_spec(self.seed, self.epochs), weight).metrics)
        cache_store(key, metrics)
        return metrics


# --- jobs (each runs in a worker process) -------------------------------------------------------
def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def job_rule(rule: str, seed: int, epochs: int, budget: int) -> dict:
    from paretoprune.exploration import explore

    frame = explore(CachedEvaluator(seed, epochs), budget=budget, rule=rule, seed=seed)
    return {"method": rule, "seed": seed, "rows": _records(frame)}


def job_grid(seed: int, epochs: int, budgets) -> dict:
    from paretoprune.pareto import grid_weights

    evaluate = CachedEvaluator(seed, epochs)
    grids = {}
    for n in budgets:
        grids[str(n)] = [_row(w, evaluate(w)) for w in grid_weights(0.0, 1.0, n)]
    return {"method": "grid", "seed": seed, "grids": grids}


def job_optuna(sampler_name: str, seed: int, epochs: int, budget: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        # A population of 8 gives two generations in 16 trials (the default, 50, would make
        # NSGA-II plain random search at these budgets).
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    evaluate = CachedEvaluator(seed, epochs)
    rows = []

    def objective(trial):
        weight = trial.suggest_float("weight", 0.0, 1.0)
        metrics = evaluate(weight)
        rows.append(_row(weight, metrics))
        if metrics.get("status") != "ok":
            raise optuna.TrialPruned()
        return metrics["loss"], metrics["l1"]

    study.optimize(objective, n_trials=budget)
    return {"method": f"optuna-{sampler_name}", "seed": seed, "rows": rows}


def job_single(optimizer: str, seed: int, epochs: int) -> dict:
    from paretoprune.training import train_run

    key = _key(seed, epochs, 0.0, optimizer)
    metrics = cache_lookup(key)
    if metrics is None:
        metrics = dict(train_run(base_spec(seed, epochs, optimizer=optimizer), 0.0).metrics)
        cache_store(key, metrics)
    return {"method": optimizer, "seed": seed, "metrics": metrics}


def job_warm(seed: int, epochs: int, warm_epochs: int, budget: int) -> dict:
    from paretoprune.sweep import SweepConfig, run_sweep

    folder = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    try:
        config = SweepConfig(train=base_spec(seed, epochs).to_dict(), budget=budget,
                             warm_start=True, warm_epochs=warm_epochs)
        frame = run_sweep(folder / "sweep", config)
        return {"method": "warm", "seed": seed, "rows": _records(frame)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _row(weight: float, metrics: dict) -> dict:
    return {"weight": float(weight), **{k: v for k, v in metrics.items() if not k.startswith("_")}}


def _records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


# --- analysis ---------------------------------------------------------------------------------
def _ok_points(rows) -> np.ndarray:
    pts = [(r["loss"], r["l1"]) for r in rows if r.get("status") == "ok"
           and r.get("loss") is not None and math.isfinite(r["loss"])]
    return np.array(pts, dtype=float).reshape(-1, 2)


def reference_for(all_rows) -> tuple:
    """The frozen normalization and hypervolume of the union front of one seed."""
    from paretoprune.pareto import Normalization, front, hypervolume

    union = front(np.vstack([_ok_points(rows) for rows in all_rows]))
    norm = Normalization.from_points(union)
    return norm, hypervolume(norm.apply(union), (1.1, 1.1), strict=False)


def hv_ratio(rows, norm, reference_hv) -> float:
    from paretoprune.pareto import hypervolume

    pts = _ok_points(rows)
    if len(pts) == 0:
        return 0.0
    return hypervolume(norm.apply(pts), (1.1, 1.1), strict=False) / reference_hv


def summarize(values) -> dict:
    values = [v for v in values if v is not None]
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0, "n": len(values)}


def exploration_table(results, seeds, budgets) -> dict:
    by = {(r["method"], r["seed"]): r for r in results}
    table = {m: {} for m in ALL_METHODS}
    for seed in seeds:
        runs_of = [by[(m, seed)]["rows"] for m in ALL_METHODS if m != "grid"]
        runs_of += list(by[("grid", seed)]["grids"].values())
        norm, ref_hv = reference_for(runs_of)
        for method in ALL_METHODS:
            for n in budgets:
                rows = (by[("grid", seed)]["grids"][str(n)] if method == "grid"
                        else by[(method, seed)]["rows"][:n])
                table[method].setdefault(str(n), []).append(hv_ratio(rows, norm, ref_hv))
    return {m: {n: summarize(v) for n, v in per.items()} for m, per in table.items()}


def knee_report(results, seeds) -> dict:
    import pandas as pd

    from paretoprune.pareto import pareto_mask
    from paretoprune.points import knee

    by = {(r["method"], r["seed"]): r for r in results}
    out = {}
    for seed in seeds:
        frame = pd.DataFrame(by[("normal", seed)]["rows"])
        ok = frame[frame["status"] == "ok"]
        dense = ok.loc[ok["weight"].idxmin()]
        best = knee(frame, "distance", top=1).iloc[0]
        within = ok[(dense["test_acc"] - ok["test_acc"]) * 100 <= TARGETS["knee_acc_drop_pp"]]
        sparsest = within.loc[within["sparsity_dense"].idxmax()]
        singles = {}
        points = ok[["loss", "l1"]].to_numpy(float)
        for opt in ("smgd", "madam"):
            single = by.get((opt, seed))
            if single is None:
                continue
            m = single["metrics"]
            if m.get("status") != "ok":
                singles[opt] = {"status": m.get("status"), "error": m.get("error")}
                continue
            mask = pareto_mask(np.vstack([points, [m["loss"], m["l1"]]]))
            singles[opt] = {"loss": m["loss"], "l1": m["l1"], "weight_c2": m["weight"],
                            "test_acc": m["test_acc"], "sparsity_dense": m["sparsity_dense"],
                            "on_front": bool(mask[-1])}
        out[str(seed)] = {
            "dense": {"test_acc": float(dense["test_acc"]), "weight": float(dense["weight"])},
            "knee": {k: _num(best[k]) for k in ("run", "weight", "loss", "l1", "sparsity",
                                                 "sparsity_dense", "test_acc", "nnz")},
            "knee_acc_drop_pp": float((dense["test_acc"] - best["test_acc"]) * 100),
            "sparsest_within_1pp": {k: _num(sparsest[k]) for k in
                                    ("run", "weight", "sparsity", "sparsity_dense", "test_acc")},
            "singles": singles,
        }
    return out


def _num(v):
    v = v.item() if hasattr(v, "item") else v
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v


def warm_report(results, seeds, epochs) -> dict:
    by = {(r["method"], r["seed"]): r for r in results}
    out = {}
    for seed in seeds:
        if ("warm", seed) not in by:
            continue
        cold = by[("normal", seed)]["rows"][:8]
        warm = by[("warm", seed)]["rows"]
        runs_of = [by[(m, seed)]["rows"] for m in ALL_METHODS if m != "grid"]
        runs_of += list(by[("grid", seed)]["grids"].values()) + [warm]
        norm, ref_hv = reference_for(runs_of)
        target = hv_ratio(cold, norm, ref_hv)
        reached = None
        for n in range(2, len(warm) + 1):
            if hv_ratio(warm[:n], norm, ref_hv) >= target:
                reached = n
                break
        cold_epochs = sum(int(r["epochs"]) for r in cold)
        cold_time = sum(float(r["wall_time"]) for r in cold)
        entry = {"cold_runs": 8, "cold_epochs": cold_epochs, "cold_wall_s": cold_time,
                 "cold_hv_ratio": target, "warm_runs_tried": len(warm),
                 "warm_best_hv_ratio": hv_ratio(warm, norm, ref_hv)}
        if reached is not None:
            used = warm[:reached]
            entry.update(warm_runs=reached, warm_epochs=sum(int(r["epochs"]) for r in used),
                         warm_wall_s=sum(float(r["wall_time"]) for r in used))
            entry["epoch_share"] = entry["warm_epochs"] / cold_epochs
            entry["wall_share"] = entry["warm_wall_s"] / cold_time
        out[str(seed)] = entry
    return out


def job_reference_sweep(seed: int, epochs: int, cost_runs: int, budget: int) -> dict:
    """Seed ``seed``'s default-rule sweep through the real product path, timed.

    A ``cost_runs``-run cold sweep (``run_sweep``: store, checkpoints, logs and all) is timed
    against the plain PyTorch loop in the same process (two loops before it, two after; the
    median is the per-run baseline), then the same sweep is resumed to ``budget`` runs. Its
    points are the default rule's for this seed, and its directory becomes runs/mnist5k-lenet5.
    """
    from bench_training import plain_loop

    from paretoprune.store import SweepStore
    from paretoprune.sweep import SweepConfig, run_sweep
    from paretoprune.training import load_dataset, resolve_device

    spec = base_spec(seed, epochs)
    data = load_dataset("mnist", data_dir=spec.data_dir, seed=seed)
    device = resolve_device("cpu")

    def timed_plain() -> float:
        began = time.perf_counter()
        plain_loop(spec, data, device)
        return time.perf_counter() - began

    folder = OUT_DIR / ".cache" / "reference-sweep"
    shutil.rmtree(folder, ignore_errors=True)  # timed from scratch every time
    plain = [timed_plain(), timed_plain()]
    config = SweepConfig(train=spec.to_dict(), budget=cost_runs)
    began = time.perf_counter()
    run_sweep(folder, config)
    sweep_wall = time.perf_counter() - began
    plain += [timed_plain(), timed_plain()]
    config.budget = budget
    frame = run_sweep(folder, config)  # resume: the first runs are kept, not trained again
    assert len(SweepStore.open(folder).points()) == len(frame)
    per_run = statistics.median(plain)
    cost = {"runs": cost_runs, "sweep_wall_s": sweep_wall, "plain_loop_s": plain,
            "plain_median_s": per_run, "ratio": sweep_wall / (cost_runs * per_run)}
    return {"method": "normal", "seed": seed, "rows": _records(frame), "cost": cost,
            "folder": str(folder)}


def write_reference_sweep(folder: str) -> None:
    """Copy the reference sweep's config and points (no checkpoints, no logs) to runs/."""
    import json as _json

    if REFERENCE_SWEEP.exists():
        shutil.rmtree(REFERENCE_SWEEP)
    REFERENCE_SWEEP.mkdir(parents=True)
    meta = _json.loads((Path(folder) / "sweep.json").read_text())
    meta["config"]["train"]["data_dir"] = "../shared/datasets/mnist-5k"  # where it was read
    (REFERENCE_SWEEP / "sweep.json").write_text(_json.dumps(meta, indent=2))
    shutil.copy2(Path(folder) / "points.csv", REFERENCE_SWEEP / "points.csv")


# --- report -----------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    lines = ["# Front benchmarks (mnist-5k, lenet5)", "",
             f"Command: `{report['command']}`  ", f"Machine: {report['machine']}  ",
             f"Settings: {report['settings']}  ", f"Total time: {report['total_s'] / 60:.1f} min", "",
             "## 1. Exploration efficiency: hypervolume / reference hypervolume (mean ± sd over "
             f"{len(report['seeds'])} seeds)", "",
             "| method | " + " | ".join(f"{n} runs" for n in report["budgets"]) + " |",
             "|---|" + "---|" * len(report["budgets"])]
    for method, per in report["exploration"].items():
        cells = [f"{per[str(n)]['mean']:.3f} ± {per[str(n)]['sd']:.3f}" for n in report["budgets"]]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "Targets: normal >= 0.95 at 8 runs and >= 0.98 at 16, and above grid and both "
              "Optuna samplers at every budget.", ""]
    for check, ok in report["verdicts"].items():
        lines.append(f"- {check}: **{'met' if ok else 'MISSED'}**")
    lines += ["", "## 2. Warm start", ""]
    for seed, w in report["warm"].items():
        if "epoch_share" in w:
            lines.append(f"- seed {seed}: the hypervolume of 8 cold runs ({w['cold_hv_ratio']:.3f}, "
                         f"{w['cold_epochs']} epochs, {w['cold_wall_s']:.0f} s) reached after "
                         f"{w['warm_runs']} warm-started runs: {w['warm_epochs']} epochs "
                         f"({w['epoch_share']:.0%}), {w['warm_wall_s']:.0f} s ({w['wall_share']:.0%}). "
                         "Target <= 50% of the epochs.")
        else:
            lines.append(f"- seed {seed}: not reached in {w['warm_runs_tried']} warm runs "
                         f"(best {w['warm_best_hv_ratio']:.3f} vs cold {w['cold_hv_ratio']:.3f}).")
    lines += ["", "## 3. Knee quality (distance knee of the default rule's 16-run sweep)", "",
              "| seed | knee weight | sparsity (all prunable) | sparsity (dense layers) | test acc | "
              "drop vs dense (pp) | sparsest within 1 pp (dense layers) |", "|---|---|---|---|---|---|---|"]
    for seed, k in report["knee"].items():
        s = k["sparsest_within_1pp"]
        lines.append(f"| {seed} | {k['knee']['weight']:.4g} | {k['knee']['sparsity']:.2%} | "
                     f"{k['knee']['sparsity_dense']:.2%} | {k['knee']['test_acc']:.2%} | "
                     f"{k['knee_acc_drop_pp']:.2f} | {s['sparsity_dense']:.2%} at acc {s['test_acc']:.2%} |")
    lines += ["", "Target: >= 98% of the dense-layer weights pruned with <= 1.0 pp drop.", ""]
    for seed, k in report["knee"].items():
        for opt, s in k["singles"].items():
            if "loss" in s:
                lines.append(f"- seed {seed}, single {opt} run: loss {s['loss']:.4f}, l1 {s['l1']:.4f}, "
                             f"mean c2 {s['weight_c2']:.3g}, test acc {s['test_acc']:.2%}, dense sparsity "
                             f"{s['sparsity_dense']:.2%}, {'on' if s['on_front'] else 'dominated by'} "
                             "the weighted-sum front")
            else:
                lines.append(f"- seed {seed}, single {opt} run: {s}")
    c = report["sweep_cost"]
    lines += ["", "## 4. Sweep cost", "",
              f"A {c['runs']}-run cold sweep took {c['sweep_wall_s']:.1f} s; the plain PyTorch loop "
              f"{c['plain_median_s']:.2f} s per run (median of {len(c['plain_loop_s'])}): ratio "
              f"**{c['ratio']:.3f}** (target <= 1.10).", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--warm-epochs", type=int, default=5)
    parser.add_argument("--warm-budget", type=int, default=16)
    parser.add_argument("--cost-runs", type=int, default=12)
    parser.add_argument("--quick", action="store_true", help="2 epochs, seed 0, short sweeps: a smoke run")
    parser.add_argument("--fresh", action="store_true", help="empty the run cache first")
    parser.add_argument("--no-reference", action="store_true",
                        help="do not rewrite runs/mnist5k-lenet5")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.warm_epochs, args.cost_runs = 2, [0], 1, 4
    if not (data_dir() / "MNIST" / "raw").exists():
        print(f"bench_front: no MNIST data in {data_dir()} (set PARETOPRUNE_SHARED_DATASETS)",
              file=sys.stderr)
        return 2
    if args.fresh and CACHE.exists():
        CACHE.unlink()
    started = time.perf_counter()
    budget = max(BUDGETS)

    # Both ends of each seed first: every method starts there, so they are trained once.
    # (Seed 0's default rule runs through run_sweep instead: see job_reference_sweep.)
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"),
                             initializer=_worker_init) as pool:
        ends = [pool.submit(CachedEvaluator(s, args.epochs), w) for s in args.seeds for w in (0.0, 1.0)]
        for f in as_completed(ends):
            f.result()
        print(f"[{time.perf_counter() - started:.0f}s] ends trained", flush=True)
        # Longest jobs first, so the two workers finish together.
        futures = [pool.submit(job_grid, seed, args.epochs, BUDGETS) for seed in args.seeds]
        futures.append(pool.submit(job_reference_sweep, args.seeds[0], args.epochs,
                                   args.cost_runs, budget))
        for seed in args.seeds:
            futures += [pool.submit(job_optuna, s, seed, args.epochs, budget) for s in ("tpe", "nsga2")]
            rules = RULE_METHODS if seed != args.seeds[0] else RULE_METHODS[1:]
            futures += [pool.submit(job_rule, rule, seed, args.epochs, budget) for rule in rules]
        futures.append(pool.submit(job_warm, args.seeds[0], args.epochs, args.warm_epochs,
                                   args.warm_budget))
        for seed in args.seeds:
            futures += [pool.submit(job_single, opt, seed, args.epochs) for opt in ("smgd", "madam")]
        results = []
        for f in as_completed(futures):
            result = f.result()
            results.append(result)
            print(f"[{time.perf_counter() - started:.0f}s] done: {result['method']} seed {result['seed']}",
                  flush=True)

    reference = next(r for r in results if "cost" in r)
    cost = reference["cost"]
    exploration = exploration_table(results, args.seeds, BUDGETS)
    competitors = ("midpoint", "grid", "random", "optuna-tpe", "optuna-nsga2")
    verdicts = {
        "normal >= 0.95 of the reference at 8 runs": exploration["normal"]["8"]["mean"] >= TARGETS["normal@8"],
        "normal >= 0.98 of the reference at 16 runs": exploration["normal"]["16"]["mean"] >= TARGETS["normal@16"],
    }
    for other in ("grid", "optuna-tpe", "optuna-nsga2"):
        verdicts[f"normal above {other} at every budget"] = all(
            exploration["normal"][str(n)]["mean"] > exploration[other][str(n)]["mean"] for n in BUDGETS)
    report = {
        "command": " ".join(["python", "tests/benchmarks/bench_front.py", *(argv or sys.argv[1:])]),
        "machine": f"{os.cpu_count()} CPU cores, torch threads 1 per process, {args.jobs} processes",
        "settings": f"lenet5, mnist-5k, Adam lr 1e-3, batch 32, {args.epochs} epochs per cold run, "
                    f"seeds {args.seeds}",
        "seeds": args.seeds, "budgets": list(BUDGETS), "targets": TARGETS,
        "exploration": exploration, "verdicts": verdicts, "competitors": list(competitors),
        "warm": warm_report(results, args.seeds[:1], args.epochs),
        "knee": knee_report(results, args.seeds), "sweep_cost": cost,
        "total_s": time.perf_counter() - started,
    }
    suffix = "-quick" if args.quick else ""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / f"front{suffix}.json").write_text(json.dumps(report, indent=2, default=float))
    (OUT_DIR / f"front{suffix}.md").write_text(markdown(report))
    if not args.quick and not args.no_reference:
        write_reference_sweep(reference["folder"])
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
