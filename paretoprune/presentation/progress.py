"""Progress of a sweep, on standard error.

* On a terminal: a rich live display with the run count, each running run's epoch and the
  current hypervolume.
* In CI, in a pipe or with ``--quiet``: one plain line per finished run (``--log-format json``:
  one JSON object per line), nothing else, so logs stay short and parseable.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time

LINE_FIELDS = ("loss", "l1", "sparsity", "test_acc")


def _fmt(value) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


class SweepReporter:
    """Receives the sweep's events (see :func:`paretoprune.sweep.run_sweep`) and shows them."""

    def __init__(self, *, live: bool | None = None, log_format: str = "plain", stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.log_format = log_format
        self.progress_dir = None  # set by run_sweep when process workers report through files
        self.budget = 0
        self.finished_runs = 0
        self.hypervolume = math.nan
        self.running: dict[float, dict] = {}
        self._started = time.monotonic()
        self._live = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    # --- events -----------------------------------------------------------------------------
    def start(self, config, done_rows) -> None:
        self.budget = config.budget
        self.finished_runs = len(done_rows)
        if self.finished_runs and not self.live:
            self._line(f"resuming: {self.finished_runs} finished run(s) kept")
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.stream),
                              refresh_per_second=4, transient=True)
            self._live.start()
            self._thread = threading.Thread(target=self._refresh_loop, daemon=True)
            self._thread.start()

    def epoch(self, weight: float, record: dict) -> None:
        with self._lock:
            self.running[weight] = dict(record)

    def finished(self, row: dict, hypervolume: float) -> None:
        with self._lock:
            self.finished_runs += 1
            self.hypervolume = hypervolume
            self.running.pop(row.get("weight"), None)
        if self.live:
            self._live.console.print(self._summary(row))
        elif self.log_format == "json":
            record = {k: v for k, v in row.items() if not str(k).startswith("_")}
            record["hypervolume"] = hypervolume
            self._line(json.dumps(_nulls(record), default=str))
        else:
            self._line(self._summary(row))

    def end(self, frame) -> None:
        self.close()
        reason = frame.attrs.get("stop_reason")
        if reason and self.log_format != "json":
            self._line(f"stopped: {reason}")

    def close(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- rendering --------------------------------------------------------------------------
    def _summary(self, row: dict) -> str:
        head = f"run {row.get('run')} [{self.finished_runs}/{self.budget}] weight {_fmt(row.get('weight'))}"
        if row.get("status") != "ok":
            return f"{head}  FAILED: {row.get('error')}"
        parts = [f"{k} {_fmt(row[k])}" for k in LINE_FIELDS if k in row]
        return f"{head}  " + "  ".join(parts) + f"  hv {_fmt(self.hypervolume)}"

    def _render(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self._started
        table.add_row(f"[bold]sweep[/] {self.finished_runs}/{self.budget} runs",
                      f"hypervolume {_fmt(self.hypervolume)}", f"{elapsed:.0f}s")
        with self._lock:
            running = dict(self.running)
        if self.progress_dir:
            from paretoprune.sweep import read_progress

            running.update({r["weight"]: r for r in read_progress(self.progress_dir)})
        for weight, record in sorted(running.items()):
            epoch, total = record.get("epoch", "?"), record.get("epochs", "?")
            table.add_row(f"  weight {_fmt(weight)}", f"epoch {epoch}/{total}",
                          f"loss {_fmt(record.get('loss', math.nan))}")
        return table

    def _refresh_loop(self) -> None:
        while not self._stop.wait(0.5):
            live = self._live
            if live is not None:
                live.update(self._render())

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def _nulls(record: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()}
