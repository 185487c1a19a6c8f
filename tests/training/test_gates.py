"""--method gates: the hard-concrete gates, the expected cost and its gradient, gates closed for
good, whole runs on digits and on CIFAR-shaped synthetic data, models it cannot gate."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from paretoprune.errors import InputError
from paretoprune.training import TrainSpec, build_model, train_run
from paretoprune.training.cost import count_cost
from paretoprune.training.gates import (
    BETA,
    GAMMA,
    ZETA,
    GateSet,
    gate_probability,
    inference_gates,
    sample_gates,
)
from paretoprune.training.shrink import shrink_model
from paretoprune.training.structures import structure_plan

# digits, small and quick; a large gate learning rate so that gates move in a few epochs
DIGITS = {"method": "gates", "model": "mlp", "dataset": "digits", "batch_size": 64,
          "device": "cpu", "gate_lr": 0.1}


def tiny_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 5), nn.ReLU(),
                         nn.Linear(5, 2))


# --- the gates ---------------------------------------------------------------------------------

def test_probability_of_a_nonzero_gate_is_the_closed_form_and_the_sampled_frequency():
    torch.manual_seed(0)
    log_alpha = torch.tensor([-4.0, -1.5, 0.0, 1.0, 3.0])
    closed_form = torch.sigmoid(log_alpha - BETA * math.log(-GAMMA / ZETA))
    assert torch.allclose(gate_probability(log_alpha), closed_form)
    z = sample_gates(log_alpha, 200_000)
    assert z.shape == (200_000, 5) and z.min() >= 0 and z.max() <= 1
    assert torch.allclose((z > 0).double().mean(0), closed_form.double(), atol=0.005)
    # the stretch makes exact zeros and exact ones likely, and values in between too
    assert (z == 0).any() and (z == 1).any() and ((z > 0) & (z < 1)).any()


def test_the_test_time_gate_is_the_clipped_stretched_sigmoid():
    z = inference_gates(torch.tensor([0.0, -2.0, 2.0, -10.0, 10.0]))
    expected = torch.clamp(torch.sigmoid(torch.tensor([0.0, -2.0, 2.0, -10.0, 10.0]))
                           * (ZETA - GAMMA) + GAMMA, 0, 1)
    assert torch.allclose(z, expected)
    assert z[0] == pytest.approx(0.5) and z[3] == 0 and z[4] == 1


def test_the_sample_gradient_is_the_reparametrized_one():
    log_alpha = torch.linspace(-3, 3, 7, requires_grad=True)
    torch.manual_seed(1)
    z = sample_gates(log_alpha, 50)
    weights = torch.randn(50, 7)
    (z * weights).sum().backward()
    fast = log_alpha.grad.clone()
    # the same noise through plain autograd ops
    reference = log_alpha.detach().clone().requires_grad_(True)
    torch.manual_seed(1)
    u = torch.rand(50, 7) * (1 - 2e-6) + 1e-6
    s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + reference) / BETA)
    z_ref = torch.clamp(s * (ZETA - GAMMA) + GAMMA, 0, 1)
    (z_ref * weights).sum().backward()
    assert torch.allclose(z, z_ref, atol=1e-6)
    assert torch.allclose(fast, reference.grad, atol=1e-5)


# --- the expected cost -------------------------------------------------------------------------

def test_expected_cost_and_its_gradient_by_hand():
    # groups: the 3 units of layer 1 (A0 present) and the 5 of layer 2 (A1):
    # params = 4·A0 + A0 (bias) + A0·A1 + A1 (bias) + 2·A1 + 2 (bias)
    # macs   = 4·A0 + A0·A1 + 2·A1
    plan = structure_plan(tiny_mlp(), (4,))
    gates = GateSet(plan)
    with torch.no_grad():
        gates.log_alpha.copy_(torch.tensor([-1.0, 0.5, 2.0, -2.0, 0.0, 1.0, 3.0, -0.5]))
    p = gate_probability(gates.log_alpha.detach())
    a0, a1 = p[:3].sum(), p[3:].sum()
    params, macs = gates.expected(gates.probabilities())
    assert params.item() == pytest.approx((5 * a0 + a0 * a1 + 3 * a1 + 2).item(), rel=1e-6)
    assert macs.item() == pytest.approx((4 * a0 + a0 * a1 + 2 * a1).item(), rel=1e-6)
    assert gates.expected(torch.ones(8)) == (47, 4 * 3 + 3 * 5 + 5 * 2)

    share = 0.3
    cost = gates.expected_cost(flops_share=share)
    cost.backward()
    full_params, full_macs = 47.0, 37.0
    dp = p * (1 - p)  # dP/dlog α
    d_params = torch.cat([(5 + a1) * dp[:3], (a0 + 3) * dp[3:]])
    d_macs = torch.cat([(4 + a1) * dp[:3], (a0 + 2) * dp[3:]])
    analytic = share * d_macs / full_macs + (1 - share) * d_params / full_params
    assert torch.allclose(gates.log_alpha.grad, analytic, rtol=1e-5)
    expected_value = share * macs / full_macs + (1 - share) * params / full_params
    assert cost.item() == pytest.approx(expected_value.item(), rel=1e-6)


def test_layer_share_scales_the_gradient_of_block_and_unit_gates():
    plan = structure_plan(build_model("resnet20", 10, (3, 16, 16)), (3, 16, 16))
    gates = GateSet(plan)
    with torch.no_grad():
        gates.log_alpha.uniform_(-2, 3)

    def gradient(layer_share):
        gates.log_alpha.grad = None
        value = gates.expected_cost(layer_share=layer_share)
        value.backward()
        return value.item(), gates.log_alpha.grad.clone()

    plain_value, plain = gradient(0.5)
    blocks = gates.is_block
    assert blocks.sum() == 9 and (plain[blocks] > 0).all() and (plain[~blocks] > 0).all()
    for share, unit_scale, block_scale in ((0.0, 1, 0), (0.25, 1, 0.5), (0.75, 0.5, 1),
                                           (1.0, 0, 1)):
        value, grad = gradient(share)
        assert value == pytest.approx(plain_value)  # the objective's value does not change
        assert torch.allclose(grad[~blocks], unit_scale * plain[~blocks])
        assert torch.allclose(grad[blocks], block_scale * plain[blocks])


# --- closed for good ---------------------------------------------------------------------------

def test_a_closed_gate_stays_closed_whatever_its_log_alpha_does():
    model = tiny_mlp()
    gates = GateSet(structure_plan(model, (4,)))
    gates.install(model)
    with torch.no_grad():
        gates.log_alpha[[0, 4]] = -6.0  # P(z != 0) = 0.014 < 0.05
    gates.close_below(0.05)
    assert gates.alive.tolist() == [False, True, True, True, False, True, True, True]
    with torch.no_grad():
        gates.log_alpha[[0, 4]] = 8.0  # the data would want them back
    gates.close_below(0.05)
    assert not gates.alive[0] and not gates.alive[4]
    seen = {}
    model[1].register_forward_hook(lambda m, a, out: seen.__setitem__("layer1", out))
    model.train()
    model(torch.randn(64, 4))
    assert (seen["layer1"][:, 0] == 0).all() and (seen["layer1"][:, 1:] != 0).any()
    assert gates.probabilities()[[0, 4]].tolist() == [0, 0]
    assert gates.test_values()[[0, 4]].tolist() == [0, 0]


def test_gates_closed_in_training_stay_closed_when_training_goes_on_without_the_cost():
    first = train_run(TrainSpec.from_flat({**DIGITS, "complexity_weight": 0.9, "epochs": 10}))
    closed = ~first.state["gates"]["alive"]
    assert closed.sum() > 0
    # warm start with w = 0: only the cross-entropy pulls, towards the units back
    second = train_run(TrainSpec.from_flat({**DIGITS, "complexity_weight": 0.0, "epochs": 3}),
                       init_state=first.state)
    still = ~second.state["gates"]["alive"]
    assert still[closed].all()
    model = build_model("mlp", 10, (1, 8, 8))
    model.load_state_dict(second.state["model"])
    hidden = model.net[1]  # the units of the first hidden layer: gates 0..127
    rows = closed[:128]
    assert (hidden.weight[rows] == 0).all() and (hidden.bias[rows] == 0).all()


# --- whole runs --------------------------------------------------------------------------------

def test_a_gates_run_removes_units_and_ends_deterministic():
    result = train_run(TrainSpec.from_flat({**DIGITS, "complexity_weight": 0.8, "epochs": 10}))
    m = result.metrics
    assert m["status"] == "ok" and m["method"] == "gates" and m["complexity_weight"] == 0.8
    dense = count_cost(build_model("mlp", 10, (1, 8, 8)), (1, 8, 8))
    assert m["gates_removed"] > 0
    assert m["params"] < dense["params"] and m["flops"] < dense["flops"]
    assert 0 < m["complexity"] < 1
    assert m["size_bytes"] > 0 and m["latency_b1"] > 0 and m["latency_b256"] > 0
    history = result.history
    assert history[-1]["complexity_expected"] < history[0]["complexity_expected"]
    # the checkpoint's network is the one measured: plain, deterministic, no gates
    model = build_model("mlp", 10, (1, 8, 8))
    model.load_state_dict(result.state["model"])
    model.eval()
    from paretoprune.training.loop import evaluate_split, load_data

    data = load_data(TrainSpec.from_flat(DIGITS))
    assert evaluate_split(model, data.x_test, data.y_test)[1] == m["test_acc"]
    x = data.x_test[:50]
    assert torch.equal(model(x), model(x))
    shrunk = shrink_model(model, (1, 8, 8))
    assert sum(p.numel() for p in shrunk.parameters()) == m["params"]


@pytest.mark.parametrize("model", ["resnet20", "vgg-cifar"])
def test_gates_train_cifar_models_on_cifar_shaped_data(model):
    spec = TrainSpec.from_flat(dict(
        method="gates", model=model, dataset="_cifar_like:tiny_cifar", epochs=3, batch_size=16,
        device="cpu", complexity_weight=0.9, gate_lr=0.5, gate_threshold=0.2, val_fraction=0))
    result = train_run(spec)
    m = result.metrics
    assert m["status"] == "ok", m["error"]
    assert m["gates"] == structure_plan(build_model(model, 4, (3, 16, 16)), (3, 16, 16)).n_gates
    assert m["gates_removed"] > 0 and m["complexity"] < 1 and m["flops"] > 0
    if model == "resnet20":
        assert "blocks_removed" in m
    # the run's network and its shrunk form agree
    net = build_model(model, 4, (3, 16, 16))
    net.load_state_dict(result.state["model"])
    net.eval()
    x = torch.randn(6, 3, 16, 16)
    small = shrink_model(net, (3, 16, 16)).eval()
    with torch.no_grad():
        assert torch.allclose(small(x), net(x), atol=1e-4)


# --- what it cannot gate -----------------------------------------------------------------------

@pytest.mark.parametrize("model, shape, layer", [
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)), (4,),
     "'2' (Sigmoid)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3, affine=False),
                   nn.Linear(3, 2)), (4,), "'2' (BatchNorm1d)"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 3)), (4, 6, 6),
     "'0' (Conv2d)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.LSTM(3, 2)), (4,), "'2' (LSTM)"),
])
def test_models_it_cannot_gate_are_refused_naming_the_layer(model, shape, layer):
    with pytest.raises(InputError, match=re.escape(f"--method gates cannot gate model 'x': layer {layer}")):
        structure_plan(model, shape, "x")


def test_a_residual_network_it_does_not_know_is_refused_naming_the_layer():
    model = build_model("torchvision:resnet18", 10, (3, 32, 32))
    with pytest.raises(InputError, match=r"layer 'layer1\.0\.relu' \(ReLU\)"):
        structure_plan(model, (3, 32, 32), "torchvision:resnet18")


def test_gates_options_are_checked_and_belong_to_gates():
    with pytest.raises(InputError, match=r"--flops-share must be a number in \[0, 1\]"):
        TrainSpec.from_flat({"method": "gates", "flops_share": 1.5})
    with pytest.raises(InputError, match=r"--layer-share must be a number in \[0, 1\]"):
        TrainSpec.from_flat({"method": "gates", "layer_share": -0.1})
    with pytest.raises(InputError, match="--complexity-weight is an option of --method gates"):
        TrainSpec.from_flat({"method": "weighted-sum", "complexity_weight": 0.5})
    spec = TrainSpec(method="gates")
    options = spec.options
    assert (options.complexity_weight, options.flops_share, options.layer_share) == (0.5, 0.5, 0.5)
    assert (options.gate_lr, options.gate_threshold, options.gate_freeze) == (0.02, 0.05, 0.2)
