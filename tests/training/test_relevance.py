"""--method relevance: the selective decay spares relevant weights, the bisected threshold keeps
the tolerance, pruning waits for a plateau, masks persist, the rows have every column."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from paretoprune.training import TrainSpec, relevance, train_run
from paretoprune.training.relevance import (
    RelevanceRun,
    RelevanceWarning,
    largest_threshold,
    selective_decay_,
)

pytestmark = pytest.mark.usefixtures("one_thread")

QUICK = {"method": "relevance", "epochs": 3, "max_train_samples": 400, "device": "cpu"}


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


def strip_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.endswith("_time")}


# --- the selective decay ----------------------------------------------------------------------

def test_decay_spares_relevant_weights_and_shrinks_the_others_by_their_insensitivity():
    w = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, 0.0])
    g = torch.tensor([0.0, 0.1, 0.25, 1.0, 5.0, 0.0])  # s = 0.5 below
    out = selective_decay_(w.clone(), g.abs().clone(), 0.5, 0.2)
    expected = w * (1 - 0.2 * torch.clamp(1 - g.abs() / 0.5, min=0))
    torch.testing.assert_close(out, expected)
    assert out[3] == w[3] and out[4] == w[4]  # |g| >= s: relevant, untouched
    assert abs(out[0]) < abs(w[0]) and abs(out[1]) < abs(w[1]) and abs(out[2]) < abs(w[2])
    assert out[0] / w[0] < out[1] / w[1] < out[2] / w[2]  # the least sensitive shrink most
    assert torch.all(torch.sign(out[:5]) == torch.sign(w[:5]))


def test_decay_never_flips_a_sign_even_with_a_huge_rate():
    w = torch.tensor([1.0, -1.0])
    out = selective_decay_(w.clone(), torch.zeros(2), 1.0, 50.0)
    assert torch.all(out == 0)  # the rate is capped at 1: shrunk to zero, not past it


def test_in_training_only_insensitive_weights_shrink(monkeypatch, one_thread):
    calls = []
    original = relevance.selective_decay_

    def spy(weights, abs_grad, scale, rate):
        before, grad = weights.clone(), abs_grad.clone()
        out = original(weights, abs_grad, scale, rate)
        calls.append((before, grad, float(scale), rate, out.clone()))
        return out

    monkeypatch.setattr(relevance, "selective_decay_", spy)
    spec = quick(epochs=1, decay=5.0, lr=2e-3)
    train_run(spec)
    assert calls
    for before, grad, scale, rate, after in calls[:5]:
        assert rate == pytest.approx(2e-3 * 5.0)  # η·λ
        assert scale > 0
        relevant = grad >= scale
        assert 0 < int(relevant.sum()) < grad.numel()  # both kinds exist
        assert torch.equal(after[relevant], before[relevant])
        shrunk = (~relevant) & (before != 0)
        assert torch.all(after[shrunk].abs() < before[shrunk].abs())


def test_the_scale_is_a_running_mean_of_the_kept_weights_gradients(monkeypatch, one_thread):
    seen = []
    original = relevance.selective_decay_

    def spy(weights, abs_grad, scale, rate):
        seen.append((float(abs_grad.sum()), float(scale)))
        return original(weights, abs_grad, scale, rate)

    monkeypatch.setattr(relevance, "selective_decay_", spy)
    run = RelevanceRun(quick(epochs=1, decay=1.0, threshold=0.0))  # nothing pruned: all kept
    run.run()
    n = run.pruner.numel
    m = relevance.SCALE_MOMENTUM
    total, weight = 0.0, 0.0
    for grad_sum, scale in seen[:10]:
        total, weight = m * total + (1 - m) * grad_sum / n, m * weight + (1 - m)
        assert scale == pytest.approx(total / weight, rel=1e-4)


# --- the bisected threshold ---------------------------------------------------------------------

def quadratic_loss(flat: torch.Tensor, original: torch.Tensor):
    """1 + the squared distance from the original weights: pruning w costs w²."""
    return lambda: 1.0 + float(((flat - original) ** 2).sum())


@pytest.mark.parametrize("tolerance", [0.0, 0.05, 0.3, 0.9])
def test_the_threshold_is_the_largest_within_the_tolerance(tolerance):
    torch.manual_seed(0)
    original = torch.randn(200) * 0.3
    original[:10] = 0.0  # already pruned
    flat = original.clone()
    threshold, k, base, after = largest_threshold(flat, quadratic_loss(flat, original), tolerance)
    assert base == 1.0 and after <= (1 + tolerance) * base
    pruned = (flat == 0) & (original != 0)
    assert int(pruned.sum()) == k
    assert torch.all(original[pruned].abs() < threshold)
    assert torch.all(flat[flat != 0].abs() >= threshold)  # all the rest kept, untouched
    assert torch.equal(flat[flat != 0], original[flat != 0])
    # one more weight -- the next smallest -- breaks the tolerance: the largest within it
    smallest_kept = original[flat != 0].abs().min()
    assert 1.0 + float((original[pruned] ** 2).sum()) + float(smallest_kept ** 2) > (
        1 + tolerance) * base
    if tolerance == 0.0:
        assert k == 0  # every weight costs something


def test_the_threshold_on_a_real_network_respects_the_tolerance(one_thread):
    torch.manual_seed(0)
    x, y = torch.randn(300, 10), torch.randint(0, 3, (300,))
    model = nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(200):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    flat = model[0].weight.data.view(-1)
    original = flat.clone()

    def loss():
        with torch.no_grad():
            return float(nn.functional.cross_entropy(model(x), y))

    tol = 0.1
    threshold, k, base, after = largest_threshold(flat, loss, tol)
    assert 0 < k < flat.numel()
    assert loss() == pytest.approx(after) and after <= (1 + tol) * base
    # pruning the next smallest weight too goes past the tolerance
    nxt = int(torch.nonzero(flat.abs() == flat[flat != 0].abs().min())[0])
    assert original[nxt].abs() == threshold
    flat[nxt] = 0.0
    assert loss() > (1 + tol) * base


def test_a_tolerance_that_allows_everything_prunes_everything():
    flat = torch.tensor([0.5, -0.2, 0.0, 0.1])
    threshold, k, _, _ = largest_threshold(flat, lambda: 1.0, 0.0)
    assert k == 3 and math.isinf(threshold) and torch.all(flat == 0)


# --- plateaus, masks, runs ----------------------------------------------------------------------

class _Plateau(RelevanceRun):
    """end_epoch driven by a given sequence of validation losses, pruning recorded."""

    def __init__(self, losses, plateau, epochs):
        self.losses, self.epochs = list(losses), epochs
        self.spec = quick(plateau=plateau)
        self.best, self.waiting, self.prune_steps = math.inf, 0, 0
        self.pruned_at = []

    def _eval_loss(self):
        return self.losses.pop(0)

    def prune_step(self):
        self.pruned_at.append(self.epoch)
        return {"prune_loss_after": 5.0}


def drive(losses, plateau):
    run = _Plateau(losses, plateau, epochs=len(losses))

    class _NoPruner:
        numel = 1

        def l1(self):
            return torch.tensor(1.0)

        def nnz(self):
            return torch.tensor(1)

    run.pruner, run.l1_init = _NoPruner(), 1.0
    for epoch in range(1, len(losses) + 1):
        run.epoch = epoch
        run.end_epoch({"epoch": epoch})
    return run.pruned_at


def test_pruning_waits_for_plateau_epochs_without_improvement():
    # improves, improves, flat, flat -> with --plateau 2 the 4th epoch prunes; then the last
    assert drive([1.0, 0.9, 0.95, 0.9, 0.8, 0.7], plateau=2) == [4, 6]
    assert drive([1.0, 0.9, 0.95, 0.9, 0.8, 0.7], plateau=1) == [3, 6]
    # after a pruning step the best loss restarts from the pruned one (5.0 here)
    assert drive([1.0, 1.0, 4.0, 3.0, 2.0], plateau=1) == [2, 5]
    assert drive([3.0, 2.0, 1.0], plateau=5) == [3]  # only the final step


def test_run_prunes_with_persistent_masks_and_reports_every_column(one_thread):
    result = train_run(quick(epochs=4, decay=3.0, plateau=1))
    m = result.metrics
    assert m["status"] == "ok" and m["method"] == "relevance" and m["decay"] == 3.0
    assert m["prune_steps"] >= 1 and m["sparsity"] > 0
    weighted = train_run(TrainSpec(epochs=1, max_train_samples=400, device="cpu")).metrics
    assert set(weighted) - {"weight"} <= set(m)  # the same columns, plus its own
    nnz = [r["nnz"] for r in result.history]
    assert nnz == sorted(nnz, reverse=True)  # masks persist: weights only ever leave
    assert any("prune_threshold" in r for r in result.history)
    assert result.history[-1]["nnz"] == m["nnz"]
    state_nnz = sum(int(torch.count_nonzero(result.state["model"][n]))
                    for n in result.state["prunable"])
    assert state_nnz == m["nnz"] and set(result.state["masks"]) == set(result.state["prunable"])
    for name, mask in result.state["masks"].items():
        assert torch.all(result.state["model"][name][~mask] == 0)


def test_more_decay_gives_a_sparser_network(one_thread):
    low, high = (train_run(quick(epochs=4, decay=d, plateau=10)).metrics for d in (0.0, 40.0))
    assert high["nnz"] < low["nnz"] and high["l1"] < low["l1"]


def test_same_seed_same_run(one_thread):
    a, b = (train_run(quick(decay=2.0, plateau=1)) for _ in range(2))
    assert strip_times(a.metrics) == strip_times(b.metrics)
    for k, v in a.state["model"].items():
        assert torch.equal(v, b.state["model"][k])


def test_without_a_validation_split_it_reads_the_training_loss_and_warns(one_thread):
    with pytest.warns(RelevanceWarning, match="no validation split"):
        result = train_run(quick(epochs=2, val_fraction=0.0))
    assert result.metrics["status"] == "ok" and math.isnan(result.metrics["val_acc"])
    assert result.metrics["prune_steps"] >= 1
