"""Tables of points: loading from every format, the pareto column, knees on frames."""

import math

import numpy as np
import pandas as pd
import pytest
from _tables import sweep_frame

from paretoprune.errors import InputError
from paretoprune.table_analysis import (
    accuracy_at,
    compare_tables,
    front_rows,
    knee,
    log_density,
    numbers,
    objective_values,
    parse_objective,
    table_labels,
    table_method,
    usable_rows,
    with_pareto,
)
from paretoprune.table_loading import load_table

FRONT = pd.DataFrame({
    "weight": [0.0, 0.2, 0.4, 0.6, 1.0, 0.3],
    "loss": [0.05, 0.10, 0.20, 0.60, 2.30, 0.50],
    "l1": [1.00, 0.30, 0.10, 0.05, 0.00, 0.60],
})
# Row 5 (0.5, 0.6) is dominated by row 2 (0.2, 0.1).


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_load_table_reads_every_format(tmp_path, suffix):
    path = tmp_path / f"points{suffix}"
    if suffix == ".csv":
        FRONT.to_csv(path, index=False)
    elif suffix == ".tsv":
        FRONT.to_csv(path, sep="\t", index=False)
    elif suffix == ".json":
        FRONT.to_json(path, orient="records")
    elif suffix == ".jsonl":
        FRONT.to_json(path, orient="records", lines=True)
    else:
        FRONT.to_parquet(path)
    loaded = load_table(path)
    pd.testing.assert_frame_equal(loaded[["weight", "loss", "l1"]], FRONT, check_dtype=False)


def test_load_table_reads_csv_from_stdin(monkeypatch):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(FRONT.to_csv(index=False)))
    assert load_table("-")["loss"].tolist() == FRONT["loss"].tolist()


@pytest.mark.parametrize(
    "content, message",
    [(None, "no such file"), ("", "is empty"), ("loss,l1\n", "has no rows"),
     (b"\x00\xff\xfe garbage", "cannot read")],
)
def test_load_table_bad_files(tmp_path, content, message):
    path = tmp_path / "t.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message):
        load_table(path)


def test_load_table_rejects_a_plain_directory(tmp_path):
    with pytest.raises(InputError, match="not a sweep directory"):
        load_table(tmp_path)


def test_with_pareto_marks_the_front():
    marked = with_pareto(FRONT)
    assert marked["pareto"].tolist() == [True, True, True, True, True, False]
    assert "pareto" not in FRONT.columns  # the input is not modified


def test_with_pareto_other_columns_and_failed_rows():
    frame = FRONT.assign(status=["ok", "ok", "failed", "ok", "ok", "ok"])
    frame.loc[2, ["loss", "l1"]] = np.nan  # a failed run has no objectives
    marked = with_pareto(frame)
    # without row 2, row 5 (0.5, 0.6) is still dominated by row 1 (0.1, 0.3)
    assert marked["pareto"].tolist() == [True, True, False, True, True, False]
    swapped = with_pareto(FRONT, x="l1", y="loss")
    assert swapped["pareto"].tolist() == [True, True, True, True, True, False]


@pytest.mark.parametrize(
    "frame, message",
    [(FRONT.assign(loss=FRONT["loss"].astype(object).where(FRONT.index != 3, "abc")), "non-numeric"),
     (FRONT.assign(l1=FRONT["l1"].where(FRONT.index != 1, np.nan)), "NaN"),
     (FRONT.assign(l1=FRONT["l1"].where(FRONT.index != 1, np.inf)), "infinite")],
)
def test_objective_values_rejects_bad_values(frame, message):
    with pytest.raises(InputError, match=message):
        objective_values(frame, ["loss", "l1"])


def test_unknown_column_lists_the_known_ones():
    with pytest.raises(InputError, match="unknown column 'acc'.*weight, loss, l1"):
        with_pareto(FRONT, x="acc")


def test_knee_ranks_front_rows_only():
    ranked = knee(FRONT, "distance")
    assert 5 not in ranked.index  # dominated row never ranked
    assert len(ranked) == 5
    assert ranked["knee_rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranked["knee_score"].is_monotonic_decreasing
    # normalized: ideal (0.05, 0), nadir (2.3, 1); 1 - f1n - f2n is largest at (0.2, 0.1)
    assert ranked.index[0] == 2
    assert knee(FRONT, "distance", top=2).index.tolist() == ranked.index[:2].tolist()


def test_knee_tradeoff_needs_the_weight_column():
    with pytest.raises(InputError, match="needs a 'lam' column"):
        knee(FRONT, "tradeoff", weight="lam")
    assert len(knee(FRONT, "tradeoff")) >= 1


def test_knee_unknown_method():
    with pytest.raises(InputError, match="unknown knee method"):
        knee(FRONT, "elbow")


# --- maximized objectives ---------------------------------------------------------------------

ZOO = pd.DataFrame({"model": ["big", "mid", "bad", "small"],
                    "accuracy": [0.95, 0.90, 0.50, 0.80], "params": [20, 10, 30, 15]})


@pytest.mark.parametrize("spec, expected", [
    ("max:accuracy", ("accuracy", "max")), ("MAX:accuracy", ("accuracy", "max")),
    ("min:loss", ("loss", "min")), ("loss", ("loss", "min")), ("nnz:conv", ("nnz:conv", "min")),
])
def test_parse_objective(spec, expected):
    assert parse_objective(spec) == expected


def test_parse_objective_needs_a_column():
    with pytest.raises(InputError, match="no column after max:"):
        parse_objective("max:")


def test_front_of_a_maximized_accuracy_keeps_the_best_models():
    front = front_rows(ZOO, "accuracy", "params", sense=("max", "min"))
    assert front["model"].tolist() == ["big", "mid"]  # best accuracy first
    # minimizing both (the old behaviour) keeps the worst model
    assert "bad" in front_rows(ZOO, "accuracy", "params")["model"].tolist()
    marked = with_pareto(ZOO, "accuracy", "params", sense=("max", "min"))
    assert marked["pareto"].tolist() == [True, True, False, False]


def test_knee_of_a_maximized_objective_equals_the_negated_table():
    sense = ("max", "min")
    flipped = FRONT.assign(loss=-FRONT["loss"])
    ranked = knee(flipped, "distance", sense=sense)
    assert ranked.index.tolist() == knee(FRONT, "distance").index.tolist()
    with pytest.raises(InputError, match="'min' or 'max'"):
        knee(FRONT, sense=("min", "largest"))


def test_usable_rows_reads_collapsed_from_text_and_bools():
    frame = pd.DataFrame({"status": ["ok", "ok", "ok", "failed"],
                          "collapsed": [True, "true", "False", False]})
    assert usable_rows(frame).tolist() == [False, False, True, False]
    frame = pd.DataFrame({"collapsed": [True, False]})
    assert usable_rows(frame).tolist() == [False, True]


def test_a_number_too_large_for_a_float_is_one_line():
    frame = pd.DataFrame({"loss": [0.1], "l1": [10**400]})  # an object column of Python ints
    assert numbers(frame["l1"]).tolist() == [np.inf]
    with pytest.raises(InputError, match="column 'l1' has a .*too large value in row 0"):
        objective_values(frame, ["loss", "l1"])


# --- comparing tables --------------------------------------------------------------------------


def test_accuracy_at_levels_by_hand():
    # chosen on val_acc: runs 0, 1, 2, 3, 7 at density (1 - sparsity_dense) 1, .4, .1, .03, .01
    # with test_acc .975, .972, .970, .925, .48; run 4 (.8, val .96) is dominated by run 2 and
    # run 5 is collapsed. Between two chosen runs test_acc is linear in log density.
    at = accuracy_at(sweep_frame(), [0.9, 0.95, 0.98, 0.99, 0.995])
    t95 = math.log(0.05 / 0.1) / math.log(0.03 / 0.1)
    t98 = math.log(0.02 / 0.03) / math.log(0.01 / 0.03)
    assert at["value"].tolist() == pytest.approx(
        [0.970, 0.970 - 0.045 * t95, 0.925 - 0.445 * t98, 0.48, 0.48])
    assert at["extrapolated"].tolist() == [False, False, False, False, True]


def test_accuracy_at_chooses_on_validation_never_on_test():
    # run 4 (sparsity .8) has the best test accuracy of all, but validation dominates it: an
    # envelope of test_acc would read .99 at 60 % and .97..99 at 85 %; the chosen runs say .972
    lucky = sweep_frame()
    lucky.loc[lucky["run"] == 4, "test_acc"] = 0.99
    at = accuracy_at(lucky, [0.6, 0.85])
    t85 = math.log(0.15 / 0.4) / math.log(0.1 / 0.4)
    assert at["value"].tolist() == pytest.approx([0.972, 0.972 - 0.002 * t85])
    # selecting on the test column itself is possible only when asked, and then it flatters
    envelope = accuracy_at(lucky, [0.6], select="test_acc")
    assert envelope["value"].tolist() == pytest.approx([0.99])


def test_accuracy_at_copies_of_a_chosen_point_count_once():
    twice = pd.concat([sweep_frame(), sweep_frame().iloc[[2]].assign(test_acc=0.960)])
    assert accuracy_at(twice, [0.9])["value"].tolist() == pytest.approx([0.965])


def test_accuracy_at_needs_usable_rows_and_known_columns():
    with pytest.raises(InputError, match="no usable rows"):
        accuracy_at(sweep_frame().assign(status="failed"), [0.9])
    with pytest.raises(InputError, match="unknown column 'sparsity'"):
        accuracy_at(sweep_frame(), [0.9], sparsity="sparsity")
    with pytest.raises(InputError, match="'val_acc' has no values .*--select"):
        accuracy_at(sweep_frame().assign(val_acc=np.nan), [0.9])
    with pytest.raises(InputError, match="unknown column 'val' to choose"):
        accuracy_at(sweep_frame(), [0.9], select="val")


def test_log_density_has_no_minus_infinity():
    assert log_density(np.array([0.0, 0.9, 1.0])) == pytest.approx(
        [0.0, math.log(0.1), math.log(1e-12)])


def test_compare_tables_by_hand():
    worse = sweep_frame("gmp")
    worse["test_acc"] = worse["test_acc"] - 0.01
    result = compare_tables({"ws": sweep_frame(), "gmp": worse}, [0.9, 0.995])
    assert result["table"].tolist() == ["ws", "gmp"]
    assert result["test_acc@0.9"].tolist() == pytest.approx([0.970, 0.960])
    assert result["extrapolated"].tolist() == ["0.995", "0.995"]
    assert result["wall_time"].tolist() == [75.0, 75.0]  # the failed run's 5 s included
    assert result["usable"].tolist() == [6, 6] and result["rows"].tolist() == [8, 8]
    assert result["method"].tolist() == ["weighted-sum", "gmp"]
    assert result["chosen"].tolist() == [5, 5]  # the validation front: runs 0, 1, 2, 3, 7
    ws, gmp = result["hypervolume"]
    assert ws > gmp > 0


def test_compare_tables_hypervolume_counts_the_chosen_networks_only():
    lucky = sweep_frame()
    lucky.loc[lucky["run"] == 4, "test_acc"] = 0.99  # not chosen on validation: changes nothing
    result = compare_tables({"plain": sweep_frame(), "lucky": lucky}, [0.9])
    plain, lucky_hv = result["hypervolume"]
    assert plain == pytest.approx(lucky_hv)


def test_compare_tables_without_nnz_has_no_hypervolume():
    result = compare_tables({"a": sweep_frame().drop(columns=["nnz"]), "b": sweep_frame()}, [0.9])
    assert np.isnan(result["hypervolume"][0]) and result["hypervolume"][1] > 0


def test_labels_are_methods_unless_they_repeat():
    frames = [sweep_frame("gmp"), sweep_frame("weighted-sum"), sweep_frame("weighted-sum"), FRONT]
    assert table_labels(["a", "b", "c", "d"], frames) == ["gmp", "b", "c", "d"]
    assert table_method(sweep_frame().assign(method=["dense"] + ["pso"] * 7)) == "pso"
