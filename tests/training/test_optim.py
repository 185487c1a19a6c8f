"""SMGD, MAdam and MRMSProp: the min-norm weights and equivalence with torch's optimizers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from paretoprune.training import SMGD, MAdam, MRMSProp, min_norm_weights


def closed_form(g1: torch.Tensor, g2: torch.Tensor) -> float:
    """c1 = clip(<g2 - g1, g2> / ||g1 - g2||^2, 0, 1), written out independently."""
    diff = g1 - g2
    if float(diff @ diff) == 0.0:
        return 1.0
    return min(1.0, max(0.0, float((g2 - g1) @ g2) / float(diff @ diff)))


@pytest.mark.parametrize(
    ("g1", "g2", "expected_c1"),
    [
        ([1.0, 0.0], [0.0, 1.0], 0.5),    # orthogonal, equal norms: the midpoint
        ([2.0, 0.0], [0.0, 1.0], 0.2),    # min-norm point of the segment (2,0)-(0,1)
        ([1.0, 0.0], [2.0, 0.0], 1.0),    # g1 inside: clipped at c1 = 1
        ([3.0, 0.0], [1.0, 0.0], 0.0),    # g2 inside: clipped at c1 = 0
        ([1.0, 2.0], [1.0, 2.0], 1.0),    # g1 == g2
        ([0.0, 0.0], [0.0, 0.0], 1.0),    # both zero
    ],
)
def test_min_norm_weights_closed_form(g1, g2, expected_c1):
    a, b = torch.tensor(g1, dtype=torch.float64), torch.tensor(g2, dtype=torch.float64)
    assert closed_form(a, b) == pytest.approx(expected_c1)
    c1, c2 = min_norm_weights(float(a @ a), float(a @ b), float(b @ b))
    assert c1 == pytest.approx(expected_c1) and c2 == pytest.approx(1 - expected_c1)
    t1, t2 = min_norm_weights(a @ a, a @ b, b @ b)  # tensor version, same answer
    assert isinstance(t1, torch.Tensor)
    assert float(t1) == pytest.approx(expected_c1) and float(t2) == pytest.approx(1 - expected_c1)
    # the combination is the min-norm point of the segment (checked on a grid)
    d = c1 * a + c2 * b
    grid = [float((t * a + (1 - t) * b).norm()) for t in torch.linspace(0, 1, 201).tolist()]
    assert float(d.norm()) <= min(grid) + 1e-9


def test_min_norm_weights_random_against_closed_form():
    g = torch.Generator().manual_seed(3)
    for _ in range(50):
        a = torch.randn(7, generator=g, dtype=torch.float64)
        b = torch.randn(7, generator=g, dtype=torch.float64) * float(torch.rand(1, generator=g) * 3)
        c1, _ = min_norm_weights(float(a @ a), float(a @ b), float(b @ b))
        assert c1 == pytest.approx(closed_form(a, b), abs=1e-12)


def test_smgd_weights_use_global_inner_products_over_all_parameters():
    # two parameters; g2 only on the first (like the l1 gradient on prunable weights only)
    p = nn.Parameter(torch.zeros(2))
    q = nn.Parameter(torch.zeros(3))
    p.grad = torch.tensor([1.0, 2.0])
    q.grad = torch.tensor([0.5, -1.0, 2.0])
    g2p = torch.tensor([3.0, -1.0])
    opt = SMGD([p, q], lr=0.1)
    opt.step(grad2={p: g2p})
    g1 = torch.cat([p.grad, q.grad]).double()
    g2 = torch.cat([g2p, torch.zeros(3)]).double()
    c1 = closed_form(g1, g2)
    assert 0.0 < c1 < 1.0
    assert opt.last_c1 == pytest.approx(c1, rel=1e-6)
    assert opt.last_c2 == pytest.approx(1 - c1, rel=1e-6)
    # plain SMGD step: p -= lr * (c1 g1 + c2 g2)
    torch.testing.assert_close(p.detach(), -0.1 * (c1 * p.grad + (1 - c1) * g2p))
    torch.testing.assert_close(q.detach(), -0.1 * c1 * q.grad)


def test_second_gradient_api_forms_agree():
    def run(kind):
        p = nn.Parameter(torch.tensor([0.3, -0.2, 0.1]))
        p.grad = torch.tensor([0.5, 0.1, -0.3])
        g2 = torch.tensor([1.0, -1.0, 1.0])
        opt = MAdam([p], lr=0.01)
        if kind == "mapping":
            opt.step(grad2={p: g2})
        elif kind == "callable":
            opt.step(grad2=lambda param: g2 if param is p else None)
        else:
            p.grad2 = g2
            opt.step()
        return p.detach().clone(), opt.last_c1

    results = [run(k) for k in ("mapping", "callable", "attribute")]
    for value, c1 in results[1:]:
        assert torch.equal(value, results[0][0]) and c1 == results[0][1]


def _pair(seed=0):
    torch.manual_seed(seed)
    a = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    b = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    b.load_state_dict(a.state_dict())
    return a, b


def _compare_stepwise(ours_cls, ours_kwargs, ref_factory, steps=25, exact=True):
    ours, ref = _pair()
    opt = ours_cls(ours.parameters(), **ours_kwargs)
    ref_opt = ref_factory(ref.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(10, 6, generator=g), torch.randint(0, 3, (10,), generator=g)
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            F.cross_entropy(model(x), y).backward()
        # a non-zero second gradient that fixed weights (1, 0) must ignore
        opt.step(grad2={p: torch.sign(p.detach()) for p in ours.parameters()})
        ref_opt.step()
        for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
            if exact:
                assert torch.equal(p, q)
            else:
                torch.testing.assert_close(p, q)
    return opt


@pytest.mark.parametrize("fused", [False, True])
def test_madam_with_fixed_weights_1_0_equals_adam(fused):
    opt = _compare_stepwise(MAdam, {"lr": 1e-2, "weights": (1.0, 0.0), "fused": fused},
                            lambda ps: torch.optim.Adam(ps, lr=1e-2, fused=fused))
    assert opt.last_c1 == 1.0 and opt.last_c2 == 0.0


@pytest.mark.parametrize("fused", [False, True])
def test_madam_with_fixed_weights_and_weight_decay_equals_adam(fused):
    _compare_stepwise(MAdam, {"lr": 1e-2, "weight_decay": 0.01, "weights": (1.0, 0.0), "fused": fused},
                      lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.01, fused=fused),
                      exact=not fused)


def test_madam_fused_and_foreach_agree_with_min_norm_weights():
    results = []
    for fused in (False, True):
        model, _ = _pair()
        opt = MAdam(model.parameters(), lr=1e-2, fused=fused)
        g = torch.Generator().manual_seed(2)
        for _ in range(10):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step(grad2={p: torch.sign(p.detach()) * 0.05 for p in model.parameters()})
        results.append([p.detach().clone() for p in model.parameters()])
        assert 0.0 < opt.last_c1 < 1.0
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b)


def test_mrmsprop_with_fixed_weights_1_0_equals_rmsprop_alpha_09():
    _compare_stepwise(MRMSProp, {"lr": 1e-3, "rho": 0.9, "weights": (1.0, 0.0)},
                      lambda ps: torch.optim.RMSprop(ps, lr=1e-3, alpha=0.9))


def test_smgd_with_fixed_weights_1_0_equals_sgd_momentum():
    _compare_stepwise(SMGD, {"lr": 0.05, "momentum": 0.9, "weights": (1.0, 0.0)},
                      lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9))


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_smgd_nesterov_with_fixed_weights_1_0_equals_sgd_nesterov(weight_decay):
    _compare_stepwise(SMGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                             "weight_decay": weight_decay, "weights": (1.0, 0.0)},
                      lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
                                                 weight_decay=weight_decay),
                      exact=False)


def test_smgd_nesterov_with_a_zero_second_gradient_equals_sgd_nesterov():
    ours, ref = _pair()
    opt = SMGD(ours.parameters(), lr=0.05, momentum=0.9, nesterov=True, weights=(1.0, 0.0))
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    plain = SMGD(_pair()[0].parameters(), lr=0.05, momentum=0.9, weights=(1.0, 0.0))
    g = torch.Generator().manual_seed(5)
    for _ in range(10):
        x, y = torch.randn(10, 6, generator=g), torch.randint(0, 3, (10,), generator=g)
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            F.cross_entropy(model(x), y).backward()
        opt.step(grad2={p: torch.zeros_like(p) for p in ours.parameters()})
        ref_opt.step()
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert opt.param_groups[0]["nesterov"] is True and plain.param_groups[0]["nesterov"] is False


def test_smgd_nesterov_differs_from_heavy_ball_and_needs_momentum():
    results = []
    for nesterov in (False, True):
        model, _ = _pair()
        opt = SMGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=nesterov)
        g = torch.Generator().manual_seed(6)
        for _ in range(3):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step(grad2={p: 0.05 * torch.sign(p.detach()) for p in model.parameters()})
        results.append([p.detach().clone() for p in model.parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(*results, strict=True))
    with pytest.raises(ValueError, match="Nesterov"):
        SMGD([nn.Parameter(torch.zeros(2))], lr=0.1, momentum=0.0, nesterov=True)


def test_madam_combines_two_normalized_directions():
    # one step from zero state: m^/(sqrt(v^)+eps) = g/(|g|+eps) per objective
    p = nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))
    p.grad = torch.tensor([0.2, 0.4, -0.1])
    g2 = torch.tensor([1.0, -1.0, 1.0])
    opt = MAdam([p], lr=0.1, eps=0.0, weights=(0.25, 0.75))
    opt.step(grad2={p: g2})
    expected = torch.tensor([1.0, -1.0, 0.5]) - 0.1 * (0.25 * torch.sign(p.grad) + 0.75 * torch.sign(g2))
    torch.testing.assert_close(p.detach(), expected)
    # with min-norm weights the same step uses (c1, c2) from the raw gradients
    p2 = nn.Parameter(torch.tensor([1.0, -1.0, 0.5]))
    p2.grad = torch.tensor([0.2, 0.4, -0.1])
    opt2 = MAdam([p2], lr=0.1, eps=0.0)
    opt2.step(grad2={p2: g2})
    c1 = closed_form(p2.grad.double(), g2.double())
    assert opt2.last_c1 == pytest.approx(c1, rel=1e-6)
    expected2 = torch.tensor([1.0, -1.0, 0.5]) - 0.1 * (c1 * torch.sign(p2.grad) + (1 - c1) * torch.sign(g2))
    torch.testing.assert_close(p2.detach(), expected2)


def test_mrmsprop_step_formula():
    p = nn.Parameter(torch.tensor([1.0, 2.0]))
    p.grad = torch.tensor([0.3, -0.6])
    g2 = torch.tensor([1.0, 1.0])
    opt = MRMSProp([p], lr=0.01, rho=0.9, eps=1e-8, weights=(0.4, 0.6))
    opt.step(grad2={p: g2})
    a1, a2 = 0.1 * p.grad ** 2, 0.1 * g2 ** 2
    expected = torch.tensor([1.0, 2.0]) - 0.01 * (0.4 * p.grad / (a1.sqrt() + 1e-8)
                                                  + 0.6 * g2 / (a2.sqrt() + 1e-8))
    torch.testing.assert_close(p.detach(), expected)


def test_optimizer_rejects_bad_settings_and_has_nan_weights_before_a_step():
    p = nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError):
        MAdam([p], lr=-1.0)
    with pytest.raises(ValueError):
        SMGD([p], lr=0.1, weights=(-1.0, 2.0))
    assert math.isnan(MRMSProp([p]).last_c1)


def test_state_dict_roundtrip():
    model, _ = _pair()
    opt = MAdam(model.parameters(), lr=1e-2)
    x, y = torch.randn(4, 6), torch.randint(0, 3, (4,))
    F.cross_entropy(model(x), y).backward()
    opt.step(grad2={p: torch.sign(p.detach()) for p in model.parameters()})
    again = MAdam(model.parameters(), lr=1e-2)
    again.load_state_dict(opt.state_dict())
    first = next(iter(model.parameters()))
    assert torch.equal(again.state[first]["exp_avg2"], opt.state[first]["exp_avg2"])
    assert float(again.state[first]["step"]) == 1.0


@pytest.mark.parametrize("cls", [SMGD, MAdam, MRMSProp])
def test_device_tensor_weights_match_host_float_weights(cls):
    """The no-sync path (c1, c2 as tensors, used on GPUs) gives the same steps as host floats."""
    results = []
    for host in (True, False):
        model, _ = _pair()
        kwargs = {"lr": 1e-2, "momentum": 0.9} if cls is SMGD else {"lr": 1e-2}
        opt = cls(model.parameters(), **kwargs)
        opt.host_weights = host
        g = torch.Generator().manual_seed(4)
        for _ in range(6):
            x, y = torch.randn(8, 6, generator=g), torch.randint(0, 3, (8,), generator=g)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step(grad2={p: 0.05 * torch.sign(p.detach()) for p in model.parameters()})
        assert isinstance(opt.last_weights[0], float) is host
        results.append(([p.detach().clone() for p in model.parameters()], opt.last_c1))
    (a, c_a), (b, c_b) = results
    assert c_a == pytest.approx(c_b, rel=1e-5)
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-6)
