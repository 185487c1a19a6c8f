"""Relevance-based selective decay and cooperative PSO beside the weighted sum.

Run from the repository root::

    python -m benchmarks.bench_relevance_pso           # everything: about 45 min on 2 cores
    python -m benchmarks.bench_relevance_pso --quick   # a smoke run: 1 seed, tiny runs
    python -m benchmarks.bench_relevance_pso --parts digits scaling   # some parts only

Every method runs as one ``paretoprune sweep`` (``run_sweep``, ``--workers 2`` processes, one
torch thread per run) with its defaults, its default rule and range, the same budget of
training runs (8) and no dense run of its own: one dense reference per seed (λ = 0, no pruning)
is trained once and shared (``benchmarks.common.train_dense``).

1. **digits** -- ``mlp`` on the bundled digits, 3 seeds, the CLI's defaults (20 epochs, Adam
   1e-3, batch 32, validation 10 % of the training images): the fronts of ``weighted-sum``,
   ``relevance``, ``pso`` (20 rounds of 100 iterations of 10 particles) and ``gmp`` when
   ``paretoprune.methods.METHODS`` has it. Test accuracy at 80 / 90 / 95 % sparsity, read as
   ``paretoprune compare`` reads it (:func:`benchmarks.common.at_level`: the networks chosen on
   validation, their test accuracy interpolated in log nonzero weights at each level); the wall
   time of each method's runs.
2. **lenet** -- ``lenet5`` on ../shared/datasets/mnist-5k, 3 seeds, 30 epochs for every run, Adam
   1e-3, batch 32, validation half of the test images (``benchmarks.common.lenet_spec``): ``relevance``
   against ``weighted-sum`` at 95 / 98 / 99 % dense-layer sparsity. (PSO does not take conv nets.)
3. **scaling** -- where PSO stops scaling: the CPU time of one iteration of both swarms (10
   particles, 512 samples, one thread) for mlp on digits (17k connections), lenet-300-100 on
   digits (50k) and on mnist-5k (266k), extrapolated to the default 2,000 iterations; and one
   default PSO run of lenet-300-100 on mnist-5k (seed 0, λ = 0.2) beside a gradient-trained
   weighted-sum run of the same model and epochs.

Paired differences are *method minus weighted sum*, seed by seed, with 95 % t-intervals
(positive: the method is more accurate). Results: runs/benchmarks/relevance_pso.json and .md
(``--quick``: relevance_pso-quick.*). Sweeps are kept in runs/benchmarks/.cache/relevance_pso/
and resume when the script runs again (``--fresh`` starts over).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.common import (
    CACHE_DIR,
    OUT_DIR,
    SEEDS,
    accuracy_at_levels,
    command_line,
    dense_spec,
    digits_spec,
    lenet_spec,
    level_table,
    machine,
    mean_sd_text,
    mnist_dir,
    paired,
    pct,
    pp,
    require_mnist,
    summary,
    sweep_trials,
    train_dense,
    write_report,
)

DIGITS_LEVELS = (0.80, 0.90, 0.95)
LENET_LEVELS = (0.95, 0.98, 0.99)
BASE = "weighted-sum"
PARTS = ("digits", "lenet", "scaling")
#: PSO's scaling measurements: (model, dataset)
SCALING = (("mlp", "digits"), ("lenet-300-100", "digits"), ("lenet-300-100", "mnist"))


def digits_methods() -> list[str]:
    from paretoprune.methods import METHODS

    return [m for m in (BASE, "relevance", "pso", "gmp") if m in METHODS]


def digits_method_spec(seed: int, method: str, quick: bool):
    """``paretoprune sweep --method METHOD``'s defaults on digits (``--quick``: 2 epochs, PSO 5
    iterations a round)."""
    changes = {"epochs": 2} if quick else {}
    if quick and method == "pso":
        changes["swarm_iterations"] = 5
    return digits_spec(seed, method=method, **changes)


# --- the fronts ---------------------------------------------------------------------------------


def run_part(name: str, specs, seeds, levels, budget: int, workers: int, cache: Path,
             log) -> dict:
    """Sweeps of every method of ``specs(seed) -> {label: spec}`` for each seed, analysed at
    ``levels`` (dense-layer sparsity)."""
    results = {}
    for seed in seeds:
        folder = cache / name / f"seed{seed}"
        per = specs(seed)
        dense = train_dense(per[BASE], folder)
        log(f"{name} seed {seed}: dense test acc {pct(dense['test_acc'])}")
        methods = {}
        for label, spec in per.items():
            rows, wall = sweep_trials(spec, folder / label, budget, workers)
            methods[label] = {"rows": rows, "sweep_wall_s": wall}
            log(f"{name} seed {seed}: {label} ({len(rows)} runs, {wall:.0f} s)")
        results[str(seed)] = {"dense": {k: dense.get(k) for k in ("test_acc", "val_acc",
                                                                   "wall_time")},
                              "methods": methods}
    return {"results": results, "analysis": analyse(results, seeds, list(per), levels)}


def analyse(results: dict, seeds, labels, levels) -> dict:
    """Accuracy at each level, times, and paired differences against the weighted sum."""
    out = {"levels": {}, "time": {}, "paired": {}}
    for label in labels:
        out["levels"][label] = accuracy_at_levels(
            {s: results[str(s)]["methods"][label]["rows"] for s in seeds}, levels)
        runs = [results[str(s)]["methods"][label] for s in seeds]
        out["time"][label] = {
            "run_wall_s": summary([sum(r["wall_time"] or 0.0 for r in m["rows"]) for m in runs]),
            "sweep_wall_s": summary([m["sweep_wall_s"] for m in runs]),
            "collapsed": sum(sum(bool(r.get("collapsed")) for r in m["rows"]) for m in runs),
            "failed": sum(sum(r["status"] != "ok" for r in m["rows"]) for m in runs)}
    for label in labels:
        if label == BASE:
            continue
        out["paired"][label] = {}
        for level in levels:
            key = f"{level:g}"
            test_acc = {name: {s: c["test_acc"] for s, c in
                               out["levels"][name][key]["per_seed"].items() if c}
                        for name in (label, BASE)}
            out["paired"][label][key] = paired(test_acc[label], test_acc[BASE])
    return out


def verdicts(analysis: dict, levels) -> list[str]:
    """Where each method wins or loses against the weighted sum, said plainly."""
    lines = []
    for label, per in analysis["paired"].items():
        for level in levels:
            d = per[f"{level:g}"]
            mine = analysis["levels"][label][f"{level:g}"]["test_acc"]["n"]
            if d["n"] == 0:
                who = label if mine == 0 else BASE
                lines.append(f"{label} at {level:.0%}: no comparison -- the networks {who} "
                             "chose on validation do not reach this sparsity"
                             + (" (a loss for it)" if who == label else ""))
                continue
            ci = (f"95 % interval [{pp(d['lo'])}, {pp(d['hi'])}]"
                  if d["lo"] is not None else "one seed, no interval")
            if d["mean"] < 0:
                sure = d["hi"] is not None and d["hi"] < 0
                lines.append(f"{label} at {level:.0%}: LOSES by {pp(-d['mean'])} points to the "
                             f"weighted sum ({ci}{'; the whole interval' if sure else ''})")
            else:
                lines.append(f"{label} at {level:.0%}: {pp(d['mean'])} points against the "
                             f"weighted sum ({ci})")
    return lines


# --- PSO scaling ------------------------------------------------------------------------------


def pso_scaling(quick: bool, log) -> dict:
    """CPU seconds per iteration of both swarms, and one default lenet-300-100 run on MNIST."""
    import torch

    from paretoprune.config import TrainSpec
    from paretoprune.training import train_run
    from paretoprune.training.loop import load_data, make_model, seeded
    from paretoprune.training.pso import CooperativeSwarms, mlp_shape, shape_vector

    torch.set_num_threads(1)
    defaults = TrainSpec(method="pso")
    iterations = defaults.epochs * defaults.options.swarm_iterations
    rows = []
    for model, dataset in SCALING:
        spec = TrainSpec(method="pso", model=model, dataset=dataset, data_dir=str(mnist_dir()),
                         device="cpu")
        data = load_data(spec)
        with seeded(0, torch.device("cpu")):
            net = make_model(spec, data, torch.device("cpu"))
        shape = mlp_shape(net)
        options = spec.options
        x, y = data.x_train[:options.fitness_samples], data.y_train[:options.fitness_samples]
        swarms = CooperativeSwarms(shape, x, y, weight=0.2, particles=options.swarm_size,
                                   generator=torch.Generator().manual_seed(0),
                                   start=shape_vector(shape))
        swarms.iterate(2)  # both swarms started
        count = 2 if quick else 20
        began = time.process_time()
        swarms.iterate(count)
        per_iteration = (time.process_time() - began) / count
        floats = 6 * options.swarm_size * (shape.dim_a + shape.dim_b)  # positions, velocities, bests
        rows.append({"model": model, "dataset": dataset, "connections": shape.n_connections,
                     "cpu_s_per_iteration": per_iteration,
                     "default_run_cpu_min": per_iteration * iterations / 60,
                     "swarm_state_mb": 4 * floats / 2**20})
        log(f"scaling: {model} on {dataset}: {1000 * per_iteration:.0f} ms per iteration")
    changes = ({"epochs": 1, "swarm_iterations": 2, "max_train_samples": 500} if quick else {})
    spec = TrainSpec.from_flat(dict(method="pso", model="lenet-300-100", dataset="mnist",
                                    data_dir=str(mnist_dir()), device="cpu", seed=0, **changes))
    runs = {"pso": train_run(spec).metrics}
    log(f"scaling: pso lenet-300-100 on mnist-5k: test acc {pct(runs['pso']['test_acc'])}, "
        f"{runs['pso']['wall_time']:.0f} s")
    runs["weighted-sum dense (λ 0, no pruning)"] = train_run(dense_spec(spec)).metrics
    runs["weighted-sum λ 0.5"] = train_run(spec.as_method(BASE, weight=0.5)).metrics
    keep = ("test_acc", "val_acc", "density", "sparsity", "loss", "wall_time", "train_cpu_time",
            "epochs")
    return {"iterations_default": iterations, "per_iteration": rows,
            "mnist_runs": {k: {c: m.get(c) for c in keep} for k, m in runs.items()}}


# --- report -----------------------------------------------------------------------------------


def accuracy_table(part: dict, labels, levels, seeds, what: str) -> list[str]:
    a = part["analysis"]
    lines = [f"Test accuracy at {what} (mean ± sd over {len(seeds)} seeds, %) of the networks "
             "chosen on validation, interpolated in log nonzero weights (as `paretoprune "
             "compare`); (n): seeds whose chosen networks span the level:", "",
             "| method | " + " | ".join(f"{lv:.0%}" for lv in levels) + " | run time (s) |",
             "|---|" + "---|" * (len(levels) + 1)]
    for label in labels:
        cells = []
        for lv in levels:
            s = a["levels"][label][f"{lv:g}"]["test_acc"]
            cells.append(mean_sd_text(s) + (f" ({s['n']})" if s["n"] != len(seeds) else ""))
        lines.append(f"| {label} | " + " | ".join(cells)
                     + f" | {mean_sd_text(a['time'][label]['run_wall_s'], False, 0)} |")
    lines += ["", "Per seed (test accuracy at the level):", ""]
    lines += level_table(a["levels"], labels, seeds, levels)
    lines += ["", "Paired differences, method minus weighted sum (test accuracy, points):", "",
              "| method | level | per seed | mean | 95 % interval |", "|---|---|---|---|---|"]
    for label, per in a["paired"].items():
        for lv in levels:
            d = per[f"{lv:g}"]
            seeds_text = ", ".join(pp(v) for v in d["per_seed"].values()) or "—"
            interval = f"[{pp(d['lo'])}, {pp(d['hi'])}]" if d["lo"] is not None else "—"
            lines.append(f"| {label} | {lv:.0%} | {seeds_text} | {pp(d['mean'])} | {interval} |")
    lines += ["", "| method | runs collapsed | runs failed | sweep wall clock (s) |",
              "|---|---|---|---|"]
    for label in labels:
        t = a["time"][label]
        lines.append(f"| {label} | {t['collapsed']} | {t['failed']} | "
                     f"{mean_sd_text(t['sweep_wall_s'], False, 0)} |")
    lines += [""] + [f"- {v}" for v in verdicts(a, levels)] + [""]
    return lines


def markdown(rep: dict) -> str:
    quick = " -- QUICK smoke run" if rep["quick"] else ""
    lines = [f"# Relevance and PSO beside the weighted sum{quick}",
             "", f"Command: `{rep['command']}`  "
             + (f"\nAnalysis redone without training: `{rep['reanalysed']}`  "
                if rep.get("reanalysed") else ""), f"Machine: {rep['machine']}  ",
             f"Total time: {rep['total_s'] / 60:.1f} min", ""]
    if "digits" in rep:
        d = rep["digits"]
        lines += ["## Digits, mlp", "", f"Settings: {d['settings']}", ""]
        lines += accuracy_table(d, d["methods"], DIGITS_LEVELS, rep["seeds"], "sparsity")
    if "lenet" in rep:
        d = rep["lenet"]
        lines += ["## LeNet-5 on mnist-5k", "", f"Settings: {d['settings']}", ""]
        lines += accuracy_table(d, d["methods"], LENET_LEVELS, rep["seeds"],
                                "dense-layer sparsity")
    if "scaling" in rep:
        s = rep["scaling"]
        lines += ["## Where PSO stops scaling", "",
                  f"CPU time of one iteration of both swarms (10 particles, 512 samples, one "
                  f"thread) and of the default {s['iterations_default']} iterations:", "",
                  "| model | data | connections | ms / iteration | default run (CPU min) | "
                  "swarm state (MB) |", "|---|---|---|---|---|---|"]
        for r in s["per_iteration"]:
            lines.append(f"| {r['model']} | {r['dataset']} | {r['connections']:,} | "
                         f"{1000 * r['cpu_s_per_iteration']:.0f} | "
                         f"{r['default_run_cpu_min']:.1f} | {r['swarm_state_mb']:.0f} |")
        lines += ["", "lenet-300-100 on mnist-5k, seed 0 (pso with its defaults, λ = 0.2; the "
                  "gradient runs with the same epochs):", "",
                  "| run | test acc | density | train loss | wall (s) |", "|---|---|---|---|---|"]
        for name, m in s["mnist_runs"].items():
            lines.append(f"| {name} | {pct(m['test_acc'])} | {pct(m['density'])} | "
                         f"{m['loss']:.3f} | {m['wall_time']:.0f} |")
        lines += ["", f"- {s['verdict']}", ""]
    return "\n".join(lines) + "\n"


def scaling_verdict(s: dict) -> str:
    """What the measurements say about PSO's reach, from the numbers themselves."""
    rows = {(r["model"], r["dataset"]): r for r in s["per_iteration"]}
    small, big = rows[("mlp", "digits")], rows[("lenet-300-100", "mnist")]
    per_million = big["cpu_s_per_iteration"] / big["connections"] * 1e6 * s[
        "iterations_default"] / 60
    time_ratio = big["cpu_s_per_iteration"] / small["cpu_s_per_iteration"]
    size_ratio = big["connections"] / small["connections"]
    runs = s["mnist_runs"]
    pso = runs["pso"]
    dense = runs["weighted-sum dense (λ 0, no pruning)"]
    sparse = runs["weighted-sum λ 0.5"]
    text = (f"Cost: {1000 * big['cpu_s_per_iteration']:.0f} ms per iteration for "
            f"{big['connections']:,} connections (lenet-300-100 on MNIST), "
            f"{big['default_run_cpu_min']:.1f} CPU minutes for the default "
            f"{s['iterations_default']} iterations, {big['swarm_state_mb']:.0f} MB of swarm "
            f"state (from mlp on digits: {time_ratio:.1f}× the time per iteration for "
            f"{size_ratio:.1f}× the connections), so about {per_million:.1f} CPU minutes per "
            "million connections per default run. Conv nets are not supported at all. ")
    gap = (dense["test_acc"] or 0.0) - (pso["test_acc"] or 0.0)
    if gap > 0.05:
        text += (f"Search, not time, is the limit: in {big['connections']:,} dimensions the "
                 f"swarms reach {pct(pso['test_acc'])} test accuracy at {pct(pso['density'])} "
                 f"density, against {pct(dense['test_acc'])} for the dense gradient-trained "
                 f"network and {pct(sparse['test_acc'])} at {pct(sparse['density'])} density for "
                 f"a weighted-sum run (λ 0.5): PSO LOSES by {100 * gap:.2f} points to plain "
                 "training.")
    else:
        text += (f"At this size the swarms still reach {pct(pso['test_acc'])} test accuracy at "
                 f"{pct(pso['density'])} density, within {100 * gap:.2f} points of the dense "
                 f"gradient-trained network ({pct(dense['test_acc'])}).")
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--budget", type=int, default=8, help="training runs per method")
    parser.add_argument("--workers", type=int, default=2, help="processes of each sweep")
    parser.add_argument("--lenet-epochs", type=int, default=30)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: seed 0, 3 runs per method, 1-2 epochs")
    parser.add_argument("--fresh", action="store_true", help="start every sweep over")
    parser.add_argument("--reanalyse", action="store_true",
                        help="train nothing: rewrite the report from the runs in the committed "
                             "runs/benchmarks/relevance_pso.json with this version's analysis")
    args = parser.parse_args(argv)
    if args.reanalyse:
        report = json.loads((OUT_DIR / "relevance_pso.json").read_text())
        for name, levels in (("digits", DIGITS_LEVELS), ("lenet", LENET_LEVELS)):
            if report.get(name):
                part = report[name]
                part["analysis"] = analyse(part["results"], report["seeds"], part["methods"],
                                           levels)
        report["reanalysed"] = command_line("bench_relevance_pso", argv)
        write_report("relevance_pso", report, markdown(report))
        return 0
    if args.quick:
        args.seeds, args.budget, args.lenet_epochs = [0], 3, 1
    needs_mnist = {"lenet", "scaling"} & set(args.parts)
    if needs_mnist:
        require_mnist("bench_relevance_pso", "--parts digits")
    command = command_line("bench_relevance_pso", argv)
    cache = CACHE_DIR / ("relevance_pso-quick" if args.quick else "relevance_pso")
    if args.fresh:
        shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()

    def log(text: str) -> None:
        print(f"[{time.perf_counter() - started:.0f}s] {text}", flush=True)

    print(command, flush=True)
    report = {"command": command, "quick": args.quick, "seeds": args.seeds,
              "machine": machine(args.workers)}
    if "digits" in args.parts:
        labels = digits_methods()
        part = run_part("digits",
                        lambda s: {m: digits_method_spec(s, m, args.quick) for m in labels},
                        args.seeds, DIGITS_LEVELS, args.budget, args.workers, cache, log)
        runs = ("2 epochs, pso 10 iterations" if args.quick else
                "20 epochs; pso 20 rounds of 100 iterations, 10 particles, 512 fitness samples")
        report["digits"] = {**part, "methods": labels, "settings": (
            f"the CLI's defaults for each method ({runs}), "
            f"{args.budget} runs per method, {args.workers} worker processes, one thread per "
            f"run, seeds {args.seeds}; sparsity = share of the prunable (dense) weights zero")}
    if "lenet" in args.parts:
        labels = [BASE, "relevance"]
        part = run_part(
            "lenet", lambda s: {m: lenet_spec(s, args.lenet_epochs, method=m) for m in labels},
            args.seeds, LENET_LEVELS, args.budget, args.workers, cache, log)
        report["lenet"] = {**part, "methods": labels, "settings": (
            f"lenet5, mnist-5k (validation: half of the 10,000 test images, test the other "
            f"half), Adam lr 1e-3, batch 32, {args.lenet_epochs} epochs per run, each method's "
            f"default range and rule, {args.budget} runs per method, seeds {args.seeds}")}
    if "scaling" in args.parts:
        report["scaling"] = pso_scaling(args.quick, log)
        report["scaling"]["verdict"] = scaling_verdict(report["scaling"])
    report["total_s"] = time.perf_counter() - started
    write_report("relevance_pso-quick" if args.quick else "relevance_pso", report,
                 markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
