"""Benchmark: ``paretoprune plot`` on tables of 10^6 runs (HTML size and time).

Run from the repository root::

    python -m benchmarks.bench_plot [--rows 1000000] [--repeats 3]

Writes ``runs/benchmarks/plot.json`` and prints the figures. Targets, for 10^6 rows: an HTML
under 20 MB, written in under 10 s. Cases:

* ``sweep``: a sweep-like CSV (``tests/_tables.py:big_sweep_frame``), default view (decision
  and objectives), the end-to-end command timed as a subprocess (interpreter start, imports,
  reading the CSV included), plus an in-process breakdown of the stages;
* ``sweep --max-drop``: the same with ``--max-drop 0.01`` (the selection recomputed);
* ``foreign``: a two-column CSV (loss, l1) of uniform random points, objective view;
* ``all nondominated``: 10^6 points all on the front (the worst case: the front itself is not
  sampled).

Nothing here asserts a time: a benchmark reports, the tests check behaviour.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import OUT_DIR
from tests._tables import big_sweep_frame  # the random sweep-like table the plot tests use

OUT = OUT_DIR / "plot.json"


def timed_command(args: list[str], repeats: int) -> dict:
    """Run ``python -m paretoprune ARGS`` ``repeats`` times; the wall times and the last
    output file's size."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "paretoprune", *args], capture_output=True,
                              text=True, check=False)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"paretoprune {' '.join(args)} failed:\n{done.stderr}")
    html = Path(args[args.index("-o") + 1])
    return {"command": "paretoprune " + " ".join(args), "best_s": min(times), "all_s": times,
            "html_mb": html.stat().st_size / 1e6}


def stages(path: Path, out: Path) -> dict:
    """The in-process time of each stage of the default plot of ``path``."""
    from paretoprune.presentation.plot import plot_data, plot_figure, write_html
    from paretoprune.tables import load_table

    marks = {}
    start = time.perf_counter()
    frame = load_table(path)
    marks["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    data = plot_data({"big": frame})
    marks["data_s"] = time.perf_counter() - start
    start = time.perf_counter()
    fig = plot_figure(data)
    marks["figure_s"] = time.perf_counter() - start
    start = time.perf_counter()
    write_html(fig, out)
    marks["write_s"] = time.perf_counter() - start
    marks["drawn_points"] = int(sum(len(t.x) for t in fig.data))
    return marks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    n = opts.rows
    result = {"benchmark": "paretoprune plot on large tables", "rows": n,
              "targets": {"html_mb_below": 20, "seconds_below": 10}}
    with tempfile.TemporaryDirectory(prefix="bench-plot-") as tmp:
        tmp = Path(tmp)
        sweep = tmp / "sweep.csv"
        big_sweep_frame(n).to_csv(sweep, index=False)
        rng = np.random.default_rng(1)
        foreign = tmp / "foreign.csv"
        pd.DataFrame(rng.random((n, 2)), columns=["loss", "l1"]).to_csv(foreign, index=False)
        line = tmp / "line.csv"
        t = rng.permutation(n) / (n - 1)
        pd.DataFrame({"loss": t, "l1": 1.0 - t}).to_csv(line, index=False)
        html = str(tmp / "front.html")
        result["sweep"] = timed_command(["plot", str(sweep), "-o", html], opts.repeats)
        result["sweep"]["stages"] = stages(sweep, tmp / "stages.html")
        result["sweep_max_drop"] = timed_command(
            ["plot", str(sweep), "-o", html, "--max-drop", "0.01"], 1)
        result["foreign"] = timed_command(["plot", str(foreign), "-o", html], opts.repeats)
        result["all_nondominated"] = timed_command(["plot", str(line), "-o", html], 1)
    import plotly

    result.update({
        "python": sys.version.split()[0], "pandas": pd.__version__, "plotly": plotly.__version__,
        "platform": platform.platform(), "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    for case in ("sweep", "sweep_max_drop", "foreign", "all_nondominated"):
        r = result[case]
        print(f"{case:>16}: {r['best_s']:.2f} s, {r['html_mb']:.1f} MB  ({r['command']})")
    s = result["sweep"]["stages"]
    print(f"{'sweep stages':>16}: load {s['load_s']:.2f} s, data {s['data_s']:.2f} s, figure "
          f"{s['figure_s']:.2f} s, write {s['write_s']:.2f} s, {s['drawn_points']:,} points drawn")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
