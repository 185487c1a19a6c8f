"""The front suite: LeNet-5 on mnist-5k, measured through the real tool.

Run from the repository root (a script, not a test)::

    python -m benchmarks.bench_front            # the whole suite, 3 seeds: about 35 min on 2 cores
    python -m benchmarks.bench_front --quick    # a smoke run: 1-2 epochs, 1 seed, small budgets
    python -m benchmarks.bench_front --fresh    # empty the run cache first

Settings: ../shared/datasets/mnist-5k (or $PARETOPRUNE_SHARED_DATASETS/mnist-5k), lenet5, Adam lr
1e-3, batch 32, CPU, one torch thread per run, 2 worker processes (``--workers``), seeds 0 1 2.
Validation is ``val_split="test"``: a seeded half of the 10k test set validates (selection reads
it) and the other half tests (reported only); 10 % of the 5,000 training images (500 images) is
too noisy to resolve one point (one point = 5 images).

What it measures (results in runs/benchmarks/front.json and front.md, numbered as below;
--quick writes them to runs/benchmarks/.cache/front-quick/ instead):

1. Collapsed runs per sweep (target <= 1): the 16-run reference setting (default rule, 30
   epochs) and the 8-run digits quick start (``paretoprune sweep`` defaults, mlp on digits).
2. The selected network at D = 1 point: ``run_sweep`` with ``max_drop=0.01``, 10 trials of
   ``trial_epochs`` 10, the selected weight retrained for 30 epochs (role final) and fine-tuned
   for 5 (role finetuned): dense-layer sparsity and test-accuracy drop against the dense
   reference (role dense), selected on validation, scored on test. Target >= 98 % at <= 1.0 pt.
3. The targeted search (the same sweeps, 10 trials) against a 32-run uniform grid of 10-epoch
   runs whose within-D trials are read against the same dense references (each trial against
   the one trained as long as it, as the targeted sweep judges its own): the
   dense-layer sparsity of the selected trial within 0.5 points of the grid's sparsest, mean over
   seeds.
4. The front comparison in the decision space (validation error vs log10 of the nonzero prunable
   weights; collapsed runs excluded): hypervolume after 4, 6, 8, 12, 16 runs of the rules normal,
   midpoint, random, grid (each one serial 16-run sweep, whose prefixes are the smaller budgets --
   checked by running the shorter sweeps from the run cache; for grid a prefix of the 16-grid in
   the planner's coarse-to-fine order, not the uniform n-grid, unless --separate-grids) and
   Optuna TPE / NSGA-II, in one normalization per seed (the union front of every method's usable
   points), with paired differences normal - other and 95 % t-intervals over seeds.
5. SMGD (momentum 0.9, Nesterov, the original work's per-step decay lr/(1+(lr/E)t)) and MAdam,
   each at a learning rate chosen on validation from a small grid, 30 epochs, placed against the
   weighted-sum front of the reference setting of the same seed.
6. The reference sweep runs/mnist5k-lenet5/ (seed 0 of measure 1; sweep.json, journal.jsonl,
   points.csv, no checkpoints) and its picture front.png (``paretoprune plot --png``).
7. Warm start (epochs a warm-started sweep needs to reach the hypervolume of 8 cold runs) and
   the sweep cost (a 12-run cold sweep against the plain PyTorch loop in the same process:
   ``benchmarks.common.plain_loop``, before and after). --no-warm / --no-cost skip them.

Every training run goes through the shared run cache (``benchmarks.common.RunCache``, in
runs/benchmarks/.cache/runs/), keyed by its full spec, its parameter, the epochs it trains, its
initial weights (warm starts, fine-tuning) and a fingerprint of the training code; training on
the CPU is deterministic, so an interrupted suite continues where it stopped and runs shared by
several measures (the dense references, lambda = 0, grid points) train once. The sweeps
themselves run through ``paretoprune.sweep.run_sweep`` (planner, store, selection: the real
tool) with their training runs read from the cache; only the cost measurement trains without it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from benchmarks.common import (
    CACHE_DIR,
    OUT_DIR,
    ROOT,
    RunCache,
    command_line,
    decision_points,
    dense_spec,
    digits_spec,
    hypervolume_in,
    interval_side,
    json_safe,
    lenet_spec,
    log,
    machine,
    mnist_dir,
    number,
    objective_points,
    paired,
    pct,
    plain_loop,
    require_mnist,
    restart_clock,
    summary,
    training_code_fingerprint,
    union_front_normalization,
    usable_trials,
)

SWEEPS = CACHE_DIR / "front-sweeps"
REFERENCE_SWEEP = ROOT / "runs" / "mnist5k-lenet5"
#: Cost model of the estimate (LeNet-5, 5,000 images, batch 32, one thread, both cores busy:
#: the plain loop takes 14-15 s for 30 epochs): seconds per epoch, per run
#: (evaluation of 20k images, model, store), per digits run, per sweep (store, preflight).
SEC_PER_EPOCH, SEC_PER_RUN, SEC_PER_DIGITS_RUN, SEC_PER_SWEEP = 0.5, 1.5, 1.5, 3.0
TARGETS = {"collapsed_per_sweep": 1, "sparsity_dense": 0.98, "test_drop": 0.01,
           "targeted_vs_grid_pt": 0.5, "warm_epoch_share": 0.50, "sweep_cost_ratio": 1.10}
#: Every training run of the suite (each worker process has its own handle on the same folder).
CACHE = RunCache()


@dataclass(frozen=True)
class Settings:
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 30  # reference setting, dense reference and final retrain of measures 2-3, SMGD
    trial_epochs: int = 10  # exploration runs of measures 2, 3, 4 and 7
    finetune_epochs: int = 5
    max_drop: float = 0.01
    ref_budget: int = 16
    target_budget: int = 10
    grid_budget: int = 32
    budgets: tuple[int, ...] = (4, 6, 8, 12, 16)
    smgd_lrs: tuple[float, ...] = (0.01, 0.05, 0.1)
    madam_lrs: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    warm_epochs: int = 5
    warm_budget: int = 16
    warm_cold_runs: int = 8
    cost_runs: int = 12
    workers: int = 2
    optuna: bool = True
    warm: bool = True
    cost: bool = True
    reference: bool = True
    grid_prefix: bool = True  # measure 4: grid budgets as prefixes of the largest grid
    quick: bool = False

    @property
    def max_budget(self) -> int:
        return max(self.budgets)


# (--quick's D is 5 points: 1-epoch trials rarely come within 1 point of a 2-epoch reference,
# and the smoke run should reach the final retrain and the fine-tuning)
QUICK = dict(seeds=(0,), epochs=2, trial_epochs=1, finetune_epochs=1, max_drop=0.05, ref_budget=6,
             target_budget=4, grid_budget=8, budgets=(4, 6), smgd_lrs=(0.01, 0.05),
             madam_lrs=(1e-3, 1e-2), warm_epochs=1, warm_budget=6, warm_cold_runs=4, cost_runs=3)

#: The multiobjective runs of measure 5: (name, optimizer, spec changes, learning-rate grid field).
SINGLE_VARIANTS = (
    ("smgd", "smgd", {"momentum": 0.9, "nesterov": True, "schedule": "inverse"}, "smgd_lrs"),
    ("madam", "madam", {}, "madam_lrs"),
)


# ----------------------------------------------------------------------------------------------
# rows and sweeps
# ----------------------------------------------------------------------------------------------

COLUMNS = ("run", "role", "weight", "loss", "l1", "val_acc", "val_loss", "test_acc",
           "train_acc", "nnz", "n_prunable", "sparsity", "sparsity_dense", "num_classes",
           "epochs", "wall_time", "status", "error", "collapsed", "within", "pareto", "selected",
           "drop", "parent", "warm_from", "gap_lo", "gap_hi", "optimizer", "lr")


def compact(metrics: dict) -> dict:
    return json_safe({k: v for k, v in metrics.items() if k in COLUMNS})


def records(frame) -> list[dict]:
    cols = [c for c in COLUMNS if c in frame.columns]
    return json.loads(frame[cols].to_json(orient="records"))


class Progress:
    """A ``run_sweep`` reporter: one line per finished run."""

    def __init__(self, name: str) -> None:
        self.name = name

    def start(self, config, rows) -> None:
        pass

    def epoch(self, job, label, record) -> None:
        pass

    def finished(self, row, hypervolume, job=None) -> None:
        weight = number(row.get("weight"))
        what = f"λ {weight:.4g}" if math.isfinite(weight) else "λ -"
        if row.get("status") != "ok":
            tail = f"FAILED: {row.get('error', '')}"
        else:
            tail = (f"val {number(row.get('val_acc')):.4f} nnz {int(number(row.get('nnz'), 0))}"
                    + (" collapsed" if row.get("collapsed") is True else ""))
        log(f"{self.name:<22} run {row.get('run'):>2} {row.get('role', ''):<9} {what:<10} "
            f"{tail} ({CACHE.last})")

    def end(self, frame, summary) -> None:
        pass


def run_tool_sweep(name: str, config, *, folder: Path | None = None, fresh: bool = True,
                   keep: bool = False):
    """``run_sweep(config)`` in ``folder`` (default: a fresh folder named after the job) with the
    run cache; the folder is removed afterwards unless ``keep``."""
    folder = folder or SWEEPS / name
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    try:
        return CACHE.run_sweep(folder, config, reporter=Progress(name))
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def sweep_result(frame) -> dict:
    keys = ("runs", "trials", "failed", "collapsed", "metric", "dense_run", "selected_run",
            "stop_reason")
    return {"rows": records(frame), "summary": json_safe({k: frame.attrs.get(k) for k in keys})}


def trial_weights(frame) -> list[float]:
    return [float(w) for w in frame.loc[frame["role"].astype(str) == "trial", "weight"]]


def prefix_check(name: str, config, frame, budgets) -> dict:
    """Whether the first n trials of this serial sweep are what an n-run sweep runs: each
    smaller budget n is swept again (from the run cache: the runs it shares with this sweep do
    not train again) and its trials are compared with this sweep's first n, in order. (The
    planner's choices depend only on the rows so far and the budget.)"""
    full = trial_weights(frame)
    checks, mismatches = 0, []
    for n in budgets:
        if n >= config.budget:
            continue
        shorter = trial_weights(run_tool_sweep(f"{name}/prefix-{n}", config.replace(budget=n)))
        for k in range(min(n, len(full))):
            checks += 1
            got = shorter[k] if k < len(shorter) else None
            if got is None or abs(got - full[k]) > 1e-9:
                mismatches.append({"budget": n, "index": k, "sweep": full[k], "replay": got})
                break  # the shorter sweep has left this one's path: its later trials differ
    return {"checks": checks, "mismatches": mismatches}


# ----------------------------------------------------------------------------------------------
# ----------------------------------------------------------------------------------------------
# jobs (each runs in a worker process)
# ----------------------------------------------------------------------------------------------

def job_shared(s: Settings, seed: int, which: str) -> dict:
    """Runs several measures share, trained first so that no two jobs wait for them."""
    specs = {
        "dense-final": lambda: dense_spec(lenet_spec(seed, s.epochs)),
        "dense-trial": lambda: dense_spec(lenet_spec(seed, s.trial_epochs)),
        "lambda0-trial": lambda: lenet_spec(seed, s.trial_epochs).with_parameter(0.0),
    }
    metrics = CACHE.run_point(specs[which]())
    log(f"shared s{seed} {which:<15} val {number(metrics['val_acc']):.4f} ({CACHE.last})")
    return {"metrics": compact(metrics)}


def job_reference(s: Settings, seed: int, cost: bool) -> dict:
    """Measure 1 (and 6 for the first seed): the default rule, ``ref_budget`` trials of
    ``epochs``; with ``cost`` its first ``cost_runs`` trials are the timed cold sweep."""
    from paretoprune.config import SweepConfig

    name = f"ref/s{seed}"
    config = SweepConfig(train=lenet_spec(seed, s.epochs), budget=s.ref_budget, executor="serial")
    folder = SWEEPS / f"ref-s{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    out = {}
    if cost:
        out["cost"] = measure_cost(s, config, folder)
    frame = run_tool_sweep(name, config, folder=folder, fresh=False, keep=seed == s.seeds[0])
    out.update(sweep_result(frame), folder=str(folder))
    return out


def measure_cost(s: Settings, config, folder: Path) -> dict:
    """Wall time of a ``cost_runs``-run cold sweep (run_sweep: store, checkpoints, logs and
    all; every run trained, none read from the cache) against the plain PyTorch loop in the
    same process, two loops before and two after (torch's default Adam and the fused kernel
    paretoprune uses). A measurement of an earlier invocation is reused."""
    from paretoprune.training.loop import load_data, resolve_device

    key = hashlib.sha1(json.dumps([config.train.identity(), s.cost_runs,
                                   training_code_fingerprint(), 2],
                                  sort_keys=True, default=str).encode()).hexdigest()[:16]
    stored = CACHE_DIR / f"front-cost-{key}.json"
    if stored.exists():
        log(f"ref/s{config.train.seed}: sweep cost measured in an earlier invocation: reused")
        return {**json.loads(stored.read_text()), "reused": True}
    spec = config.train
    data = load_data(spec)
    device = resolve_device("cpu")

    loops: dict = {"default": [], "fused": []}  # (wall s, CPU s) of each loop

    def plain(fused: bool) -> None:
        began, cpu = time.perf_counter(), time.process_time()
        plain_loop(spec, data, device, fused=fused)
        took = (time.perf_counter() - began, time.process_time() - cpu)
        loops["fused" if fused else "default"].append(took)
        log(f"cost: plain loop ({'fused' if fused else 'default'} Adam) {took[0]:.1f} s")

    plain(False)
    plain(True)
    CACHE.cold = True
    try:
        began, cpu = time.perf_counter(), time.process_time()
        frame = run_tool_sweep(f"cost/s{spec.seed}", config.replace(budget=s.cost_runs),
                               folder=folder, keep=True)
        sweep_wall, sweep_cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        CACHE.cold = False
    plain(True)
    plain(False)
    runs = int((frame["status"].astype(str) == "ok").sum())
    out = {"trials": s.cost_runs, "runs_trained": runs, "sweep_wall_s": sweep_wall,
           "sweep_cpu_s": sweep_cpu, "epochs": spec.epochs,
           "plain_loop_s": {k: [w for w, _ in v] for k, v in loops.items()},
           "plain_loop_cpu_s": {k: [c for _, c in v] for k, v in loops.items()}}
    for kind, times in loops.items():
        out[f"ratio_{kind}"] = sweep_wall / (runs * statistics.median(w for w, _ in times))
        out[f"cpu_ratio_{kind}"] = sweep_cpu / (runs * statistics.median(c for _, c in times))
    stored.write_text(json.dumps(out, indent=2))
    return out


def job_digits(s: Settings, seed: int) -> dict:
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=digits_spec(seed), executor="serial")
    return sweep_result(run_tool_sweep(f"digits/s{seed}", config))


def job_targeted(s: Settings, seed: int) -> dict:
    """Measures 2 and 3: ``--max-drop`` with trial epochs, the final retrain and fine-tuning."""
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=lenet_spec(seed, s.epochs), budget=s.target_budget, max_drop=s.max_drop,
                         trial_epochs=s.trial_epochs, finetune_epochs=s.finetune_epochs,
                         executor="serial")
    return sweep_result(run_tool_sweep(f"targeted/s{seed}", config))


def job_grid_wide(s: Settings, seed: int) -> dict:
    """Measure 3's baseline: a ``grid_budget`` uniform grid of trial-epoch runs (no dense run of its
    own: its within-D is read against the targeted sweep's dense reference, the same run)."""
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=lenet_spec(seed, s.trial_epochs), budget=s.grid_budget, rule="grid",
                         dense=False, executor="serial")
    return sweep_result(run_tool_sweep(f"grid{s.grid_budget}/s{seed}", config))


def job_rule(s: Settings, seed: int, rule: str) -> dict:
    """Measure 4: one serial sweep of the largest budget; smaller budgets are its prefixes."""
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=lenet_spec(seed, s.trial_epochs), budget=s.max_budget, rule=rule,
                         executor="serial")
    frame = run_tool_sweep(f"{rule}/s{seed}", config)
    out = sweep_result(frame)
    out["prefix_check"] = prefix_check(f"{rule}/s{seed}", config, frame, s.budgets)
    return out


def job_grid(s: Settings, seed: int, budget: int) -> dict:
    """Measure 4's grid at one budget: ``grid_weights(0, 1, budget)`` (lambda = 1 not trained)."""
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=lenet_spec(seed, s.trial_epochs), budget=budget, rule="grid",
                         executor="serial")
    return sweep_result(run_tool_sweep(f"grid-{budget}/s{seed}", config))


def job_optuna(s: Settings, seed: int, sampler_name: str) -> dict:
    """Measure 4: an Optuna study over the weight on the training objectives (loss, l1), as the
    planner sees them; each trial one cached trial-epoch run."""
    import optuna

    from paretoprune.selection import is_collapsed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler_name == "tpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        # a population of 8 gives two generations in 16 trials (the default, 50, would make
        # NSGA-II plain random search at these budgets)
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    base = lenet_spec(seed, s.trial_epochs)
    dense = compact(CACHE.run_point(dense_spec(base)))
    rows: list[dict] = []
    name = f"optuna-{sampler_name}/s{seed}"

    def objective(trial):
        weight = trial.suggest_float("weight", 0.0, 1.0)
        metrics = CACHE.run_point(base.with_parameter(weight))
        row = {**compact(metrics), "run": len(rows), "role": "trial", "weight": weight}
        row["collapsed"] = metrics["status"] == "ok" and is_collapsed(metrics, "val_acc",
                                                                      dense["val_acc"])
        rows.append(row)
        Progress(name).finished(row, math.nan)
        if metrics["status"] != "ok":
            raise optuna.TrialPruned()
        return metrics["loss"], metrics["l1"]

    study.optimize(objective, n_trials=s.max_budget)
    return {"rows": rows, "dense": dense}


def job_single(s: Settings, seed: int, variant: str, lr: float) -> dict:
    """Measure 5: one multiobjective run (no lambda: it finds its own trade-off)."""
    optimizer, changes = next((o, c) for v, o, c, _ in SINGLE_VARIANTS if v == variant)
    spec = lenet_spec(seed, s.epochs).as_method("smgd", optimizer=optimizer, lr=lr, **changes)
    metrics = CACHE.run_point(spec)
    log(f"{variant}/s{seed} lr {lr:g}: {metrics['status']} val {number(metrics['val_acc']):.4f} "
        f"dense sparsity {number(metrics['sparsity_dense']):.4f} ({CACHE.last})")
    return {"metrics": {**compact(metrics), "lr": lr, "variant": variant}}


def job_warm(s: Settings, seed: int) -> dict:
    """Measure 7: the default rule with warm starts (each run continues from the nearest denser
    run for ``warm_epochs``; the dense end trains cold)."""
    from paretoprune.config import SweepConfig

    config = SweepConfig(train=lenet_spec(seed, s.trial_epochs), budget=s.warm_budget, warm_start=True,
                         warm_epochs=s.warm_epochs, executor="serial")
    return sweep_result(run_tool_sweep(f"warm/s{seed}", config))


JOBS = {f.__name__: f for f in (job_shared, job_reference, job_digits, job_targeted,
                                job_grid_wide, job_rule, job_grid, job_optuna, job_single,
                                job_warm)}


def _worker_init(t0: float) -> None:
    import warnings

    import torch

    restart_clock(t0)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=UserWarning, module="optuna")


def run_entry(name: str, fn: str, kwargs: dict) -> dict:
    """One job in a worker: its result, or the error that stopped it (the suite goes on)."""
    CACHE.reset_counts()
    began = time.perf_counter()
    try:
        result, error = JOBS[fn](**kwargs), ""
    except Exception as err:
        result, error = {}, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
    return {"name": name, "result": json_safe(result), "error": error,
            "wall_s": time.perf_counter() - began, "trained": CACHE.trained,
            "cached": CACHE.cached, "train_s": CACHE.train_s}


# ----------------------------------------------------------------------------------------------
# planning and the estimate
# ----------------------------------------------------------------------------------------------

def run_s(epochs: int) -> float:
    return epochs * SEC_PER_EPOCH + SEC_PER_RUN


@dataclass
class Job:
    name: str
    measures: str  # the numbers of the measures it serves
    fn: str
    kwargs: dict
    runs: int  # new training runs it makes at most (runs shared with earlier jobs not counted)
    seconds: float  # estimated worker seconds, nothing cached


def plan(s: Settings) -> tuple[list[Job], list[Job]]:
    """(shared runs, the other jobs longest first)."""
    shared, jobs = [], []
    E, T = s.epochs, s.trial_epochs
    for seed in s.seeds:
        for which, epochs in (("dense-final", E), ("dense-trial", T), ("lambda0-trial", T)):
            shared.append(Job(f"shared/{which}/s{seed}", "shared", "job_shared",
                              dict(s=s, seed=seed, which=which), 1, run_s(epochs)))
    for seed in s.seeds:
        cost = s.cost and seed == s.seeds[0]
        extra = (4 * E * SEC_PER_EPOCH + run_s(E)) if cost else 0.0
        jobs.append(Job(f"ref/s{seed}", "1, 5, 6" + (", 7" if cost else ""), "job_reference",
                        dict(s=s, seed=seed, cost=cost), s.ref_budget + int(cost),
                        s.ref_budget * run_s(E) + extra + SEC_PER_SWEEP))
        jobs.append(Job(f"digits/s{seed}", "1", "job_digits", dict(s=s, seed=seed), 9,
                        9 * SEC_PER_DIGITS_RUN + SEC_PER_SWEEP))
        jobs.append(Job(f"targeted/s{seed}", "2, 3", "job_targeted", dict(s=s, seed=seed),
                        s.target_budget + 1, (s.target_budget - 1) * run_s(T) + run_s(E)
                        + run_s(s.finetune_epochs) + SEC_PER_SWEEP))
        jobs.append(Job(f"grid{s.grid_budget}/s{seed}", "3", "job_grid_wide",
                        dict(s=s, seed=seed), s.grid_budget - 2,
                        (s.grid_budget - 2) * run_s(T) + SEC_PER_SWEEP))
        for rule in ("normal", "midpoint", "random"):
            jobs.append(Job(f"{rule}/s{seed}", "4", "job_rule", dict(s=s, seed=seed, rule=rule),
                            s.max_budget - 1, (s.max_budget - 1) * run_s(T)
                            + len(s.budgets) * SEC_PER_SWEEP))  # + the prefix check's sweeps
        top = s.max_budget - 1  # the largest grid's steps: a grid whose step divides it is free
        for n in [s.max_budget] if s.grid_prefix else sorted(s.budgets, reverse=True):
            new = n - 2 if n == s.max_budget or top % (n - 1) else 0
            jobs.append(Job(f"grid-{n}/s{seed}", "4", "job_grid", dict(s=s, seed=seed, budget=n),
                            new, new * run_s(T) + SEC_PER_SWEEP))
        if s.optuna:
            for sampler in ("tpe", "nsga2"):
                jobs.append(Job(f"optuna-{sampler}/s{seed}", "4", "job_optuna",
                                dict(s=s, seed=seed, sampler_name=sampler), s.max_budget,
                                s.max_budget * run_s(T)))
        for variant, _, _, grid in SINGLE_VARIANTS:
            for lr in getattr(s, grid):
                jobs.append(Job(f"{variant}-{lr:g}/s{seed}", "5", "job_single",
                                dict(s=s, seed=seed, variant=variant, lr=lr), 1, run_s(E)))
    if s.warm:
        seed = s.seeds[0]
        jobs.append(Job(f"warm/s{seed}", "7", "job_warm", dict(s=s, seed=seed),
                        s.warm_budget - 1, (s.warm_budget - 1) * run_s(s.warm_epochs)
                        + SEC_PER_SWEEP))
    jobs.sort(key=lambda j: -j.seconds)  # longest first: the workers finish together
    return shared, jobs


def estimate_table(s: Settings, shared: list[Job], jobs: list[Job]) -> tuple[str, float]:
    items: dict[str, list[Job]] = {}
    for job in shared + jobs:
        items.setdefault(job.measures, []).append(job)
    lines = [f"{'measures':<12} {'jobs':>5} {'runs':>6} {'worker-min':>11}"]
    for item, group in items.items():
        lines.append(f"{item:<12} {len(group):>5} {sum(j.runs for j in group):>6} "
                     f"{sum(j.seconds for j in group) / 60:>11.1f}")
    total = sum(j.seconds for j in shared + jobs)
    runs = sum(j.runs for j in shared + jobs)
    minutes = total / s.workers / 60 + 1.0  # + starting the workers, the tail, the report
    lines.append(f"{'total':<12} {len(shared) + len(jobs):>5} {runs:>6} {total / 60:>11.1f}")
    lines.append(f"estimate: about {minutes:.0f} min on {s.workers} workers from an empty cache "
                 f"(at {SEC_PER_EPOCH} s per LeNet-5 epoch + {SEC_PER_RUN} s per run; "
                 f"{len(CACHE)} runs are in the cache now)")
    return "\n".join(lines), minutes


# ----------------------------------------------------------------------------------------------
# analysis
# ----------------------------------------------------------------------------------------------

def rows_of(R: dict, name: str, role: str | None = "trial") -> list[dict]:
    rows = (R.get(name) or {}).get("rows") or []
    return [r for r in rows if role is None or r.get("role", "trial") == role]


def one(rows: list[dict], role: str, **match) -> dict | None:
    found = [r for r in rows if r.get("role") == role and r.get("status") == "ok"
             and all(r.get(k) == v for k, v in match.items())]
    return found[-1] if found else None


def collapsed_runs(R: dict, s: Settings) -> dict:
    out = {}
    for label, prefix in (("reference", "ref"), ("digits", "digits"), ("rules-10ep", "normal")):
        per = {}
        for seed in s.seeds:
            result = R.get(f"{prefix}/s{seed}")
            if not result or "rows" not in result:
                continue
            trials = rows_of(R, f"{prefix}/s{seed}")
            collapsed = [r for r in trials if r.get("collapsed") is True]
            per[str(seed)] = {"collapsed": len(collapsed), "trials": len(trials),
                              "collapsed_weights": [r.get("weight") for r in collapsed],
                              "stop_reason": result["summary"].get("stop_reason")}
        counts = [p["collapsed"] for p in per.values()]
        out[label] = {"per_seed": per, "max": max(counts) if counts else None,
                      "met": bool(counts) and max(counts) <= TARGETS["collapsed_per_sweep"]}
    return out


def _network(row: dict, dense: dict) -> dict:
    return {"run": row.get("run"), "weight": row.get("weight"), "epochs": row.get("epochs"),
            "nnz": row.get("nnz"), "sparsity_dense": row.get("sparsity_dense"),
            "val_acc": row.get("val_acc"), "test_acc": row.get("test_acc"),
            "val_drop": number(dense["val_acc"]) - number(row.get("val_acc")),
            "test_drop": number(dense["test_acc"]) - number(row.get("test_acc")),
            "meets": number(row.get("sparsity_dense")) >= TARGETS["sparsity_dense"]
            and number(dense["test_acc"]) - number(row.get("test_acc")) <= TARGETS["test_drop"] + 1e-12}


def selected_network(R: dict, s: Settings) -> dict:
    per = {}
    for seed in s.seeds:
        rows = rows_of(R, f"targeted/s{seed}", role=None)
        dense = one(rows, "dense")
        if dense is None:
            continue
        entry = {"dense": {k: dense.get(k) for k in ("run", "val_acc", "test_acc", "nnz",
                                                     "sparsity_dense", "epochs")},
                 "within_trials": sum(1 for r in rows if r.get("role") == "trial"
                                      and r.get("within") is True),
                 "trials": sum(1 for r in rows if r.get("role") == "trial")}
        for key, role in (("trial", "trial"), ("final", "final"), ("finetuned", "finetuned")):
            row = one(rows, role, selected=True)
            entry[key] = _network(row, dense) if row else None
        per[str(seed)] = entry
    out = {"per_seed": per}
    for key in ("final", "finetuned"):
        nets = [p[key] for p in per.values() if p.get(key)]
        out[key] = {"mean_sparsity_dense": summary([n["sparsity_dense"] for n in nets])["mean"],
                    "mean_test_drop": summary([n["test_drop"] for n in nets])["mean"],
                    "seeds_meeting": sum(bool(n["meets"]) for n in nets), "seeds": len(per),
                    "met": bool(per) and len(nets) == len(per) and all(n["meets"] for n in nets)}
    return out


def targeted_vs_grid(R: dict, s: Settings) -> dict:
    import pandas as pd

    from paretoprune.selection import select_within

    per = {}
    for seed in s.seeds:
        rows = rows_of(R, f"targeted/s{seed}", role=None)
        dense = one(rows, "dense")
        chosen = one(rows, "trial", selected=True)
        grid = rows_of(R, f"grid{s.grid_budget}/s{seed}")
        if dense is None or not grid:
            continue
        # the tool's reading: each trial against the sweep's dense run trained as long as it
        # (a 10-epoch reference for 10-epoch trials), as the targeted sweep judged its own
        denses = [r for r in rows if r.get("role") == "dense"]
        table = pd.DataFrame(denses + grid)
        found = select_within(table, s.max_drop, "val_acc", roles=("trial",))
        best = found.iloc[0].to_dict() if not found.empty else None
        entry = {"targeted": {k: chosen.get(k) for k in ("run", "weight", "nnz", "sparsity_dense",
                                                         "val_acc")} if chosen else None,
                 "targeted_trials": sum(1 for r in rows if r.get("role") == "trial"),
                 "grid": {k: json_safe(best.get(k)) for k in ("run", "weight", "nnz",
                                                          "sparsity_dense", "val_acc")}
                 if best else None,
                 "grid_trials": len(grid), "grid_within": int(len(found))}
        if chosen and best:
            entry["gap_pt"] = 100 * (number(best["sparsity_dense"]) - number(chosen["sparsity_dense"]))
        per[str(seed)] = entry
    gaps = [p["gap_pt"] for p in per.values() if "gap_pt" in p]
    mean = summary(gaps)["mean"]
    # a seed where the grid finds a network within D and the targeted sweep does not: missed
    lost = any(p.get("grid") and not p.get("targeted") for p in per.values())
    met = None if mean is None and not lost else (
        not lost and mean is not None and mean <= TARGETS["targeted_vs_grid_pt"])
    return {"per_seed": per, "mean_gap_pt": mean, "met": met,
            "seeds_compared": len(gaps), "seeds": len(per)}


def front_methods(s: Settings) -> list[str]:
    return ["normal", "midpoint", "grid", "random"] + (
        ["optuna-tpe", "optuna-nsga2"] if s.optuna else [])


def front_rows_by_method(R: dict, s: Settings, seed: int) -> dict:
    """{method: {budget: rows}} of one seed."""
    out: dict = {}
    for method in front_methods(s):
        per = {}
        for n in s.budgets:
            if method == "grid" and s.grid_prefix:
                rows = rows_of(R, f"grid-{s.max_budget}/s{seed}")[:n]
            elif method == "grid":
                rows = rows_of(R, f"grid-{n}/s{seed}")
            else:
                rows = rows_of(R, f"{method}/s{seed}")[:n]
            if rows:
                per[n] = rows
        if per:
            out[method] = per
    return out


def front_hypervolumes(R: dict, s: Settings, scale: str = "log") -> dict:
    hv: dict = {}  # method -> budget -> seed -> ratio
    runs_used: dict = {}
    norms = {}
    for seed in s.seeds:
        rows = front_rows_by_method(R, s, seed)
        union = [decision_points(usable_trials(r), scale) for per in rows.values()
                 for r in per.values()]
        union = [u for u in union if len(u)]
        if not union:
            continue
        norm, ref_hv = union_front_normalization(np.vstack(union))
        norms[str(seed)] = {"ideal": norm.ideal, "nadir": norm.nadir, "union_hv": ref_hv}
        for method, per in rows.items():
            for n, r in per.items():
                ratio = hypervolume_in(decision_points(usable_trials(r), scale), norm) / ref_hv
                hv.setdefault(method, {}).setdefault(str(n), {})[str(seed)] = ratio
                runs_used.setdefault(method, {}).setdefault(str(n), []).append(len(r))
    table = {m: {n: summary(v.values()) for n, v in per.items()} for m, per in hv.items()}
    pairs: dict = {}
    for other in front_methods(s)[1:]:
        for n in s.budgets:
            a, b = hv.get("normal", {}).get(str(n), {}), hv.get(other, {}).get(str(n), {})
            ci = paired(a, b)
            verdict = {1: "normal better", -1: f"{other} better"}.get(interval_side(ci),
                                                                     "not resolved")
            pairs.setdefault(other, {})[str(n)] = {**ci, "verdict": verdict}
    prefix = {f"{rule}/s{seed}": (R.get(f"{rule}/s{seed}") or {}).get("prefix_check")
              for rule in ("normal", "midpoint", "random") for seed in s.seeds}
    return {"scale": scale, "hv_ratio": hv, "table": table, "paired": pairs,
            "runs_used": runs_used, "normalization": norms, "prefix_check": prefix}


def _dominated_by(point, others) -> list[int]:
    return [i for i, q in enumerate(others) if np.all(q <= point) and np.any(q < point)]


def single_runs(R: dict, s: Settings) -> dict:
    from paretoprune.selection import is_collapsed

    per = {}
    for seed in s.seeds:
        ref = rows_of(R, f"ref/s{seed}", role=None)
        dense = one(ref, "dense")
        front_rows = usable_trials(rows_of(R, f"ref/s{seed}"))
        if dense is None or not front_rows:
            continue
        obj = objective_points(front_rows)
        dec = decision_points(front_rows, "linear")
        entry = {}
        for variant, _, _, grid in SINGLE_VARIANTS:
            tried = []
            for lr in getattr(s, grid):
                m = (R.get(f"{variant}-{lr:g}/s{seed}") or {}).get("metrics")
                if m:
                    tried.append(m)
            ok = [m for m in tried if m.get("status") == "ok"
                  and not is_collapsed(m, "val_acc", number(dense["val_acc"]))]
            if not ok:
                entry[variant] = {"tried": tried, "chosen": None}
                continue
            chosen = max(ok, key=lambda m: number(m["val_acc"]))  # validation only
            p_obj = np.array([number(chosen["loss"]), number(chosen["l1"])])
            p_dec = np.array([1 - number(chosen["val_acc"]), number(chosen["nnz"])])
            by_obj = [front_rows[i]["run"] for i in _dominated_by(p_obj, obj)]
            by_dec = [front_rows[i]["run"] for i in _dominated_by(p_dec, dec)]
            sparser = [r for r in front_rows if number(r["nnz"]) <= number(chosen["nnz"])]
            best = max(sparser, key=lambda r: number(r["val_acc"])) if sparser else None
            entry[variant] = {
                "tried": [{k: m.get(k) for k in ("lr", "status", "val_acc", "sparsity_dense")}
                          for m in tried],
                "chosen": {k: chosen.get(k) for k in ("lr", "loss", "l1", "val_acc", "test_acc",
                                                      "nnz", "sparsity_dense", "weight")},
                "dominated_objectives_by_runs": by_obj, "dominated_decision_by_runs": by_dec,
                "front_best_at_most_as_many_nnz": {k: best.get(k) for k in
                                                   ("run", "weight", "val_acc", "nnz")}
                if best else None,
                "val_drop": number(dense["val_acc"]) - number(chosen["val_acc"])}
        per[str(seed)] = entry
    return {"per_seed": per}


def warm_start_and_cost(R: dict, s: Settings, norms: dict) -> dict:
    out: dict = {}
    seed = s.seeds[0]
    warm, cold = rows_of(R, f"warm/s{seed}"), rows_of(R, f"normal/s{seed}")
    if s.warm and warm and cold and str(seed) in norms:
        from paretoprune.pareto import Normalization

        n = norms[str(seed)]
        norm = Normalization(tuple(n["ideal"]), tuple(n["nadir"]))
        cold_part = cold[:s.warm_cold_runs]
        target = hypervolume_in(decision_points(usable_trials(cold_part)), norm) / n["union_hv"]
        cold_epochs = sum(int(number(r.get("epochs"), 0)) for r in cold_part)
        cold_wall = sum(number(r.get("wall_time"), 0.0) for r in cold_part)
        entry = {"seed": seed, "cold_runs": len(cold_part), "cold_epochs": cold_epochs,
                 "cold_wall_s": cold_wall, "cold_hv_ratio": target, "warm_runs_tried": len(warm),
                 "warm_best_hv_ratio": hypervolume_in(decision_points(usable_trials(warm)), norm)
                 / n["union_hv"]}
        for k in range(1, len(warm) + 1):
            ratio = hypervolume_in(decision_points(usable_trials(warm[:k])), norm) / n["union_hv"]
            if ratio >= target - 1e-12:
                used = warm[:k]
                entry.update(warm_runs=k, warm_hv_ratio=ratio,
                             warm_epochs=sum(int(number(r.get("epochs"), 0)) for r in used),
                             warm_wall_s=sum(number(r.get("wall_time"), 0.0) for r in used))
                entry["epoch_share"] = entry["warm_epochs"] / cold_epochs if cold_epochs else None
                entry["wall_share"] = entry["warm_wall_s"] / cold_wall if cold_wall else None
                break
        entry["met"] = entry.get("epoch_share") is not None and \
            entry["epoch_share"] <= TARGETS["warm_epoch_share"]
        out["warm"] = entry
    cost = (R.get(f"ref/s{seed}") or {}).get("cost")
    if s.cost and cost:
        out["cost"] = {**cost, "met": cost["ratio_fused"] <= TARGETS["sweep_cost_ratio"]}
    return out


# ----------------------------------------------------------------------------------------------
# measure 6: the reference sweep and its picture
# ----------------------------------------------------------------------------------------------

def rel(path: Path) -> str:
    """``path`` relative to the repository root when it lies inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def write_reference(folder: Path, target: Path, max_drop: float) -> dict:
    """Copy the sweep's sweep.json, journal.jsonl and points.csv (no checkpoints, no logs) to
    ``target``, check that ``paretoprune plot`` reads it and draw front.png."""
    if not (folder / "sweep.json").exists():
        return {"error": f"no reference sweep in {folder}"}
    for old in ("sweep.json", "journal.jsonl", "points.csv", "points.schema1.csv", "front.png",
                "checkpoints", "logs", ".lock"):
        old = target / old
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    target.mkdir(parents=True, exist_ok=True)
    meta = json.loads((folder / "sweep.json").read_text())
    where = Path(meta["config"]["train"].get("data_dir") or mnist_dir())
    with contextlib.suppress(ValueError):  # the data's place, relative to the repository
        meta["config"]["train"]["data_dir"] = os.path.relpath(where, ROOT)
    (target / "sweep.json").write_text(json.dumps(meta, indent=2) + "\n")
    for name in ("journal.jsonl", "points.csv"):
        shutil.copy2(folder / name, target / name)
    out = {"path": rel(target)}
    cmd = [sys.executable, "-m", "paretoprune", "plot"]
    where, html = rel(target), rel(CACHE_DIR / "front-reference.html")
    for key, args in (("plot_html", [where, "-o", html]),
                      ("plot_png", [where, "--png", f"{where}/front.png", "--max-drop",
                                    f"{max_drop:g}"])):
        done = subprocess.run(cmd + args, capture_output=True, text=True, cwd=ROOT, check=False)
        out[key] = {"command": shlex.join(["paretoprune", "plot", *args]), "rc": done.returncode,
                    "output": (done.stdout + done.stderr).strip()[-600:]}
        log(f"reference sweep: {out[key]['command']} -> exit {done.returncode}")
    return out


# ----------------------------------------------------------------------------------------------
# the report
# ----------------------------------------------------------------------------------------------

def verdict(ok) -> str:
    return "-" if ok is None else ("**met**" if ok else "**missed**")


def markdown(rep: dict) -> str:
    s = rep["settings"]
    seeds = s["seeds"]
    L = ["# The front suite: LeNet-5 on mnist-5k", "",
         f"Command: `{rep['command']}`  ", f"Machine: {rep['machine']}  ",
         f"Settings: {rep['settings_text']}  ",
         f"Total time: {rep['total_s'] / 60:.1f} min (this invocation: {rep['runs']['trained']} "
         f"runs trained, {rep['runs']['cached']} read from the run cache; estimated "
         f"{rep['estimate_min']:.0f} min from an empty cache)", ""]
    if rep["errors"]:
        L += ["**Jobs that failed** (their measures are missing below):", ""]
        L += [f"- `{name}`: {err.splitlines()[0]}" for name, err in rep["errors"].items()]
        L.append("")
    i1, i2, i3, i4, i5, i7 = (rep["items"].get(k, {}) for k in ("1", "2", "3", "4", "5", "7"))
    L += ["## Figures against targets", "", "| # | measure | target | result | verdict |",
          "|---|---|---|---|---|"]

    def counts(entry):
        per = entry.get("per_seed", {})
        return ", ".join(f"{per[str(k)]['collapsed']}" for k in seeds if str(k) in per) or "-"

    if i1:
        L.append(f"| 1 | collapsed runs per sweep, LeNet-5 reference setting ({s['ref_budget']} "
                 f"runs, seeds {', '.join(map(str, seeds))}) | <= 1 | {counts(i1['reference'])} "
                 f"| {verdict(i1['reference']['met'])} |")
        L.append(f"| 1 | collapsed runs per sweep, digits quick start (8 runs) | <= 1 | "
                 f"{counts(i1['digits'])} | {verdict(i1['digits']['met'])} |")
    for key, label in (("final", "no fine-tuning"), ("finetuned", "fine-tuned")):
        if i2.get(key):
            e = i2[key]
            got = "no network within D" if e["mean_test_drop"] is None else (
                f"{pct(e['mean_sparsity_dense'])} at {100 * e['mean_test_drop']:.2f} pt")
            L.append(f"| 2 | selected network at D = {100 * s['max_drop']:g} pt, {label} (mean "
                     "over seeds) | >= 98 % "
                     f"dense-layer sparsity at <= 1.0 pt test drop | {got} "
                     f"({e['seeds_meeting']}/{e['seeds']} seeds meet it) | {verdict(e['met'])} |")
    if i3:
        gap = "-" if i3.get("mean_gap_pt") is None else f"{i3['mean_gap_pt']:+.2f} pt"
        L.append(f"| 3 | dense-layer sparsity: {s['grid_budget']}-run grid's sparsest within D "
                 f"minus the {s['target_budget']}-run targeted selection (mean) | <= 0.5 pt | "
                 f"{gap} | {verdict(i3.get('met'))} |")
    if i4.get("paired"):
        resolved = [f"{o} at {n}: {c['verdict']}" for o, per in i4["paired"].items()
                    for n, c in per.items() if c["verdict"] != "not resolved"]
        L.append(f"| 4 | decision-space hypervolume, normal vs each other method | better only "
                 f"where the 95 % interval excludes 0 | {'; '.join(resolved) or 'no difference resolved'} | - |")
    if i5.get("per_seed"):
        parts = []
        for variant, *_ in SINGLE_VARIANTS:
            chosen = [e[variant] for e in i5["per_seed"].values() if e.get(variant, {}).get("chosen")]
            free = sum(not c["dominated_decision_by_runs"] for c in chosen)
            parts.append(f"{variant}: {free}/{len(chosen)} not dominated (decision space)")
        L.append(f"| 5 | SMGD / MAdam at their chosen learning rates vs the weighted-sum front | "
                 f"- | {'; '.join(parts)} | - |")
    if i7.get("warm"):
        w = i7["warm"]
        share = f"{w['epoch_share']:.0%} of the epochs" if w.get("epoch_share") is not None \
            else "not reached"
        L.append(f"| 7 | warm start: epochs to reach the hypervolume of {w['cold_runs']} cold runs "
                 f"| <= 50 % | {share} | {verdict(w['met'])} |")
    if i7.get("cost"):
        c = i7["cost"]
        L.append(f"| 7 | sweep cost: {c['trials']}-run cold sweep / plain loop per run (wall "
                 f"time) | <= 1.10 | {c['ratio_fused']:.3f} against the fused-Adam loop, "
                 f"{c['ratio_default']:.3f} against torch's default Adam (CPU time: "
                 f"{number(c.get('cpu_ratio_fused')):.3f}, {number(c.get('cpu_ratio_default')):.3f}) | "
                 f"{verdict(c['met'])} |")
    L.append("")

    # 1
    if i1:
        L += ["## 1. Collapsed runs per sweep", "",
              "A run is collapsed when no prunable weight is left or its validation accuracy kept "
              "less than a quarter of the dense reference's margin over chance "
              "(`paretoprune.selection.is_collapsed`).", "",
              "| setting | seed | trials | collapsed | their λ | stop |", "|---|---|---|---|---|---|"]
        names = {"reference": f"LeNet-5 reference setting ({s['epochs']} epochs)",
                 "digits": "digits quick start (mlp, 20 epochs)",
                 "rules-10ep": f"LeNet-5 default rule, {s['trial_epochs']}-epoch runs (measure 4)"}
        for label, entry in i1.items():
            for seed, p in entry["per_seed"].items():
                lams = ", ".join(f"{w:.4g}" for w in p["collapsed_weights"] if w is not None)
                L.append(f"| {names[label]} | {seed} | {p['trials']} | {p['collapsed']} | "
                         f"{lams or '-'} | {p['stop_reason']} |")
        L.append("")
    # 2
    if i2.get("per_seed"):
        L += [f"## 2. The selected network at D = {100 * s['max_drop']:g} point(s)", "",
              f"`run_sweep` with `max_drop={s['max_drop']}`, {s['target_budget']} trials of "
              f"{s['trial_epochs']} epochs, the selected λ retrained for {s['epochs']} epochs "
              f"(role final) and fine-tuned for {s['finetune_epochs']} (role finetuned, masks "
              "fixed, λ = 0). Selected on validation; the drops are against the dense reference "
              f"(role dense: λ = 0, no pruning, {s['epochs']} epochs); test figures only report.",
              "", "| seed | network | λ | epochs | dense-layer sparsity | nnz | val acc | val drop "
              "| test acc | test drop | meets target |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for seed, e in i2["per_seed"].items():
            d = e["dense"]
            L.append(f"| {seed} | dense reference | - | {d['epochs']} | {pct(d['sparsity_dense'])}"
                     f" | {d['nnz']} | {pct(d['val_acc'])} | - | {pct(d['test_acc'])} | - | - |")
            for key, label in (("trial", "selected trial"), ("final", "final (no fine-tuning)"),
                               ("finetuned", "fine-tuned (epochs: on the final)")):
                n = e.get(key)
                if not n:
                    L.append(f"| {seed} | {label} | none | | | | | | | | |")
                    continue
                L.append(f"| {seed} | {label} | {number(n['weight']):.4g} | {n['epochs']} | "
                         f"{pct(n['sparsity_dense'])} | {n['nnz']} | {pct(n['val_acc'])} | "
                         f"{100 * n['val_drop']:.2f} pt | {pct(n['test_acc'])} | "
                         f"{100 * n['test_drop']:.2f} pt | {'yes' if n['meets'] else 'no'} |")
            L.append(f"| {seed} | ({e['within_trials']} of {e['trials']} trials within D on "
                     "validation) | | | | | | | | | |")
        L.append("")
    # 3
    if i3.get("per_seed"):
        L += [f"## 3. Targeted search against a {s['grid_budget']}-run grid", "",
              f"Targeted: the trial the `max_drop` sweep of measure 2 selects ({s['target_budget']} "
              f"trials). Grid: `rule=\"grid\", budget={s['grid_budget']}` at the same trial epochs "
              "(λ = 1 is not trained: its network is known to be all zero); its sparsest trial "
              "within D is read by `paretoprune.selection.select_within` against the same dense "
              "reference runs (each trial against the one trained as long as it, as the targeted "
              "sweep judges its own trials).", "",
              "| seed | targeted: λ, dense-layer sparsity, val acc | grid: λ, dense-layer sparsity, "
              "val acc | grid trials within D | grid - targeted |", "|---|---|---|---|---|"]
        for seed, e in i3["per_seed"].items():
            t, g = e.get("targeted"), e.get("grid")
            tt = f"{number(t['weight']):.4g}, {pct(t['sparsity_dense'])}, {pct(t['val_acc'])}" if t else "none"
            gg = f"{number(g['weight']):.4g}, {pct(g['sparsity_dense'])}, {pct(g['val_acc'])}" if g else "none"
            gap = f"{e['gap_pt']:+.2f} pt" if "gap_pt" in e else "-"
            L.append(f"| {seed} | {tt} | {gg} | {e['grid_within']} of {e['grid_trials']} | {gap} |")
        L.append("")
    # 4
    if i4.get("table"):
        budgets = [str(n) for n in s["budgets"]]
        L += ["## 4. Front comparison in the decision space", "",
              "Hypervolume of the usable trials (collapsed and failed runs excluded) in the "
              "plane (validation error, log10 nonzero prunable weights), as a ratio to the "
              "hypervolume of the union front of every method's usable points of the seed, in "
              "that front's normalization (reference point (1.1, 1.1)); mean ± sd over "
              f"{len(seeds)} seed(s), runs of {s['trial_epochs']} epochs. normal, midpoint and "
              "random: the first n trials of one serial 16-run sweep (each n-run sweep, run "
              "again from the run cache, checks that they are what it runs); grid: "
              + ("the first n trials of the 16-run grid sweep, in the planner's `grid_order` "
                 "(coarse to fine: a prefix of the 16-grid, not the uniform n-grid; "
                 "--separate-grids runs those, about 3 minutes more; the 16-grid has 15 "
                 "trials, λ = 1 being known)" if s["grid_prefix"]
                 else "a separate `grid_weights(0, 1, n)` sweep per budget, which trains n - 1 "
                 "runs (λ = 1 is known)")
              + "; Optuna: the first n trials of a 16-trial study on (loss, l1).", "",
              "| method | " + " | ".join(f"{n} runs" for n in budgets) + " |",
              "|---|" + "---|" * len(budgets)]
        for method, per in i4["table"].items():
            cells = []
            for n in budgets:
                c = per.get(n)
                if not c or c["mean"] is None:
                    cells.append("-")
                else:
                    cells.append(f"{c['mean']:.3f}" + (f" ± {c['sd']:.3f}" if c.get("sd") is not None else ""))
            L.append(f"| {method} | " + " | ".join(cells) + " |")
        from scipy.stats import t as student_t

        width = (f"with {len(seeds)} seeds the interval is wide (t = "
                 f"{student_t.ppf(0.975, len(seeds) - 1):.2f}), so only large, consistent differences "
                 "are resolved (marked)") if len(seeds) > 1 else "one seed: no interval"
        L += ["", "Paired differences normal - other (per seed, same normalization), mean and "
              f"95 % t-interval over seeds; {width}. front.json holds the same with linear nnz "
              "(items.4-linear).", "",
              "| other | " + " | ".join(f"{n} runs" for n in budgets) + " |",
              "|---|" + "---|" * len(budgets)]
        for other, per in i4["paired"].items():
            cells = []
            for n in budgets:
                c = per.get(n)
                if not c or c["mean"] is None:
                    cells.append("-")
                elif c["lo"] is None:
                    cells.append(f"{c['mean']:+.3f}")
                else:
                    mark = "" if c["verdict"] == "not resolved" else f" **{c['verdict']}**"
                    cells.append(f"{c['mean']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}]{mark}")
            L.append(f"| {other} | " + " | ".join(cells) + " |")
        checks = [c for c in i4["prefix_check"].values() if c]
        bad = [(k, c["mismatches"]) for k, c in i4["prefix_check"].items() if c and c["mismatches"]]
        L += ["", f"Prefix check: {sum(c['checks'] for c in checks)} trials compared with the "
              "shorter sweeps, "
              + (f"mismatches in {', '.join(k for k, _ in bad)} (those prefixes are not the "
                 "smaller sweeps)" if bad else "all equal to the 16-run sweeps' choices") + ".", ""]
    # 5
    if i5.get("per_seed"):
        L += ["## 5. SMGD and MAdam on fair terms", "",
              f"`method=\"smgd\"` ({s['epochs']} epochs, one run each, no λ): smgd with momentum "
              "0.9, Nesterov and the original work's per-step decay lr / (1 + (lr/E)·t) (`schedule="
              f"\"inverse\"`), lr from {{{', '.join(f'{v:g}' for v in s['smgd_lrs'])}}}; madam "
              f"(constant lr) from {{{', '.join(f'{v:g}' for v in s['madam_lrs'])}}}. The "
              "learning rate is the one with the best validation accuracy (collapsed or failed "
              "runs excluded). Each chosen run is placed against the usable trials of the "
              f"reference setting of its seed (weighted sum, {s['epochs']} epochs, measure 1).", "",
              "| seed | run | lr | val acc | val drop | dense-layer sparsity | nnz | mean c2 | "
              "dominated (loss, l1) | dominated (val error, nnz) | best weighted-sum run with "
              "<= nnz |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for seed, e in i5["per_seed"].items():
            for variant, v in e.items():
                c = v.get("chosen")
                if not c:
                    L.append(f"| {seed} | {variant} | none usable | | | | | | | | |")
                    continue
                b = v["front_best_at_most_as_many_nnz"]
                best = (f"run {b['run']} (λ {number(b['weight']):.3g}): val {pct(b['val_acc'])}, "
                        f"{b['nnz']} nnz") if b else "none"
                dom_o = f"yes (runs {v['dominated_objectives_by_runs']})" \
                    if v["dominated_objectives_by_runs"] else "no"
                dom_d = f"yes (runs {v['dominated_decision_by_runs']})" \
                    if v["dominated_decision_by_runs"] else "no"
                L.append(f"| {seed} | {variant} | {c['lr']:g} | {pct(c['val_acc'])} | "
                         f"{100 * v['val_drop']:.2f} pt | {pct(c['sparsity_dense'])} | {c['nnz']} "
                         f"| {number(c['weight']):.3g} | {dom_o} | {dom_d} | {best} |")
        L.append("")
    # 6
    ref = rep["items"].get("6")
    if ref:
        L += ["## 6. The reference sweep", ""]
        if "error" in ref:
            L.append(f"Not written: {ref['error']}")
        else:
            L.append(f"`{ref['path']}`: seed {seeds[0]} of the reference setting ({s['ref_budget']} "
                     f"trials + the dense reference, {s['epochs']} epochs, `val_split=\"test\"`); "
                     "sweep.json, journal.jsonl and points.csv, no checkpoints or logs.")
            for key in ("plot_html", "plot_png"):
                p = ref[key]
                L.append(f"- `{p['command']}`: exit {p['rc']}"
                         + ("" if p["rc"] == 0 else f" ({p['output'].splitlines()[-1] if p['output'] else ''})"))
        L.append("")
    # 7
    if i7:
        L += ["## 7. Warm start and sweep cost", ""]
        w = i7.get("warm")
        if w:
            if w.get("warm_runs"):
                L.append(f"- Warm start (seed {w['seed']}, warm-started runs of {s['warm_epochs']} "
                         f"epochs from the nearest denser run): the decision-space hypervolume of "
                         f"{w['cold_runs']} cold runs ({w['cold_hv_ratio']:.3f}; {w['cold_epochs']} "
                         f"epochs, {w['cold_wall_s']:.0f} s) is reached after {w['warm_runs']} "
                         f"runs: {w['warm_epochs']} epochs ({w['epoch_share']:.0%}), "
                         f"{w['warm_wall_s']:.0f} s ({w['wall_share']:.0%}). Target <= 50 % of "
                         "the epochs.")
            else:
                L.append(f"- Warm start (seed {w['seed']}): the hypervolume of {w['cold_runs']} cold "
                         f"runs ({w['cold_hv_ratio']:.3f}) is not reached in {w['warm_runs_tried']}"
                         f" warm-started runs (best {w['warm_best_hv_ratio']:.3f}).")
        elif not s["warm"]:
            L.append("- Warm start: not measured (--no-warm).")
        c = i7.get("cost")
        if c:
            loops = c["plain_loop_s"]
            L.append(f"- Sweep cost: a {c['trials']}-run cold sweep ({c['runs_trained']} training "
                     f"runs with the dense reference; `run_sweep` with store, checkpoints and "
                     f"logs; {c['epochs']} epochs each) took {c['sweep_wall_s']:.1f} s; the plain "
                     f"PyTorch loop (benchmarks.common.plain_loop, same process, before and after) "
                     f"{statistics.median(loops['fused']):.2f} s per run with the fused Adam "
                     f"kernel paretoprune uses and {statistics.median(loops['default']):.2f} s "
                     f"with torch's default Adam: ratios {c['ratio_fused']:.3f} and "
                     f"{c['ratio_default']:.3f} (target <= 1.10; on the process CPU clock "
                     f"{number(c.get('cpu_ratio_fused')):.3f} and "
                     f"{number(c.get('cpu_ratio_default')):.3f}). The verdict "
                     "reads the like-for-like ratio (fused Adam, wall time). The sweep's runs "
                     "also evaluate the train, validation and test sets, which the plain loop "
                     "does not."
                     + (" (Measured in an earlier invocation.)" if c.get("reused") else ""))
        elif not s["cost"]:
            L.append("- Sweep cost: not measured (--no-cost).")
        L.append("")
    L += ["## Notes", "",
          "- Validation is `val_split=\"test\"`: a seeded half (5,000 images) of the 10k MNIST test "
          "set validates and the other half tests. 10 % of the 5,000 training images would be 500 "
          "validation images, where one point is 5 images: too noisy to resolve a 1-point "
          "constraint. Selection never reads the test half.",
          f"- Trials of the `max_drop` sweeps train {s['trial_epochs']} epochs; run_sweep then "
          f"trains a second dense reference of {s['trial_epochs']} epochs, and \"within D\" "
          "(the sweep's choice, and the count of trials within D) is judged against it; the "
          f"drops in the tables are against the {s['epochs']}-epoch reference, which the final "
          "and fine-tuned networks are judged by.",
          "- Every run comes from `run_sweep` (measures 1-4, 6, 7) or `run_point` (Optuna, SMGD) "
          "through a cache keyed by the full spec, parameter, epochs, initial weights and the "
          "training code; CPU training is deterministic, so a cached run is the run.", ""]
    return "\n".join(L) + "\n"


# ----------------------------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------------------------

def settings_text(s: Settings) -> str:
    return (f"lenet5 on mnist-5k (5,000 training images; validation and test: the two seeded "
            f"halves of the 10k test set), Adam lr 1e-3, batch 32, CPU; reference setting and "
            f"final retrains {s.epochs} epochs, trials of measures 2-4 {s.trial_epochs} epochs, "
            f"fine-tuning {s.finetune_epochs}, D = {s.max_drop:g}; seeds "
            f"{', '.join(map(str, s.seeds))}" + (" (--quick)" if s.quick else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 1-2 epochs, seed 0, small budgets (results in "
                             "runs/benchmarks/.cache/front-quick/)")
    parser.add_argument("--fresh", action="store_true", help="empty the run cache first")
    parser.add_argument("--no-optuna", action="store_true", help="leave out the Optuna samplers")
    parser.add_argument("--no-warm", action="store_true", help="leave out the warm-start measure")
    parser.add_argument("--no-cost", action="store_true", help="leave out the sweep-cost measure")
    parser.add_argument("--no-reference", action="store_true",
                        help="do not rewrite runs/mnist5k-lenet5")
    parser.add_argument("--separate-grids", action="store_true",
                        help="measure 4: a separate grid_weights(0, 1, n) sweep for each budget n "
                             "instead of the prefixes of the 16-run grid (16 more runs per seed, "
                             "about 3 more minutes)")
    args = parser.parse_args(argv)
    changes: dict = dict(QUICK) if args.quick else {}
    if args.seeds:
        changes["seeds"] = tuple(args.seeds)
    optuna_note = ""
    if not args.no_optuna:
        try:
            import optuna  # noqa: F401
        except ImportError:
            optuna_note = "Optuna is not installed (pip install -e '.[bench]'): its samplers are left out."
    s = Settings(**changes, workers=args.workers, quick=args.quick,
                 optuna=not args.no_optuna and not optuna_note, warm=not args.no_warm,
                 cost=not args.no_cost, reference=not args.no_reference,
                 grid_prefix=not args.separate_grids)
    require_mnist("bench_front")
    if args.fresh:
        CACHE.clear()
        for stored in CACHE_DIR.glob("front-cost-*.json"):
            stored.unlink()
    out_dir = CACHE_DIR / "front-quick" if s.quick else OUT_DIR
    ref_target = out_dir / "mnist5k-lenet5" if s.quick else REFERENCE_SWEEP
    t0 = time.time()
    restart_clock(t0)
    started = time.perf_counter()
    command = command_line("bench_front", argv)
    shared, jobs = plan(s)
    table, minutes = estimate_table(s, shared, jobs)
    print(f"bench_front: {settings_text(s)}\n{table}", flush=True)
    if optuna_note:
        print(optuna_note, flush=True)

    R: dict = {}
    errors: dict = {}
    totals = {"trained": 0, "cached": 0, "train_s": 0.0}
    est = {j.name: j.seconds for j in shared + jobs}
    with ProcessPoolExecutor(s.workers, mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(t0,)) as pool:
        for phase, group in (("shared runs", shared), ("measures", jobs)):
            pending = {pool.submit(run_entry, j.name, j.fn, j.kwargs): j.name for j in group}
            left = sum(est[n] for n in pending.values())
            log(f"{phase}: {len(pending)} jobs")
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    name = pending.pop(future)
                    try:
                        entry = future.result()
                    except Exception as err:  # its worker process died (memory, a signal)
                        entry = {"name": name, "result": {}, "wall_s": 0.0, "trained": 0,
                                 "cached": 0, "train_s": 0.0,
                                 "error": f"{type(err).__name__}: {err}"}
                    left -= est[name]
                    for k in totals:
                        totals[k] += entry[k]
                    if entry["error"]:
                        errors[name] = entry["error"]
                        log(f"FAILED {name}: {entry['error']}")
                    else:
                        R[name] = entry["result"]
                    log(f"done {name} in {entry['wall_s']:.0f} s ({entry['trained']} trained, "
                        f"{entry['cached']} cached); {len(pending)} jobs left, about "
                        f"{left / s.workers / 60:.0f} min if nothing is cached")

    items: dict = {}
    analyses = (("1", lambda: collapsed_runs(R, s)), ("2", lambda: selected_network(R, s)),
                ("3", lambda: targeted_vs_grid(R, s)), ("4", lambda: front_hypervolumes(R, s)),
                ("4-linear", lambda: front_hypervolumes(R, s, "linear")),
                ("5", lambda: single_runs(R, s)))
    for key, fn in analyses:
        try:
            items[key] = fn()
        except Exception as err:  # a missing piece must not lose the rest of the report
            errors[f"analysis {key}"] = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
    try:
        items["7"] = warm_start_and_cost(R, s, items.get("4", {}).get("normalization", {}))
    except Exception as err:
        errors["analysis 7"] = f"{type(err).__name__}: {err}\n{traceback.format_exc()}"
    ref = R.get(f"ref/s{s.seeds[0]}")
    if s.reference and ref and ref.get("folder"):
        items["6"] = write_reference(Path(ref["folder"]), ref_target, s.max_drop)
    elif s.reference:
        items["6"] = {"error": "the reference sweep job failed"}
    report = {
        "command": command,
        "machine": machine(s.workers),
        "settings_text": settings_text(s),
        "settings": json_safe(dataclasses.asdict(s)),
        "targets": TARGETS,
        "estimate_min": minutes,
        "total_s": time.perf_counter() - started,
        "runs": totals,
        "errors": errors,
        "notes": [optuna_note] if optuna_note else [],
        "items": json_safe(items),
        "jobs": R,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "front.json").write_text(json.dumps(report, indent=1) + "\n")
    try:
        text = markdown(report)
    except Exception:  # the numbers are in front.json; say what broke the Markdown
        text = f"# The front suite\n\nThe report failed:\n\n```\n{traceback.format_exc()}```\n"
        errors["markdown"] = text
    (out_dir / "front.md").write_text(text)
    print(text, flush=True)
    print(f"wrote {out_dir / 'front.md'} and front.json", flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
