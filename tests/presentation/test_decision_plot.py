"""The decision view: accuracy against nonzero weights, the reference, the band, the selection."""

import numpy as np
import pandas as pd
import pytest
from _tables import big_sweep_frame, sweep_frame

from paretoprune.errors import InputError
from paretoprune.pareto import hypervolume
from paretoprune.presentation.plot import (
    decision_metric,
    decision_plot_data,
    is_sweep_table,
    plot_data,
    plot_figure,
)


def test_decision_data_by_hand():
    data = decision_plot_data({"s": sweep_frame()})
    (t,) = data.traces
    assert t.metric == "val_acc" and t.metrics == ("val_acc", "test_acc")
    assert t.front["run"].tolist() == [7, 3, 2, 1, 0]  # sparsest first; run 4 is dominated by 2
    assert t.dominated["run"].tolist() == [4] and t.n_dominated == 1
    assert t.faded["run"].tolist() == [5]  # collapsed; the failed run 6 has nothing to draw
    assert t.reference == 0.98  # the dense run's val_acc
    assert t.selected["run"].tolist() == [2]  # the sweep's own choice
    assert t.max_drop is None
    assert data.zero_x == 5.0  # nnz 0 drawn at half the smallest positive nnz (10)
    # hypervolume: (nnz, val_acc) with val_acc maximized, normalized by the front's own range
    pts = t.front[["nnz", "val_acc"]].to_numpy(dtype=float)
    norm = (pts - [10, 0.98]) / [990, -0.48]
    assert t.hypervolume == pytest.approx(hypervolume(norm, (1.1, 1.1)))


def test_max_drop_from_the_sweep_and_from_the_command_line():
    (t,) = decision_plot_data({"s": sweep_frame(max_drop=0.01)}).traces
    assert t.max_drop == 0.01 and t.selected["run"].tolist() == [2]
    # an explicit max drop overrides the sweep's selection: the sparsest run within 0.06 of 0.98
    (t,) = decision_plot_data({"s": sweep_frame(max_drop=0.01)}, max_drop=0.06).traces
    assert t.max_drop == 0.06 and t.selected["run"].tolist() == [3]
    with pytest.raises(InputError, match=r"\[0, 1\)"):
        decision_plot_data({"s": sweep_frame()}, max_drop=1.5)


def test_a_table_without_a_selection_marks_none():
    frame = sweep_frame().drop(columns=["selected"])
    (t,) = decision_plot_data({"s": frame}).traces
    assert t.selected.empty
    (t,) = decision_plot_data({"s": frame}, max_drop=0.01).traces
    assert t.selected["run"].tolist() == [2]


def test_metric_choice():
    frame = sweep_frame()
    assert decision_metric(frame) == "val_acc"
    assert decision_metric(frame.assign(val_acc=np.nan)) == "test_acc"  # no validation split
    assert decision_metric(frame, "test_acc") == "test_acc"
    with pytest.raises(InputError, match="unknown column 'acc' for --metric"):
        decision_metric(frame, "acc")
    with pytest.raises(InputError, match="--view objectives"):
        decision_metric(frame.drop(columns=["val_acc", "test_acc"]))
    assert is_sweep_table(frame) and not is_sweep_table(frame.drop(columns=["nnz"]))


def test_a_table_without_nnz_cannot_have_a_decision_view():
    with pytest.raises(InputError, match="unknown column 'nnz' for the decision view"):
        plot_data({"t": sweep_frame().drop(columns=["nnz"])}, view="decision")


def test_several_tables_share_one_normalization():
    better = sweep_frame("gmp")
    better["val_acc"] = better["val_acc"] + 0.005
    data = decision_plot_data({"ws": sweep_frame(), "gmp": better})
    ws, gmp = data.traces
    assert gmp.hypervolume > ws.hypervolume
    assert data.normalization.ideal == pytest.approx((10, -0.985))  # val_acc negated: maximized


def test_the_figure_draws_reference_band_selection_and_faded_runs():
    fig = plot_figure(plot_data({"s": sweep_frame(max_drop=0.01)}, view="decision"))
    names = [t.name for t in fig.data]
    assert fig.layout.title.text.endswith(" of s")  # one table: named in the title, not per entry
    assert any(n.startswith("val_acc front (HV") for n in names)
    assert "test_acc of the same runs" in names
    assert "selected (run 2)" in names
    faded = next(t for t in fig.data if "collapsed or failed" in t.name)
    assert "nnz 0 at the left edge" in faded.name and list(faded.x) == [5.0]
    shapes = {s.name: s for s in fig.layout.shapes}
    line = shapes["dense reference val_acc 0.98"]
    assert line.y0 == 0.98 and not line.showlegend  # the band's entry stands for both
    band = shapes["dense reference val_acc 0.98; band: within 0.01"]
    assert (band.y0, band.y1) == pytest.approx((0.97, 0.98)) and band.showlegend
    assert fig.layout.xaxis.type == "log"


def test_usable_runs_set_the_accuracy_axis_and_collapsed_ones_sit_on_its_edge():
    data = plot_data({"s": sweep_frame(max_drop=0.01)}, view="decision")
    # usable accuracies run from 0.48 (run 7's test_acc) to 0.98 (the reference): a span of 0.5,
    # widened by 8 % on each side; the collapsed run 5 (val_acc 0.1) would stretch it to 0.1
    assert data.decision.y_range == pytest.approx((0.48 - 0.04, 0.98 + 0.04))
    fig = plot_figure(data)
    assert tuple(fig.layout.yaxis.range) == pytest.approx((0.44, 1.02))
    faded = next(t for t in fig.data if "collapsed or failed" in t.name)
    assert list(faded.y) == pytest.approx([0.44]) and "off the axis: at its edge" in faded.name
    assert faded.cliponaxis is False  # the marker shows whole on the edge
    assert "0.1" in faded.customdata[0].tolist()  # the hover keeps the true value


def test_a_one_point_axis_still_has_a_span():
    one = sweep_frame().iloc[[0]]  # val_acc .98 (the reference too), test_acc .975
    # a span of 0.005 is below the least span 0.01: the margin is 8 % of 0.01
    assert decision_plot_data({"s": one}).y_range == pytest.approx((0.975 - 0.0008,
                                                                    0.98 + 0.0008))


def _bounded(frame):
    """sweep_frame with the columns of a certified sweep: drop against the dense 0.98 (and
    0.975 on test), an upper bound 0.002 above it (0.006 on test), and the trials certified
    within 0.01 (fixed sequence, dense to sparse: runs 1 and 2; run 4, bound 0.022, is
    dominated and not on the way)."""
    out = frame.copy()
    out["drop"] = 0.98 - out["val_acc"]
    out["drop_upper"] = (out["drop"] + 0.002).where(out["role"].eq("trial"))
    out["test_drop"] = 0.975 - out["test_acc"]
    out["test_drop_upper"] = (out["test_drop"] + 0.006).where(out["role"].eq("trial"))
    out["certified"] = out["run"].isin([1, 2])
    out.attrs = {"sweep": {"max_drop": 0.01, "confidence": 0.95}, "metric": "val_acc",
                 "confidence": 0.95, "rule": "certified at 95%"}
    return out


def test_bounds_are_error_bars_and_certified_runs_are_marked():
    (t,) = decision_plot_data({"s": _bounded(sweep_frame())}).traces
    assert t.bounds == {"val_acc": ("drop", "drop_upper"),
                        "test_acc": ("test_drop", "test_drop_upper")}
    assert sorted(t.certified["run"]) == [1, 2] and t.rule == "certified at 95%"
    fig = plot_figure(plot_data({"s": _bounded(sweep_frame())}, view="decision"))
    front = next(tr for tr in fig.data if tr.name.startswith("val_acc front"))
    assert front.name.endswith("(bar: its bound)")
    # runs 7, 3, 2, 1 carry a bound 0.002 below; the dense run 0 has none (NaN: no bar)
    assert list(front.error_y.arrayminus) == pytest.approx([0.002] * 4 + [0.0])
    assert list(front.error_y.array) == [0] * 5  # one-sided: the bound is below
    test = next(tr for tr in fig.data if tr.name == "test_acc of the same runs")
    assert sorted(test.error_y.arrayminus) == pytest.approx([0.0] + [0.006] * 5)
    ring = next(tr for tr in fig.data if tr.name.startswith("within"))
    assert ring.name == "within 0.01: certified at 95%" and len(ring.x) == 2


def test_another_max_drop_reads_the_same_rule_again():
    # trials dense to sparse by nnz: 1 (bound .004), 4 (.022), 2 (.010), 3 (.052), 7 (.482)
    (t,) = decision_plot_data({"s": _bounded(sweep_frame())}, max_drop=0.06).traces
    assert sorted(t.certified["run"]) == [1, 2, 3, 4]
    assert t.selected["run"].tolist() == [3] and t.rule == "certified at 95%"
    (t,) = decision_plot_data({"s": _bounded(sweep_frame())}, max_drop=0.015).traces
    assert sorted(t.certified["run"]) == [1]  # the sequence stops at run 4


def test_a_foreign_table_plots_without_bars_or_marks():
    frame = _bounded(sweep_frame()).drop(columns=["drop_upper", "test_drop_upper", "certified"])
    (t,) = decision_plot_data({"s": frame}).traces
    assert t.bounds == {} and t.certified.empty
    fig = plot_figure(plot_data({"s": frame}, view="decision"))
    assert all(tr.error_y.arrayminus is None for tr in fig.data)
    assert not any(tr.name.startswith("within") for tr in fig.data)


def test_the_legend_of_one_sweep_is_short():
    fig = plot_figure(plot_data({"s": _bounded(sweep_frame())}))  # both views
    entries = [tr.name for tr in fig.data if tr.showlegend is not False]
    entries += [s.name for s in fig.layout.shapes if s.showlegend]
    # val_acc front, test_acc, within (certified), selected, collapsed (both panels), the
    # reference and its band, the objective front, its knee
    assert len(entries) == 8, entries
    assert len(set(entries)) == len(entries)


def test_several_tables_are_named_in_each_entry():
    fig = plot_figure(plot_data({"ws": sweep_frame(), "gmp": sweep_frame("gmp")},
                                view="decision"))
    assert {"ws: selected (run 2)", "gmp: selected (run 2)"} <= {t.name for t in fig.data}


def test_both_views_are_two_panels():
    fig = plot_figure(plot_data({"s": sweep_frame()}))
    assert fig.layout.xaxis.type == "log"  # decision view on top
    assert fig.layout.xaxis2.title.text == "loss (minimized)"
    assert fig.layout.height == 1000


def test_large_tables_draw_a_bounded_sample():
    big = big_sweep_frame(30_000)
    data = plot_data({"big": big}, view="decision", max_points=2000)
    (t,) = data.decision.traces
    assert len(t.dominated) == 2000 and t.n_dominated > 20_000
    fig = plot_figure(data)
    assert sum(len(tr.x) for tr in fig.data) < 3 * 2000 + 2 * len(t.front) + 100
    assert any(f"2,000 of {t.n_dominated:,} dominated val_acc points shown" in tr.name
               for tr in fig.data)


def test_old_sweeps_without_a_role_column():
    old = sweep_frame().drop(columns=["role", "selected"])
    (t,) = decision_plot_data({"old": old}).traces
    assert t.reference == 0.98  # without a dense row, the best value
    assert pd.isna(t.max_drop) or t.max_drop is None
