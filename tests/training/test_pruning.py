"""Intra-training pruning: persistent masks, regrowth, optimizer state, the analytic l1 gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.training import MAdam, Pruner, apply_torch_prune, prunable_parameters


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 16),
                         nn.ReLU(), nn.Linear(16, 4))


def batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 1, 8, 8, generator=g), torch.randint(0, 4, (16,), generator=g)


def test_prunable_selection():
    model = small_net()
    assert [n for _, n, _ in prunable_parameters(model, "dense")] == ["3.weight", "5.weight"]
    assert [n for _, n, _ in prunable_parameters(model, "conv")] == ["0.weight"]
    assert len(prunable_parameters(model, "all", include_bias=True)) == 6


def test_parameters_become_views_of_one_buffer():
    model = small_net()
    before = [p.detach().clone() for p in model.parameters()]
    pruner = Pruner(model, "all", threshold=1e-3)
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q)
    assert pruner.numel == 27 + 108 * 16 + 16 * 4
    with torch.no_grad():
        pruner.flat.zero_()
    assert all(torch.count_nonzero(p) == 0 for p in pruner.params)
    assert torch.count_nonzero(model[0].bias) > 0  # biases are not prunable by default


@pytest.mark.parametrize("opt_name", ["sgd", "sgd-fused", "adam", "adam-fused", "rmsprop", "madam",
                                      "madam-foreach"])
def test_persistent_masks_keep_weights_and_optimizer_state_zero(opt_name):
    model = small_net()
    pruner = Pruner(model, "dense", threshold=0.05)  # prunes a large share at once
    make = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
        "adam-fused": lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True),
        "sgd-fused": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, fused=True),
        "madam-foreach": lambda ps: MAdam(ps, lr=0.01, weights=(0.7, 0.3), fused=False),
        "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9),
        "madam": lambda ps: MAdam(ps, lr=0.01, weights=(0.7, 0.3)),
    }[opt_name]
    optimizer = make(model.parameters())
    pruner.attach(optimizer)
    pruner.prune_()
    pruned = [~m for m in pruner.masks().values()]
    assert sum(int(p.sum()) for p in pruned) > 100

    def check(when):
        for p, gone in zip(pruner.params, pruned, strict=True):
            assert torch.count_nonzero(p[gone]) == 0, when
            for value in optimizer.state[p].values():
                if torch.is_tensor(value) and value.shape == p.shape:
                    assert torch.count_nonzero(value[gone]) == 0, when

    for i in range(8):
        x, y = batch(i)
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        pruner.add_l1_grad_(0.01)
        pruner.mask_grads_()
        if opt_name.startswith("madam"):
            optimizer.step(grad2=dict(zip(pruner.params, pruner.signs(0.01), strict=True)))
        else:
            optimizer.step()
        check("after the optimizer step, before pruning")
        pruner.prune_()
        check("after pruning")
        # the set of pruned weights only grows
        now = [~m for m in pruner.masks().values()]
        for old, new in zip(pruned, now, strict=True):
            assert bool((new | ~old).all())
        pruned = [n.clone() for n in now]
    # newly pruned entries had non-zero state and it was zeroed
    assert any(bool((~m).any()) for m in pruner.masks().values())


def test_optimizer_state_zeroed_when_a_weight_is_pruned():
    model = small_net()
    pruner = Pruner(model, "dense", threshold=1e-3)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    pruner.attach(optimizer)
    x, y = batch()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    w = pruner.params[0]
    state = optimizer.state[w]
    live = (state["exp_avg"] != 0).nonzero()[:5]  # entries with non-zero state
    rows, cols = live[:, 0], live[:, 1]
    assert len(live) == 5
    with torch.no_grad():
        w[rows, cols] = 1e-4  # below the threshold
    pruner.prune_()
    assert torch.count_nonzero(w[rows, cols]) == 0
    assert torch.count_nonzero(state["exp_avg"][rows, cols]) == 0
    assert torch.count_nonzero(state["exp_avg_sq"][rows, cols]) == 0
    assert torch.count_nonzero(state["exp_avg"]) > 0  # the others are untouched


def test_regrow_lets_pruned_weights_come_back():
    model = small_net()
    pruner = Pruner(model, "dense", threshold=0.01, persistent=False)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)  # steps of about lr per weight
    pruner.attach(optimizer)
    pruner.prune_()
    zero_before = [p.detach() == 0 for p in pruner.params]
    x, y = batch()
    F.cross_entropy(model(x), y).backward()
    pruner.mask_grads_()  # a no-op without persistent masks
    optimizer.step()
    grown = sum(int(((p.detach() != 0) & z).sum()) for p, z in zip(pruner.params, zero_before, strict=True))
    assert grown > 0  # pruned weights moved off zero
    pruner.prune_()
    big = sum(int(((p.detach().abs() >= 0.01) & z).sum())
              for p, z in zip(pruner.params, zero_before, strict=True))
    assert big > 0  # ... and those that grew past the threshold survive the next pruning
    assert not all(bool(m.all()) for m in pruner.masks().values())  # current zeros as masks


@pytest.mark.parametrize("prune", ["dense", "all"])
def test_analytic_l1_gradient_equals_autograd(prune):
    weight = 0.4
    model_a, model_b = small_net(), small_net()
    pruner = Pruner(model_b, prune, threshold=0.02)
    pruner.prune_()  # some exact zeros: the subgradient there is 0 for both
    with torch.no_grad():
        for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
            pa.copy_(pb)
    params_a = [p for _, _, p in prunable_parameters(model_a, prune)]
    l1_init = 37.5
    x, y = batch()
    loss = (1 - weight) * F.cross_entropy(model_a(x), y) + weight * sum(p.abs().sum() for p in params_a) / l1_init
    loss.backward()
    ((1 - weight) * F.cross_entropy(model_b(x), y)).backward()
    pruner.add_l1_grad_(weight / l1_init)
    for pa, pb in zip(model_a.parameters(), model_b.parameters(), strict=True):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-6, atol=1e-8)


def test_masks_export_to_torch_prune_and_plain_zeros():
    model = small_net()
    pruner = Pruner(model, "dense", threshold=0.05)
    pruner.prune_()
    masks = pruner.masks()
    x, _ = batch()
    expected = model(x)
    copy = small_net()
    apply_torch_prune(copy, masks)
    assert hasattr(copy[3], "weight_orig") and hasattr(copy[3], "weight_mask")
    assert torch.equal(copy[3].weight_mask, masks["3.weight"].float())
    assert torch.count_nonzero(copy[3].weight) == int(masks["3.weight"].sum())
    plain = apply_torch_prune(small_net(), masks, make_permanent=True)
    assert not hasattr(plain[3], "weight_orig")
    assert torch.count_nonzero(plain[5].weight) == int(masks["5.weight"].sum())
    # the pruned model and the original agree where the original's weights are what remain
    with torch.no_grad():
        for name in ("3", "5"):
            getattr(plain, name).weight.copy_(getattr(model, name).weight)
    torch.testing.assert_close(plain(x), expected)


def test_set_masks_restores_pruned_pattern():
    model = small_net()
    pruner = Pruner(model, "dense", threshold=0.05)
    pruner.prune_()
    masks = pruner.masks()
    fresh = small_net()
    other = Pruner(fresh, "dense", threshold=0.05)
    other.set_masks(masks)
    for name, p in zip(other.names, other.params, strict=True):
        assert torch.equal(p.detach() != 0, masks[name] & (p.detach() != 0))
        assert torch.equal(other.masks()[name], masks[name])


@pytest.mark.parametrize("persistent", [True, False])
def test_threshold_is_strict_less_than(persistent):
    model = nn.Sequential(nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1e-3, -1e-3, 0.00099999, -0.5], [2e-3, 0.0, -1e-4, 1.0]]))
    pruner = Pruner(model, "dense", threshold=1e-3, persistent=persistent)
    pruner.prune_()
    expected = torch.tensor([[1e-3, -1e-3, 0.0, -0.5], [2e-3, 0.0, 0.0, 1.0]])
    assert torch.equal(model[0].weight.detach(), expected)
    assert torch.equal(pruner.masks()["0.weight"], expected != 0)
    assert not torch.signbit(model[0].weight.detach()[0, 2])  # plain +0.0, not -0.0


@pytest.mark.parametrize("opt_name", ["sgd", "adam", "adam-fused", "rmsprop"])
def test_masks_held_by_weights_train_the_weights_held_by_gradients(opt_name):
    """``hold="weights"``: no gradient or optimizer-state masks, the pruned weights multiplied
    back to zero after each step; with an optimizer that updates each weight on its own, the
    weights and masks are those of ``hold="gradients"``, bit for bit."""
    make = {
        "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9),
        "adam": lambda ps: torch.optim.Adam(ps, lr=0.01),
        "adam-fused": lambda ps: torch.optim.Adam(ps, lr=0.01, fused=True),
        "rmsprop": lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9),
    }[opt_name]
    runs = []
    for hold in ("gradients", "weights"):
        model = small_net()
        pruner = Pruner(model, "dense", threshold=0.02, hold=hold)
        optimizer = make(model.parameters())
        pruner.attach(optimizer)
        pruner.prune_()
        for i in range(10):
            x, y = batch(i)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            pruner.before_step(0.01)  # the l1 subgradient: sign(0) = 0 at pruned weights
            optimizer.step()
            pruner.after_step()
            if i == 5:
                pruner.fix_masks()
        runs.append((model, pruner))
    (model, pruner), (model_w, pruner_w) = runs
    assert pruner_w.hold_by_weights and not pruner.hold_by_weights
    assert 0 < int(pruner.mask.sum()) < pruner.numel  # some weights pruned, some kept
    for (name, p), p_w in zip(model.named_parameters(), model_w.parameters(), strict=True):
        assert torch.equal(p, p_w), name
    assert torch.equal(pruner.mask, pruner_w.mask)
    with pytest.raises(ValueError, match="hold must be one of"):
        Pruner(small_net(), threshold=0.02, hold="optimizer")
