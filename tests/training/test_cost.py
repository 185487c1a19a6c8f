"""Deployment columns: parameter and multiply-add counts by hand, the cost plan against the
counts, the file size of the plain export, the latency protocol, every method's row."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paretoprune.training import TrainSpec, build_model, export_state, train_run
from paretoprune.training.cost import (
    LATENCY_MAX_ROUNDS,
    count_cost,
    deployment_metrics,
    latency_ratio,
    state_bytes,
)
from paretoprune.training.gates import GateSet
from paretoprune.training.shrink import shrink_model
from paretoprune.training.structures import structure_plan

DEPLOYMENT = ["params", "params_nonzero", "flops", "flops_nonzero", "size_bytes", "complexity",
              "latency_b1", "latency_b256"]


def test_counts_of_a_small_conv_net_by_hand():
    # conv 2 -> 4 channels, 3x3, on 6x6: 4x4 outputs, 72 weights: 16·72 = 1152 multiply-adds;
    # linear 64 -> 3: 192; parameters 72 + 4 + 192 + 3 = 271
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))
    counts = count_cost(model, (2, 6, 6))
    assert counts == {"params": 271, "params_nonzero": 271, "flops": 1344,
                      "flops_nonzero": 1344}
    with torch.no_grad():
        model[0].weight[0] = 0.0          # one filter: 18 weights, 16 positions each
        model[3].weight[:, :5] = 0.0      # 15 weights of the linear layer
    counts = count_cost(model, (2, 6, 6))
    assert counts["flops"] == 1344 and counts["params"] == 271  # dense kernels still run
    assert counts["flops_nonzero"] == 1344 - 16 * 18 - 15
    assert counts["params_nonzero"] == 271 - 18 - 15


def test_stride_and_padding_change_the_positions_counted():
    model = nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Flatten(),
                          nn.Linear(36, 5, bias=False))
    counts = count_cost(model, (2, 6, 6))
    assert counts["flops"] == 9 * 72 + 36 * 5  # 3x3 outputs
    assert counts["params"] == 72 + 4 + 180


@pytest.mark.parametrize("name, shape", [("mlp", (1, 8, 8)), ("lenet5", (1, 28, 28)),
                                         ("lenet5-caffe", (1, 28, 28)),
                                         ("vgg-cifar", (3, 32, 32)), ("resnet20", (3, 32, 32))])
def test_the_cost_plan_adds_up_to_the_counts(name, shape):
    model = build_model(name, 10, shape)
    params, macs = structure_plan(model, shape).count()
    counts = count_cost(model, shape)
    assert (params, macs) == (counts["params"], counts["flops"])


def test_known_figures():
    assert count_cost(build_model("lenet5", 10, (1, 28, 28)), (1, 28, 28))["params"] == 60074
    resnet = count_cost(build_model("resnet20", 10, (3, 32, 32)), (3, 32, 32))
    assert resnet["params"] == 269722
    assert 40e6 < resnet["flops"] < 41.5e6  # the "41 M FLOPs" of the pruning literature


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 28, 28)), ("vgg-cifar", (3, 16, 16)),
                                         ("resnet20", (3, 16, 16))])
def test_the_expected_cost_of_0_1_gates_is_the_cost_of_the_shrunk_network(name, shape):
    torch.manual_seed(3)
    model = build_model(name, 10, shape)
    plan = structure_plan(model, shape)
    gates = GateSet(plan)
    present = (torch.rand(plan.n_gates) < 0.6).float()
    for i in range(len(plan.groups)):  # no group closed whole (it would keep one)
        present[plan.gate_slice(i).start] = 1.0
    with torch.no_grad():
        gates.log_alpha.copy_(torch.where(present > 0, 8.0, -8.0))
        gates.fold_(model)
    params, macs = gates.expected(present)
    counts = count_cost(shrink_model(model, shape), shape)
    assert (params.item(), macs.item()) == pytest.approx((counts["params"], counts["flops"]))


def test_size_bytes_is_the_size_of_the_plain_export(tmp_path):
    model = build_model("lenet5", 10, (1, 28, 28))
    with torch.no_grad():
        model.classifier[0].weight[:, :100] = 0.0
    state = {"model": model.state_dict(), "masks": {}, "model_name": "lenet5",
             "num_classes": 10, "input_shape": [1, 28, 28]}
    export_state(state, tmp_path / "w.pt")
    assert state_bytes(model) == (tmp_path / "w.pt").stat().st_size


def test_latency_of_a_much_smaller_network_is_a_ratio_below_one_in_bounded_rounds():
    torch.manual_seed(0)
    big = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                        nn.Linear(1024, 10))
    small = nn.Sequential(nn.Linear(256, 8), nn.ReLU(), nn.Linear(8, 10))
    ratio, rounds = latency_ratio(big, small, (256,), 256)
    assert ratio < 0.5
    assert 3 <= rounds <= LATENCY_MAX_ROUNDS
    same, _ = latency_ratio(small, small, (256,), 1, max_rounds=3)
    assert same > 0
    assert big.training and small.training  # modes restored


def test_every_method_reports_the_deployment_columns():
    base = {"model": "mlp", "dataset": "digits", "epochs": 2, "max_train_samples": 300,
            "device": "cpu"}
    for spec in (TrainSpec.from_flat({**base, "weight": 0.3}), TrainSpec(**base, method="gmp"),
                 TrainSpec.from_flat({**base, "method": "gates", "complexity_weight": 0.5,
                                     "gate_lr": 0.5})):
        m = train_run(spec).metrics
        missing = [c for c in DEPLOYMENT if c not in m]
        assert not missing, (spec.method, missing)
        dense = count_cost(build_model("mlp", 10, (1, 8, 8)), (1, 8, 8))
        if spec.method_info.structured:
            assert m["params"] <= dense["params"]
        else:
            # unstructured: the dense architecture runs; zeros only in the nonzero counts
            assert m["params"] == dense["params"] and m["flops"] == dense["flops"]
            assert m["flops_nonzero"] < m["flops"] and m["params_nonzero"] < m["params"]
            assert m["latency_b1"] == m["latency_b256"] == m["complexity"] == 1.0


def test_complexity_mixes_flops_and_parameters_by_the_flops_share():
    torch.manual_seed(0)
    model = build_model("lenet5", 10, (1, 28, 28))
    gates = GateSet(structure_plan(model, (1, 28, 28)))
    with torch.no_grad():
        gates.log_alpha.copy_(torch.where(torch.rand(gates.plan.n_gates) < 0.5, 8.0, -8.0))
        gates.fold_(model)

    class Data:
        input_shape = (1, 28, 28)

    dense = count_cost(build_model("lenet5", 10, (1, 28, 28)), (1, 28, 28))
    for share in (0.0, 0.3, 1.0):
        m = deployment_metrics(TrainSpec.from_flat({"method": "gates", "flops_share": share}), model, Data)
        expected = share * m["flops"] / dense["flops"] + (1 - share) * m["params"] / dense["params"]
        assert m["complexity"] == pytest.approx(expected)
        assert m["latency_b1"] > 0 and m["size_bytes"] < state_bytes(model)
