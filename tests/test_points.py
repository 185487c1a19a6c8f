"""Tables of points: loading from every format, the pareto column, knees on frames."""

import numpy as np
import pandas as pd
import pytest

from paretoprune.errors import InputError
from paretoprune.points import knee, load_table, objective_values, with_pareto

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
