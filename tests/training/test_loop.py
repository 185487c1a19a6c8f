"""Whole runs: the metrics contract, determinism, failures, warm starts, checkpoints, the spec."""

from __future__ import annotations

import math
import pickle

import pytest
import torch

from paretoprune.errors import InputError
from paretoprune.training import (
    TrainSpec,
    build_model,
    export_state,
    load_checkpoint,
    lr_at,
    model_from_checkpoint,
    save_checkpoint,
    train_run,
)

QUICK = {"epochs": 2, "max_train_samples": 300, "device": "cpu"}

CONTRACT = [
    "weight", "loss", "l1", "l1_raw", "l1_init", "sparsity", "sparsity_dense", "nnz",
    "n_prunable", "test_acc", "test_loss", "val_acc", "val_loss", "train_acc", "epochs",
    "wall_time", "seed", "model", "dataset", "optimizer", "status", "error",
]


def quick(**kw) -> TrainSpec:
    return TrainSpec(**{**QUICK, **kw})


def test_metrics_contract_is_flat_and_consistent():
    result = train_run(quick(val_fraction=0.2), 0.5)
    m = result.metrics
    for key in CONTRACT:
        assert key in m, key
    assert all(isinstance(v, (int, float, str)) for v in m.values())  # flat scalars
    assert m["status"] == "ok" and m["error"] == "" and m["weight"] == 0.5
    assert m["n_prunable"] == 64 * 128 + 128 * 64 + 64 * 10
    layers = {k: v for k, v in m.items() if k.startswith("nnz.")}
    assert set(layers) == {"nnz.net.1", "nnz.net.3", "nnz.net.5"}
    assert sum(layers.values()) == m["nnz"]
    assert m["sparsity"] == pytest.approx(1 - m["nnz"] / m["n_prunable"])
    assert m["sparsity_dense"] == pytest.approx(m["sparsity"])  # all prunable weights are dense
    assert m["l1"] == pytest.approx(m["l1_raw"] / m["l1_init"])
    assert 0 <= m["test_acc"] <= 1 and not math.isnan(m["val_acc"]) and m["loss"] > 0
    assert m["epochs"] == 2 and m["seed"] == 0 and m["optimizer"] == "adam"
    # the state holds the same weights the metrics describe
    nnz = sum(int(torch.count_nonzero(result.state["model"][n])) for n in result.state["prunable"])
    assert nnz == m["nnz"]
    assert len(result.history) == 2
    assert {"epoch", "loss", "l1", "lr", "sparsity"} <= set(result.history[0])


def test_no_validation_split_gives_nan():
    m = train_run(quick(epochs=1), 0.0).metrics
    assert math.isnan(m["val_acc"]) and math.isnan(m["val_loss"])


def test_same_seed_gives_identical_numbers_on_cpu():
    a = train_run(quick(val_fraction=0.1), 0.3)
    b = train_run(quick(val_fraction=0.1), 0.3)
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_time")}  # noqa: E731
    assert strip(a.metrics) == strip(b.metrics)
    for k, v in a.state["model"].items():
        assert torch.equal(v, b.state["model"][k])
    c = train_run(quick(val_fraction=0.1, seed=1), 0.3)
    assert c.metrics["loss"] != a.metrics["loss"]


def test_weight_trades_loss_for_complexity():
    low, high = (train_run(quick(epochs=5), w).metrics for w in (0.0, 0.6))
    assert high["l1"] < low["l1"] and high["sparsity"] > low["sparsity"]
    assert high["loss"] > low["loss"]


def test_regrow_and_prune_every_and_conv_choice_run():
    m = train_run(quick(regrow=True, prune_every=3), 0.5).metrics
    assert m["status"] == "ok" and m["sparsity"] > 0
    # threshold 0: no pruning at all, only the penalty
    m0 = train_run(quick(threshold=0.0), 0.5).metrics
    assert m0["nnz"] == m0["n_prunable"]


def test_diverging_run_is_returned_as_failed():
    result = train_run(quick(optimizer="sgd", lr=1e12, epochs=2), 0.0)
    m = result.metrics
    assert m["status"] == "failed"
    assert "diverged" in m["error"] and "\n" not in m["error"]
    assert math.isnan(m["test_acc"]) and math.isnan(m["loss"])
    assert m["epochs"] == 1  # stopped after the first epoch


@pytest.mark.parametrize("optimizer", ["smgd", "madam", "mrmsprop"])
def test_multiobjective_run_records_mean_c2_as_weight(optimizer):
    result = train_run(quick(optimizer=optimizer), 0.9)  # the weight is ignored
    m = result.metrics
    assert m["status"] == "ok"
    last = result.history[-1]
    assert 0.0 <= last["c2"] <= 1.0 and last["c1"] == pytest.approx(1 - last["c2"])
    assert m["weight"] == pytest.approx(last["c2"])
    assert m["weight"] != 0.9


def test_multiobjective_fixed_weights_use_the_weight():
    result = train_run(quick(optimizer="madam", fixed_weights=True), 0.25)
    assert result.metrics["weight"] == 0.25
    assert result.history[-1]["c2"] == pytest.approx(0.25)


def test_warm_start_continues_from_a_state_with_its_masks():
    first = train_run(quick(epochs=3), 0.6)
    pruned = {n: ~m for n, m in first.state["masks"].items()}
    assert sum(int(p.sum()) for p in pruned.values()) > 0
    second = train_run(quick(), 0.3, init_state=first.state, epochs=1)
    assert second.metrics["epochs"] == 1 and len(second.history) == 1
    assert second.metrics["l1_init"] == first.metrics["l1_init"]  # same scale along the front
    for name, gone in pruned.items():
        assert torch.count_nonzero(second.state["model"][name][gone]) == 0
    with pytest.raises(InputError, match="init_state"):
        train_run(quick(), 0.3, init_state={"nope": 1})


def test_on_epoch_callback_and_schedule():
    records = []
    train_run(quick(epochs=4, schedule="sigmoid", lr=0.01), 0.1, on_epoch=records.append)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert [r["lr"] for r in records] == [lr_at("sigmoid", 0.01, e, 4) for e in range(4)]
    assert records[0]["epochs"] == 4


def test_schedules_formulas():
    assert lr_at("constant", 0.1, 7, 10) == 0.1
    assert lr_at("cosine", 0.1, 0, 10) == pytest.approx(0.1)
    assert lr_at("cosine", 0.1, 5, 10) == pytest.approx(0.05)
    assert lr_at("sigmoid", 1.0, 0, 100) == pytest.approx(1.0, abs=1e-5)
    assert lr_at("sigmoid", 1.0, 75, 100) == pytest.approx(0.55)
    assert lr_at("sigmoid", 1.0, 99, 100) == pytest.approx(0.1, abs=0.01)
    values = [lr_at("sigmoid", 1.0, e, 30) for e in range(30)]
    assert values == sorted(values, reverse=True)


def test_checkpoint_roundtrip(tmp_path):
    spec = quick()
    result = train_run(spec, 0.5)
    path = save_checkpoint(tmp_path / "sub" / "run.pt", result.state, spec=spec, weight=0.5,
                           metrics=result.metrics, history=result.history)
    data = load_checkpoint(path)
    assert data["spec"] == spec.to_dict()
    same = lambda a, b: a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))  # noqa: E731
    assert data["metrics"].keys() == result.metrics.keys()
    assert all(same(v, result.metrics[k]) for k, v in data["metrics"].items())
    assert set(data["state"]["masks"]) == set(result.state["prunable"])
    model = model_from_checkpoint(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.state["model"][k])
    pruned = model_from_checkpoint(data, torch_prune=True)
    assert hasattr(pruned.net[1], "weight_mask")
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")


def test_spec_evaluate_is_picklable_and_returns_private_keys():
    spec = quick(epochs=1)
    evaluate = pickle.loads(pickle.dumps(spec.evaluate))
    record = evaluate(0.2)
    assert record["status"] == "ok" and record["weight"] == 0.2
    assert "model" in record["_state"] and len(record["_history"]) == 1


def test_spec_roundtrip_and_validation():
    spec = TrainSpec(model="lenet5", dataset="mnist", epochs=3, betas=(0.8, 0.99))
    data = spec.to_dict()
    import json

    assert TrainSpec.from_dict(json.loads(json.dumps(data))) == spec
    bad = [
        ({"model": "nope"}, "unknown model 'nope'; known: mlp, lenet5"),
        ({"dataset": "nope"}, "unknown dataset"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"lr": 0}, "learning rate must be positive"),
        ({"lr": -1e-3}, "learning rate must be positive"),
        ({"optimizer": "lbfgs"}, "unknown optimizer"),
        ({"prune": "heads"}, "unknown prune target"),
        ({"schedule": "step"}, "unknown schedule"),
        ({"device": "tpu"}, "unknown device"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"model": "no_such_pkg_xyz:factory"}, "does not import"),
        ({"epochs": 2.5}, "epochs must be an integer"),
    ]
    for values, message in bad:
        with pytest.raises(InputError, match=message):
            TrainSpec(**values)
    with pytest.raises(InputError, match="unknown training setting 'epoch'"):
        TrainSpec.from_dict({"epoch": 3})
    for weight in (-0.1, 1.5, float("nan"), "x"):
        with pytest.raises(InputError, match="weight"):
            train_run(quick(), weight)


def test_unavailable_device_is_an_input_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="not available"):
        train_run(quick(device="cuda"), 0.1)


@pytest.mark.slow
def test_lenet5_on_real_mnist_5k(mnist5k):
    spec = TrainSpec(model="lenet5", dataset="mnist", data_dir=str(mnist5k), epochs=2,
                     max_train_samples=2000, max_test_samples=2000, device="cpu")
    m = train_run(spec, 0.3).metrics
    assert m["status"] == "ok" and m["n_prunable"] == 58_920
    assert m["test_acc"] > 0.8  # two epochs on 2,000 real digits
    assert m["sparsity_dense"] > 0.0


def test_mo_l1_scale_moves_the_min_norm_weights():
    init = train_run(quick(optimizer="smgd", epochs=1, mo_l1_scale="init"), 0.0).metrics["weight"]
    raw = train_run(quick(optimizer="smgd", epochs=1, mo_l1_scale="raw"), 0.0).metrics["weight"]
    # sign(w) is l1_init times longer than sign(w) / l1_init: the min-norm point leans to the loss
    assert raw < 0.01 < 0.5 < init


def test_export_state_gives_plain_weights_with_zeros(tmp_path):
    result = train_run(quick(), 0.6)
    info = export_state(result.state, tmp_path / "w.pt")
    weights = torch.load(tmp_path / "w.pt", weights_only=True)
    assert set(weights) == set(result.state["model"])
    for name, mask in result.state["masks"].items():
        assert torch.count_nonzero(weights[name][~mask]) == 0
        assert torch.equal(weights[name] != 0, mask)
    model = build_model(info["model"], info["num_classes"], info["input_shape"])
    model.load_state_dict(weights)
    with pytest.raises(InputError, match="not a run state"):
        export_state({"weights": 1}, tmp_path / "x.pt")
