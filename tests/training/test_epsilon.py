"""--method epsilon: the l1-ball projection (Duchi et al. 2008) is exact, the l1 budget holds at the
end of a run, the l0 variant hits its count exactly, pruned weights never come back."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _regrowth import NoRegrowth

from paretoprune.training import TrainSpec, train_run
from paretoprune.training.epsilon import (
    EpsilonRun,
    _michelot_threshold,
    l1_ball_threshold,
    project_l1_ball_,
)
from paretoprune.training.gmp import EXACT_THRESHOLD, Ramp, prune_smallest_, steps_per_epoch

QUICK = {"method": "epsilon", "epochs": 4, "max_train_samples": 400, "device": "cpu"}


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


# --- the projection ---------------------------------------------------------------------------


def bisection_theta(v: np.ndarray, radius: float) -> float:
    """θ >= 0 with sum(max(|v| - θ, 0)) = radius, by 200 bisections (0 inside the ball)."""
    a = np.abs(v)
    if a.sum() <= radius:
        return 0.0
    lo, hi = 0.0, float(a.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(a - mid, 0).sum() > radius else (lo, mid)
    return 0.5 * (lo + hi)


def assert_is_the_projection(v: np.ndarray, w: np.ndarray, radius: float) -> None:
    """The optimality certificate of the Euclidean projection onto the l1 ball, checked against
    every vertex ±radius·e_i of the ball (a linear function's maximum over a polytope lies at a
    vertex): <v - w, u - w> <= 0 for all u in the ball iff radius·max|v - w| <= <v - w, w>."""
    assert np.abs(w).sum() <= radius * (1 + 1e-12) + 1e-12
    r = v - w
    assert radius * np.abs(r).max() <= r @ w + 1e-9 * max(1.0, radius)


def cases():
    rng = np.random.default_rng(0)
    out = []
    for n in (1, 2, 7, 100, 5000):
        for share in (0.01, 0.3, 0.99):
            v = rng.normal(size=n) * rng.choice([1e-3, 1.0, 50.0])
            out.append((v, share * np.abs(v).sum()))
    sparse = rng.normal(size=400)
    sparse[rng.random(400) < 0.8] = 0.0  # pruned weights
    out.append((sparse, 0.2 * np.abs(sparse).sum()))
    ties = np.repeat([3.0, -2.0, 1.0, 0.5], 25)  # repeated magnitudes
    out += [(ties, 40.0), (ties, 100.0), (ties, 0.25)]
    out.append((np.array([0.0, 0.0, -4.0, 0.0]), 1.5))  # a single nonzero
    return out


@pytest.mark.parametrize(("v", "radius"), cases())
def test_the_projection_is_exact(v, radius):
    theta = bisection_theta(v, radius)
    w = project_l1_ball_(torch.tensor(v), radius).numpy()  # float64 on the CPU: Michelot
    assert_is_the_projection(v, w, radius)
    np.testing.assert_allclose(w, np.sign(v) * np.maximum(np.abs(v) - theta, 0), atol=1e-9)
    assert np.abs(w).sum() == pytest.approx(radius, rel=1e-12)
    assert (w[np.abs(v) <= theta - 1e-9] == 0.0).all()  # exact zeros below θ
    # Duchi's sort (the GPU path) and Michelot's iteration (the CPU path) find the same θ
    mags = torch.tensor(np.abs(v))
    assert float(l1_ball_threshold(mags, radius)) == pytest.approx(theta, abs=1e-9)
    assert float(_michelot_threshold(mags, radius)) == pytest.approx(theta, abs=1e-9)


def test_a_vector_inside_the_ball_is_left_alone():
    v = torch.tensor([0.5, -0.25, 0.0, 0.125])
    before = v.clone()
    assert project_l1_ball_(v, 0.875) is v and torch.equal(v, before)  # on the boundary
    assert torch.equal(project_l1_ball_(v, 10.0), before)
    assert float(l1_ball_threshold(v.abs(), 10.0)) == 0.0  # θ clamps to 0 inside


def test_float32_projection_meets_the_radius_and_zero_radius_is_zero():
    g = torch.Generator().manual_seed(3)
    v = torch.randn(20000, generator=g) * 0.05
    radius = 0.1 * float(v.abs().sum())
    project_l1_ball_(v, radius)
    assert float(v.abs().sum(dtype=torch.float64)) == pytest.approx(radius, rel=1e-5)
    assert 0 < int(torch.count_nonzero(v)) < 20000
    assert int(torch.count_nonzero(project_l1_ball_(v, 0.0))) == 0
    with pytest.raises(ValueError, match="radius"):
        project_l1_ball_(v, -1.0)


def test_the_l0_projection_keeps_exactly_the_largest():
    g = torch.Generator().manual_seed(4)
    v = torch.randn(1001, generator=g)
    original = v.clone()
    prune_smallest_([v], 0.9)
    kept = v != 0
    assert int(kept.sum()) == 1001 - round(0.9 * 1001)
    assert original[kept].abs().min() > original[~kept].abs().max()
    assert torch.equal(v[kept], original[kept])  # the kept weights are not shrunk


# --- runs -------------------------------------------------------------------------------------


class CheckedRun(NoRegrowth, EpsilonRun):
    """A run that asserts persistent masks after every step."""


def test_the_l1_budget_holds_at_the_end_and_binds():
    eps = 0.2
    m = train_run(quick(epsilon=eps)).metrics
    assert m["status"] == "ok" and m["method"] == "epsilon"
    assert m["epsilon"] == eps and math.isnan(m["target_sparsity"])  # l1 variant
    assert m["l1"] <= eps * (1 + 1e-6)
    assert m["l1"] >= 0.99 * eps  # the constraint binds: a dense trained net has l1 near 1
    assert m["sparsity"] > 0  # the projection's zeros


def test_without_a_ramp_the_budget_holds_from_the_first_epoch_and_masks_persist():
    eps = 0.3
    spec = quick(epsilon=eps, ramp_start=0.0, ramp_end=0.0)
    run = CheckedRun(spec)
    result = run.run()
    assert result.metrics["status"] == "ok"
    assert all(r["l1"] <= eps * (1 + 1e-6) for r in result.history)
    assert all(r["budget"] == pytest.approx(eps) for r in result.history)
    zeros = [r["nnz"] for r in result.history]
    assert zeros == sorted(zeros, reverse=True)  # nonzeros only ever fall


def test_the_ramp_tightens_the_l1_radius_along_the_cubic_schedule():
    eps = 0.1
    run = CheckedRun(quick(epsilon=eps, epochs=5))
    history = run.run().history
    per_epoch = steps_per_epoch(run.data.x_train.shape[0], run.spec.batch_size)
    assert run.ramp == Ramp.of_run(0.1, 0.7, 10, 5 * per_epoch)
    assert run.initial >= run.final == pytest.approx(eps * run.l1_init)
    for epoch, record in enumerate(history, start=1):
        last_step = epoch * per_epoch - 1
        expected = eps + (run.initial / run.l1_init - eps) * (
            1 - min(1.0, (last_step - run.ramp.start) / (run.ramp.end - run.ramp.start))) ** 3
        assert record["budget"] == pytest.approx(expected, rel=1e-9)
        assert record["l1"] <= record["budget"] * (1 + 1e-6)
    budgets = [r["budget"] for r in history]
    assert budgets == sorted(budgets, reverse=True) and budgets[-1] == pytest.approx(eps)
    assert budgets[0] > 2 * eps  # still ramping after the first epoch


def test_the_l0_variant_hits_the_exact_count_and_keeps_its_masks():
    spec = quick(target_sparsity=0.9)
    result = CheckedRun(spec.replace(threshold=EXACT_THRESHOLD)).run()
    m = result.metrics
    n = m["n_prunable"]
    assert m["nnz"] == n - round(0.9 * n) and math.isnan(m["epsilon"])
    assert m["target_sparsity"] == 0.9
    # the runner itself (no --threshold pruning on top: exactly the count)
    m = train_run(spec).metrics
    assert m["nnz"] == n - round(0.9 * n) and m["sparsity"] == pytest.approx(0.9, abs=1 / n)


@pytest.mark.parametrize("regrow", [False, True])
def test_regrow_makes_it_projected_gradient_descent(regrow):
    # with masks, the optimizer never moves a zero weight; without (--regrow), it does and
    # the projection alone keeps the budget, after every step
    eps = 0.2
    spec = quick(epsilon=eps, regrow=regrow, ramp_start=0.0, ramp_end=0.0, epochs=2)
    moved = []

    class Watch(EpsilonRun):
        def setup(self):
            super().setup()
            step = self.optimizer.step

            def watched(*args, **kwargs):
                zero = self.pruner.flat == 0
                out = step(*args, **kwargs)
                moved.append(bool((zero & (self.pruner.flat != 0)).any()))
                return out

            self.optimizer.step = watched

    m = Watch(spec).run().metrics
    assert any(moved) is regrow
    assert m["l1"] <= eps * (1 + 1e-6) and m["sparsity"] > 0
