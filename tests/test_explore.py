"""The adaptive weight loop on analytic problems (no training, no torch)."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paretoprune.errors import InputError
from paretoprune.exploration import explore
from paretoprune.pareto import Normalization, hypervolume, pareto_mask

# ---------------------------------------------------------------------------------------------
# analytic problems: each returns the exact minimizer of (1 - w) * loss + w * l1
# ---------------------------------------------------------------------------------------------


def squares(w):
    """loss = t^2, l1 = (1 - t)^2: the minimizer is t = w. Front l1 = (1 - sqrt(loss))^2."""
    return {"loss": w**2, "l1": (1 - w) ** 2, "t": w}


# Exact hypervolume of the continuous front with reference (1.1, 1.1) (the front spans the unit
# square): 1.21 - integral_0^1 (1 - sqrt(u))^2 du = 1.21 - 1/6.
SQUARES_HV = 1.21 - 1 / 6


def uneven(w):
    """loss = t^8, l1 = 1 - t: very uneven curvature. Minimizer t = (w / (8 (1 - w)))^(1/7),
    clipped at 1 for w >= 8/9 (so a grid wastes every weight above 8/9 on one point)."""
    t = 1.0 if w >= 8 / 9 else (w / (8 * (1 - w))) ** (1 / 7)
    return {"loss": t**8, "l1": 1 - t}


# 1.21 - integral_0^1 (1 - u^(1/8)) du = 1.21 - 1/9
UNEVEN_HV = 1.21 - 1 / 9


def concave(w):
    """loss = t, l1 = 1 - t^2: a concave front; a weighted sum only ever returns an end."""
    t = 0.0 if w <= 0.5 else 1.0
    return {"loss": t, "l1": 1 - t * t}


def scaled(w):
    """squares in other units: the normal rule must use these raw scales."""
    t = w * 100 / (1 + w * 99)  # minimizer of (1 - w) * t^2 + w * 100 * (1 - t)^2
    return {"loss": t**2, "l1": 100 * (1 - t) ** 2}


def noisy(seed):
    rng_cache = {}

    def evaluate(w):
        if w not in rng_cache:
            rng_cache[w] = np.random.default_rng([seed, int(w * 1e12)]).normal(scale=0.02, size=2)
        e = rng_cache[w]
        base = squares(w)
        return {"loss": base["loss"] + e[0], "l1": base["l1"] + e[1]}

    return evaluate


def weights_of(df):
    return df["weight"].tolist()


def assert_distinct(ws):
    ws = sorted(ws)
    assert all(b - a > 1e-9 for a, b in zip(ws[:-1], ws[1:], strict=True)), ws


# ---------------------------------------------------------------------------------------------
# table and attrs
# ---------------------------------------------------------------------------------------------


def test_table_columns_and_attrs():
    df = explore(squares, budget=6)
    assert list(df.columns) == [
        "run",
        "weight",
        "loss",
        "l1",
        "t",
        "status",
        "error",
        "gap_lo",
        "gap_hi",
        "pareto",
    ]
    assert df["run"].tolist() == list(range(6))
    # ends first, then the normal rule (here the midpoint of t) on the largest gaps
    assert weights_of(df)[:3] == [0.0, 1.0, 0.5]
    gaps = list(zip(df["gap_lo"], df["gap_hi"], strict=True))[:4]
    assert np.isnan(gaps[0]).all() and np.isnan(gaps[1]).all()
    assert gaps[2:] == [(0.0, 1.0), (0.0, 0.5)]
    assert (df["status"] == "ok").all() and (df["error"] == "").all()
    assert df["pareto"].all()
    assert df.attrs["stop_reason"] == "budget reached" and df.attrs["stop"] == "budget"
    assert df.attrs["normalization"] == {"ideal": (0.0, 0.0), "nadir": (1.0, 1.0)}
    assert df.attrs["reference"] == (1.1, 1.1)
    assert df.attrs["reference_raw"] == pytest.approx((1.1, 1.1))
    pts = df[["loss", "l1"]].to_numpy()
    assert df.attrs["hypervolume"] == pytest.approx(hypervolume(pts, (1.1, 1.1)))


def test_normalization_frozen_from_the_ends_in_raw_units():
    df = explore(scaled, budget=5, x="loss", y="l1")
    assert df.attrs["normalization"] == {"ideal": (0.0, 0.0), "nadir": (1.0, 100.0)}
    assert df.attrs["reference_raw"] == pytest.approx((1.1, 110.0))


def test_custom_column_names_and_private_keys():
    seen = []

    def evaluate(w):
        return {"err": w, "size": 1 - w, "acc": 0.9, "_state": {"w": w}}

    df = explore(
        evaluate, budget=3, x="err", y="size", on_result=lambda row, raw: seen.append((row, raw))
    )
    assert list(df.columns) == [
        "run",
        "weight",
        "err",
        "size",
        "acc",
        "status",
        "error",
        "gap_lo",
        "gap_hi",
        "pareto",
    ]
    assert "_state" not in df.columns
    assert [raw["_state"]["w"] for _, raw in seen] == weights_of(df)
    assert [row["run"] for row, _ in seen] == [0, 1, 2]
    assert "pareto" not in seen[0][0]


# ---------------------------------------------------------------------------------------------
# quality on analytic fronts
# ---------------------------------------------------------------------------------------------


def prefix_hypervolumes(df):
    norm = Normalization(*df.attrs["normalization"].values())
    pts = norm.apply(df[["loss", "l1"]].to_numpy())
    return [hypervolume(pts[:k], (1.1, 1.1), strict=False) for k in range(2, len(df) + 1)]


@pytest.mark.parametrize(("problem", "exact"), [(squares, SQUARES_HV), (uneven, UNEVEN_HV)])
def test_hypervolume_approaches_the_continuous_front(problem, exact):
    df = explore(problem, budget=40)
    hvs = prefix_hypervolumes(df)
    assert all(b >= a - 1e-15 for a, b in zip(hvs[:-1], hvs[1:], strict=True))  # never decreases
    assert hvs[-1] <= exact + 1e-12  # a finite subset of the front cannot beat it
    assert exact - hvs[-1] < 0.01
    assert exact - explore(problem, budget=12).attrs["hypervolume"] < 0.04


def test_runs_until_tolerance_on_a_smooth_front():
    df = explore(squares, budget=1000, tol=1e-2, min_gap=1e-3)
    assert df.attrs["stop"] == "tolerance", df.attrs["stop_reason"]
    assert df.attrs["stop_reason"] == "largest gap below tolerance"
    assert 10 < len(df) < 100
    assert SQUARES_HV - df.attrs["hypervolume"] < 0.02


@pytest.mark.parametrize("budget", [6, 8, 12, 20])
def test_normal_beats_grid_on_uneven_curvature(budget):
    normal = explore(uneven, budget=budget, rule="normal").attrs["hypervolume"]
    grid = explore(uneven, budget=budget, rule="grid").attrs["hypervolume"]
    assert normal > grid


@pytest.mark.parametrize("budget", [3, 5, 9])
def test_normal_ties_grid_on_the_symmetric_front_at_dyadic_budgets(budget):
    # On loss = t^2, l1 = (1 - t)^2 the normal weight of two points is the mean of their
    # weights, so at budgets 2^k + 1 both rules evaluate the same even grid. (At other budgets
    # the uniform grid is slightly better there: bisection fills one level unevenly.)
    normal = explore(squares, budget=budget, rule="normal")
    grid = explore(squares, budget=budget, rule="grid")
    assert sorted(weights_of(normal)) == pytest.approx(sorted(weights_of(grid)))
    assert normal.attrs["hypervolume"] == pytest.approx(grid.attrs["hypervolume"], rel=1e-12)


def test_normal_rule_uses_the_raw_scale():
    # Normalized the ends are (0, 1) and (1, 0), whose normalized normal weight would be 0.5;
    # on the raw scale (l1 x100) it is 1/101.
    df = explore(scaled, budget=3)
    assert df["weight"].iloc[2] == pytest.approx(1 / 101)


def test_concave_front_stops_and_says_so():
    df = explore(concave, budget=20)
    assert len(df) == 6  # the ends, the normal weight, then _RETRIES_PER_GAP = 3 bisections
    assert df.attrs["stop"] == "nonconvex"
    assert "non-convex" in df.attrs["stop_reason"]
    assert "weights 0 and 1" in df.attrs["stop_reason"]
    assert "try --method epsilon" in df.attrs["stop_reason"]


def test_sharp_corner_front_stops_early():
    corners = [(0.0, 1.0), (0.1, 0.1), (1.0, 0.0)]

    def polyline(w):
        values = [(1 - w) * a + w * b for a, b in corners]
        a, b = corners[int(np.argmin(values))]
        return {"loss": a, "l1": b}

    df = explore(polyline, budget=20)
    # two ends, the corner, then in each straight stretch a miss and 3 bisection retries
    assert len(df) == 11
    assert df.attrs["stop"] == "nonconvex"


def collapse(w):
    """A front with a cliff, as real pruning runs have. Below weight 0.9 the exact weighted-sum
    solution of f1 = 0.1 + 0.4 t^2, f2 = 1 - 0.9 t (it reaches the corner (0.5, 0.1) at
    w = 8/17); between 0.9 and 0.94 training collapses through intermediate points; from 0.94
    on it returns all zeros, the end point. The normal weight of the gap next to the end lands
    past the cliff (about 0.947), so only retries inside the gap's weights find it."""
    if w >= 0.94:
        return {"loss": 2.3, "l1": 0.0}
    if w >= 0.9:
        s = (w - 0.9) / 0.04  # 0 -> 1 across the cliff
        return {"loss": 0.5 + 1.5 * s, "l1": 0.1 * (1 - s) ** 2}
    t = 1.0 if w >= 1 else min(1.0, 0.9 * w / (0.8 * (1 - w)))
    return {"loss": 0.1 + 0.4 * t**2, "l1": 1.0 - 0.9 * t}


def test_a_miss_is_retried_by_bisection_so_cliffs_are_found():
    df = explore(collapse, budget=12)
    on_cliff = df[(df["weight"] > 0.9) & (df["weight"] < 0.94) & (df["status"] == "ok")]
    assert len(on_cliff) >= 1  # the retry found the collapse region
    assert df["weight"].is_unique


def test_midpoint_never_claims_non_convexity():
    # the midpoint's miss proves nothing (its weight is not the farthest point's weight)
    df = explore(uneven, budget=200, rule="midpoint", tol=1e-2, min_gap=1e-3)
    assert df.attrs["stop"] in ("closed", "tolerance")


def test_single_point_front():
    df = explore(lambda w: {"loss": 1.0, "l1": 2.0}, budget=10)
    assert len(df) == 2
    assert df.attrs["stop_reason"].startswith("every gap closed")
    assert df["pareto"].all()  # two copies of the same point
    assert df.attrs["normalization"] == {"ideal": (1.0, 2.0), "nadir": (1.0, 2.0)}


def test_grid_and_random_rules():
    grid = explore(squares, budget=5, rule="grid")
    assert weights_of(grid) == [0.0, 1.0, 0.5, 0.25, 0.75]
    assert grid["gap_lo"].isna().all() and grid["gap_hi"].isna().all()
    assert grid.attrs["stop"] == "budget"
    r1 = explore(squares, budget=7, rule="random", seed=3)
    r2 = explore(squares, budget=7, rule="random", seed=3)
    r3 = explore(squares, budget=7, rule="random", seed=4)
    assert weights_of(r1) == weights_of(r2) != weights_of(r3)
    assert weights_of(r1)[:2] == [0.0, 1.0]
    assert all(0 < w < 1 for w in weights_of(r1)[2:])


def test_weight_range():
    df = explore(squares, budget=6, weights=(0.2, 0.6))
    assert weights_of(df)[:2] == [0.2, 0.6]
    assert all(0.2 <= w <= 0.6 for w in weights_of(df))


# ---------------------------------------------------------------------------------------------
# never repeat, always terminate
# ---------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    problem=st.sampled_from(["squares", "uneven", "concave", "noisy", "flat"]),
    rule=st.sampled_from(["normal", "midpoint", "grid", "random"]),
    budget=st.integers(2, 30),
    workers=st.integers(1, 3),
    tol=st.sampled_from([0.0, 1e-3, 0.05]),
    min_gap=st.sampled_from([0.0, 1e-4, 0.01]),
    seed=st.integers(0, 3),
)
def test_never_repeats_a_weight(problem, rule, budget, workers, tol, min_gap, seed):
    evaluate = {
        "squares": squares,
        "uneven": uneven,
        "concave": concave,
        "noisy": noisy(seed),
        "flat": lambda w: {"loss": round(w, 1), "l1": 1 - round(w, 1)},
    }[problem]
    df = explore(
        evaluate, budget=budget, rule=rule, workers=workers, tol=tol, min_gap=min_gap, seed=seed
    )
    assert 2 <= len(df) <= budget
    assert_distinct(weights_of(df))
    assert all(0.0 <= w <= 1.0 for w in weights_of(df))
    if len(df) < budget:
        assert df.attrs["stop"] != "budget"


def test_noise_does_not_break_the_loop():
    for seed in range(5):
        df = explore(noisy(seed), budget=200, tol=1e-3, min_gap=1e-4)
        assert_distinct(weights_of(df))
        ok = df[["loss", "l1"]].to_numpy()
        np.testing.assert_array_equal(df["pareto"].to_numpy(), pareto_mask(ok))


# ---------------------------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------------------------


def test_failed_evaluations_are_recorded_and_the_loop_goes_on():
    def evaluate(w):
        if w == 0.5:
            raise RuntimeError("diverged at step 12\nlong traceback text")
        if w == 0.25:
            return {"status": "failed", "error": "out of memory", "loss": 0.1}
        if w == 0.75:
            return {"loss": math.nan, "l1": 0.0}
        return squares(w)

    rows = []
    df = explore(evaluate, budget=8, on_result=lambda row, raw: rows.append(raw))
    assert len(df) == 8
    failed = df[df["status"] == "failed"].set_index("weight")
    assert failed.loc[0.5, "error"] == "RuntimeError: diverged at step 12"
    assert failed.loc[0.25, "error"] == "out of memory"
    assert failed.loc[0.75, "error"].startswith("loss is not a finite number")
    assert failed["loss"].isna().all() and failed["l1"].isna().all()
    assert not failed["pareto"].any()
    assert_distinct(weights_of(df))
    assert isinstance(rows[2]["_exception"], RuntimeError)
    # a failure closes nothing: the gap is bisected around the failed weights, never retrying
    # them -- 0.5, then 0.25 and 0.75 (which fail too), then 0.125 ...
    assert weights_of(df)[:6] == [0.0, 1.0, 0.5, 0.25, 0.75, 0.125]
    assert (df["status"] == "ok").sum() == 5


def test_failed_end_point_falls_back_to_weight_bisection():
    def evaluate(w):
        if w == 0.0:
            raise ValueError("bad")
        return squares(w)

    df = explore(evaluate, budget=6)
    assert weights_of(df)[:3] == [0.0, 1.0, 0.5]
    assert np.isnan(df["gap_lo"].iloc[2])  # no front yet: weight-space bisection
    assert df.attrs["normalization"] == {"ideal": (0.25, 0.0), "nadir": (1.0, 0.25)}
    assert_distinct(weights_of(df))
    assert len(df) == 6


def test_everything_fails():
    df = explore(lambda w: 1 / 0, budget=5)
    assert len(df) == 5 and (df["status"] == "failed").all()
    assert df["error"].iloc[0] == "ZeroDivisionError: division by zero"
    assert df.attrs["hypervolume"] is None and df.attrs["normalization"] is None
    df = explore(lambda w: [1, 2], budget=2)
    assert df["error"].iloc[0] == "evaluate returned list, expected a mapping"
    df = explore(lambda w: {"loss": 1.0}, budget=2)
    assert df["error"].iloc[0] == "evaluate returned no 'l1'"


def test_keyboard_interrupt_propagates():
    def evaluate(w):
        if w == 1.0:
            raise KeyboardInterrupt
        return squares(w)

    seen = []
    with pytest.raises(KeyboardInterrupt):
        explore(evaluate, budget=5, on_result=lambda row, raw: seen.append(row))
    assert [r["weight"] for r in seen] == [0.0]


# ---------------------------------------------------------------------------------------------
# resume
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["normal", "midpoint", "grid", "random"])
@pytest.mark.parametrize("problem", [squares, uneven, noisy(1)])
def test_resume_reproduces_the_uninterrupted_run(rule, problem):
    full = explore(problem, budget=6, rule=rule, seed=5)
    resumed = explore(problem, budget=6, rule=rule, seed=5, initial=full.iloc[:4])
    assert weights_of(resumed) == weights_of(full)
    pd.testing.assert_frame_equal(resumed[["gap_lo", "gap_hi"]], full[["gap_lo", "gap_hi"]])
    assert resumed["run"].tolist() == full["run"].tolist()
    assert resumed.attrs["normalization"] == full.attrs["normalization"]
    # longer runs: every prefix resumes to the same run
    long = explore(problem, budget=14, rule=rule, seed=5)
    for k in (1, 2, 3, 7, 13):
        again = explore(problem, budget=14, rule=rule, seed=5, initial=long.iloc[:k])
        assert weights_of(again) == weights_of(long)


def test_resume_from_csv_and_list_of_dicts():
    full = explore(noisy(2), budget=12)
    buf = io.StringIO()
    full.iloc[:7].to_csv(buf, index=False)
    buf.seek(0)
    table = pd.read_csv(buf)  # empty error strings come back as NaN
    assert table["error"].isna().any()
    assert weights_of(explore(noisy(2), budget=12, initial=table)) == weights_of(full)
    records = full.iloc[:7].to_dict("records")
    assert weights_of(explore(noisy(2), budget=12, initial=records)) == weights_of(full)


def test_resume_replays_closed_gaps():
    first = explore(concave, budget=10)
    assert len(first) == 6
    calls = []
    again = explore(lambda w: calls.append(w) or concave(w), budget=10, initial=first)
    assert calls == []
    assert again.attrs["stop"] == "nonconvex"
    # failed rows are never retried either
    failing = explore(
        lambda w: {"status": "failed", "error": "x"} if w == 0.5 else squares(w), budget=4
    )
    calls = []
    explore(lambda w: calls.append(w) or squares(w), budget=6, initial=failing)
    assert 0.5 not in calls and len(calls) == 2


def test_initial_counts_against_the_budget():
    full = explore(squares, budget=8)
    calls = []
    df = explore(lambda w: calls.append(w) or squares(w), budget=5, initial=full)
    assert calls == [] and len(df) == 8
    assert df.attrs["stop_reason"] == "budget reached"


def test_bad_initial_rows():
    with pytest.raises(InputError, match="initial row 0 has no finite 'weight'"):
        explore(squares, initial=[{"loss": 1.0, "l1": 0.0}])
    with pytest.raises(InputError, match="initial row 1 is ok but its 'loss' or 'l1'"):
        explore(
            squares, initial=[{"weight": 0.0, "loss": 0.0, "l1": 1.0}, {"weight": 1.0, "loss": 1.0}]
        )
    with pytest.raises(InputError, match="status"):
        explore(squares, initial=[{"weight": 0.0, "loss": 0.0, "l1": 1.0, "status": "maybe"}])


# ---------------------------------------------------------------------------------------------
# parallel rounds through the executor interface
# ---------------------------------------------------------------------------------------------


class ReversedExecutor:
    """Test double of the executor interface (submit/wait): jobs finish newest first and oldest
    first in turn (so rows come back out of submission order, and no job starves), and
    exceptions come back as outcomes. Records the parameters in flight at every wait."""

    def __init__(self, slots=2, lose=None):
        self.slots, self.lose = slots, lose
        self.jobs, self.in_flight, self.next_id, self.newest = {}, [], 0, False

    @property
    def free(self):
        return self.slots - len(self.jobs)

    def submit(self, job, item):
        job_id, self.next_id = self.next_id, self.next_id + 1
        self.jobs[job_id] = (job, item)
        return job_id

    def wait(self):
        self.in_flight.append(sorted(item for _, item in self.jobs.values()))
        self.newest = not self.newest
        job_id = max(self.jobs) if self.newest else min(self.jobs)
        job, item = self.jobs.pop(job_id)
        if self.lose is not None and item == self.lose:
            return job_id, RuntimeError("the executor lost this job")
        try:
            return job_id, job(item, None)
        except Exception as exc:  # noqa: BLE001 - the interface returns them
            return job_id, exc


def test_two_workers_keep_both_busy():
    ex = ReversedExecutor(slots=2)
    df = explore(uneven, budget=10, workers=2, executor=ex)
    assert len(df) == 10
    assert ex.in_flight[0] == [0.0, 1.0]  # the two ends first, at once
    # a free worker gets the next weight at once: two in flight until the budget runs out
    assert all(len(f) == 2 for f in ex.in_flight[:-1]) and len(ex.in_flight[-1]) == 1
    assert weights_of(df)[:2] == [1.0, 0.0]  # rows appear in completion order
    assert_distinct(weights_of(df))
    # asynchronous proposals use slightly staler information but still do well
    assert UNEVEN_HV - df.attrs["hypervolume"] < 0.04


def test_executor_exceptions_become_failed_rows():
    def evaluate(w):
        if w == 0.0:
            raise ValueError("boom")
        return squares(w)

    ex = ReversedExecutor(slots=2, lose=1.0)
    df = explore(evaluate, budget=4, workers=2, executor=ex)
    errors = dict(zip(df["weight"], df["error"], strict=True))
    assert errors[0.0] == "ValueError: boom"
    assert errors[1.0] == "RuntimeError: the executor lost this job"
    assert len(df) == 4 and (df["status"] == "ok").sum() == 2
    assert_distinct(weights_of(df))


def test_workers_without_executor_run_in_this_process():
    df = explore(uneven, budget=9, workers=3)
    assert sorted(weights_of(df)[:2]) == [0.0, 1.0]
    assert len(df) == 9
    assert_distinct(weights_of(df))


def test_executor_with_one_worker_matches_serial():
    ex = ReversedExecutor(slots=1)
    df = explore(squares, budget=5, executor=ex)
    assert all(len(f) == 1 for f in ex.in_flight)
    assert weights_of(df) == weights_of(explore(squares, budget=5))


# ---------------------------------------------------------------------------------------------
# argument validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": 1}, "budget must be an integer >= 2"),
        ({"budget": 2.5}, "budget must be an integer"),
        ({"rule": "bisect"}, "rule must be one of"),
        ({"workers": 0}, "workers must be an integer >= 1"),
        ({"weights": (0.5, 0.5)}, "0 <= lo < hi <= 1"),
        ({"weights": (-0.1, 1.0)}, "0 <= lo < hi <= 1"),
        ({"weights": (0.0, 1.5)}, "0 <= lo < hi <= 1"),
        ({"weights": (0.0,)}, "two numbers"),
        ({"tol": -1.0}, "tol must be a number >= 0"),
        ({"min_gap": math.nan}, "min_gap must be a number >= 0"),
        ({"executor": object()}, "submit"),
        ({"x": "l1"}, "different columns"),
        ({"x": "weight"}, "different columns"),
        ({"x": "status"}, "column name other than"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        explore(squares, **kwargs)


def test_evaluate_must_be_callable():
    with pytest.raises(InputError, match="callable"):
        explore(None)


def test_core_modules_do_not_import_torch_or_pandas():
    # The Pareto core is numpy-only; explore may use pandas but never torch. Checked on the
    # source (import statements), independent of what the package __init__ imports.
    import ast
    from pathlib import Path

    import paretoprune.exploration as explore_module
    import paretoprune.pareto as pareto_package

    def imported(path):
        names = set()
        for node in ast.walk(ast.parse(Path(path).read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
        return names

    for path in Path(pareto_package.__file__).parent.glob("*.py"):
        assert not imported(path) & {"torch", "pandas"}, path
    assert "torch" not in imported(explore_module.__file__)


def noisy_end(w):
    """Above weight 0.6 training collapses to the all-zero end, whose loss carries a little
    noise that grows with the weight: each new collapsed run dominates the previous end by a
    hair and replaces it on the front."""
    if w >= 0.6:
        return {"loss": 2.3 + 1e-5 * w, "l1": 0.0}
    return squares(w / 0.6)


def test_noisy_copies_of_an_end_do_not_loop():
    df = explore(noisy_end, budget=40)
    collapsed = df[df["weight"] >= 0.6]
    # the λ = 1 end, then at most the gap's proposal and its retries: the gap keeps its history
    # although its end point is replaced by each noisy copy
    assert len(collapsed) <= 2 + 3
    assert np.diff(np.sort(df["weight"].to_numpy())).min() > 1e-4  # no near-duplicate weights
