"""The certification benchmark: is the network a sweep hands over within D of dense, judged as it ships?

Run from the repository root (a script, not a test)::

    nice -n 10 python -m benchmarks.bench_certified                 # 5 seeds of each setting
    python -m benchmarks.bench_certified --seeds 0 --settings digits  # one quick setting

Four settings, confidence C = 0.95 (the default), seeds 0-4:

* **lenet5**, D = 1 point: LeNet-5 on mnist-5k (../shared/datasets/mnist-5k), Adam 1e-3, batch
  32, CPU, one torch thread per run, two worker processes; validation is a seeded half of the 10k
  test set (``--val-split test``), the other half tests. ``--epochs`` 30, ``--trial-epochs`` 10,
  ``--budget`` 10; the selected trial trains on to 30 epochs with its masks fixed
  (``--retrain warm``, the default).
* **lenet5-cold**, the same with ``--retrain cold``: the selected λ trained again from scratch
  for ``--epochs`` (the behaviour before warm finals), for comparison;
* **digits**, D = 1 point: ``paretoprune sweep OUT --max-drop 0.01 --seed S``, every other
  setting at its default;
* **digits-quickstart**, D = 2 points: ``paretoprune sweep OUT --max-drop 0.02 --seed S``, the
  quick start as the README runs it.

Per setting, over its seeds, through the real tool (``run_sweep``; each sweep directory is kept
in runs/benchmarks/.cache/certified/, so a second invocation resumes and only re-reads):

1. seeds with an answer -- with ``--max-drop`` a sweep hands over only a certified network and
   otherwise says that nothing is certified -- and answers certified on validation (target:
   all, by construction);
2. answers whose **test** drop exceeds D (target: at most 1 of 10), with the mean and maximum
   test drop; and the test drop of the selected chain's most finished network, answer or not;
3. the sparsity the certification costs against the point rule (``--confidence 0``: the
   sparsest trial whose validation drop is at most D -- the selection of paretoprune before
   this release, read from the same sweep's rows), in points of dense-layer sparsity and as a
   ratio of nonzero weights;
4. the shift between the drop of the chosen trial and that of the network retrained from it
   (validation and test);
5. training epochs spent to the certified answer, in units of one dense training (target <= 6,
   aim <= 4): the epochs of every run of the sweep, dense references included, over the
   epochs of the full-length dense reference.

And ``compare`` on the committed reference sweep runs/mnist5k-lenet5 before (the envelope of
test accuracy, read linearly in sparsity: the rule of paretoprune at main a68f98f) and after
(the networks chosen on validation, their test accuracy read in log nonzero weights).

Results: runs/benchmarks/certified.json and certified.md.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import (
    CACHE_DIR,
    OUT_DIR,
    command_line,
    digits_spec,
    lenet_spec,
    log,
    machine,
    mean_sd_text,
    number,
    pct,
    require_mnist,
    summary,
    write_report,
)

SWEEPS = CACHE_DIR / "certified"
REFERENCE_SWEEP = OUT_DIR.parent / "mnist5k-lenet5"
CONFIDENCE = 0.95
#: The settings and their D: D = 1 point for both, and the digits quick start as
#: the README runs it (D = 2 points: 471 validation images cannot certify one point).
SETTINGS = {"lenet5": 0.01, "lenet5-cold": 0.01, "digits": 0.01, "digits-quickstart": 0.02}
TARGETS = {"certified_share": 1.0, "test_exceed_per_10": 1, "epochs_dense_units": 6.0,
           "epochs_dense_units_aim": 4.0}
LEVELS = (0.9, 0.95, 0.98, 0.99)


def sweep_config(setting: str, seed: int, args):
    """The :class:`SweepConfig` of one setting and seed."""
    from paretoprune.config import SweepConfig

    common = {"max_drop": SETTINGS[setting]}
    if args.confidence is not None:
        common["confidence"] = args.confidence
    if setting.startswith("lenet5"):  # lenet5-cold: the chosen λ retrained from scratch
        return SweepConfig(train=lenet_spec(seed, args.epochs), budget=args.budget,
                           trial_epochs=args.trial_epochs, workers=args.workers,
                           retrain="cold" if setting == "lenet5-cold" else "warm", **common)
    return SweepConfig(train=digits_spec(seed), workers=1, **common)  # the quick start


def run_one(setting: str, seed: int, args):
    from paretoprune.sweep import run_sweep

    folder = SWEEPS / f"{setting}-s{seed}"
    started = time.perf_counter()
    frame = run_sweep(folder, sweep_config(setting, seed, args))
    return frame, time.perf_counter() - started


# ----------------------------------------------------------------------------------- reading


def answer_chain_and_point_rule(frame, max_drop: float):
    """What one sweep hands over, read through the tool: its answer (``attrs["answer"]``, a
    certified network, or None when the sweep says nothing is certified), the most finished
    network of its selected chain (:func:`paretoprune.selection.shipped_row`: what would ship,
    certified or not) and the trial that chain comes from, and the trial the point rule would
    choose (``--confidence 0``: the sparsest trial whose validation drop against the dense
    reference trained as long is at most D -- the selection before this release, read on the same
    rows; its retrain is what that rule shipped)."""
    from paretoprune.rows import TRIAL
    from paretoprune.selection import select_within, shipped_row

    answer = frame.attrs.get("answer")
    rows = frame.set_index("run", drop=False)
    shipped = rows.loc[int(answer["run"])] if answer else None
    candidate = shipped_row(frame)
    trial = candidate
    while trial is not None and str(trial.get("role")) != TRIAL:
        parent = number(trial.get("parent"))  # finetuned -> final -> trial
        trial = rows.loc[int(parent)] if math.isfinite(parent) else None
    point = select_within(frame, max_drop, confidence=0.0, roles=(TRIAL,), shippable=False)
    return shipped, candidate, trial, (None if point.empty else point.iloc[0])


def dense_epochs(frame) -> float:
    from paretoprune.rows import DENSE, ok_rows

    dense = frame[frame["role"].astype(str).eq(DENSE) & ok_rows(frame)]
    return float(pd.to_numeric(dense["epochs"], errors="coerce").max()) if len(dense) \
        else math.nan


ROW_FIELDS = ("run", "role", "nnz", "sparsity_dense", "val_acc", "test_acc", "drop",
              "drop_upper", "test_drop", "test_drop_upper", "certified", "epochs")


def measure(frame, wall_s: float, max_drop: float) -> dict:
    """Everything one sweep contributes (see the module docstring)."""
    from paretoprune.rows import flag

    shipped, candidate, trial, point = answer_chain_and_point_rule(frame, max_drop)
    spent = float(pd.to_numeric(frame["epochs"], errors="coerce").fillna(0).sum())
    out = {"max_drop": max_drop, "runs": len(frame), "wall_s": wall_s, "epochs_spent": spent,
           "dense_epochs": dense_epochs(frame),
           "roles": frame["role"].astype(str).value_counts().to_dict(),
           "rule": frame.attrs.get("rule")}
    out["epochs_dense_units"] = spent / out["dense_epochs"]
    out["shipped"] = None if shipped is None else {k: _plain(shipped.get(k)) for k in ROW_FIELDS}
    out["candidate"] = None if candidate is None else {k: _plain(candidate.get(k))
                                                       for k in ROW_FIELDS}
    if shipped is not None:
        out["certified"] = flag(shipped.get("certified"))
        out["test_drop"] = number(shipped.get("test_drop"))
    if trial is not None and candidate is not None:
        out["chosen_trial"] = {k: _plain(trial.get(k)) for k in ROW_FIELDS}
        out["shift_val"] = number(candidate.get("drop")) - number(trial.get("drop"))
        out["shift_test"] = number(candidate.get("test_drop")) - number(trial.get("test_drop"))
    if point is not None:
        out["point_rule"] = {k: _plain(point.get(k)) for k in ROW_FIELDS}
        if shipped is not None:
            out["sparsity_cost_pt"] = 100 * (number(point.get("sparsity_dense"))
                                             - number(shipped.get("sparsity_dense")))
            out["nnz_ratio"] = number(shipped.get("nnz")) / max(number(point.get("nnz")), 1.0)
    return out


def _plain(value):
    """A cell as JSON takes it (numpy scalars to Python, NaN to None)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def stats(values) -> dict:
    """:func:`benchmarks.common.summary` of the finite ``values`` with their maximum."""
    out = summary(v for v in values if v is not None)
    out["max"] = max(out["values"]) if out["values"] else None
    return out


def summarize(per_seed: dict) -> dict:
    rows = list(per_seed.values())
    shipped = [r for r in rows if r.get("shipped")]
    return {
        "seeds": len(rows),
        "shipped": len(shipped),
        "certified": sum(bool(r.get("certified")) for r in shipped),
        "candidates_certified": sum(bool((r.get("candidate") or {}).get("certified"))
                                    for r in rows),
        "candidate_test_drop": stats((r.get("candidate") or {}).get("test_drop") for r in rows),
        "max_drop": rows[0]["max_drop"] if rows else None,
        "test_drop_exceeds_D": sum(r["test_drop"] > r["max_drop"] + 1e-12 for r in shipped
                                   if r.get("test_drop") is not None
                                   and math.isfinite(r["test_drop"])),
        "test_drop": stats(r.get("test_drop") for r in shipped),
        "sparsity_cost_pt": stats(r.get("sparsity_cost_pt") for r in rows),
        "nnz_ratio": stats(r.get("nnz_ratio") for r in rows),
        "shift_val": stats(r.get("shift_val") for r in rows),
        "shift_test": stats(r.get("shift_test") for r in rows),
        "epochs_dense_units": stats(r.get("epochs_dense_units") for r in rows),
        "wall_s": stats(r.get("wall_s") for r in rows),
    }


# --------------------------------------------------------------------------- compare before/after


def envelope_at(frame, levels, metric="test_acc", sparsity="sparsity_dense"):
    """The rule ``compare`` used before this release (paretoprune at main a68f98f), kept here as
    the baseline: the upper envelope of ``metric`` over the usable rows, read linearly in
    sparsity, the nearest end's value outside its range."""
    from paretoprune.table_analysis import front_rows

    front = front_rows(frame, sparsity, metric, sense=("max", "max"))
    s = front[sparsity].to_numpy(dtype=float)[::-1]
    a = front[metric].to_numpy(dtype=float)[::-1]
    return np.interp(np.asarray(levels, dtype=float), s, a)


def compare_reference() -> dict:
    from paretoprune.table_analysis import accuracy_at, compare_tables, level_column
    from paretoprune.table_loading import load_table

    frame = load_table(str(REFERENCE_SWEEP))
    before = envelope_at(frame, LEVELS)
    # the envelope of test read in log nnz too: separates the choice (validation against
    # test) from the change of interpolation
    envelope_log = accuracy_at(frame, LEVELS, select="test_acc")["value"].to_numpy()
    after = compare_tables({"reference": frame}, LEVELS).iloc[0]
    out = {}
    for level, old, log_env in zip(LEVELS, before, envelope_log, strict=True):
        new = float(after[level_column("test_acc", level)])
        out[f"{level:g}"] = {"before_test_envelope": float(old),
                             "test_envelope_log_nnz": float(log_env),
                             "after_validation_chosen": new,
                             "after_minus_before_pt": 100 * (new - float(old)),
                             "choice_effect_pt": 100 * (new - float(log_env))}
    return {"levels": out, "chosen_networks": int(after["chosen"]),
            "usable_rows": int(after["usable"]),
            "command_after": "paretoprune compare runs/mnist5k-lenet5"}


# ------------------------------------------------------------------------------------- report


def points(x, digits: int = 2) -> str:
    """A share in points: ``0.0123`` -> ``"1.23"``; "—" when missing."""
    x = number(x)
    return "—" if not math.isfinite(x) else f"{100 * x:.{digits}f}"


def fmt(x, digits: int = 2, unit: str = "") -> str:
    x = number(x)
    return "—" if not math.isfinite(x) else f"{x:.{digits}f}{unit}"


def markdown(report: dict) -> str:
    lines = ["# A certified answer, judged as it ships", "",
             f"Command: `{report['command']}`; {report['total_s']:.0f} s in all; "
             f"{report['machine']}.", "",
             f"D = 1 point for lenet5 and digits, 2 points for the digits quick "
             f"start as the README runs it; C = {report['confidence']}; drops and shifts in "
             "points (dense minus network). LeNet-5: " + ", ".join(
                 f"{k} {v}" for k, v in report["lenet5"].items()) + ".", ""]
    if report.get("notes"):
        lines += [f"**Note.** {n}" for n in report["notes"]] + [""]
    lines += ["| measure | target | " + " | ".join(report["settings"]) + " |",
              "|---|---|" + "---|" * len(report["settings"])]
    s = {name: report["summary"][name] for name in report["settings"]}

    def row(label, target, cell):
        lines.append(f"| {label} | {target} | " + " | ".join(cell(s[n]) for n in s) + " |")

    row("seeds with a certified answer (the sweep hands one over)", "all",
        lambda x: f"{x['shipped']} of {x['seeds']}")
    row("answers certified on validation", "all (by construction)",
        lambda x: f"{x['certified']} of {x['shipped']}")
    row("D (points)", "—", lambda x: points(x["max_drop"], 0))
    row("shipped networks whose test drop > D", "at most 1 of 10",
        lambda x: f"{x['test_drop_exceeds_D']} of {x['shipped']}")
    row("test drop of the shipped network, mean (max)", "—",
        lambda x: f"{points(x['test_drop']['mean'])} ({points(x['test_drop']['max'])})")
    row("sparsity the certification costs against the point rule: points of dense-layer "
        "sparsity, mean ± sd", "—",
        lambda x: mean_sd_text(x["sparsity_cost_pt"], percent=False))
    row("nonzero weights, certified / point rule, mean ± sd", "—",
        lambda x: mean_sd_text(x["nnz_ratio"], percent=False))
    row("test drop of the selected chain's network (answer or not), mean (max)", "—",
        lambda x: f"{points(x['candidate_test_drop']['mean'])} "
                  f"({points(x['candidate_test_drop']['max'])})")
    row("shift: the selected network's drop minus its trial's, validation, mean ± sd",
        "no systematic shift", lambda x: mean_sd_text(x["shift_val"]))
    row("the same on test, mean ± sd", "no systematic shift",
        lambda x: mean_sd_text(x["shift_test"]))
    row("training epochs to the answer, in dense trainings, mean (max)", "≤ 6 (aim ≤ 4)",
        lambda x: f"{fmt(x['epochs_dense_units']['mean'])} "
                  f"({fmt(x['epochs_dense_units']['max'])})")
    row("wall time per sweep, mean", "—", lambda x: fmt(x["wall_s"]["mean"], 0, " s"))
    lines += ["", "Per seed: the shipped run (role), its nonzero weights, validation drop (its "
              "bound), test drop (its bound), certified (the rule); the point rule's trial; "
              "epochs in dense trainings.", ""]
    for name in report["settings"]:
        for seed, r in report["per_seed"][name].items():
            sh = r.get("shipped")
            point = r.get("point_rule") or {}
            tail = (f"point rule: run {point.get('run', '—')}, nnz {point.get('nnz', '—')}; "
                    f"{fmt(r['epochs_dense_units'])} dense trainings")
            head = f"- {name} seed {seed}: "
            if not sh:
                c = r.get("candidate")
                head += f"no certified answer ({r.get('rule')})"
                if c:
                    head += (f"; the selected chain's run {c['run']} ({c['role']}), nnz "
                             f"{c['nnz']}, drop {points(c['drop'])} (≤ "
                             f"{points(c['drop_upper'])}), test {points(c['test_drop'])}")
                lines.append(f"{head}; {tail}")
                continue
            lines.append(
                f"{head}run {sh['run']} ({sh['role']}), nnz {sh['nnz']}, "
                f"drop {points(sh['drop'])} (≤ {points(sh['drop_upper'])}), test "
                f"{points(sh['test_drop'])} (≤ {points(sh['test_drop_upper'])}), certified "
                f"{sh['certified']} ({r.get('rule')}); {tail}")
    c = report["compare_reference"]
    lines += ["", "`compare` on the reference sweep runs/mnist5k-lenet5, test accuracy:", "",
              "| sparsity | before: envelope of test, linear in sparsity | envelope of test, "
              "log nnz | after: chosen on validation, log nnz | after − before (points) | of "
              "it, the choice (points) |", "|---|---|---|---|---|---|"]
    for level, v in c["levels"].items():
        lines.append(f"| {float(level):.0%} | {pct(v['before_test_envelope'])} | "
                     f"{pct(v['test_envelope_log_nnz'])} | {pct(v['after_validation_chosen'])} "
                     f"| {v['after_minus_before_pt']:+.2f} | {v['choice_effect_pt']:+.2f} |")
    lines += ["", f"After: `{c['command_after']}` ({c['chosen_networks']} networks on the "
              f"validation front of {c['usable_rows']} usable runs). Before: the same command "
              "at main a68f98f."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS),
                        default=list(SETTINGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--lenet-seeds", type=int, nargs="+", default=None,
                        help="LeNet-5 seeds when they differ from --seeds (a shorter run)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--trial-epochs", type=int, default=10)
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--confidence", type=float, default=None,
                        help="--confidence of the sweeps [default: the tool's, 0.95]")
    parser.add_argument("--note", action="append", default=[],
                        help="a line for the report (a cut, a deviation)")
    parser.add_argument("--out", type=Path, default=None, help="[default: runs/benchmarks]")
    parser.add_argument("--fresh", action="store_true",
                        help="delete the kept sweep directories of the chosen settings first")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if any(s.startswith("lenet5") for s in args.settings):
        require_mnist("bench_certified", "run --settings digits")
    if args.fresh:
        for setting in args.settings:
            for folder in SWEEPS.glob(f"{setting}-s*"):
                shutil.rmtree(folder)
    per_seed = {}
    for setting in args.settings:
        seeds = args.lenet_seeds if setting.startswith("lenet5") and args.lenet_seeds \
            else args.seeds
        per_seed[setting] = {}
        for seed in seeds:
            frame, wall = run_one(setting, seed, args)
            per_seed[setting][str(seed)] = result = measure(frame, wall, SETTINGS[setting])
            shipped = result.get("shipped") or {}
            log(f"{setting} seed {seed}: {wall:.0f} s, answer run {shipped.get('run')}, test "
                f"drop {points(shipped.get('test_drop'))}, "
                f"{result['epochs_dense_units']:.2f} dense trainings")
    report = {
        "command": command_line("bench_certified", argv), "machine": machine(args.workers),
        "max_drop": {s: SETTINGS[s] for s in args.settings},
        "confidence": args.confidence if args.confidence is not None else CONFIDENCE,
        "targets": TARGETS, "settings": args.settings,
        "lenet5": {"epochs": args.epochs, "trial_epochs": args.trial_epochs,
                   "budget": args.budget, "workers": args.workers},
        "per_seed": per_seed,
        "summary": {s: summarize(per_seed[s]) for s in args.settings},
        "compare_reference": compare_reference(),
        "notes": args.note,
        "total_s": time.perf_counter() - started,
    }
    write_report("certified", report, markdown(report), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
