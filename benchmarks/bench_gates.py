"""Structure you can delete: --method gates against the weighted sum and GMP, in accuracy
against FLOPs and against measured CPU latency.

Run from the repository root::

    python -m benchmarks.bench_gates            # the full benchmark (see below for time)
    python -m benchmarks.bench_gates --quick    # a smoke run: 2 epochs, 1 seed, tiny

What it runs:

1. **LeNet-5 on mnist-5k** (``../shared/datasets/mnist-5k`` or
   ``$PARETOPRUNE_SHARED_DATASETS/mnist-5k``), seeds 0, 1, 2, Adam lr 1e-3, batch 32, the
   same ``--epochs`` (30) for every run of every method, CPU, one torch thread per process: one
   ``run_sweep`` per method and seed with ``--budget`` (8) trials and ``--max-drop 0.01`` (the
   planner spends the budget on the question "how small within one point of the dense
   network", on validation), each with its dense reference run. Methods: ``gates`` (with
   ``--flops-share`` 1, FLOPs only: the target is FLOPs and latency), ``weighted-sum`` and
   ``gmp`` (when ``paretoprune.methods.METHODS`` has it).
   For every method and seed: the front of test accuracy against FLOPs and against the latency
   column, and the network selected on validation -- the fewest FLOPs (for unstructured
   methods, whose FLOPs stay dense, the fewest nonzero multiply-adds) among the runs within one
   point of the dense reference's validation accuracy -- with its test accuracy drop, its FLOPs
   and parameter reduction and its CPU speed-up at batch 1 and 256, measured again here on the
   selected network against its dense architecture with a longer protocol (interleaved rounds
   for 2 s or 60 rounds, median ratio). Means ± sd over seeds, and paired differences (gates
   minus each other method, per seed) with 95 % t intervals.
   Target (gates, LeNet-5): >= 3x fewer FLOPs and a measured CPU speed-up >= 2x at batch 256
   within one point of the dense test accuracy; the script says met or missed, with figures.
2. **ResNet-20, a short run**: CIFAR-10 when torchvision's files are in ``--cifar-dir`` (a
   2,000-image training subset, 1,000 test images), else -- as on the machines this project is
   built on, which cannot download -- a synthetic CIFAR-shaped dataset (10 classes of oriented
   coloured gratings in noise, 3x32x32, 2,000 + 1,000 images; :func:`cifar_shaped`). One gates
   sweep of 4 trials over w in [0.9, 1) (:data:`RESNET_RANGE`) with ``--resnet-epochs`` (8)
   epochs each; the report says which data was
   used and gives each run's accuracy, FLOPs, parameters, residual blocks removed and speed-up
   (``--gate-lr 0.1``: in so few steps the default 0.02 could not close a gate).

Sweeps are kept in ``runs/benchmarks/.cache/gates/`` and resume: an interrupted benchmark
continues where it stopped (``--fresh`` starts over). Results: ``runs/benchmarks/gates.json``
and ``gates.md`` (``gates-quick.*`` with ``--quick``).

Time: about 27 LeNet-5 runs of 30 epochs (gates runs cost about twice a plain run: the
gates' sampling and expected cost each step) -- roughly 40 minutes on 2 idle cores with
``--jobs 2`` -- plus about 10 minutes of ResNet-20.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from benchmarks.common import (
    CACHE_DIR,
    SEEDS,
    command_line,
    interval_text,
    lenet_spec,
    machine,
    mean_sd_text,
    paired,
    require_mnist,
    summary,
    write_report,
)

SWEEPS = CACHE_DIR / "gates"
MAX_DROP = 0.01
TARGETS = {"flops_reduction": 3.0, "speedup_b256": 2.0, "test_drop_pp": 1.0}
LONG_LATENCY = {"budget_s": 2.0, "min_rounds": 10, "max_rounds": 60}
#: The complexity weights of the ResNet-20 sweep: on a network of 345 gates each structure is a
#: small share of the normalized cost, and the trade-offs sit close to w = 1.
RESNET_RANGE = (0.9, 1.0)


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------

def cifar_shaped(n_train: int = 2000, n_test: int = 1000, classes: int = 10, size: int = 32):
    """A synthetic CIFAR-shaped dataset (``--dataset benchmarks.bench_gates:cifar_shaped``): each class is a
    grating of its own orientation and frequency in a colour of its own, at a random phase and
    contrast, in Gaussian noise; learnable by a conv net, not by a pixel lookup."""
    import torch

    g = torch.Generator().manual_seed(1234)
    n = n_train + n_test
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    coords = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    angle = math.pi * y.float() / classes
    freq = 3.0 + 2.0 * (y % 3).float()
    phase = 2 * math.pi * torch.rand(n, generator=g)
    wave = torch.sin(freq[:, None, None] * math.pi * (
        torch.cos(angle)[:, None, None] * xx + torch.sin(angle)[:, None, None] * yy)
        + phase[:, None, None])
    colour = torch.rand(classes, 3, generator=g) * 0.8 + 0.2
    contrast = 0.5 + torch.rand(n, generator=g)
    x = wave[:, None] * colour[y][:, :, None, None] * contrast[:, None, None, None]
    x = x + 0.6 * torch.randn(n, 3, size, size, generator=g)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def cifar_available(folder: Path) -> bool:
    return (folder / "cifar-10-batches-py" / "data_batch_1").is_file()


# ----------------------------------------------------------------------------------------------
# sweeps (each in a worker process)
# ----------------------------------------------------------------------------------------------

def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def lenet_method_spec(method: str, seed: int, epochs: int, flops_share: float, **changes):
    """:func:`benchmarks.common.lenet_spec` for ``method``, validated on 10 % of the training
    images (``--flops-share`` for gates)."""
    extra = {"flops_share": flops_share} if method == "gates" else {}
    return lenet_spec(seed, epochs, val_split="train", method=method, **extra, **changes)


def sweep(name: str, spec, budget: int, max_drop: float | None,
          parameter_range: tuple[float, float] | None = None) -> dict:
    """Run (or resume) one sweep into ``SWEEPS/name``; its rows and folder."""
    from paretoprune.config import SweepConfig
    from paretoprune.sweep import run_sweep

    folder = SWEEPS / name
    started = time.perf_counter()
    config = SweepConfig(train=spec, budget=budget, max_drop=max_drop, executor="serial",
                         range=parameter_range)
    frame = run_sweep(folder, config)
    rows = json.loads(frame.to_json(orient="records"))
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {len(rows)} runs in "
          f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"name": name, "folder": str(folder), "rows": rows, "method": spec.method,
            "seed": spec.seed}


def job_lenet(method: str, seed: int, epochs: int, budget: int, flops_share: float,
              quick: bool) -> dict:
    changes = {"max_train_samples": 600, "max_test_samples": 1000} if quick else {}
    spec = lenet_method_spec(method, seed, epochs, flops_share, **changes)
    tag = "quick-" if quick else ""
    result = sweep(f"{tag}lenet5-{method}-s{seed}-e{epochs}-b{budget}", spec, budget, MAX_DROP)
    result["selected"] = select(result, long_latency=not quick)
    return result


def job_resnet(epochs: int, budget: int, cifar_dir: str | None, quick: bool) -> dict:
    from paretoprune.training import TrainSpec

    real = cifar_dir is not None and cifar_available(Path(cifar_dir))
    n_train, n_test = (256, 128) if quick else (2000, 1000)
    if real:
        data = dict(dataset="cifar10", data_dir=cifar_dir, max_train_samples=n_train,
                    max_test_samples=n_test)
        what = f"CIFAR-10 from {cifar_dir}: {n_train} training images, {n_test} test images"
    else:
        data = dict(dataset="benchmarks.bench_gates:cifar_shaped_quick" if quick
                    else "benchmarks.bench_gates:cifar_shaped")
        what = (f"synthetic CIFAR-shaped data (bench_gates.cifar_shaped: {n_train} + {n_test} "
                "images, 10 classes of coloured gratings in noise, 3x32x32); no CIFAR-10 here")
    spec = TrainSpec.from_flat(dict(
        method="gates", model="resnet20", epochs=epochs, batch_size=16 if quick else 64, lr=1e-3,
        optimizer="adam", device="cpu", seed=0, threads=1, flops_share=1.0,
        gate_lr=0.1, **data))  # a short schedule: the gates must move faster
    tag = "quick-" if quick else ""
    result = sweep(f"{tag}resnet20-{'cifar10' if real else 'synthetic'}-e{epochs}-b{budget}",
                   spec, budget, None, RESNET_RANGE)
    result["data"] = what
    result["real_cifar"] = real
    result["measured"] = {str(r["run"]): measure(result, r, long=not quick)
                          for r in result["rows"] if r.get("status") == "ok"}
    return result


def cifar_shaped_quick():
    """The quick variant of :func:`cifar_shaped` (``--quick``)."""
    return cifar_shaped(256, 128)


# ----------------------------------------------------------------------------------------------
# selection and measurement
# ----------------------------------------------------------------------------------------------

def measure(result: dict, row: dict, *, long: bool) -> dict:
    """Speed-up of one run's deployed network (shrunk for gates) against its dense
    architecture, measured here with the longer protocol."""
    from paretoprune.methods import get_method
    from paretoprune.store import SweepStore
    from paretoprune.training import model_from_checkpoint
    from paretoprune.training.cost import latency_ratio, same_architecture
    from paretoprune.training.shrink import shrink_model

    checkpoint = SweepStore.open(result["folder"]).load_checkpoint(int(row["run"]))
    state = checkpoint["state"]
    model = model_from_checkpoint(checkpoint, trust_imports=True).eval()
    shape = tuple(state["input_shape"])
    method = (checkpoint.get("spec") or {}).get("method", "weighted-sum")
    deployed = shrink_model(model, shape) if get_method(method).structured else model
    out = {}
    for batch in (1, 256):
        if deployed is model or same_architecture(model, deployed):
            out[f"speedup_b{batch}"] = 1.0
            continue
        protocol = LONG_LATENCY if long else {}
        ratio, rounds = latency_ratio(model, deployed, shape, batch, **protocol)
        out[f"speedup_b{batch}"], out[f"rounds_b{batch}"] = 1.0 / ratio, rounds
    return out


def select(result: dict, *, long_latency: bool) -> dict | None:
    """The fewest-FLOPs run within MAX_DROP of the dense validation accuracy (nonzero FLOPs for
    an unstructured method), with its figures against the dense reference."""
    import pandas as pd

    from paretoprune.methods import get_method
    from paretoprune.selection import select_within

    frame = pd.DataFrame(result["rows"])
    structured = get_method(result["method"]).structured
    found = select_within(frame, MAX_DROP, "val_acc",
                          sparsity="flops" if structured else "flops_nonzero")
    dense = frame[frame["role"] == "dense"].iloc[0]
    if found.empty:
        return None
    row = found.iloc[0].to_dict()
    measured = measure(result, row, long=long_latency)
    return {
        "run": int(row["run"]), "parameter": row.get(get_method(result["method"]).parameter),
        "val_drop_pp": 100 * (dense["val_acc"] - row["val_acc"]),
        "test_drop_pp": 100 * (dense["test_acc"] - row["test_acc"]),
        "dense_test_acc": float(dense["test_acc"]), "test_acc": float(row["test_acc"]),
        "flops": int(row["flops"]), "dense_flops": int(dense["flops"]),
        "flops_reduction": dense["flops"] / row["flops"],
        "nonzero_flops_reduction": dense["flops"] / max(row["flops_nonzero"], 1),
        "params_reduction": dense["params"] / row["params"],
        "size_reduction": dense["size_bytes"] / row["size_bytes"],
        "run_latency_b1": float(row["latency_b1"]), "run_latency_b256": float(row["latency_b256"]),
        **measured,
    }


def front(rows: list[dict], x: str) -> list[dict]:
    """The usable trial rows on the front of (test accuracy up, ``x`` down), by ``x``."""
    import numpy as np

    from paretoprune.pareto import pareto_mask

    usable = [r for r in rows if r.get("role") == "trial" and r.get("status") == "ok"
              and not r.get("collapsed")]
    if not usable:
        return []
    points = np.array([[-r["test_acc"], r[x]] for r in usable], dtype=float)
    keep = pareto_mask(points)
    chosen = sorted((r for r, k in zip(usable, keep, strict=True) if k), key=lambda r: r[x])
    return [{k: r.get(k) for k in ("run", "test_acc", "val_acc", "flops", "flops_nonzero",
                                   "params", "latency_b1", "latency_b256", "complexity")}
            for r in chosen]


# ----------------------------------------------------------------------------------------------
# statistics and report
# ----------------------------------------------------------------------------------------------

FIGURES = ("flops_reduction", "speedup_b256", "speedup_b1", "test_drop_pp", "params_reduction",
           "nonzero_flops_reduction")


def analyse(results: list[dict], seeds: list[int], methods: list[str]) -> dict:
    by = {(r["method"], r["seed"]): r for r in results}
    means, pairs, per_seed = {}, {}, {}
    for method in methods:
        chosen = [by[(method, s)].get("selected") for s in seeds]
        per_seed[method] = {str(s): c for s, c in zip(seeds, chosen, strict=True)}
        means[method] = {f: summary([c[f] for c in chosen if c]) for f in FIGURES}
        means[method]["dense_test_acc"] = summary([c["dense_test_acc"] for c in chosen if c])
    for other in methods:
        if other == "gates":
            continue
        pairs[other] = {}
        for f in FIGURES:
            figure = {m: {s: c[f] for s, c in per_seed[m].items() if c} for m in ("gates", other)}
            pairs[other][f] = paired(figure["gates"], figure[other])
    fronts = {m: {str(s): {"flops": front(by[(m, s)]["rows"], "flops"),
                           "latency_b256": front(by[(m, s)]["rows"], "latency_b256"),
                           "flops_nonzero": front(by[(m, s)]["rows"], "flops_nonzero")}
                  for s in seeds} for m in methods}
    gates = [c for c in per_seed["gates"].values()]
    verdict = {}
    for seed, c in per_seed["gates"].items():
        verdict[seed] = None if c is None else {
            "flops_reduction": c["flops_reduction"] >= TARGETS["flops_reduction"],
            "speedup_b256": c["speedup_b256"] >= TARGETS["speedup_b256"],
            "test_drop_pp": c["test_drop_pp"] <= TARGETS["test_drop_pp"]}
    gate_means = means["gates"]
    verdict["mean"] = {
        "flops_reduction": (gate_means["flops_reduction"]["mean"] or 0) >= TARGETS["flops_reduction"],
        "speedup_b256": (gate_means["speedup_b256"]["mean"] or 0) >= TARGETS["speedup_b256"],
        "test_drop_pp": (gate_means["test_drop_pp"]["mean"] if gate_means["test_drop_pp"]["mean"]
                         is not None else math.inf) <= TARGETS["test_drop_pp"],
    } if all(gates) else None
    return {"summary": means, "paired": pairs, "per_seed": per_seed, "fronts": fronts,
            "verdict": verdict}


def _ms(d: dict, digits: int = 2) -> str:
    return mean_sd_text(d, percent=False, digits=digits)


def markdown(rep: dict) -> str:
    a = rep["lenet"]
    lines = ["# Structure you can delete: gates against the weighted sum and GMP", "",
             f"Command: `{rep['command']}`  ", f"Machine: {rep['machine']}  ",
             f"Settings: {rep['settings']}  ", f"Total time: {rep['total_s'] / 60:.1f} min", "",
             "## LeNet-5 on mnist-5k: the network selected within one point (validation)", "",
             "Per method, the fewest-FLOPs run (nonzero FLOPs for the unstructured methods) "
             "whose validation accuracy is within 1 point of the dense reference; its test drop, "
             "and its speed-up measured again on the selected network against the dense "
             "architecture (2 s or 60 interleaved rounds, median). Mean ± sd over seeds "
             f"{rep['seeds']}.", "",
             "| method | FLOPs reduction | speed-up b256 | speed-up b1 | test drop (pp) | params "
             "reduction | nonzero-FLOPs reduction | dense test acc |",
             "|---|---|---|---|---|---|---|---|"]
    for method, s in a["summary"].items():
        lines.append(f"| {method} | {_ms(s['flops_reduction'])}x | {_ms(s['speedup_b256'])}x | "
                     f"{_ms(s['speedup_b1'])}x | {_ms(s['test_drop_pp'])} | "
                     f"{_ms(s['params_reduction'])}x | {_ms(s['nonzero_flops_reduction'])}x | "
                     f"{mean_sd_text(s['dense_test_acc'])} % |")
    lines += ["", "Unstructured methods keep the dense architecture: their FLOPs, latency and "
              "parameter count are those of the dense network (1x by construction); the nonzero-"
              "FLOPs column is what a sparse kernel could skip.", "",
              "Paired differences, gates minus each method (mean over seeds, 95 % t interval):",
              "", "| against | FLOPs reduction | speed-up b256 | speed-up b1 | test drop (pp) |",
              "|---|---|---|---|---|"]
    for other, p in a["paired"].items():
        lines.append(f"| {other} | {interval_text(p['flops_reduction'])} | {interval_text(p['speedup_b256'])} | "
                     f"{interval_text(p['speedup_b1'])} | {interval_text(p['test_drop_pp'])} |")
    lines += ["", "Per seed (gates):", ""]
    for seed, c in a["per_seed"]["gates"].items():
        if c is None:
            lines.append(f"- seed {seed}: no run within one point")
            continue
        lines.append(
            f"- seed {seed}: run {c['run']} (w = {c['parameter']:.4g}): test acc "
            f"{100 * c['test_acc']:.2f} % (dense {100 * c['dense_test_acc']:.2f} %, drop "
            f"{c['test_drop_pp']:.2f} pp, validation drop {c['val_drop_pp']:.2f} pp), FLOPs "
            f"{c['flops']:,} of {c['dense_flops']:,} ({c['flops_reduction']:.2f}x), params "
            f"{c['params_reduction']:.2f}x, speed-up {c['speedup_b256']:.2f}x at batch 256 and "
            f"{c['speedup_b1']:.2f}x at batch 1 (the run's own columns: "
            f"{1 / c['run_latency_b256']:.2f}x, {1 / c['run_latency_b1']:.2f}x)")
    lines += ["", f"Target (gates): >= {TARGETS['flops_reduction']:g}x fewer FLOPs and a "
              f"measured CPU speed-up >= {TARGETS['speedup_b256']:g}x at batch 256 within "
              f"{TARGETS['test_drop_pp']:g} point of the dense test accuracy.", ""]
    for seed, v in a["verdict"].items():
        if v is None:
            lines.append(f"- {seed}: **MISSED** (no gates run within one point)")
            continue
        parts = [f"{name} {'met' if ok else 'MISSED'}" for name, ok in v.items()]
        overall = "met" if all(v.values()) else "MISSED"
        lines.append(f"- {'seeds, mean' if seed == 'mean' else 'seed ' + seed}: **{overall}** "
                     f"({', '.join(parts)})")
    lines += ["", "### Fronts (test accuracy against FLOPs; seed "
              f"{rep['seeds'][0]})", ""]
    for method, per in a["fronts"].items():
        points = per[str(rep["seeds"][0])]["flops" if method == "gates" else "flops_nonzero"]
        what = "FLOPs" if method == "gates" else "nonzero FLOPs"
        cells = ", ".join(f"{p['flops' if method == 'gates' else 'flops_nonzero']:,} -> "
                          f"{100 * p['test_acc']:.2f} % (b256 {p['latency_b256']:.2f})"
                          for p in points)
        lines.append(f"- {method} ({what} -> test acc, latency ratio): {cells or '-'}")
    r = rep.get("resnet")
    if r:
        lines += ["", "## ResNet-20, a short run", "", f"Data: {r['data']}.  ",
                  f"Settings: {r['settings']}", "",
                  "| run | role | w | test acc | FLOPs | params | blocks removed | speed-up b256 | "
                  "speed-up b1 |", "|---|---|---|---|---|---|---|---|---|"]
        for row in r["rows"]:
            if row.get("status") != "ok":
                lines.append(f"| {row['run']} | {row.get('role')} | - | failed: {row.get('error')} "
                             "| | | | | |")
                continue
            m = r["measured"].get(str(row["run"]), {})
            w = row.get("complexity_weight")
            lines.append(
                f"| {row['run']} | {row['role']} | {'-' if w is None else f'{w:.3g}'} | "
                f"{100 * row['test_acc']:.2f} % | {row['flops']:,} | {row['params']:,} | "
                f"{'-' if row.get('blocks_removed') is None else int(row['blocks_removed'])} | "
                f"{m.get('speedup_b256', float('nan')):.2f}x | {m.get('speedup_b1', float('nan')):.2f}x |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--flops-share", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    parser.add_argument("--resnet-epochs", type=int, default=8)
    parser.add_argument("--resnet-budget", type=int, default=4)
    parser.add_argument("--no-resnet", action="store_true")
    parser.add_argument("--cifar-dir", default=None,
                        help="folder with torchvision's cifar-10-batches-py [default: paretoprune's "
                             "data folder]")
    parser.add_argument("--quick", action="store_true", help="2 epochs, seed 0, tiny: a smoke run")
    parser.add_argument("--fresh", action="store_true", help="delete the kept sweeps first")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.seeds, args.budget = 2, [0], 3
        args.resnet_epochs, args.resnet_budget = 2, 2
    require_mnist("bench_gates")
    from paretoprune.methods import METHODS
    from paretoprune.training import default_data_dir

    methods = [m for m in ("gates", "weighted-sum", "gmp") if m in METHODS]
    cifar_dir = args.cifar_dir or str(default_data_dir())
    if args.fresh and SWEEPS.exists():
        shutil.rmtree(SWEEPS)
    started = time.perf_counter()
    results, resnet = [], None
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("spawn"),
                             initializer=_worker_init) as pool:
        futures = []
        if not args.no_resnet:  # the longest job first
            futures.append(pool.submit(job_resnet, args.resnet_epochs, args.resnet_budget,
                                       cifar_dir, args.quick))
        futures += [pool.submit(job_lenet, m, s, args.epochs, args.budget, args.flops_share,
                                args.quick) for s in args.seeds for m in methods]
        for f in as_completed(futures):
            out = f.result()
            if out["name"].startswith(("resnet", "quick-resnet")):
                resnet = out
            else:
                results.append(out)
    if resnet is not None:
        resnet["settings"] = (f"gates, flops-share 1, gate lr 0.1, Adam lr 1e-3, batch "
                              f"{16 if args.quick else 64}, "
                              f"{args.resnet_epochs} epochs per run, {args.resnet_budget} trials "
                              f"over w in {list(RESNET_RANGE)} and the dense reference, CPU, "
                              "one thread")
    report = {
        "command": command_line("bench_gates", argv),
        "machine": machine(args.jobs),
        "settings": f"lenet5, mnist-5k{' (600 training images)' if args.quick else ''}, Adam lr "
                    f"1e-3, batch 32, {args.epochs} epochs per run for every method, "
                    f"{args.budget} trials per sweep with --max-drop {MAX_DROP}, gates "
                    f"--flops-share {args.flops_share:g}, methods {methods}",
        "seeds": args.seeds, "methods": methods, "targets": TARGETS,
        "lenet": analyse(results, args.seeds, methods),
        "sweeps": {r["name"]: r["folder"] for r in results},
        "resnet": resnet, "total_s": time.perf_counter() - started,
    }
    write_report("gates-quick" if args.quick else "gates", report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
