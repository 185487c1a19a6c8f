"""Parallel speed-up of a sweep: ``--workers 2`` against one worker, on the same machine, in one
script.

Run from the repository root::

    python -m benchmarks.bench_parallel           # about 5 minutes on 2 cores
    python -m benchmarks.bench_parallel --quick   # a smoke run

Two settings, each swept serially and with two worker processes, alternating, ``--repeats``
times (the machine is shared: the ratio of the medians is the figure):

* LeNet-5 on mnist-5k, 10 epochs, 6 runs, one torch thread per run, no dense reference (6
  training runs: the setting the target was set for);
* the digits quick start (``paretoprune sweep OUT`` defaults: mlp on digits, 20 epochs, 8 runs
  and the dense reference).

Each sweep is ``paretoprune sweep`` in a fresh process into a temporary directory, as a user
runs it (imports, worker start-up, store, checkpoints and logs included). With ``--workers 2``
one slot is the driver process itself, the other a worker process. Results:
runs/benchmarks/parallel.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import OUT_DIR, ROOT, command_line, mnist_dir

TARGETS = {"lenet5": 1.7, "digits": 1.0}


def settings(name: str, quick: bool) -> list[str]:
    """The options of ``paretoprune sweep`` for the setting ``name``."""
    if name == "lenet5":
        return ["--model", "lenet5", "--dataset", "mnist", "--data-dir", str(mnist_dir()),
                "--epochs", "1" if quick else "10", "--budget", "3" if quick else "6",
                "--no-dense", "--device", "cpu", "--threads", "1"]
    return ["--device", "cpu"] + (["--epochs", "2", "--budget", "3"] if quick else [])


def timed_sweep(options: list[str], workers: int) -> tuple[float, int]:
    """The wall time of ``paretoprune sweep`` in a fresh process, as a user runs it (imports,
    worker start-up, store and all), and the number of runs it made."""
    folder = Path(tempfile.mkdtemp(prefix="pp-parallel-"))
    try:
        command = [sys.executable, "-m", "paretoprune", "sweep", str(folder / "s"), *options,
                   "--workers", str(workers), "--quiet", "--format", "json"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        rows = sum(1 for line in (folder / "s" / "journal.jsonl").read_text().splitlines() if line)
        return seconds, rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny settings, one repeat")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    command = command_line("bench_parallel", argv)
    results = {}
    for name in ("lenet5", "digits"):
        options = settings(name, args.quick)
        times = {1: [], 2: []}
        for _ in range(repeats):
            for workers in (1, 2):
                seconds, rows = timed_sweep(options, workers)
                times[workers].append(seconds)
                print(f"{name}: workers {workers}: {seconds:.1f} s ({rows} runs)", flush=True)
        serial, parallel = statistics.median(times[1]), statistics.median(times[2])
        results[name] = {"serial_s": times[1], "parallel_s": times[2], "rows": rows,
                         "speedup": serial / parallel, "target": TARGETS[name],
                         "met": serial / parallel >= TARGETS[name]}
    record = {"command": command, "cpus": os.cpu_count(), "python": platform.python_version(),
              "repeats": repeats, "results": results}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "parallel.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = ["# Parallel speed-up of a sweep", "", f"Command: `{command}`  ",
             f"Machine: {os.cpu_count()} CPU cores, one torch thread per run; medians of "
             f"{repeats} alternating repeats", "",
             "| sweep | 1 worker (s) | 2 workers (s) | speed-up | target | |", "|---|---|---|---|---|---|"]
    labels = {"lenet5": "LeNet-5 / mnist-5k, 10 epochs, 6 runs, no dense reference",
              "digits": "digits quick start (defaults: 8 runs + the dense reference)"}
    for name, r in results.items():
        lines.append(f"| {labels[name]} | {statistics.median(r['serial_s']):.1f} | "
                     f"{statistics.median(r['parallel_s']):.1f} | **{r['speedup']:.2f}×** | "
                     f"≥ {r['target']:g}× | {'met' if r['met'] else 'missed'} |")
    (OUT_DIR / "parallel.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
