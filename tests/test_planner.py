"""The ask/tell planner on analytic problems: collapse edge, --max-drop boundary, ε-constraint,
parallel asks and resume (no training, no torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _planning import drive

from paretoprune.errors import InputError
from paretoprune.exploration import explore
from paretoprune.pareto import Normalization, hypervolume
from paretoprune.planner import Planner, Proposal

EDGE = 0.9  # weights above it collapse the network


def collapsing(w):
    """squares (front l1 = (1 - sqrt(loss))^2) whose networks collapse beyond EDGE, as a pruned
    network does beyond some λ: all weights zero, loss at chance."""
    if w > EDGE:
        return {"weight": w, "loss": 2.3, "l1": 0.0, "collapsed": True, "status": "ok"}
    t = w / EDGE
    return {"weight": w, "loss": t**2, "l1": (1 - t) ** 2, "status": "ok"}


def test_collapse_edge_costs_at_most_one_run_and_is_never_crossed_again():
    planner = Planner(sparse_end_known=True)
    rows = drive(planner, collapsing, budget=12)
    weights = [r["weight"] for r in rows]
    assert 1.0 not in weights  # the all-zero end is known, not trained
    collapsed = [r for r in rows if r.get("collapsed")]
    assert len(collapsed) <= 1
    # bisection towards the edge: 0.5, 0.75, 0.875, then 0.9375 collapses
    assert weights[:5] == [0.0, 0.5, 0.75, 0.875, 0.9375]
    assert all(w < 0.9375 for w in weights[5:])  # never beyond the known collapse again
    # the normalization comes from the dense end and the sparsest run that still learns
    assert planner.normalization.nadir[0] == pytest.approx(collapsing(0.875)["loss"])


def test_collapse_edge_stops_bisecting_when_the_bracket_is_narrow():
    planner = Planner(sparse_end_known=True)
    rows = drive(planner, lambda w: collapsing(w * 0.9999), budget=30)  # edge just below 1
    probes = [r["weight"] for r in rows if r["weight"] > 0.5 and math.isnan(r["gap_lo"])]
    assert len(probes) <= 10  # 0.75, 0.875, ... until the bracket is under 1e-3 wide
    assert not any(r.get("collapsed") for r in rows) or sum(
        bool(r.get("collapsed")) for r in rows) == 1


def within_up_to(boundary):
    """``evaluate(w)``: a collapsing run, within the drop up to ``boundary``."""
    def accuracy(w):
        row = collapsing(w)
        row["within"] = (not row.get("collapsed")) and w <= boundary
        return row

    return accuracy


def test_target_mode_brackets_the_boundary():
    boundary = 0.6183
    planner = Planner(sparse_end_known=True, target=True)
    rows = drive(planner, within_up_to(boundary), budget=12)
    within = [r["weight"] for r in rows if r["within"]]
    outside = [r["weight"] for r in rows if not r["within"] and r["weight"] > max(within)]
    assert max(within) <= boundary < min(outside)
    assert min(outside) - max(within) < 2e-3  # ten bisections of [0, 1]
    assert sum(bool(r.get("collapsed")) for r in rows) == 0


def test_target_mode_keeps_the_best_bracket_under_noise():
    # a noisy "within" above the boundary moves the bracket up, never back down
    flips = {0.5: True, 0.75: False, 0.625: True, 0.6875: False}

    def noisy(w):
        row = collapsing(w)
        row["within"] = flips.get(w, w < 0.66)
        return row

    planner = Planner(sparse_end_known=True, target=True)
    rows = drive(planner, noisy, budget=8)
    weights = [r["weight"] for r in rows]
    assert weights[:5] == [0.0, 0.5, 0.75, 0.625, 0.6875]
    assert all(0.625 < w < 0.6875 for w in weights[5:])


def test_target_mode_stops_splitting_a_bracket_whose_ends_are_indistinguishable():
    boundary = 0.6
    accuracy = within_up_to(boundary)
    asked = []

    def indistinguishable(a, b):
        asked.append((a, b))
        return b - a < 0.2  # noise below a bracket of 0.2 in λ

    planner = Planner(sparse_end_known=True, target=True, indistinguishable=indistinguishable)
    rows = drive(planner, accuracy, budget=8)
    weights = [r["weight"] for r in rows]
    within = [w for w in weights if w <= boundary]
    outside = [w for w in weights if w > max(within)]
    assert min(outside) - max(within) >= 0.1  # the bracket stopped once its ends looked alike
    assert asked and all(b > a for a, b in asked)
    assert len(rows) == 8  # its budget went elsewhere (the front)
    # the same planner without the test keeps bisecting the bracket
    plain = drive(Planner(sparse_end_known=True, target=True), accuracy, budget=8)
    inside = [r["weight"] for r in plain if r["weight"] > 0.5]
    assert min(w for w in inside if w > boundary) - max(w for w in inside if w <= boundary) < 0.1


def test_a_known_dense_end_is_never_proposed():
    planner = Planner(sparse_end_known=True, dense_end_known=True)
    assert all(p.param != 0.0 for p in planner.ask(3))
    planner = Planner(sparse_end_known=True, dense_end_known=True)
    planner.tell({"weight": 0.0, **collapsing(0.0)})  # the dense reference, told by the sweep
    rows = drive(planner, collapsing, budget=5)
    assert 0.0 not in [r["weight"] for r in rows] and len(rows) == 5


def concave(bound):
    """ε-constraint of the concave front l1 = 1 - loss^2: minimize loss subject to l1 <= bound."""
    loss = math.sqrt(max(0.0, 1.0 - bound))
    return {"loss": loss, "l1": 1.0 - loss**2}


# hypervolume of l1 = 1 - loss^2 on [0, 1], reference (1.1, 1.1): 0.1 + 1/3 + 0.11
CONCAVE_HV = 0.1 + 1 / 3 + 0.11


def test_epsilon_fills_a_concave_front_the_weighted_sum_cannot():
    # 8 points of any front across the unit box cover at most ~0.89 of its hypervolume with the
    # reference (1.1, 1.1) (the staircase between them; 0.891 for this front, optimized): the
    # ε sweep gets 0.880 there, and 0.95 with 20 evaluations
    df = explore(concave, budget=8, scalarization="epsilon", weights=(0.0, 1.0))
    assert df.attrs["hypervolume"] >= 0.87 * CONCAVE_HV
    more = explore(concave, budget=20, scalarization="epsilon", weights=(0.0, 1.0))
    assert more.attrs["hypervolume"] >= 0.95 * CONCAVE_HV
    assert (df["l1"] <= df["bound"] + 1e-12).all()  # every point satisfies its bound
    assert df["pareto"].sum() == 8

    def weighted_sum(w):  # the minimizer of (1-w) loss + w (1 - loss^2) is an end
        return {"loss": 0.0, "l1": 1.0} if w <= 0.5 else {"loss": 1.0, "l1": 0.0}

    ws = explore(weighted_sum, budget=8)
    assert ws.attrs["stop"] == "nonconvex"
    assert len(ws.loc[ws["pareto"], ["loss", "l1"]].drop_duplicates()) == 2  # only the ends
    assert ws.attrs["hypervolume"] < 0.4 * CONCAVE_HV


def test_parallel_asks_never_share_a_gap_and_never_idle():
    planner = Planner()
    for w in (0.0, 1.0):
        planner.tell({"weight": w, "loss": w**2, "l1": (1 - w) ** 2})
    first = planner.ask(1)
    assert first[0].gap == (0.0, 1.0)
    # the only gap is busy: the second worker splits its widest free stretch
    second = planner.ask(1, pending=first)
    assert second and second[0].param not in (first[0].param,) and second[0].gap == (0.0, 1.0)
    both = planner.ask(3, pending=[])
    assert len({p.param for p in both}) == len(both) == 3


def test_resumed_planner_asks_what_the_original_asked():
    planner = Planner(sparse_end_known=True)
    rows = drive(planner, collapsing, budget=9)
    resumed = Planner.from_rows(rows, sparse_end_known=True)
    assert resumed.ask(2) == planner.ask(2)
    assert resumed.normalization == planner.normalization


def test_tell_rejects_rows_it_cannot_use():
    planner = Planner()
    with pytest.raises(InputError, match="finite 'weight'"):
        planner.tell({"loss": 1.0, "l1": 0.0})
    with pytest.raises(InputError, match="no finite 'loss' and 'l1'"):
        planner.tell({"weight": 0.2, "loss": math.nan, "l1": 0.0})
    planner.tell({"weight": 0.2, "status": "failed"})  # failed rows need no objectives


def test_rules_that_do_not_fit_the_scalarization_are_refused_at_the_edge():
    # the planner trusts its arguments; explore() (and SweepConfig) check them where they enter
    with pytest.raises(InputError, match="'normal' does not apply to the epsilon"):
        explore(collapsing, rule="normal", scalarization="epsilon")
    with pytest.raises(InputError, match="'bound' does not apply to the weighted-sum"):
        explore(collapsing, rule="bound")


def test_proposals_report_their_purpose():
    planner = Planner(sparse_end_known=True)
    assert planner.ask(1) == [Proposal(0.0, None, "end")]
    planner.tell(collapsing(0.0))
    assert planner.ask(1)[0].purpose == "edge"


def test_hypervolume_of_the_collapsing_front_excludes_collapsed_runs():
    df = explore(collapsing, budget=10)
    assert bool(df.loc[df["weight"] == 1.0, "collapsed"].iloc[0])
    assert not df.loc[df["collapsed"].fillna(False).astype(bool), "pareto"].any()
    norm = Normalization(*df.attrs["normalization"].values())
    usable = df[~df["collapsed"].fillna(False).astype(bool)]
    pts = norm.apply(usable[["loss", "l1"]].to_numpy())
    assert df.attrs["hypervolume"] == pytest.approx(hypervolume(pts, (1.1, 1.1), strict=False))
    assert np.isfinite(df.attrs["hypervolume"])


def test_sparse_log_scale_spreads_runs_evenly_where_the_weights_crowd_near_one():
    """A weighted sum whose useful λ lie within 10^-2.5 of 1 (as the default recipe's do): bisecting in
    -ln(1 - λ) (the collapse edge, then the midpoint rule) spreads the runs evenly in
    -ln(1 - λ) up to the edge, and never beyond a known collapse again."""
    edge = -math.log(10**-2.5)  # collapse beyond 1 - λ = 10^-2.5

    def crowded(w):
        t = -math.log(max(1 - w, 1e-12)) / edge  # 0 at λ = 0, 1 at the collapse edge
        if t > 1:
            return {"weight": w, "loss": 2.3, "l1": 0.0, "collapsed": True, "status": "ok"}
        return {"weight": w, "loss": t**2, "l1": (1 - t) ** 2, "status": "ok"}

    planner = Planner(rule="midpoint", sparse_end_known=True, scale="sparse-log")
    rows = drive(planner, crowded, budget=12)
    assert all(r["weight"] < 1.0 for r in rows)  # the all-zero end stays known, not trained
    collapsed = [r["weight"] for r in rows if r.get("collapsed")]
    assert len(collapsed) == 1
    assert all(r["weight"] < collapsed[0] for r in rows if not r.get("collapsed"))
    ts = sorted(-math.log(1 - r["weight"]) / edge for r in rows if not r.get("collapsed"))
    steps = np.diff(ts)
    assert ts[-1] > 0.8 and max(steps) <= 2.1 * min(steps)  # even in -ln(1 - λ), to the edge
    # linear bisection puts its first split at λ = 0.5, 12 % of the way to this edge
    assert drive(Planner(sparse_end_known=True), crowded, budget=2)[1]["weight"] == 0.5
    with pytest.raises(InputError, match="scale"):
        Planner(scale="log")
