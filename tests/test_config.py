"""The typed configuration (paretoprune.config): every field's check, method-specific options,
reading old sweeps, the sweep's identity, the generated CLI options -- and all of it torch-free."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from paretoprune import config
from paretoprune.config import SweepConfig, TrainSpec, settings_of
from paretoprune.errors import InputError
from paretoprune.methods import METHODS, get_method, option_owners
from paretoprune.methods.smgd import SmgdOptions
from paretoprune.methods.weighted_sum import WeightedSumOptions

NAN, INF = float("nan"), float("inf")
DATA = Path(__file__).resolve().parent / "data"

# The ``config -> train`` dict of tests/data/sweep-schema1/sweep.json, written by paretoprune 0.1
# (copied here so that re-running that sweep with a newer version cannot change the test).
OLD_TRAIN = {
    "model": "lenet5", "dataset": "mnist", "optimizer": "adam", "epochs": 30, "batch_size": 32,
    "lr": 0.001, "threshold": 0.001, "prune": "dense", "prune_every": 1, "regrow": False,
    "prune_bias": False, "schedule": "constant", "momentum": 0.9, "betas": [0.9, 0.999],
    "rho": 0.9, "eps": 1e-08, "weight_decay": 0.0, "fixed_weights": False, "mo_l1_scale": "raw",
    "fused": True, "device": "cpu", "seed": 0, "val_fraction": 0.0,
    "data_dir": "../shared/datasets/mnist-5k", "download": False, "max_train_samples": None,
    "max_test_samples": None, "eval_batch_size": 1000,
}
# ... and the rest of that sweep's config.
OLD_SWEEP = {
    "train": OLD_TRAIN, "budget": 16, "rule": "normal", "weights": [0.0, 1.0], "tol": 0.001,
    "warm_start": False, "warm_epochs": 5, "workers": 1, "executor": "auto", "ray_address": None,
    "gpus_per_run": 0.0, "cpus_per_run": 1.0,
}


def make(**values) -> TrainSpec:
    """A spec from flat values: the method's options next to the common settings, as the
    command line gives them."""
    return TrainSpec.from_flat(values)


def value_of(spec: TrainSpec, name: str):
    """A common setting or an option of the spec's method."""
    return getattr(spec.options if name in spec.options.names() else spec, name)


def error_of(make) -> str:
    with pytest.raises(InputError) as err:
        make()
    message = str(err.value)
    assert "\n" not in message
    return message


# ----------------------------------------------------------------------------------------------
# TrainSpec: each field's check
# ----------------------------------------------------------------------------------------------

SMGD = {"method": "smgd"}

# (field, value, extra fields, the stored value)
GOOD = [
    ("method", "smgd", {}, "smgd"),
    ("model", "lenet5", {}, "lenet5"),
    ("model", "torchvision:resnet18", {}, "torchvision:resnet18"),
    ("model", "my_pkg.nets:tiny", {}, "my_pkg.nets:tiny"),  # not imported here
    ("dataset", "cifar10", {}, "cifar10"),
    ("dataset", "my_pkg.data:blobs", {}, "my_pkg.data:blobs"),
    ("optimizer", "sgd", {}, "sgd"),
    ("optimizer", "mrmsprop", SMGD, "mrmsprop"),
    ("epochs", 1, {}, 1),
    ("epochs", 3.0, {}, 3),  # an integral float is an integer (JSON may write one)
    ("batch_size", 7, {}, 7),
    ("lr", 1e-6, {}, 1e-6),
    ("lr", 2, {}, 2.0),
    ("schedule", "inverse", {}, "inverse"),
    ("momentum", 0.0, {}, 0.0),
    ("momentum", 0.99, {}, 0.99),
    ("nesterov", True, {}, True),
    ("betas", [0.8, 0.99], {}, (0.8, 0.99)),
    ("betas", (0.0, 0.5), {}, (0.0, 0.5)),
    ("rho", 0.0, {}, 0.0),
    ("eps", 0, {}, 0.0),
    ("weight_decay", 1e-4, {}, 1e-4),
    ("threshold", 0, {}, 0.0),
    ("prune", "all", {}, "all"),
    ("prune_every", 5, {}, 5),
    ("regrow", True, {}, True),
    ("prune_bias", True, {}, True),
    ("fused", False, {}, False),
    ("device", "cpu", {}, "cpu"),
    ("device", "cuda:1", {}, "cuda:1"),
    ("device", "mps", {}, "mps"),
    ("seed", 0, {}, 0),
    ("seed", 12345, {}, 12345),
    ("threads", None, {}, None),
    ("threads", 2, {}, 2),
    ("val_fraction", 0, {}, 0.0),
    ("val_fraction", 0.5, {}, 0.5),
    ("val_split", "test", {}, "test"),
    ("data_dir", "/tmp/data", {}, "/tmp/data"),
    ("download", True, {}, True),
    ("max_train_samples", 10, {}, 10),
    ("max_test_samples", 1, {}, 1),
    ("eval_batch_size", 1, {}, 1),
    ("weight", 0, {}, 0.0),
    ("weight", 1, {}, 1.0),
    ("weight", 0.25, SMGD, 0.25),
    ("fixed_weights", True, SMGD, True),
    ("recipe", "original", {}, "original"),
    ("mo_l1_scale", "init", SMGD, "init"),
    ("epsilon", 2, {"method": "epsilon"}, 2.0),
    ("target_sparsity", 0, {"method": "gmp"}, 0.0),
    ("target_sparsity", 0.99, {"method": "epsilon"}, 0.99),
    ("ramp_start", 0, {"method": "gmp"}, 0.0),
    ("ramp_end", 1, {"method": "epsilon"}, 1.0),
    ("ramp_every", 100, {"method": "gmp"}, 100),
    ("gmp_scope", "layer", {"method": "gmp"}, "layer"),
    ("complexity_weight", 1, {"method": "gates"}, 1.0),
    ("flops_share", 0, {"method": "gates"}, 0.0),
    ("layer_share", 1, {"method": "gates"}, 1.0),
    ("gate_lr", 0.5, {"method": "gates"}, 0.5),
    ("gate_threshold", 0.2, {"method": "gates"}, 0.2),
    ("gate_freeze", 0, {"method": "gates"}, 0.0),
    ("decay", 30, {"method": "relevance"}, 30.0),
    ("tolerance", 0, {"method": "relevance"}, 0.0),
    ("plateau", 3.0, {"method": "relevance"}, 3),
    ("zero_norm_weight", 1, {"method": "pso"}, 1.0),
    ("swarm_size", 2, {"method": "pso"}, 2),
    ("swarm_iterations", 7.0, {"method": "pso"}, 7),
    ("inertia", 0, {"method": "pso"}, 0.0),
    ("bit_inertia", 1, {"method": "pso"}, 1.0),
    ("cognitive", 2, {"method": "pso"}, 2.0),
    ("social", 0, {"method": "pso"}, 0.0),
    ("fitness_samples", 0, {"method": "pso"}, 0),
]

# (field, value, extra fields): each is refused with one line that names the option
BAD = [
    ("method", "adamw", {}),
    ("method", None, {}),
    ("model", "nope", {}),
    ("model", "torchvision:", {}),
    ("model", "a b:c", {}),
    ("model", 3, {}),
    ("dataset", "svhn", {}),
    ("optimizer", "", {}),
    ("optimizer", "lbfgs", {}),
    ("epochs", 0, {}),
    ("epochs", 2.5, {}),
    ("epochs", True, {}),  # bool is no integer
    ("epochs", NAN, {}),
    ("epochs", INF, {}),
    ("epochs", "x", {}),
    ("epochs", None, {}),
    ("batch_size", 0, {}),
    ("batch_size", False, {}),
    ("lr", 0, {}),
    ("lr", -1e-3, {}),
    ("lr", NAN, {}),
    ("lr", INF, {}),
    ("lr", True, {}),
    ("lr", "fast", {}),
    ("schedule", "step", {}),
    ("momentum", 1.0, {}),
    ("momentum", -0.1, {}),
    ("momentum", NAN, {}),
    ("nesterov", 1, {}),
    ("nesterov", "yes", {}),
    ("betas", (0.9,), {}),
    ("betas", "ab", {}),
    ("betas", (0.9, 1.0), {}),
    ("betas", (NAN, 0.9), {}),
    ("rho", 1.0, {}),
    ("eps", -1e-8, {}),
    ("eps", INF, {}),
    ("weight_decay", -0.1, {}),
    ("threshold", -1e-3, {}),
    ("threshold", INF, {}),
    ("prune", "heads", {}),
    ("prune_every", 0, {}),
    ("regrow", "false", {}),
    ("prune_bias", 0, {}),
    ("fused", None, {}),
    ("device", "tpu", {}),
    ("device", "cuda:x", {}),
    ("seed", -1, {}),
    ("seed", 1.5, {}),
    ("seed", True, {}),
    ("threads", 0, {}),
    ("threads", True, {}),
    ("val_fraction", 1.0, {}),
    ("val_fraction", -0.1, {}),
    ("val_fraction", NAN, {}),
    ("val_split", "val", {}),
    ("data_dir", "", {}),
    ("download", 1, {}),
    ("max_train_samples", 0, {}),
    ("max_test_samples", 0, {}),
    ("eval_batch_size", 0, {}),
    ("weight", -0.1, {}),
    ("weight", 1.5, {}),
    ("weight", NAN, {}),
    ("weight", True, {}),
    ("weight", "x", {}),
    ("weight", 2.0, SMGD),
    ("fixed_weights", 1, SMGD),
    ("recipe", "prox", {}),
    ("recipe", "original", {"method": "gmp"}),
    ("mo_l1_scale", "log", SMGD),
    ("epsilon", 0, {"method": "epsilon"}),
    ("epsilon", 0.5, {}),
    ("target_sparsity", 1, {"method": "gmp"}),
    ("target_sparsity", -0.1, {"method": "epsilon"}),
    ("ramp_start", 0.8, {"method": "gmp"}),
    ("ramp_end", 1.5, {"method": "gmp"}),
    ("ramp_every", 0, {"method": "epsilon"}),
    ("gmp_scope", "global", {"method": "epsilon"}),
    ("complexity_weight", 1.5, {"method": "gates"}),
    ("flops_share", 1.5, {"method": "gates"}),
    ("flops_share", 0.5, {}),
    ("layer_share", -0.1, {"method": "gates"}),
    ("gate_lr", 0, {"method": "gates"}),
    ("gate_threshold", 1, {"method": "gates"}),
    ("gate_freeze", 1, {"method": "gates"}),
    ("decay", -1, {"method": "relevance"}),
    ("decay", 3, {}),
    ("tolerance", 1, {"method": "relevance"}),
    ("tolerance", -0.1, {"method": "relevance"}),
    ("plateau", 0, {"method": "relevance"}),
    ("zero_norm_weight", 1.5, {"method": "pso"}),
    ("swarm_size", 1, {"method": "pso"}),
    ("swarm_size", 4, {"method": "relevance"}),
    ("swarm_iterations", 0, {"method": "pso"}),
    ("inertia", 1.5, {"method": "pso"}),
    ("bit_inertia", -0.5, {"method": "pso"}),
    ("cognitive", -1, {"method": "pso"}),
    ("social", "x", {"method": "pso"}),
    ("fitness_samples", -1, {"method": "pso"}),
]


@pytest.mark.parametrize(("name", "value", "extra", "stored"), GOOD,
                         ids=[f"{g[0]}={g[1]!r}" for g in GOOD])
def test_good_values_are_stored_normalized(name, value, extra, stored):
    spec = make(**extra, **{name: value})
    assert value_of(spec, name) == stored
    assert type(value_of(spec, name)) is type(stored)


def names_the_option(message: str, name: str) -> bool:
    """The message names the setting: its flag, its field name (a setting that is not an
    option), or it is an unknown model, dataset, device, method or optimizer."""
    return any(part in message for part in ("--" + name.replace("_", "-"), f"unknown {name}",
                                            f"{name} must"))


@pytest.mark.parametrize(("name", "value", "extra"), BAD,
                         ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_bad_values_are_one_line_naming_the_flag(name, value, extra):
    message = error_of(lambda: make(**extra, **{name: value}))  # one InputError line
    assert names_the_option(message, name), message


def test_every_field_is_checked_by_a_test_above():
    checked = {b[0] for b in BAD} & {g[0] for g in GOOD}
    assert checked == set(settings_of(TrainSpec)) | set(option_owners())


def test_the_spec_is_frozen_and_replace_checks_again():
    spec = TrainSpec()
    with pytest.raises(AttributeError):
        spec.epochs = 3  # type: ignore[misc]
    assert spec.replace(epochs=3).epochs == 3 and spec.epochs == 20
    assert error_of(lambda: spec.replace(epochs=0)).startswith("--epochs must be")


def test_nesterov_needs_momentum():
    # torch.optim.SGD and SMGD raise a ValueError (a traceback) at run time otherwise
    assert error_of(lambda: TrainSpec(optimizer="sgd", nesterov=True, momentum=0.0)) == (
        "--nesterov needs a --momentum above 0")
    assert TrainSpec(method="smgd", nesterov=True, momentum=0.5).nesterov is True


# ----------------------------------------------------------------------------------------------
# method-specific options and optimizers
# ----------------------------------------------------------------------------------------------


def test_method_specific_options_are_refused_for_other_methods():
    assert error_of(lambda: make(fixed_weights=True)) == (
        "--fixed-weights is an option of --method smgd, not of --method weighted-sum")
    assert error_of(lambda: make(mo_l1_scale="raw")) == (
        "--mo-l1-scale is an option of --method smgd, not of --method weighted-sum")
    # even the value that would be the default: it was given
    assert error_of(lambda: make(fixed_weights=False)).startswith("--fixed-weights is an")
    # the options object of another method
    assert error_of(lambda: TrainSpec(options=SmgdOptions())) == (
        "the options of --method weighted-sum are a WeightedSumOptions, got SmgdOptions")
    assert error_of(lambda: TrainSpec().replace(options=WeightedSumOptions(), weight=0.2)) \
        .startswith("give a method's options as options= or by name")


def test_each_method_gets_its_own_options_with_their_defaults():
    for method in METHODS.values():
        spec = TrainSpec(method=method.name)
        assert type(spec.options) is method.options and spec.options == method.options()
        for name in method.options.names():
            assert getattr(spec.options, name) == \
                method.options.__dataclass_fields__[name].default
    smgd = TrainSpec(method="smgd").options
    assert (smgd.fixed_weights, smgd.mo_l1_scale, smgd.weight) == (False, "raw", 0.5)
    assert TrainSpec().options == WeightedSumOptions(weight=0.5)


def test_replace_changes_options_by_name_and_a_new_method_starts_from_its_defaults():
    spec = make(method="gmp", target_sparsity=0.5, gmp_scope="layer")
    assert spec.replace(target_sparsity=0.7).options.gmp_scope == "layer"
    assert spec.replace(method="epsilon").options.target_sparsity == 0.9
    dense = spec.as_method("weighted-sum", weight=0.0, threshold=0.0)
    assert dense.options == WeightedSumOptions(weight=0.0) and dense.threshold == 0.0
    assert TrainSpec(method="smgd").as_method("weighted-sum").optimizer == "adam"
    # an optimizer given for the new method wins over the reset to its default
    assert TrainSpec(optimizer="adam").as_method("smgd", optimizer="madam").optimizer == "madam"


def test_from_flat_refuses_an_options_object_instead_of_dropping_it():
    from paretoprune.methods.gmp import GmpOptions

    with pytest.raises(InputError, match="options"):
        TrainSpec.from_flat({"method": "gmp", "options": GmpOptions(gmp_scope="layer")})


def test_each_method_defaults_to_its_first_optimizer_and_refuses_the_others():
    for method in METHODS.values():
        spec = TrainSpec(method=method.name)
        assert spec.optimizer == method.optimizers[0]
        assert spec.method_info is method
        for optimizer in method.optimizers:
            assert TrainSpec(method=method.name, optimizer=optimizer).optimizer == optimizer
    message = error_of(lambda: TrainSpec(optimizer="madam"))
    assert message.startswith("unknown optimizer 'madam' for --method weighted-sum")
    assert "(it belongs to --method smgd)" in message
    message = error_of(lambda: TrainSpec(method="smgd", optimizer="adam"))
    assert "(it belongs to --method weighted-sum)" in message
    assert "belongs" not in error_of(lambda: TrainSpec(optimizer="lbfgs"))


def test_with_parameter_sets_the_methods_parameter():
    spec = TrainSpec()
    assert spec.method_info.parameter == "weight"
    assert spec.with_parameter(0.3).options.weight == 0.3 and spec.options.weight == 0.5
    assert error_of(lambda: spec.with_parameter(1.5)).startswith("--weight must be")
    smgd = make(method="smgd", fixed_weights=True)
    assert smgd.with_parameter(0.2).options.weight == 0.2


# ----------------------------------------------------------------------------------------------
# to_dict / from_dict, and what older versions wrote
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [
    TrainSpec(),
    TrainSpec(model="lenet5", dataset="mnist", epochs=3, betas=(0.8, 0.99), threads=2,
              val_split="test", data_dir="/data", max_train_samples=100,
              options=WeightedSumOptions(weight=0.0)),
    TrainSpec(method="smgd", optimizer="madam", nesterov=True,
              options=SmgdOptions(fixed_weights=True, mo_l1_scale="init", weight=0.7)),
    make(method="epsilon", epsilon=0.3, ramp_every=3),
])
def test_to_dict_from_dict_roundtrip_through_json(spec):
    data = spec.to_dict()
    assert set(data) == {f.name for f in fields(TrainSpec)}
    text = json.dumps(data, allow_nan=False)  # plain JSON
    assert TrainSpec.from_dict(json.loads(text)) == spec
    assert TrainSpec.from_dict(data).to_dict() == data
    assert data["options"] == spec.options.to_dict()  # the method's options nested


def test_from_dict_reads_the_flat_layout_of_the_previous_version():
    """Before options were nested, a spec dict held every method's options next to the common
    settings, None where they were another method's (sweep.json, checkpoints)."""
    flat = json.loads((DATA / "sweep-flat-options" / "sweep.json").read_text())["config"]["train"]
    assert "options" not in flat and flat["ramp_every"] == 10 and flat["weight"] is None
    spec = TrainSpec.from_dict(flat)
    assert spec.method == "epsilon" and spec.options == get_method("epsilon").options()
    assert spec.max_train_samples == 300 and spec.epochs == 2
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    # the identity a resumed sweep is compared by: the stored one, less the other methods'
    stored = json.loads((DATA / "sweep-flat-options" / "sweep.json").read_text())["identity"]
    ident = SweepConfig.from_dict(
        json.loads((DATA / "sweep-flat-options" / "sweep.json").read_text())["config"]).identity()
    assert ident == {k: v for k, v in stored.items() if v is not None or k in ident}


def test_from_dict_refuses_unknown_keys_bad_values_and_non_mappings():
    assert error_of(lambda: TrainSpec.from_dict({"epoch": 3})).startswith(
        "unknown training setting 'epoch'; known: method, model")
    assert error_of(lambda: TrainSpec.from_dict({"epochs": 0})).startswith("--epochs must be")
    assert error_of(lambda: TrainSpec.from_dict([("epochs", 3)])).startswith(
        "training setting must be a mapping")


def test_from_dict_reads_a_paretoprune_0_1_train_dict():
    spec = TrainSpec.from_dict(json.loads(json.dumps(OLD_TRAIN)))
    assert spec.method == "weighted-sum" and spec.optimizer == "adam"
    # the multiobjective options of 0.1 belonged to every spec; they are smgd's now; runs
    # before the recipes existed used the original one
    assert spec.options == WeightedSumOptions(recipe="original")
    assert spec.val_split == "train" and spec.nesterov is False and spec.threads is None
    assert spec.betas == (0.9, 0.999) and spec.epochs == 30 and spec.val_fraction == 0.0
    assert spec.model == "lenet5" and spec.data_dir == "../shared/datasets/mnist-5k"
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    assert OLD_TRAIN["optimizer"] == "adam" and "method" not in OLD_TRAIN  # not mutated


def test_settings_written_before_recipes_read_as_the_original_recipe_and_keep_their_identity():
    spec = TrainSpec.from_dict(json.loads(json.dumps(OLD_TRAIN)))
    assert spec.options.recipe == "original"  # what every run before the recipes trained with
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    nested = spec.to_dict()
    del nested["options"]["recipe"]  # the options layout, written before the recipes
    assert TrainSpec.from_dict(nested).options.recipe == "original"
    # the fingerprint of a sweep written before the recipes is unchanged with --recipe original
    assert "recipe" not in spec.identity()
    default = spec.replace(recipe="gradual")
    assert default.identity()["recipe"] == "gradual" and default.identity() != spec.identity()
    assert TrainSpec().options.recipe == "gradual"  # the default recipe


@pytest.mark.parametrize("optimizer", ["smgd", "madam", "mrmsprop"])
def test_from_dict_reads_an_old_multiobjective_dict_as_smgd(optimizer):
    old = {**OLD_TRAIN, "optimizer": optimizer, "fixed_weights": True, "mo_l1_scale": "init"}
    spec = TrainSpec.from_dict(old)
    assert spec.method == "smgd" and spec.optimizer == optimizer
    assert spec.options.fixed_weights is True and spec.options.mo_l1_scale == "init"
    plain = {k: v for k, v in OLD_TRAIN.items() if k not in ("fixed_weights", "mo_l1_scale")}
    spec = TrainSpec.from_dict({**plain, "optimizer": optimizer})
    assert spec.method == "smgd" and spec.options == SmgdOptions()


# ----------------------------------------------------------------------------------------------
# SweepConfig
# ----------------------------------------------------------------------------------------------

SWEEP_BAD = [
    {"budget": 1},
    {"budget": True},
    {"budget": 2.5},
    {"range": (0.0, 1.5)},
    {"range": "-0.5:0.5"},
    {"range": "0.5:0.2"},
    {"range": (0.3, 0.3)},
    {"range": "0.5"},
    {"range": (NAN, 1.0)},
    {"range": (0.0,)},
    {"rule": "bound"},
    {"rule": "nope"},
    {"tol": -1e-3},
    {"tol": NAN},
    {"warm_start": 1},
    {"warm_epochs": 0},
    {"dense": "yes"},
    {"max_drop": 1.0},
    {"max_drop": -0.01},
    {"max_drop": NAN},
    {"confidence": 1.0},
    {"confidence": -0.05},
    {"confidence": NAN},
    {"metric": ""},
    {"trial_epochs": 0},
    {"trial_epochs": 21},
    {"retrain": "hot"},
    {"finetune_epochs": -1},
    {"knee": "elbow"},
    {"workers": 0},
    {"executor": "dask"},
    {"ray_address": ""},
    {"gpus_per_run": -1},
    {"cpus_per_run": 0},
    {"train": {"epochs": 3}},
]


@pytest.mark.parametrize("values", SWEEP_BAD,
                         ids=[next(iter(v)) + "=" + repr(next(iter(v.values()))) for v in SWEEP_BAD])
def test_sweep_config_checks(values):
    (name,) = values
    message = error_of(lambda: SweepConfig(**values))  # one InputError line
    assert names_the_option(message, name), message


def test_every_sweep_field_is_checked_by_a_test_above():
    assert {next(iter(v)) for v in SWEEP_BAD} == set(settings_of(SweepConfig)) | {"train"}


def test_sweep_config_good_values_and_defaults():
    c = SweepConfig()
    assert c.rule == "normal" and c.range == (0.0, 1.0) and c.budget == 8
    assert c.executor_name == "serial" and c.run_threads == 1
    assert c.selection_metric() == "val_acc"
    c = SweepConfig(budget=2, range="0.2:0.8", rule="midpoint", max_drop=0.0, trial_epochs=20,
                    workers=3, train=TrainSpec(threads=2, val_fraction=0.0))
    assert c.range == (0.2, 0.8) and c.rule == "midpoint" and c.max_drop == 0.0
    assert c.executor_name == "process" and c.run_threads == 2
    assert c.selection_metric() == "train_acc"
    assert SweepConfig(train=TrainSpec(val_fraction=0.0, val_split="test")).selection_metric() \
        == "val_acc"
    assert SweepConfig(metric="test_acc").selection_metric() == "test_acc"
    assert SweepConfig(range=[0, 0.5]).range == (0.0, 0.5)


def test_smgd_sweeps_need_fixed_weights():
    message = error_of(lambda: SweepConfig(train=TrainSpec(method="smgd")))
    assert message.startswith("--method smgd chooses its own trade-off in one run")
    assert "--fixed-weights" in message
    c = SweepConfig(train=make(method="smgd", optimizer="madam", fixed_weights=True))
    assert c.rule == get_method("smgd").rules[0] and c.range == get_method("smgd").range


def test_sweep_identity_leaves_out_runtime_settings_and_the_swept_parameter():
    base = SweepConfig()
    ident = base.identity()
    json.dumps(ident, allow_nan=False)  # stored as JSON
    runtime = {"budget", "workers", "executor", "ray_address", "gpus_per_run", "cpus_per_run",
               "knee", "finetune_epochs", "threads", "data_dir", "download", "eval_batch_size"}
    assert not runtime & set(ident)
    assert "weight" not in ident  # the sweep sets it for each run
    assert {"epochs", "lr", "model", "method", "optimizer", "rule", "range", "max_drop",
            "trial_epochs", "seed", "val_split"} <= set(ident)
    # changing a runtime setting (or λ) keeps the identity ...
    same = SweepConfig(train=make(threads=3, data_dir="/elsewhere", download=True,
                                  eval_batch_size=10, weight=0.9),
                       budget=30, workers=4, executor="process", ray_address="ray://x:1",
                       gpus_per_run=1, cpus_per_run=2, knee="kneedle", finetune_epochs=3)
    assert same.identity() == ident
    # ... changing what the runs are does not
    for changed in (SweepConfig(train=TrainSpec(lr=0.01)), SweepConfig(rule="midpoint"),
                    SweepConfig(max_drop=0.01), SweepConfig(range=(0.0, 0.5)),
                    SweepConfig(train=TrainSpec(val_split="test"))):
        assert changed.identity() != ident
    smgd = SweepConfig(train=make(method="smgd", fixed_weights=True)).identity()
    assert "weight" not in smgd and smgd["fixed_weights"] is True
    gmp = SweepConfig(train=make(method="gmp", gmp_scope="layer")).identity()
    assert gmp["gmp_scope"] == "layer" and "target_sparsity" not in gmp and "epsilon" not in gmp


def test_sweep_config_roundtrip_and_unknown_keys():
    c = SweepConfig(train=TrainSpec(epochs=5, threads=1), budget=5, range=(0.1, 0.9),
                    max_drop=0.02, trial_epochs=2, warm_start=True)
    data = json.loads(json.dumps(c.to_dict(), allow_nan=False))
    assert SweepConfig.from_dict(data) == c
    assert error_of(lambda: SweepConfig.from_dict({"budgett": 3})).startswith(
        "unknown sweep setting 'budgett'")
    assert error_of(lambda: SweepConfig.from_dict("budget=3")).startswith(
        "a sweep config must be a mapping")


def test_sweep_config_from_a_paretoprune_0_1_sweep():
    old = json.loads(json.dumps({**OLD_SWEEP, "min_gap": 0.01}))
    c = SweepConfig.from_dict(old)
    assert c.range == (0.0, 1.0) and c.rule == "normal" and c.budget == 16 and c.tol == 0.001
    assert c.train == TrainSpec.from_dict(OLD_TRAIN)
    assert c.train.method == "weighted-sum" and c.train.epochs == 30
    assert "weights" not in c.to_dict() and "min_gap" not in c.to_dict()
    narrowed = SweepConfig.from_dict({**OLD_SWEEP, "weights": [0.2, 0.6]})
    assert narrowed.range == (0.2, 0.6)


# ----------------------------------------------------------------------------------------------
# torch-free, and in step with the training layer
# ----------------------------------------------------------------------------------------------


def test_config_imports_neither_torch_nor_pandas():
    code = ("import sys, paretoprune.config, paretoprune.methods; "
            "print(sorted(m for m in ('torch', 'pandas') if m in sys.modules)); "
            "import paretoprune.cli.options; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "False"]  # (the CLI package itself may load pandas)


def test_train_with_a_bad_value_fails_before_importing_torch():
    code = (
        "import sys\n"
        "from paretoprune.cli import main\n"
        "try:\n"
        "    main(['train', '--epochs', '0'])\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code)\n"
        "print('torch imported', 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split("\n")[:2] == ["exit 2", "torch imported False"], out
    (line,) = out.stderr.splitlines()
    assert line.startswith("paretoprune: error: ") and "--epochs" in line


def test_model_and_dataset_names_match_the_training_layer():
    from paretoprune.training.datasets import known_datasets
    from paretoprune.training.models import known_models

    assert list(config.MODEL_NAMES) == known_models()
    assert list(config.DATASET_NAMES) == known_datasets()


# ----------------------------------------------------------------------------------------------
# the command-line options generated from the fields
# ----------------------------------------------------------------------------------------------


def _cli_classes():
    """(configuration class, the methods that take its fields) of every generated option."""
    yield TrainSpec, ()
    yield SweepConfig, ()
    for method in METHODS.values():
        yield method.options, option_owners()


@pytest.mark.parametrize(("cls", "owners"), list(_cli_classes()),
                         ids=lambda v: getattr(v, "__name__", ""))
def test_every_cli_field_has_one_option_with_its_flag_and_no_default_of_its_own(cls, owners):
    from paretoprune.cli.options import method_options, options_of

    made = {o.name: o for o in (method_options() if owners else options_of(cls))}
    cli_fields = [n for n, s in settings_of(cls).items() if s.cli]
    if not owners:
        assert list(made) == cli_fields  # one each, in field order
    assert {n for n, s in settings_of(cls).items() if not s.cli}.isdisjoint(made)
    for name in cli_fields:
        option = made[name]
        s = settings_of(cls)[name]
        flag = "--" + name.replace("_", "-")
        assert option.opts == [flag], option.opts
        assert option.default is None, name  # the config's default applies
        if s.choices:  # shown; the setting's check refuses the others
            assert option.metavar == "[" + "|".join(s.choices) + "]"
        field = next(f for f in fields(cls) if f.name == name)
        if field.type.startswith("bool"):
            assert option.secondary_opts == ["--no-" + flag[2:]]
        default = field.default
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert f"default: {default}" in option.help, option.help
        if owners:
            assert "--method " + ", ".join(owners[name]) in option.help


def test_help_shows_each_methods_options_as_a_group_of_their_own():
    from click.testing import CliRunner

    from paretoprune.cli import main as cli_main

    for command in ("train", "sweep"):
        text = CliRunner().invoke(cli_main, [command, "--help"]).output
        for method in METHODS.values():
            section = text.split(f"Options of --method {method.name}:")[1].split("\n\n")[0]
            for name in method.options.names():
                assert "--" + name.replace("_", "-") in section, (command, method.name, name)
        common = text.split("Options of --method")[0]
        assert "--epochs" in common and "--gmp-scope" not in common


def test_given_keeps_only_the_values_the_user_set():
    from paretoprune.cli.options import given, train_spec

    values = {"epochs": 3, "lr": None, "budget": 5, "output": "x.pt", "nesterov": False}
    assert given(values, TrainSpec) == {"epochs": 3, "nesterov": False}
    assert given(values, SweepConfig) == {"budget": 5}
    spec = train_spec({**values, "method": "gmp", "gmp_scope": "layer", "weight": None})
    assert spec.epochs == 3 and spec.options.gmp_scope == "layer"


def test_option_types_parse_to_what_the_checks_accept():
    import click

    from paretoprune.cli.options import train_spec, training_options

    @click.command()
    def cmd(**kw):
        pass

    cmd.params.extend(training_options())
    ctx = cmd.make_context("t", ["--epochs", "3", "--lr", "0.5", "--nesterov", "--method",
                                 "smgd", "--threads", "2", "--no-regrow", "--fixed-weights"])
    spec = train_spec(ctx.params)
    assert (spec.epochs, spec.lr, spec.nesterov, spec.method, spec.threads, spec.regrow) == (
        3, 0.5, True, "smgd", 2, False)
    assert spec.options.fixed_weights is True
    assert math.isclose(spec.momentum, 0.9)


def test_as_method_keeps_a_given_optimizer():
    assert TrainSpec().as_method("smgd", optimizer="madam").optimizer == "madam"
    assert TrainSpec().as_method("smgd").optimizer == "smgd"  # adam is not smgd's: its default


def test_the_learning_rate_defaults_to_the_methods():
    from paretoprune.methods.weighted_sum import GRADUAL_LR

    assert TrainSpec().lr == GRADUAL_LR == 4e-3  # the gradual recipe's, chosen on validation
    assert TrainSpec.from_flat({"recipe": "original"}).lr == 1e-3  # the authors' recipe
    assert TrainSpec(method="gmp").lr == 1e-3
    assert TrainSpec(lr=0.01).lr == 0.01 and TrainSpec(method="gmp", lr=0.02).lr == 0.02
