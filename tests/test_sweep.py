"""run_sweep: the explore loop driving real training runs into a store, on every executor."""

import math

import pandas as pd
import pytest

from paretoprune.errors import InputError
from paretoprune.store import SweepStore
from paretoprune.sweep import SweepConfig, SweepEvaluator, parse_weight_range, run_sweep

pytestmark = pytest.mark.slow

TRAIN = {"model": "mlp", "dataset": "digits", "epochs": 3, "batch_size": 64, "seed": 0}


class Recorder:
    """A reporter that keeps every event (the real one prints them)."""

    progress_dir = None

    def __init__(self):
        self.events = []

    def start(self, config, done):
        self.events.append(("start", len(done)))

    def epoch(self, weight, record):
        self.events.append(("epoch", weight, record["epoch"]))

    def finished(self, row, hv):
        self.events.append(("finished", row["run"], hv))

    def end(self, frame):
        self.events.append(("end", frame.attrs["stop_reason"]))


def test_serial_sweep_reports_events_and_fills_the_store(tmp_path):
    reporter = Recorder()
    frame = run_sweep(tmp_path / "s", SweepConfig(train=TRAIN, budget=4), reporter=reporter)
    kinds = [e[0] for e in reporter.events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    assert kinds.count("finished") == 4 and kinds.count("epoch") == 4 * 3
    hvs = [e[2] for e in reporter.events if e[0] == "finished"]
    assert math.isnan(hvs[0]) and hvs[-1] == pytest.approx(frame.attrs["hypervolume"])
    assert hvs[2] <= hvs[3] + 1e-12  # the front only grows
    stored = SweepStore.open(tmp_path / "s").points()
    assert stored["run"].tolist() == frame["run"].tolist()
    assert stored["pareto"].tolist() == frame["pareto"].tolist()
    checkpoint = SweepStore.open(tmp_path / "s").load_checkpoint(2)
    assert set(checkpoint) >= {"state", "config", "metrics"}
    assert checkpoint["metrics"]["weight"] == frame.loc[frame["run"] == 2, "weight"].item()


def test_process_workers_give_the_same_points_as_serial(tmp_path):
    serial = run_sweep(tmp_path / "a", SweepConfig(train=TRAIN, budget=4))
    parallel = run_sweep(tmp_path / "b", SweepConfig(train=TRAIN, budget=4, workers=2))
    # Rounds of two weights: the two ends, then the largest gaps. Training is deterministic,
    # so the ends agree exactly with the serial sweep.
    ends = lambda f: f[f["weight"].isin([0.0, 1.0])].sort_values("weight")  # noqa: E731
    pd.testing.assert_series_equal(ends(serial)["loss"].reset_index(drop=True),
                                   ends(parallel)["loss"].reset_index(drop=True))
    assert len(parallel) == 4 and parallel["weight"].is_unique


def test_warm_start_continues_from_the_nearest_run(tmp_path):
    config = SweepConfig(train=TRAIN, budget=4, warm_start=True, warm_epochs=1)
    frame = run_sweep(tmp_path / "w", config)
    cold = frame[frame["warm_from"] < 0]
    warm = frame[frame["warm_from"] >= 0]
    assert set(cold["weight"]) == {0.0, 1.0} and (cold["epochs"] == 3).all()
    assert len(warm) == 2 and (warm["epochs"] == 1).all()
    for _, row in warm.iterrows():
        earlier = frame[(frame["run"] < row["run"]) & (frame["weight"] <= row["weight"])]
        nearest = earlier.loc[(row["weight"] - earlier["weight"]).idxmin(), "run"]
        assert row["warm_from"] == nearest  # the nearest denser run, never the all-zero end
        assert row["sparsity"] < 1.0


def test_a_diverging_run_is_recorded_and_the_sweep_goes_on(tmp_path):
    # Plain SGD with an absurd learning rate diverges at every weight but the all-zero end.
    train = {**TRAIN, "optimizer": "sgd", "lr": 1e6}
    frame = run_sweep(tmp_path / "d", SweepConfig(train=train, budget=3))
    assert len(frame) == 3
    failed = frame[frame["status"] == "failed"]
    assert len(failed) >= 1
    assert all(isinstance(e, str) and e for e in failed["error"])
    assert SweepStore.open(tmp_path / "d").points()["status"].tolist() == frame["status"].tolist()


@pytest.mark.ray
def test_ray_executor_runs_a_sweep_on_a_local_runtime(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'paretoprune[ray]'")
    config = SweepConfig(train=TRAIN, budget=3, workers=2, executor="ray")
    frame = run_sweep(tmp_path / "r", config)
    assert len(frame) == 3 and (frame["status"] == "ok").all()
    assert len(SweepStore.open(tmp_path / "r").runs()) == 3


def test_evaluator_is_picklable_without_its_callback():
    import pickle

    evaluator = SweepEvaluator(TRAIN, None, on_epoch=lambda w, r: None)
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone.on_epoch is None and clone.train == TRAIN


@pytest.mark.parametrize("text, message", [("0.2", "LO:HI"), ("a:b", "LO:HI")])
def test_weight_range_parsing(text, message):
    with pytest.raises(InputError, match=message):
        parse_weight_range(text)
    assert parse_weight_range("0.1:0.9") == (0.1, 0.9)


@pytest.mark.parametrize("changes, message", [
    ({"budget": 1}, "budget must be at least 2"),
    ({"weights": (0.5, 0.5)}, "0 <= LO < HI <= 1"),
    ({"workers": 0}, "workers must be at least 1"),
    ({"executor": "dask"}, "unknown executor"),
])
def test_config_validation(changes, message):
    with pytest.raises(InputError, match=message):
        SweepConfig(train=TRAIN, **changes).validate()


def test_config_identity_ignores_runtime_settings():
    a = SweepConfig(train=TRAIN, budget=4, workers=1)
    b = SweepConfig(train=TRAIN, budget=9, workers=2, executor="process")
    assert a.identity() == b.identity()
    assert a.identity() != SweepConfig(train=TRAIN, rule="grid").identity()
    assert SweepConfig.from_dict(a.to_dict()) == a
