"""The sweep's progress lines on standard error."""

from __future__ import annotations

import io
import math

from paretoprune.config import SweepConfig
from paretoprune.presentation.progress import SweepReporter


def test_plain_lines_explain_the_hypervolume_and_the_resume():
    stream = io.StringIO()
    reporter = SweepReporter(live=False, stream=stream)
    reporter.start(SweepConfig(budget=4), [{"run": 0, "role": "dense", "status": "ok"},
                                           {"run": 1, "role": "trial", "status": "ok"}])
    reporter.finished({"run": 2, "role": "trial", "weight": 0.5, "status": "ok", "loss": 0.2,
                       "l1": 0.4, "collapsed": False}, math.nan, 0)
    reporter.finished({"run": 3, "role": "trial", "weight": 0.9, "status": "ok", "loss": 2.3,
                       "l1": 0.0, "collapsed": True}, 1.08, 1)
    reporter.finished({"run": 4, "role": "trial", "weight": 0.7, "status": "failed",
                       "error": "training diverged"}, 1.08, 2)
    reporter.end(None, {"stop_reason": "budget reached", "trials": 4, "collapsed": 1,
                        "failed": 1})
    lines = stream.getvalue().splitlines()
    assert lines[0] == "resuming: 2 finished run(s) kept"
    assert lines[1].startswith("run 2 trial [2/4] weight 0.5") and lines[1].endswith("hv -")
    assert "collapsed" in lines[2] and lines[2].endswith("hv 1.08")
    assert "FAILED: training diverged" in lines[3]
    assert lines[4] == "stopped: budget reached; 4 trial runs; 1 collapsed; 1 failed"


def test_json_lines_are_valid_json_without_nan():
    import json

    stream = io.StringIO()
    reporter = SweepReporter(live=False, log_format="json", stream=stream)
    reporter.start(SweepConfig(budget=2), [])
    reporter.finished({"run": 0, "role": "dense", "status": "ok", "loss": math.nan}, math.nan, 0)
    record = json.loads(stream.getvalue().splitlines()[0])
    assert record["loss"] is None and record["hypervolume"] is None


def test_the_live_display_shows_running_runs_and_the_hypervolume_bound():
    stream = io.StringIO()
    reporter = SweepReporter(live=False, stream=stream)
    reporter.budget = 8
    reporter.epoch(3, "weight 0.25", {"epoch": 4, "epochs": 20, "loss": 0.3})
    from rich.console import Console

    console = Console(file=io.StringIO(), width=120)
    console.print(reporter._render())
    text = console.file.getvalue()
    assert "weight 0.25" in text and "epoch 4/20" in text and "of at most 1.21" in text
