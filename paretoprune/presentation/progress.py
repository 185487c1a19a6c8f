"""Progress of a sweep, on standard error.

* On a terminal: a rich live display with the run count, each running run's epoch and the
  hypervolume of the front so far.
* In CI, in a pipe or with ``--quiet``: one plain line per finished run (``--log-format json``:
  one JSON object per line), nothing else, so logs stay short and parseable.

The hypervolume is that of the usable runs (ok, not collapsed) in the sweep's normalization,
which is fixed once the collapse edge is bracketed (shown as ``-`` until then), with the
reference point (1.1, 1.1): its largest possible value is 1.21, so values above 1 are normal.
"""

from __future__ import annotations

import math
import sys
import threading
import time

from paretoprune.fileio import dumps
from paretoprune.methods import METHODS
from paretoprune.rows import DENSE, TRIAL

#: The parameter columns of every method (a row's label names the first it has).
PARAMETERS = tuple(dict.fromkeys(m.parameter for m in METHODS.values() if m.parameter))

LINE_FIELDS = ("loss", "l1", "sparsity", "val_acc", "test_acc")


def _fmt(value) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4g}"
    return str(value)


class SweepReporter:
    """Receives the sweep's events (see :func:`paretoprune.sweep.run_sweep`) and shows them."""

    def __init__(self, *, live: bool | None = None, log_format: str = "plain", stream=None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.log_format = log_format
        self.budget = 0
        self.parameter: str | None = None  # the column of the method's parameter
        self.finished_trials = 0
        self.hypervolume = math.nan
        self.running: dict[int, tuple[str, dict]] = {}
        self._started = time.monotonic()
        self._live = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # --- events -----------------------------------------------------------------------------
    def start(self, config, rows) -> None:
        self.budget = config.budget
        self.parameter = config.method.parameter
        self.finished_trials = sum(r.get("role", TRIAL) == TRIAL and r.get("status") == "ok"
                                   for r in rows)
        if rows:
            self._line(f"resuming: {len(rows)} finished run(s) kept")
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.stream),
                              refresh_per_second=4, transient=True)
            self._live.start()
            threading.Thread(target=self._refresh_loop, daemon=True).start()

    def epoch(self, job: int, label: str, record: dict) -> None:
        with self._lock:
            self.running[job] = (label, dict(record))

    def finished(self, row: dict, hypervolume: float, job: int | None = None) -> None:
        with self._lock:
            if row.get("role", TRIAL) == TRIAL:
                self.finished_trials += 1
            self.hypervolume = hypervolume
            self.running.pop(job, None)
        if self.log_format == "json" and not self.live:
            record = {k: v for k, v in row.items() if not str(k).startswith("_")}
            record["hypervolume"] = hypervolume
            self._line(dumps(record))
        else:
            self._line(self._summary(row))

    def end(self, frame, summary: dict) -> None:
        self.close()
        if self.log_format == "json":
            return
        parts = [f"stopped: {summary.get('stop_reason') or 'done'}",
                 f"{summary.get('trials', 0)} trial runs"]
        if summary.get("collapsed"):
            parts.append(f"{summary['collapsed']} collapsed")
        if summary.get("failed"):
            parts.append(f"{summary['failed']} failed")
        self._line("; ".join(parts))

    def close(self) -> None:
        self._stop.set()
        if self._live is not None:
            self._live.stop()
            self._live = None

    # --- rendering --------------------------------------------------------------------------
    def _label(self, row: dict) -> str:
        role = row.get("role", TRIAL)
        if role == DENSE:
            return "dense reference"
        params = [k for k in (self.parameter, *PARAMETERS) if k and k in row]
        value = row.get(params[0]) if params else math.nan
        return f"{params[0] if params else 'param'} {_fmt(value)}"

    def _summary(self, row: dict) -> str:
        role = row.get("role", TRIAL)
        head = f"run {row.get('run')} {role}"
        if role == TRIAL:
            head += f" [{self.finished_trials}/{self.budget}]"
        head += f" {self._label(row)}" if role != "dense" else ""
        if row.get("status") != "ok":
            return f"{head}  FAILED: {row.get('error')}"
        parts = [f"{k} {_fmt(row[k])}" for k in LINE_FIELDS if k in row]
        if row.get("collapsed"):
            parts.append("collapsed")
        return f"{head}  " + "  ".join(parts) + f"  hv {_fmt(self.hypervolume)}"

    def _render(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        elapsed = time.monotonic() - self._started
        table.add_row(f"[bold]sweep[/] {self.finished_trials}/{self.budget} trial runs",
                      f"hypervolume {_fmt(self.hypervolume)} (of at most 1.21)",
                      f"{elapsed:.0f}s")
        with self._lock:
            running = sorted(self.running.values(), key=lambda item: item[0])
        for label, record in running:
            epoch, total = record.get("epoch", "?"), record.get("epochs", "?")
            table.add_row(f"  {label}", f"epoch {epoch}/{total}",
                          f"loss {_fmt(record.get('loss', math.nan))}")
        return table

    def _refresh_loop(self) -> None:
        while not self._stop.wait(0.5):
            live = self._live
            if live is not None:
                live.update(self._render())

    def _line(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text, markup=False, highlight=False)
            return
        self.stream.write(text + "\n")
        self.stream.flush()
