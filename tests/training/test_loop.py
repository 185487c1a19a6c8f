"""Whole runs: the metrics contract, determinism, failures and divergence, warm starts, the
method hooks, schedules, optimizers of a spec, checkpoints."""

from __future__ import annotations

import math
import pickle
import sys
import textwrap

import pytest
import torch
from torch.nn import functional as F

from paretoprune.errors import InputError
from paretoprune.training import (
    SMGD,
    GradientRun,
    MAdam,
    MRMSProp,
    Pruner,
    TrainSpec,
    build_model,
    checkpoint_payload,
    export_state,
    load_checkpoint,
    loop,
    lr_at,
    model_from_checkpoint,
    preflight,
    save_checkpoint,
    train_run,
)
from paretoprune.training.loop import DIVERGENCE_FACTOR, make_optimizer
from paretoprune.training.smgd import MultiGradientRun

QUICK = {"epochs": 2, "max_train_samples": 300, "device": "cpu", "val_fraction": 0.1}

CONTRACT = [
    "method", "weight", "loss", "l1", "l1_raw", "l1_init", "sparsity", "density",
    "sparsity_dense", "nnz", "n_prunable", "num_classes", "test_acc", "test_loss", "val_acc",
    "val_loss", "train_acc", "epochs", "wall_time", "train_time", "train_cpu_time", "seed",
    "model", "dataset", "optimizer", "status", "error",
]


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


def strip_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.endswith("_time")}


def same(a, b) -> bool:
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


# --- the metrics contract ---------------------------------------------------------------------


def test_metrics_contract_is_flat_and_consistent():
    result = train_run(quick(val_fraction=0.2, weight=0.5))
    m = result.metrics
    for key in CONTRACT:
        assert key in m, key
    assert all(isinstance(v, (int, float, str)) for v in m.values())  # flat scalars
    assert m["status"] == "ok" and m["error"] == "" and m["weight"] == 0.5
    assert m["method"] == "weighted-sum" and m["num_classes"] == 10
    assert m["n_prunable"] == 64 * 128 + 128 * 64 + 64 * 10
    layers = {k: v for k, v in m.items() if k.startswith("nnz.")}
    assert set(layers) == {"nnz.net.1", "nnz.net.3", "nnz.net.5"}
    assert sum(layers.values()) == m["nnz"]
    assert m["sparsity"] == pytest.approx(1 - m["nnz"] / m["n_prunable"])
    assert m["density"] == pytest.approx(1 - m["sparsity"])
    assert m["sparsity_dense"] == pytest.approx(m["sparsity"])  # all prunable weights are dense
    assert m["l1"] == pytest.approx(m["l1_raw"] / m["l1_init"])
    assert 0 <= m["test_acc"] <= 1 and not math.isnan(m["val_acc"]) and m["loss"] > 0
    assert m["epochs"] == 2 and m["seed"] == 0 and m["optimizer"] == "adam"
    assert 0 <= m["train_time"] <= m["wall_time"] and m["train_cpu_time"] >= 0
    # the state holds the same weights the metrics describe
    nnz = sum(int(torch.count_nonzero(result.state["model"][n])) for n in result.state["prunable"])
    assert nnz == m["nnz"]
    assert result.state["num_classes"] == 10 and result.state["input_shape"] == [1, 8, 8]
    assert len(result.history) == 2
    assert {"epoch", "epochs", "loss", "l1", "l1_raw", "lr", "sparsity", "nnz", "time"} <= set(
        result.history[0])


def test_no_validation_split_gives_nan():
    m = train_run(quick(epochs=1, val_fraction=0.0)).metrics
    assert math.isnan(m["val_acc"]) and math.isnan(m["val_loss"])


def test_validation_from_the_test_set():
    m = train_run(quick(epochs=1, val_fraction=0.0, val_split="test")).metrics
    assert m["status"] == "ok"
    assert 0 <= m["val_acc"] <= 1 and m["val_loss"] > 0 and 0 <= m["test_acc"] <= 1


def test_same_seed_gives_identical_numbers_on_cpu():
    a = train_run(quick(weight=0.3))
    b = train_run(quick(weight=0.3))
    assert strip_times(a.metrics) == strip_times(b.metrics)
    for k, v in a.state["model"].items():
        assert torch.equal(v, b.state["model"][k])
    c = train_run(quick(weight=0.3, seed=1))
    assert c.metrics["loss"] != a.metrics["loss"]


def test_the_weight_is_a_field_of_the_spec():
    spec = quick(epochs=1)
    assert strip_times(train_run(spec.with_parameter(0.3)).metrics) == strip_times(
        train_run(quick(epochs=1, weight=0.3)).metrics)
    with pytest.raises(TypeError):
        train_run(spec, 0.3)  # no weight argument any more


def test_weight_trades_loss_for_complexity():
    low, high = (train_run(quick(epochs=5, weight=w)).metrics for w in (0.0, 0.6))
    assert high["l1"] < low["l1"] and high["sparsity"] > low["sparsity"]
    assert high["loss"] > low["loss"]


def test_regrow_and_prune_every_and_no_pruning():
    m = train_run(quick(regrow=True, prune_every=3)).metrics
    assert m["status"] == "ok" and m["sparsity"] > 0
    # threshold 0: no pruning at all, only the penalty
    m0 = train_run(quick(threshold=0.0)).metrics
    assert m0["nnz"] == m0["n_prunable"]


def test_bad_run_arguments_are_input_errors():
    with pytest.raises(InputError, match="epochs must be at least 1"):
        train_run(quick(), epochs=0)
    with pytest.raises(InputError, match="spec must be a TrainSpec"):
        GradientRun({"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(InputError, match="does not fit the model 'lenet5'"):
        train_run(quick(model="lenet5"))


def test_unavailable_device_is_an_input_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(InputError, match="not available"):
        train_run(quick(device="cuda"))


def test_preflight_fails_early_with_one_line():
    preflight(quick())  # nothing to complain about
    with pytest.raises(InputError, match="does not fit the model 'lenet5'"):
        preflight(quick(model="lenet5"))
    with pytest.raises(InputError, match="does not import"):
        preflight(quick(dataset="no_such_pkg_xyz:data"))


# --- divergence and collapse ------------------------------------------------------------------


def test_a_diverging_run_is_failed_with_the_reason():
    m = train_run(quick(lr=1e9)).metrics  # adam: finite, but far worse than the start
    assert m["status"] == "failed"
    assert m["error"].startswith("training diverged") and "\n" not in m["error"]
    assert m["loss"] > DIVERGENCE_FACTOR * math.log(10)
    for key in ("test_acc", "test_loss", "val_acc", "val_loss", "train_acc"):
        assert math.isnan(m[key]), key
    assert m["epochs"] == 2  # trained to the end, judged afterwards


def test_a_run_with_a_non_finite_loss_stops_at_once():
    result = train_run(quick(optimizer="sgd", lr=1e12, epochs=3))
    m = result.metrics
    assert m["status"] == "failed"
    assert m["error"].startswith("training diverged in epoch 1") and "\n" not in m["error"]
    assert math.isnan(m["test_acc"]) and math.isnan(m["loss"])
    assert m["epochs"] == 1 and len(result.history) == 1


def test_the_divergence_factor_is_the_rule(monkeypatch):
    monkeypatch.setattr(loop, "DIVERGENCE_FACTOR", 1e40)
    m = train_run(quick(lr=1e9)).metrics
    assert m["status"] == "ok" and m["error"] == ""


def test_a_collapsed_weighted_sum_run_is_not_a_failure():
    # λ = 1: only the l1 term; Adam walks every weight to zero (|step| = lr < the threshold band)
    result = train_run(quick(weight=1.0, lr=1.5e-3, batch_size=8, epochs=3))
    m = result.metrics
    assert m["status"] == "ok" and m["error"] == ""
    assert m["nnz"] == 0 and m["sparsity"] == 1.0 and m["density"] == 0.0 and m["l1"] == 0.0
    # what a uniform guess scores: not a divergence
    assert m["loss"] == pytest.approx(math.log(10), rel=0.05)
    assert not math.isnan(m["test_acc"])


# --- multiobjective runs (--method smgd) ------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["smgd", "madam", "mrmsprop"])
def test_multiobjective_run_records_mean_c2_as_weight(optimizer):
    result = train_run(quick(method="smgd", optimizer=optimizer, weight=0.9))  # λ unused
    m = result.metrics
    assert m["status"] == "ok" and m["method"] == "smgd" and m["optimizer"] == optimizer
    last = result.history[-1]
    assert 0.0 <= last["c2"] <= 1.0 and last["c1"] == pytest.approx(1 - last["c2"])
    assert m["weight"] == pytest.approx(last["c2"])
    assert m["weight"] != 0.9


def test_multiobjective_fixed_weights_use_the_weight():
    result = train_run(quick(method="smgd", optimizer="madam", fixed_weights=True, weight=0.25))
    assert result.metrics["weight"] == 0.25
    assert result.history[-1]["c2"] == pytest.approx(0.25)


def test_mo_l1_scale_moves_the_min_norm_weights():
    base = quick(method="smgd", optimizer="smgd", epochs=1)
    init = train_run(base.replace(mo_l1_scale="init")).metrics["weight"]
    raw = train_run(base.replace(mo_l1_scale="raw")).metrics["weight"]
    # sign(w) is l1_init times longer than sign(w) / l1_init: the min-norm point leans to the loss
    assert raw < 0.01 < 0.5 < init


def test_nesterov_runs_with_sgd_and_smgd():
    for spec in (quick(optimizer="sgd", lr=0.05, nesterov=True, epochs=1),
                 quick(method="smgd", lr=0.05, nesterov=True, epochs=1)):
        m = train_run(spec).metrics
        assert m["status"] == "ok", m["error"]
    plain = train_run(quick(method="smgd", lr=0.05, epochs=1)).metrics
    assert plain["loss"] != m["loss"]  # Nesterov is used, not ignored


def optimizer_of(spec: TrainSpec, model, pruner):
    """The optimizer the run of ``spec`` makes (smgd's: its own run class's)."""
    run = (MultiGradientRun if spec.method == "smgd" else GradientRun)(spec)
    run.model, run.pruner = model, pruner
    return run.make_optimizer()


def test_make_optimizer_follows_the_spec():
    model = build_model("lenet5", 10, (1, 28, 28))
    pruner = Pruner(model, "dense", threshold=1e-3)
    cases = [
        (TrainSpec(optimizer="sgd", momentum=0.5, nesterov=True), torch.optim.SGD,
         {"momentum": 0.5, "nesterov": True}),
        (TrainSpec(optimizer="adam", betas=(0.8, 0.9), eps=1e-6), torch.optim.Adam,
         {"betas": (0.8, 0.9), "eps": 1e-6}),
        (TrainSpec(optimizer="rmsprop", rho=0.7), torch.optim.RMSprop, {"alpha": 0.7}),
        (TrainSpec(method="smgd", nesterov=True), SMGD, {"momentum": 0.9, "nesterov": True}),
        (TrainSpec(method="smgd", optimizer="madam"), MAdam, {"betas": (0.9, 0.999)}),
        (TrainSpec(method="smgd", optimizer="mrmsprop", rho=0.8), MRMSProp, {"rho": 0.8}),
    ]
    for spec, cls, expected in cases:
        opt = optimizer_of(spec.replace(lr=0.02), model, pruner)
        assert type(opt) is cls, spec.optimizer
        group = opt.param_groups[0]
        assert group["lr"] == 0.02
        for key, value in expected.items():
            assert group[key] == value, (spec.optimizer, key)
    fixed = optimizer_of(quick(method="smgd", fixed_weights=True, weight=0.3), model, pruner)
    assert fixed.weights == pytest.approx((0.7, 0.3))
    assert optimizer_of(TrainSpec(method="smgd"), model, pruner).weights is None
    with pytest.raises(InputError, match="unknown optimizer 'smgd'"):
        make_optimizer(TrainSpec(method="smgd"), model, pruner)  # not a single-objective one
    # weight decay: the kernels that are not pruned (LeNet-5's convolutions), nothing else
    decayed = make_optimizer(TrainSpec(weight_decay=0.01), model, pruner)
    by_decay = {g["weight_decay"]: g["params"] for g in decayed.param_groups}
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {id(p) for p in by_decay[0.01]} == {id(p) for p in convs}
    assert len(by_decay[0.01]) + len(by_decay[0.0]) == len(list(model.parameters()))


# --- warm starts, callbacks, schedules --------------------------------------------------------


def test_warm_start_continues_from_a_state_with_its_masks():
    first = train_run(quick(epochs=3, weight=0.6))
    pruned = {n: ~m for n, m in first.state["masks"].items()}
    assert sum(int(p.sum()) for p in pruned.values()) > 0
    second = train_run(quick(weight=0.3), init_state=first.state, epochs=1)
    assert second.metrics["epochs"] == 1 and len(second.history) == 1
    assert second.metrics["l1_init"] == first.metrics["l1_init"]  # same scale along the front
    for name, gone in pruned.items():
        assert torch.count_nonzero(second.state["model"][name][gone]) == 0
    with pytest.raises(InputError, match="init_state"):
        train_run(quick(weight=0.3), init_state={"nope": 1})
    with pytest.raises(InputError, match="init_state does not fit this model"):
        train_run(quick(threshold=0.0, prune="all"),
                  init_state={"model": {"net.1.weight": torch.zeros(3, 3)}})


def test_on_epoch_callback_and_sigmoid_schedule():
    records = []
    train_run(quick(epochs=4, schedule="sigmoid", lr=0.01, weight=0.1), on_epoch=records.append)
    assert [r["epoch"] for r in records] == [1, 2, 3, 4]
    assert [r["lr"] for r in records] == [lr_at("sigmoid", 0.01, e, 4) for e in range(4)]
    assert records[0]["epochs"] == 4


def test_schedules_formulas():
    assert lr_at("constant", 0.1, 7, 10) == 0.1
    assert lr_at("cosine", 0.1, 0, 10) == pytest.approx(0.1)
    assert lr_at("cosine", 0.1, 5, 10) == pytest.approx(0.05)
    # the seed's sigmoid: width 0.075·E, centred at 75 %, from lr down to 0.1·lr
    assert lr_at("sigmoid", 1.0, 0, 100) == pytest.approx(1.0, abs=1e-4)
    assert lr_at("sigmoid", 1.0, 75, 100) == pytest.approx(0.55)
    assert lr_at("sigmoid", 1.0, 99, 100) == pytest.approx(0.13, abs=0.01)
    assert lr_at("sigmoid", 2.0, 99, 100) == pytest.approx(2 * (0.1 + 0.9 / (1 + math.exp(3.2))))
    # the width scales with the epochs: the same share of the run gives the same value
    assert lr_at("sigmoid", 1.0, 15, 20) == pytest.approx(0.55)
    values = [lr_at("sigmoid", 1.0, e, 30) for e in range(30)]
    assert values == sorted(values, reverse=True) and values[-1] > 0.1
    # inverse: per optimizer step, lr / (1 + (lr / E) t); the epoch does not matter
    assert lr_at("inverse", 0.5, 0, 10, 0) == 0.5
    assert lr_at("inverse", 0.5, 3, 10, 20) == pytest.approx(0.25)
    assert lr_at("inverse", 0.5, 0, 10, 20) == lr_at("inverse", 0.5, 9, 10, 20)
    assert lr_at("inverse", 0.1, 0, 4, 40) == pytest.approx(0.1 / 2)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_at("step", 0.1, 0, 10)


# --- the hooks: the plug-in point of new methods -----------------------------------------------


class Probe(GradientRun):
    """Counts its hooks and records the learning rate of every step, changing nothing."""

    def setup(self):
        super().setup()
        self.steps, self.epochs_ended, self.lrs = 0, 0, []

    def step(self, xb, yb):
        self.steps += 1
        self.lrs.append(self.optimizer.param_groups[0]["lr"])
        return super().step(xb, yb)

    def end_epoch(self, record):
        self.epochs_ended += 1
        record["probe_steps"] = self.steps

    def extra_metrics(self):
        return {**super().extra_metrics(), "probe_steps": self.steps}


def test_gradient_run_hooks_are_called():
    spec = quick(val_fraction=0.0, max_train_samples=100, batch_size=32, weight=0.4)
    result = Probe(spec).run()  # 100 samples, batches of 32: 4 steps an epoch
    m = result.metrics
    assert m["probe_steps"] == 8 and m["weight"] == 0.4 and m["status"] == "ok"
    assert [r["probe_steps"] for r in result.history] == [4, 8]
    # hooks that change nothing give the run train_run gives
    plain = train_run(spec).metrics
    assert strip_times({k: v for k, v in m.items() if k != "probe_steps"}) == strip_times(plain)


def test_a_step_hook_can_train_something_else():
    class LossOnly(GradientRun):  # a "method" that ignores the l1 term and never prunes
        def step(self, xb, yb):
            ce = F.cross_entropy(self.model(xb), yb)
            ce.backward()
            self.optimizer.step()
            return ce

        def extra_metrics(self):
            return {"weight": 0.0, "my_column": 1.5}

    m = LossOnly(quick(threshold=0.0, weight=1.0)).run().metrics
    assert m["my_column"] == 1.5 and m["weight"] == 0.0 and m["status"] == "ok"
    assert m["nnz"] == m["n_prunable"] and m["train_acc"] > 0.5  # λ = 1 would have collapsed


def test_the_inverse_schedule_changes_the_rate_every_step():
    spec = quick(val_fraction=0.0, max_train_samples=100, batch_size=32, schedule="inverse",
                 lr=0.5, optimizer="sgd")
    probe = Probe(spec)
    result = probe.run()
    assert probe.lrs == [lr_at("inverse", 0.5, 0, 2, t) for t in range(8)]
    assert probe.lrs == sorted(probe.lrs, reverse=True) and probe.lrs[-1] < probe.lrs[0]
    assert [r["lr"] for r in result.history] == [probe.lrs[0], probe.lrs[4]]


def test_smgd_runs_through_its_hooks():
    assert issubclass(MultiGradientRun, GradientRun)
    result = MultiGradientRun(quick(method="smgd", epochs=1)).run()
    assert {"c1", "c2"} <= set(result.history[0]) and result.metrics["method"] == "smgd"


# --- checkpoints ------------------------------------------------------------------------------


def test_checkpoint_roundtrip(tmp_path):
    spec = quick(weight=0.5)
    result = train_run(spec)
    (tmp_path / "sub").mkdir()
    path = save_checkpoint(tmp_path / "sub" / "run.pt", result.state, spec=spec,
                           metrics=result.metrics, history=result.history)
    data = load_checkpoint(path)
    assert data["format"] == "paretoprune-checkpoint" and data["version"] == 2
    assert data["spec"] == spec.to_dict() and TrainSpec.from_dict(data["spec"]) == spec
    assert data["metrics"].keys() == result.metrics.keys()
    assert all(same(v, result.metrics[k]) for k, v in data["metrics"].items())
    assert data["metrics"]["weight"] == 0.5
    assert data["history"] == result.history
    assert set(data["state"]["masks"]) == set(result.state["prunable"])
    # one format: the payload is what the file holds
    payload = checkpoint_payload(result.state, spec=spec, metrics=result.metrics,
                                 history=result.history)
    assert set(payload) == set(data) and payload["spec"] == data["spec"]
    model = model_from_checkpoint(path)
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.state["model"][k])
    pruned = model_from_checkpoint(data, torch_prune=True)
    assert hasattr(pruned.net[1], "weight_mask")
    with pytest.raises(InputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="does not exist"):
        save_checkpoint(tmp_path / "no-folder" / "run.pt", result.state)
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"nothing": 1}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a paretoprune checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


FACTORY = """
import math

from torch import nn

with open({marker!r}, "a") as fh:  # a side effect of importing the module
    fh.write("imported\\n")


def tiny(num_classes, input_shape):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 5), nn.ReLU(),
                         nn.Linear(5, num_classes))
"""


def test_checkpoint_of_a_user_model_does_not_import_it_unless_asked(tmp_path, monkeypatch):
    package = tmp_path / "pp_ckpt_factory_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    marker = tmp_path / "imports.log"
    (package / "nets.py").write_text(textwrap.dedent(FACTORY.format(marker=str(marker))))
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "pp_ckpt_factory_pkg.nets:tiny"

    def forget():
        for module in ("pp_ckpt_factory_pkg.nets", "pp_ckpt_factory_pkg"):
            sys.modules.pop(module, None)

    # a checkpoint written by a run of the user's model
    spec = quick(model=name, epochs=1, max_train_samples=64, weight=0.2)
    result = train_run(spec)
    assert result.metrics["status"] == "ok"
    path = save_checkpoint(tmp_path / "run.pt", result.state, spec=spec, metrics=result.metrics)
    forget()
    marker.unlink()

    with pytest.raises(InputError) as err:
        model_from_checkpoint(path)
    assert name in str(err.value) and "factory=" in str(err.value)
    assert "\n" not in str(err.value)
    assert not marker.exists() and "pp_ckpt_factory_pkg.nets" not in sys.modules  # not imported

    def factory(num_classes, input_shape):
        assert (num_classes, input_shape) == (10, (1, 8, 8))
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 5), torch.nn.ReLU(),
                                   torch.nn.Linear(5, 10))

    model = model_from_checkpoint(path, factory=factory)
    assert not marker.exists()  # the caller's factory: still nothing imported
    for k, v in model.state_dict().items():
        assert torch.equal(v, result.state["model"][k])

    try:
        trusted = model_from_checkpoint(load_checkpoint(path), trust_imports=True)
        assert marker.read_text() == "imported\n"
        for k, v in trusted.state_dict().items():
            assert torch.equal(v, result.state["model"][k])
    finally:
        forget()


def test_export_state_gives_plain_weights_with_zeros(tmp_path):
    result = train_run(quick(weight=0.6))
    info = export_state(result.state, tmp_path / "w.pt")
    weights = torch.load(tmp_path / "w.pt", weights_only=True)
    assert set(weights) == set(result.state["model"])
    for name, mask in result.state["masks"].items():
        assert torch.count_nonzero(weights[name][~mask]) == 0
        assert torch.equal(weights[name] != 0, mask)
    assert info == {"model": "mlp", "num_classes": 10, "input_shape": [1, 8, 8]}
    model = build_model(info["model"], info["num_classes"], info["input_shape"])
    model.load_state_dict(weights)
    with pytest.raises(InputError, match="not a run state"):
        export_state({"weights": 1}, tmp_path / "x.pt")


# --- one run as an evaluate function ---------------------------------------------------------


def test_evaluator_is_picklable_and_returns_private_keys():
    from paretoprune.training import evaluator, run_point

    spec = quick(epochs=1)
    evaluate = pickle.loads(pickle.dumps(evaluator(spec)))
    record = evaluate(0.2)
    assert record["status"] == "ok" and record["weight"] == 0.2
    assert "model" in record["_state"] and len(record["_history"]) == 1
    assert record["_spec"]["options"]["weight"] == 0.2
    assert run_point(spec)["weight"] == spec.options.weight
    with pytest.raises(InputError, match="needs a TrainSpec"):
        evaluator({"epochs": 1})


@pytest.mark.slow
def test_lenet5_on_real_mnist_5k(mnist5k):
    spec = TrainSpec.from_flat(dict(model="lenet5", dataset="mnist", data_dir=str(mnist5k),
                                    epochs=2, max_train_samples=2000, max_test_samples=2000,
                                    device="cpu", weight=0.3))
    m = train_run(spec).metrics
    assert m["status"] == "ok" and m["n_prunable"] == 58_920
    assert m["test_acc"] > 0.8  # two epochs on 2,000 real digits
    assert m["sparsity_dense"] > 0.0
