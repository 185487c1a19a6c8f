"""--method pso: the batched MLP is the model, node bits remove their connections, the best
aggregate never gets worse, runs are seeded and report the columns every method reports."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.errors import InputError
from paretoprune.training import TrainSpec, build_model, train_run
from paretoprune.training.loop import load_data
from paretoprune.training.pso import (
    CooperativeSwarms,
    check_pso,
    mlp_shape,
    shape_vector,
    write_best,
)

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"method": "pso", "epochs": 2, "swarm_iterations": 4, "swarm_size": 4,
         "fitness_samples": 128, "max_train_samples": 400, "device": "cpu"}


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


def strip_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.endswith("_time")}


def tiny_mlp(hidden=(6, 5), inputs=4, classes=3):
    torch.manual_seed(0)
    layers, width = [nn.Flatten()], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, classes))


def swarms_for(model, x, y, *, weight=0.3, particles=6, warmup=0, seed=0):
    shape = mlp_shape(model, sample=x[:3])
    return shape, CooperativeSwarms(
        shape, x, y, weight=weight, particles=particles, warmup=warmup,
        generator=torch.Generator().manual_seed(seed), start=shape_vector(shape))


# --- the batched network ------------------------------------------------------------------------

def test_the_batched_forward_pass_is_the_model_with_masked_weights():
    model = tiny_mlp()
    shape = mlp_shape(model)
    torch.manual_seed(1)
    x = torch.randn(7, 4)
    positions = torch.randn(3, shape.dim_a)
    bits = (torch.rand(3, shape.dim_b) < 0.7).float()
    logits = shape.forward(x, shape.split_a(positions), shape.effective_masks(bits))
    assert logits.shape == (3, 7, 3)
    for i in range(3):
        swarms = type("S", (), {})()  # just the two attributes write_best reads
        swarms.best_weights, swarms.best_bits = positions[i], bits[i]
        write_best(shape, swarms)
        torch.testing.assert_close(model(x), logits[i], rtol=1e-5, atol=1e-5)


def test_a_node_bit_removes_every_connection_of_the_node_and_its_bias():
    model = tiny_mlp(hidden=(6, 5))
    shape = mlp_shape(model)
    bits = torch.ones(1, shape.dim_b)
    node = shape.node_slices[0].start + 2  # hidden node 2 of the first layer
    bits[0, node] = 0.0
    (w1, b1), (w2, _), _ = shape.effective_masks(bits)
    assert torch.all(w1[0, 2] == 0) and b1[0, 2] == 0  # its incoming weights and bias
    assert torch.all(w2[0, :, 2] == 0)  # its outgoing weights
    assert int(w1.sum() + w2.sum()) == 6 * 4 + 5 * 6 - 4 - 5
    density = float(shape.density(bits)[0])
    assert density == pytest.approx(1 - 9 / shape.n_connections)


def test_convolutional_models_are_refused_in_one_line():
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(72, 10))
    with pytest.raises(InputError, match="multilayer perceptrons only") as err:
        mlp_shape(conv)
    assert "\n" not in str(err.value) and "Conv2d" in str(err.value)
    spec = TrainSpec(method="pso", model="lenet5", dataset="digits", device="cpu")
    data = load_data(spec)
    with pytest.raises(InputError, match="multilayer perceptrons only"):
        check_pso(spec, conv, data)


def test_a_model_whose_forward_is_not_its_layer_chain_is_refused():
    class Skip(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.act, self.b = nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3)

        def forward(self, x):
            return self.b(self.act(self.a(x)) + x)  # a residual connection

    with pytest.raises(InputError, match="not its chain of linear layers"):
        mlp_shape(Skip(), sample=torch.randn(3, 4))


# --- the swarms -----------------------------------------------------------------------------

def test_the_best_aggregate_never_gets_worse_and_is_the_best_pairs():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    model = tiny_mlp()
    shape, swarms = swarms_for(model, x, y, weight=0.3, warmup=5)
    history = [swarms.best]
    for _ in range(40):
        swarms.iterate()
        history.append(swarms.best)
    assert all(b <= a for a, b in zip(history, history[1:], strict=False))
    assert history[-1] < history[0]  # and it found something better
    # the recorded value is the aggregate of the best pair, recomputed from scratch
    write_best(shape, swarms)
    with torch.no_grad():
        ce = float(F.cross_entropy(model(x), y))
    density = float(shape.density(swarms.best_bits.unsqueeze(0))[0])
    assert swarms.best == pytest.approx(0.7 * ce + 0.3 * density, rel=1e-5)


def test_bits_wait_for_the_warmup_then_search():
    torch.manual_seed(0)
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    _, swarms = swarms_for(tiny_mlp(), x, y, weight=0.6, warmup=10)
    swarms.iterate(10)
    assert torch.all(swarms.best_bits == 1) and swarms.pb is None
    swarms.iterate(20)
    assert swarms.pb is not None and float(swarms.best_bits.mean()) < 1.0  # λ = 0.6 pays


def test_swarms_are_deterministic_under_a_seed():
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    runs = []
    for seed in (0, 0, 1):
        _, swarms = swarms_for(tiny_mlp(), x, y, seed=seed)
        swarms.iterate(15)
        runs.append((swarms.best, swarms.best_weights.clone(), swarms.best_bits.clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert torch.equal(runs[0][2], runs[1][2])
    assert not torch.equal(runs[0][1], runs[2][1])


# --- whole runs -------------------------------------------------------------------------------

def test_a_run_reports_every_column_and_the_state_of_a_gradient_run():
    result = train_run(quick())
    m = result.metrics
    assert m["status"] == "ok" and m["method"] == "pso" and m["optimizer"] == "pso"
    assert m["zero_norm_weight"] == 0.2 and m["epochs"] == 2
    weighted = train_run(TrainSpec(epochs=1, max_train_samples=400, device="cpu"))
    assert set(weighted.metrics) - {"weight"} <= set(m)
    assert set(result.state) == set(weighted.state)
    assert result.state["prunable"] == weighted.state["prunable"]
    state_nnz = sum(int(torch.count_nonzero(result.state["model"][n]))
                    for n in result.state["prunable"])
    assert state_nnz == m["nnz"]
    for name, mask in result.state["masks"].items():
        assert torch.all(result.state["model"][name][~mask] == 0)
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert result.history[-1]["iterations"] == 8
    fitness = [r["fitness"] for r in result.history]
    assert fitness == sorted(fitness, reverse=True) and m["fitness"] == fitness[-1]
    assert m["loss"] < math.log(10)  # it learned something without a gradient


def test_a_run_is_deterministic_under_its_seed():
    a, b, c = (train_run(quick(seed=s)) for s in (3, 3, 4))
    assert strip_times(a.metrics) == strip_times(b.metrics)
    for k, v in a.state["model"].items():
        assert torch.equal(v, b.state["model"][k])
    assert c.metrics["fitness"] != a.metrics["fitness"]


def test_a_warm_start_begins_from_the_given_weights_and_masks():
    first = train_run(quick(zero_norm_weight=0.6))
    again = train_run(quick(zero_norm_weight=0.6), init_state=first.state, epochs=1)
    # particle 0 of each swarm is the earlier network: the best can only improve on it
    assert again.metrics["fitness"] <= first.metrics["fitness"] + 1e-6


def test_lenet_300_100_works_and_conv_nets_do_not():
    m = train_run(quick(model="lenet-300-100", epochs=1, swarm_iterations=2)).metrics
    assert m["status"] == "ok" and m["n_prunable"] == 64 * 300 + 300 * 100 + 100 * 10
    model = build_model("lenet5", 10, (1, 28, 28))
    with pytest.raises(InputError, match="multilayer perceptrons only"):
        mlp_shape(model)
