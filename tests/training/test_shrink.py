"""Physical removal: on every supported model, randomly closed gates folded and cut out give a
smaller plain network that predicts like the gated one, in PyTorch and after torch.export."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from paretoprune.errors import InputError
from paretoprune.training import TrainSpec, build_model, checkpoint_payload
from paretoprune.training.gates import GateSet
from paretoprune.training.shrink import export_shrunk, kept_structures, shrink_model
from paretoprune.training.structures import structure_plan

MODELS = [("mlp", (1, 8, 8)), ("lenet5", (1, 28, 28)), ("vgg-cifar", (3, 16, 16)),
          ("resnet20", (3, 16, 16))]


def randomized(name: str, shape) -> nn.Module:
    """A model with random biases, batch-norm statistics and affine parameters, so that a
    channel is zero only because its gate closed."""
    torch.manual_seed(0)
    model = build_model(name, 10, shape)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None:
            with torch.no_grad():
                m.bias.uniform_(-0.1, 0.1)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def random_gates(model: nn.Module, shape, seed: int = 0) -> GateSet:
    """Gates on ``model``: about a third closed (ẑ = 0), a few in between, the rest open; for a
    ResNet two blocks closed (one of them a downsampling block), and one group closed whole."""
    plan = structure_plan(model, shape)
    gates = GateSet(plan)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        draw = torch.rand(plan.n_gates, generator=g)
        log_alpha = torch.where(draw < 0.35, torch.tensor(-6.0), torch.tensor(6.0))
        log_alpha[(draw > 0.9)] = 0.3  # ẑ strictly between 0 and 1
        for i, group in enumerate(plan.groups):
            if group.kind == "block":
                log_alpha[plan.gate_slice(i)] = 6.0
        blocks = [i for i, group in enumerate(plan.groups) if group.kind == "block"]
        for i in blocks[1:2] + blocks[3:4]:  # layer1.1 and layer2.0 (downsampling)
            log_alpha[plan.gate_slice(i)] = -6.0
        units = [i for i, group in enumerate(plan.groups) if group.kind != "block"]
        log_alpha[plan.gate_slice(units[-1])] = -6.0  # a whole layer's units closed
        gates.log_alpha.copy_(log_alpha)
    return gates


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, shape", MODELS)
def test_the_shrunk_network_is_smaller_and_predicts_like_the_gated_one(name, shape, tmp_path):
    model = randomized(name, shape)
    gates = random_gates(model, shape)
    plan = gates.plan
    x = torch.randn(7, *shape)
    gates.install(model)
    with torch.no_grad():
        gated = model(x)
        z = gates.fold_(model)  # the deterministic network: gates folded in, hooks gone
        folded = model(x)
    assert torch.allclose(folded, gated, atol=1e-5)
    assert ((z > 0) & (z < 1)).any() and (z == 0).any()

    small = shrink_model(model, shape).eval()
    with torch.no_grad():
        shrunk = small(x)
    assert torch.allclose(shrunk, gated, atol=1e-4)
    assert torch.equal(shrunk.argmax(1), gated.argmax(1))
    assert n_params(small) < n_params(model)

    # every removed structure is gone from the tensors, consistently on both sides
    modules = dict(small.named_modules())
    kept = kept_structures(model, plan)
    removed_blocks = set()
    for i, group in enumerate(plan.groups):
        zg = z[plan.gate_slice(i)]
        if group.kind == "block":
            if (zg == 0).all():
                removed_blocks.add(i)
                assert group.name not in modules or not hasattr(modules[group.name], "conv1")
            continue
        if group.block in removed_blocks:
            continue
        n = max(int((zg > 0).sum()), 1)  # a group closed whole keeps one zero structure
        assert kept[i].numel() == n
        producer, consumer = modules[group.producer], modules[group.consumer]
        assert producer.weight.shape[0] == n
        for norm in group.channelwise:
            assert modules[norm].num_features == n == modules[norm].running_mean.numel()
        assert consumer.weight.shape[1] == n * group.per_channel
    if name == "resnet20":
        assert len(removed_blocks) == 2
        assert type(modules["layer2.0"]).__name__ == "ShortcutA"
        assert isinstance(modules["layer1.1"], nn.Identity)

    # plain PyTorch loads the export and predicts the same, at any batch size
    state = {"model": model.state_dict(), "masks": {}, "model_name": name, "num_classes": 10,
             "input_shape": list(shape)}
    spec = TrainSpec(method="gates", model=name, dataset="digits")
    path = tmp_path / "model.pt2"
    info = export_shrunk(checkpoint_payload(state, spec=spec), path)
    loaded = torch.export.load(str(path)).module()
    with torch.no_grad():
        assert torch.allclose(loaded(x), shrunk, atol=1e-5)
        assert torch.allclose(loaded(x[:1]), shrunk[:1], atol=1e-5)
    assert info["params"] == n_params(small) and info["file_bytes"] == path.stat().st_size
    assert info["removed_blocks"] == [plan.groups[i].name for i in sorted(removed_blocks)]


def test_a_network_without_zero_structures_is_left_as_it_is():
    model = randomized("lenet5", (1, 28, 28))
    small = shrink_model(model, (1, 28, 28))
    assert small is not model
    assert [p.shape for p in small.parameters()] == [p.shape for p in model.parameters()]
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(small(x), model(x))


def test_shrinking_does_not_change_the_model_it_is_given():
    model = randomized("mlp", (1, 8, 8))
    gates = random_gates(model, (1, 8, 8))
    gates.fold_(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    shrink_model(model, (1, 8, 8))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_export_of_a_run_that_removes_no_structure_is_refused_before_writing(tmp_path):
    model = build_model("mlp", 10, (1, 8, 8))
    state = {"model": model.state_dict(), "masks": {}, "model_name": "mlp", "num_classes": 10,
             "input_shape": [1, 8, 8]}
    path = tmp_path / "model.pt2"
    for method in ("weighted-sum", "gmp"):
        checkpoint = checkpoint_payload(state, spec=TrainSpec(method=method))
        with pytest.raises(InputError, match=f"trained with --method {method}, which removes no "
                                             "structure"):
            export_shrunk(checkpoint, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_export_needs_an_archive_name_ending_in_pt2(tmp_path):
    model = build_model("mlp", 10, (1, 8, 8))
    state = {"model": model.state_dict(), "masks": {}, "model_name": "mlp", "num_classes": 10,
             "input_shape": [1, 8, 8]}
    checkpoint = checkpoint_payload(state, spec=TrainSpec(method="gates"))
    for name in ("model.pt", "model.pt2.tmp", "model"):
        with pytest.raises(InputError, match=r"must end in \.pt2"):
            export_shrunk(checkpoint, tmp_path / name)
    assert not list(tmp_path.iterdir())
    export_shrunk(checkpoint, tmp_path / "model.pt2")
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt2"]
