"""run_sweep: the planner driving real training runs into a store, on every executor."""

from __future__ import annotations

import math
import pickle
import re

import pandas as pd
import pytest

from paretoprune.config import SweepConfig, TrainSpec
from paretoprune.errors import InputError, StoreError
from paretoprune.store import SweepStore
from paretoprune.sweep import Job, SweepFailed, run_sweep

pytestmark = pytest.mark.slow

TRAIN = TrainSpec(model="mlp", dataset="digits", epochs=3, batch_size=64, seed=0, device="cpu")


class Recorder:
    """A reporter that keeps every event (the real one prints them)."""

    def __init__(self):
        self.events = []

    def start(self, config, rows):
        self.events.append(("start", len(rows)))

    def epoch(self, job, label, record):
        self.events.append(("epoch", job, record["epoch"]))

    def finished(self, row, hv, job=None):
        self.events.append(("finished", row["run"], row["role"], hv))

    def end(self, frame, summary):
        self.events.append(("end", summary["stop_reason"]))


def sweep(tmp_path, name="s", reporter=None, **kw):
    return run_sweep(tmp_path / name, SweepConfig(train=kw.pop("train", TRAIN), **kw),
                     reporter=reporter)


def test_serial_sweep_has_a_dense_reference_trials_and_events(tmp_path):
    reporter = Recorder()
    frame = sweep(tmp_path, reporter=reporter, budget=4)
    assert frame["role"].tolist() == ["dense", "trial", "trial", "trial", "trial"]
    dense = frame.iloc[0]
    assert dense["sparsity"] == 0.0 and dense["status"] == "ok"  # pruning off
    trials = frame[frame["role"] == "trial"]
    assert 1.0 not in trials["weight"].tolist()  # the all-zero end is known, not trained
    # λ = 0 under the default recipe is the dense reference itself: not trained again
    assert (trials["weight"] > 0.0).all()
    kinds = [e[0] for e in reporter.events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("finished") == 5 and kinds.count("epoch") == 5 * 3
    # the store holds the same rows, each with a checkpoint in the one format
    store = SweepStore.open(tmp_path / "s")
    assert store.points()["run"].tolist() == frame["run"].tolist()
    checkpoint = store.load_checkpoint(2)
    assert checkpoint["format"] == "paretoprune-checkpoint" and checkpoint["spec"]["options"]["weight"] \
        == frame.loc[frame["run"] == 2, "weight"].item()
    # derived columns: drops against the dense reference, the selected network
    assert frame["drop"].iloc[0] == 0.0
    assert frame["selected"].sum() == 1


def test_the_original_recipe_trains_its_lambda_0_end_which_prunes(tmp_path):
    frame = sweep(tmp_path, budget=2, train=TRAIN.replace(recipe="original"))
    trials = frame[frame["role"] == "trial"]
    assert trials["weight"].iloc[0] == 0.0  # its threshold prunes at λ = 0: not the dense net
    assert trials["sparsity"].iloc[0] > 0.0


def test_drops_and_collapse_are_measured_against_the_dense_run(tmp_path):
    frame = sweep(tmp_path, budget=6)
    ref = frame.loc[frame["role"] == "dense", "val_acc"].item()
    pd.testing.assert_series_equal(frame["drop"], ref - frame["val_acc"], check_names=False)
    collapsed = frame[frame["collapsed"]]
    assert len(collapsed) <= 1  # the collapse edge costs at most one run
    assert not frame.loc[frame["collapsed"], "pareto"].any()


def test_process_workers_give_the_same_dense_and_end_runs_as_serial(tmp_path):
    serial = sweep(tmp_path, "a", budget=3)
    parallel = sweep(tmp_path, "b", budget=3, workers=2)
    def pick(frame, role, weight=None):
        rows = frame[frame["role"] == role]
        return rows if weight is None else rows[rows["weight"] == weight]

    assert pick(serial, "dense")["loss"].item() == pick(parallel, "dense")["loss"].item()
    # training is deterministic: a λ both sweeps trained (the first ask sees the same state)
    shared = set(pick(serial, "trial")["weight"]) & set(pick(parallel, "trial")["weight"])
    assert shared
    for weight in shared:
        assert pick(serial, "trial", weight)["loss"].item() == \
            pick(parallel, "trial", weight)["loss"].item()
    assert len(parallel) == 4 and parallel["run"].is_unique


def test_warm_start_continues_from_the_nearest_denser_run(tmp_path):
    frame = sweep(tmp_path, budget=6, warm_start=True, warm_epochs=1)
    trials = frame[frame["role"] == "trial"]
    warm = trials[trials["warm_from"] >= 0]
    assert len(warm) >= 1 and (warm["epochs"] == 1).all()
    assert (trials.loc[trials["warm_from"] < 0, "epochs"] == 3).all()
    for _, row in warm.iterrows():
        base = frame.loc[frame["run"] == row["warm_from"]].iloc[0]
        assert base["weight"] <= row["weight"] and base["role"] == "trial"


def test_jobs_carry_their_weights_not_a_path(tmp_path):
    # what travels to a worker (a process, a Ray task on another machine) is self-contained
    frame = sweep(tmp_path, budget=4, warm_start=True, warm_epochs=1)
    store = SweepStore.open(tmp_path / "s")
    state = store.load_checkpoint(int(frame["run"].iloc[1]))["state"]
    job = Job(TRAIN.with_parameter(0.3), init_state=state, epochs=1)
    assert str(tmp_path).encode() not in pickle.dumps(job)


def test_max_drop_certifies_in_fixed_sequence_with_stored_predictions(tmp_path):
    train = TRAIN.replace(val_split="test")  # 225 validation images: enough for 5 points
    frame = sweep(tmp_path, budget=4, max_drop=0.05, train=train)
    store = SweepStore.open(tmp_path / "s")
    n_val = None
    for run in frame.loc[frame["status"] == "ok", "run"]:  # the dense run too
        stored = store.load_predictions(int(run))
        assert set(stored) == {"val", "val_labels", "test", "test_labels"}
        assert len(stored["val"]) == len(stored["val_labels"]) == (n_val or len(stored["val"]))
        n_val = len(stored["val"])
    trials = frame[frame["role"] == "trial"]
    assert (trials["drop_upper"] >= trials["drop"] - 1e-12).all()  # a bound above its estimate
    assert trials["test_drop_upper"].notna().all()
    chosen = frame[frame["selected"]]
    assert len(chosen) == 1 and chosen["certified"].item()
    assert chosen["drop_upper"].item() <= 0.05
    # fixed sequence, dense to sparse: every denser trial is certified too
    denser = trials[trials["nnz"] > chosen["nnz"].item()]
    assert denser["certified"].all()
    answer = frame.attrs["answer"]
    assert answer["run"] == chosen["run"].item() and answer["certified"]
    assert answer["drop_upper"] == pytest.approx(chosen["drop_upper"].item())


def test_the_network_that_ships_is_judged_against_a_dense_run_as_long_as_it(tmp_path):
    from paretoprune.selection import RETRAIN_ATTEMPTS
    from paretoprune.stats import paired_drop

    # lr 1e-3: one-epoch trials that stay within 5 points, so there is a final to judge
    train = TRAIN.replace(val_split="test", lr=1e-3)
    frame = sweep(tmp_path, budget=3, trial_epochs=1, max_drop=0.05, train=train)
    store = SweepStore.open(tmp_path / "s")
    full = frame[(frame["role"] == "dense") & (frame["epochs"] == 3)].iloc[0]
    finals = frame[frame["role"] == "final"]
    assert 1 <= len(finals) <= RETRAIN_ATTEMPTS
    dense = store.load_predictions(int(full["run"]))
    level = 1 - 0.05 / RETRAIN_ATTEMPTS  # Bonferroni over the retrain attempts
    for _, final in finals.iterrows():
        mine = store.load_predictions(int(final["run"]))
        again = paired_drop(dense["val"], mine["val"], dense["val_labels"], level)
        assert final["drop_upper"] == pytest.approx(again.upper)
        assert final["certified"] == (again.upper <= 0.05)
    answer = frame.attrs["answer"]
    if answer is not None:  # what ships is a certified retrain, never a 1-epoch trial
        assert answer["role"] == "final" and answer["certified"]
    else:  # every certified trial was retrained, up to the attempts allowed
        certified_trials = frame[(frame["role"] == "trial") & frame["certified"]]
        assert not finals["certified"].any()
        assert len(finals) == min(RETRAIN_ATTEMPTS, len(certified_trials))


def test_max_drop_point_rule_at_confidence_0(tmp_path):
    frame = sweep(tmp_path, budget=6, max_drop=0.03, confidence=0.0)
    assert frame.attrs["rule"] == "point rule (--confidence 0)"
    ref = frame.loc[frame["role"] == "dense", "val_acc"].item()
    chosen = frame[frame["selected"]]
    assert len(chosen) == 1
    row = chosen.iloc[0]
    assert row["val_acc"] >= ref - 0.03
    within = frame[(frame["role"] == "trial") & (frame["val_acc"] >= ref - 0.03)
                   & ~frame["collapsed"]]
    assert row["nnz"] == within["nnz"].min()
    assert frame["within"].notna().any()


def test_trial_epochs_then_final_retrain_and_finetuning(tmp_path):
    frame = sweep(tmp_path, budget=3, trial_epochs=1, finetune_epochs=1)
    assert (frame.loc[frame["role"] == "trial", "epochs"] == 1).all()
    final = frame[frame["role"] == "final"].iloc[0]
    tuned = frame[frame["role"] == "finetuned"].iloc[0]
    parent = frame[frame["run"] == final["parent"]].iloc[0]
    # --retrain warm (the default): the trial trains on to --epochs from its own weights,
    # its masks fixed, so what ships is the network the search chose
    assert final["epochs"] == 2 and final["weight"] == parent["weight"]
    assert final["warm_from"] == parent["run"]
    assert 0 < final["nnz"] <= parent["nnz"]
    assert tuned["parent"] == final["run"] and tuned["epochs"] == 1
    assert tuned["nnz"] <= final["nnz"]  # masks fixed: nothing grows back
    assert frame.loc[frame["role"].isin(["final", "finetuned"]), "selected"].all()
    # a resume does not train them again
    again = sweep(tmp_path, budget=3, trial_epochs=1, finetune_epochs=1)
    assert len(again) == len(frame)


def test_cold_retrain_trains_the_parameter_again_for_the_full_epochs(tmp_path):
    frame = sweep(tmp_path, budget=3, trial_epochs=1, retrain="cold")
    final = frame[frame["role"] == "final"].iloc[0]
    parent = frame[frame["run"] == final["parent"]].iloc[0]
    assert final["epochs"] == 3 and final["weight"] == parent["weight"]
    assert final["warm_from"] == -1


def test_warm_retrain_without_the_trials_checkpoint_trains_cold_and_says_so(tmp_path,
                                                                           monkeypatch):
    def gone(self, run):
        raise StoreError(f"checkpoint of run {run} is missing")

    monkeypatch.setattr(SweepStore, "load_checkpoint", gone)
    with pytest.warns(UserWarning, match="trains cold instead"):
        frame = sweep(tmp_path, budget=3, trial_epochs=1)
    final = frame[frame["role"] == "final"].iloc[0]
    assert final["epochs"] == 3 and final["warm_from"] == -1


def test_failed_runs_are_recorded_retried_on_resume_and_all_failed_exits_1(tmp_path):
    bad = TRAIN.replace(optimizer="sgd", lr=1e6)
    with pytest.raises(SweepFailed, match="no run of the sweep"):
        sweep(tmp_path, "d", train=bad, budget=2)
    first = SweepStore.open(tmp_path / "d").points()
    assert (first.loc[first["role"] == "trial", "status"] == "failed").all()
    assert first.loc[first["role"] == "trial", "error"].str.contains("diverged").all()
    with pytest.raises(SweepFailed):  # the same command again retries them (and fails again)
        sweep(tmp_path, "d", train=bad, budget=2)
    second = SweepStore.open(tmp_path / "d").points()
    assert (second["role"] == "trial").sum() == 2 * (first["role"] == "trial").sum()


def test_a_dataset_that_is_missing_stops_before_anything_is_written(tmp_path):
    train = TRAIN.replace(model="lenet5", dataset="mnist", data_dir=str(tmp_path / "none"))
    with pytest.raises(InputError, match="--download"):
        sweep(tmp_path, "m", train=train, budget=2)
    assert not (tmp_path / "m").exists()


def test_resume_keeps_finished_runs_and_continues(tmp_path):
    first = sweep(tmp_path, budget=3)
    more = sweep(tmp_path, budget=5)
    assert (more["role"] == "trial").sum() == 5 and (more["role"] == "dense").sum() == 1
    kept = more[more["run"].isin(first["run"])]
    pd.testing.assert_series_equal(kept["loss"].reset_index(drop=True),
                                   first["loss"].reset_index(drop=True))


@pytest.mark.ray
def test_ray_sweep_with_warm_starts_on_a_local_runtime(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'paretoprune[ray]'")
    frame = sweep(tmp_path, "r", budget=8, workers=2, executor="ray", warm_start=True,
                  warm_epochs=1)
    trials = frame[frame["role"] == "trial"]
    assert len(trials) == 8 and (frame["status"] == "ok").all()
    assert (trials["warm_from"] >= 0).any()  # the weights travelled in the task
    assert math.isfinite(frame.loc[frame["role"] == "dense", "val_acc"].item())


def test_a_missing_warm_start_checkpoint_falls_back_to_a_cold_run(tmp_path):
    first = sweep(tmp_path, budget=4, warm_start=True, warm_epochs=1)
    for path in (tmp_path / "s" / "checkpoints").glob("*.pt"):
        path.unlink()  # deleted by hand
    with pytest.warns(UserWarning) as caught:
        more = sweep(tmp_path, budget=6, warm_start=True, warm_epochs=1)
    messages = [str(w.message) for w in caught]
    # resuming reports the runs without weights (their rows are kept), then trains cold
    assert any(re.search(r"5 finished run\(s\) of .* have no checkpoint \(run-0000.pt, "
                         r".*their rows are kept without weights", m) for m in messages)
    assert any("trains cold instead" in m for m in messages)
    new = more[~more["run"].isin(first["run"])]
    # no run starts from a deleted checkpoint: cold, or warm from a run of this invocation
    cold = new["warm_from"] < 0
    assert (new["status"] == "ok").all() and cold.any()
    assert (cold | new["warm_from"].isin(new["run"])).all()


def test_a_broken_sweep_json_is_reported_by_resume_and_readers(tmp_path):
    from paretoprune.errors import StoreError
    from paretoprune.table_loading import load_table

    sweep(tmp_path, budget=2)
    (tmp_path / "s" / "sweep.json").write_text('{"schema_version": 99, "kind": "paretoprune-sweep"}')
    with pytest.raises(StoreError, match="newer paretoprune"):
        sweep(tmp_path, budget=3)
    with pytest.raises(StoreError, match="newer paretoprune"):
        load_table(tmp_path / "s")


def test_trials_are_measured_against_a_dense_run_as_long_as_they_are(tmp_path):
    # lr 1e-3: one-epoch trials that stay within 5 points of the one-epoch dense run
    frame = sweep(tmp_path, budget=3, trial_epochs=1, max_drop=0.05, train=TRAIN.replace(lr=1e-3))
    dense = frame[frame["role"] == "dense"].set_index("epochs")
    assert sorted(dense.index) == [1, 3]  # one as long as the trials, one as the retrain
    trials = frame[frame["role"] == "trial"]
    expected = dense.loc[1, "val_acc"] - trials["val_acc"]
    pd.testing.assert_series_equal(trials["drop"], expected, check_names=False)
    final = frame[frame["role"] == "final"]
    assert (final["drop"] == dense.loc[3, "val_acc"] - final["val_acc"]).all()
    assert trials["within"].any()  # within 5 points of the 1-epoch dense run
