"""Ctrl-C campaign: SIGINT to the process group of a two-worker sweep at random moments.

Each trial starts ``paretoprune sweep OUT --workers 2 --budget 6 --epochs 5`` (bundled digits
data, default model) in its own process group, sends one SIGINT to the whole group at a random
moment between its start and the typical end of an uninterrupted sweep (imports, worker start,
training, writing, shutdown), and records the exit code, whether any process printed a traceback
or ``terminate called``, and whether ``paretoprune sweep OUT --resume`` then finishes the sweep
with every run once. Writes ``runs/benchmarks/ctrl_c.json`` and ``ctrl_c.md``.

    nice -n 10 python -m benchmarks.ctrl_c_campaign --trials 30

A script, not a test: it takes minutes. The moments are random (seeded), the counts are what
happened.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SWEEP = ["sweep", "{out}", "--workers", "2", "--budget", "6", "--epochs", "5"]
PATIENCE_S = 600  # a hung sweep is a finding, not a reason to wait forever


def command(out: Path, *args: str) -> list[str]:
    exe = shutil.which("paretoprune")
    base = [exe] if exe else [sys.executable, "-m", "paretoprune"]
    return base + [a.format(out=out) for a in args]


def run(args: list[str], *, interrupt_after: float | None = None) -> dict:
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process
    try:
        out, err = proc.communicate(timeout=PATIENCE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return {"rc": "hung", "stderr": err.decode(errors="replace"), "s": PATIENCE_S}
    return {"rc": proc.returncode, "stdout": out.decode(errors="replace"),
            "stderr": err.decode(errors="replace"), "s": time.monotonic() - start}


def journal_runs(out: Path) -> list[int]:
    path = out / "journal.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["run"] for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    opts = parser.parse_args()
    # a shell that starts this in the background ignores SIGINT, and the sweeps would inherit it
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rng = random.Random(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="ctrl-c-"))
    full = run(command(work / "full", *SWEEP))  # how long an uninterrupted sweep takes here
    assert full["rc"] == 0, full["stderr"]
    span = full["s"]
    trials = []
    for trial in range(opts.trials):
        out = work / f"t{trial:02d}"
        moment = rng.uniform(0.0, span)
        cut = run(command(out, *SWEEP), interrupt_after=moment)
        lines = [x for x in cut["stderr"].splitlines() if x.strip()]
        resumed = run(command(out, "sweep", "{out}", "--resume")) if (
            out / "sweep.json").exists() else None
        runs = journal_runs(out)
        record = {
            "trial": trial, "sigint_at_s": round(moment, 3), "rc": cut["rc"],
            "traceback": "Traceback" in cut["stderr"],
            "terminate_called": "terminate called" in cut["stderr"],
            "last_line": lines[-1] if lines else "",
            "created_sweep": resumed is not None,
            "resume_rc": None if resumed is None else resumed["rc"],
            "resume_traceback": None if resumed is None else "Traceback" in resumed["stderr"],
            "runs_after_resume": len(runs), "duplicate_runs": len(runs) - len(set(runs)),
        }
        if record["traceback"] or record["terminate_called"] or record["rc"] not in (0, 130):
            record["stderr_tail"] = cut["stderr"][-2000:]
        if resumed is not None and resumed["rc"] != 0:
            record["resume_stderr_tail"] = resumed["stderr"][-2000:]
        trials.append(record)
        print(json.dumps({k: v for k, v in record.items() if not k.endswith("tail")}),
              flush=True)
    shutil.rmtree(work, ignore_errors=True)
    codes = collections.Counter(str(t["rc"]) for t in trials)
    resumes = collections.Counter(str(t["resume_rc"]) for t in trials if t["created_sweep"])
    summary = {
        "command": "paretoprune " + " ".join(SWEEP).replace("{out}", "OUT"),
        "uninterrupted_s": round(span, 2), "trials": len(trials), "exit_codes": dict(codes),
        "tracebacks": sum(t["traceback"] for t in trials),
        "terminate_called": sum(t["terminate_called"] for t in trials),
        "one_line_interrupted": sum(t["last_line"] == "paretoprune: interrupted"
                                    for t in trials if t["rc"] == 130),
        "resume_exit_codes": dict(resumes),
        "resume_tracebacks": sum(bool(t["resume_traceback"]) for t in trials),
        "duplicate_runs": sum(t["duplicate_runs"] for t in trials),
        "cpu_count": os.cpu_count(),
    }
    opts.out.mkdir(parents=True, exist_ok=True)
    (opts.out / "ctrl_c.json").write_text(json.dumps({"summary": summary, "trials": trials},
                                                     indent=2) + "\n")
    md = [f"# Ctrl-C campaign: {summary['trials']} SIGINTs to the process group", "",
          f"`{summary['command']}` (uninterrupted: {span:.1f} s on {os.cpu_count()} cores); "
          "one SIGINT to the whole group at a uniformly random moment in [0, that time]; then "
          "`paretoprune sweep OUT --resume`.", "",
          "| measure | count |", "|---|---|"]
    md += [f"| exit code {code} | {n} |" for code, n in sorted(codes.items())]
    md += [f"| exit 130 with the one line `paretoprune: interrupted` last | "
           f"{summary['one_line_interrupted']} |",
           f"| any traceback | {summary['tracebacks']} |",
           f"| `terminate called` | {summary['terminate_called']} |",
           f"| directories created | {sum(t['created_sweep'] for t in trials)} |"]
    md += [f"| resume exit code {code} | {n} |" for code, n in sorted(resumes.items())]
    md += [f"| resume tracebacks | {summary['resume_tracebacks']} |",
           f"| duplicated runs after resume | {summary['duplicate_runs']} |", ""]
    (opts.out / "ctrl_c.md").write_text("\n".join(md))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
