"""The weighted sum's recipes: the default (ramp, proximal l1 step, exact zeros, recovery), the
authors' original recipe, and the ablation's ingredients (proxgen, the magnitude rules)."""

from __future__ import annotations

import math

import pytest
import torch
from click.testing import CliRunner
from torch.nn import functional as F

from paretoprune.cli import main
from paretoprune.training import TrainSpec, train_run
from paretoprune.training.weighted_sum import (
    GRADUAL,
    ORIGINAL,
    Recipe,
    WeightedSumRun,
    run_recipe,
    run_weighted_sum,
)

QUICK = {"epochs": 4, "max_train_samples": 400, "device": "cpu"}

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


def logit_weight(t: float) -> float:
    return 1.0 / (1.0 + math.exp(-t))


def test_weight_zero_prunes_nothing_with_the_default_recipe():
    assert quick().options.recipe == "gradual"
    m = train_run(quick(weight=0.0)).metrics
    assert m["status"] == "ok" and m["sparsity"] == 0.0 and m["nnz"] == m["n_prunable"]
    # the authors' threshold, about one Adam step, prunes weights even without any l1 pull
    original = train_run(quick(weight=0.0, recipe="original")).metrics
    assert original["sparsity"] > 0.0


def test_the_proximal_step_makes_exact_zeros_more_with_a_larger_weight():
    sparsities = [train_run(quick(weight=logit_weight(t))).metrics["sparsity"] for t in (0.0, 2.0)]
    assert 0.0 < sparsities[0] < sparsities[1]
    assert train_run(quick(weight=1.0)).metrics["nnz"] == 0  # λ = 1: the all-zero network


def test_recovery_trains_the_final_mask_without_pruning_and_the_ramp_rises():
    spec = quick(weight=logit_weight(2.0), epochs=10)
    history = run_weighted_sum(spec).history
    # recovery starts at 70 % of the steps (within epoch 8 at the latest): nothing new is
    # pruned from then on, the mask is trained as it is
    assert history[7]["sparsity"] == history[8]["sparsity"] == history[9]["sparsity"] > 0
    assert history[-1]["l1_strength"] == 0.0
    strengths = [h["l1_strength"] for h in history[:6]]
    assert strengths[0] < strengths[2] < strengths[5] <= 1.0  # the cubic ramp rises


def test_without_recovery_and_ramp_the_l1_term_pulls_to_the_end():
    recipe = Recipe(l1_step="prox", prune="zeros")
    history = run_recipe(quick(weight=logit_weight(7.0)), recipe).history
    assert all(h["l1_strength"] == 1.0 for h in history)
    assert history[-1]["sparsity"] >= history[0]["sparsity"] > 0


@pytest.mark.parametrize("recipe", [
    Recipe(l1_step="proxgen", ramp=(0.1, 0.7), recovery=0.3, prune="zeros"),
    Recipe(ramp=(0.1, 0.7), recovery=0.3, prune="magnitude"),
    Recipe(ramp=(0.1, 0.7), recovery=0.3, prune="magnitude-layer"),
], ids=["proxgen", "magnitude", "magnitude-layer"])
def test_ablation_ingredients_prune_more_with_a_larger_weight(recipe):
    low, high = (run_recipe(quick(weight=w), recipe).metrics for w in (0.2, 0.6))
    assert low["status"] == high["status"] == "ok"
    assert low["sparsity"] < high["sparsity"]


def test_recipes_are_checked():
    with pytest.raises(Exception, match="unknown l1 step"):
        Recipe(l1_step="adam")
    with pytest.raises(Exception, match="recovery must be in"):
        Recipe(recovery=1.0)
    assert Recipe() == ORIGINAL and GRADUAL.l1_step == "proxgen" and GRADUAL.prune == "zeros"


def test_threshold_belongs_to_the_original_recipe_on_the_command_line():
    result = CliRunner().invoke(main, ["train", "--threshold", "0.01", "--epochs", "1"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0  # one line
    assert "--threshold is an option of --recipe original" in result.output
    ok = CliRunner().invoke(main, ["train", "--recipe", "original", "--threshold", "0.01",
                                   "--epochs", "1", "--max-train-samples", "200", "--device",
                                   "cpu", "--quiet", "--threads", "1"])
    assert ok.exit_code == 0, ok.output
    result = CliRunner().invoke(main, ["sweep", "out", "--threshold", "0.01"])
    assert result.exit_code == 2 and "--recipe original" in result.output
    result = CliRunner().invoke(main, ["train", "--method", "gmp", "--recipe", "original"])
    assert result.exit_code == 2 and "--recipe is an option of --method weighted-sum" in \
        result.output


def test_the_original_recipe_is_the_authors_subgradient_and_threshold():
    spec = quick(weight=0.5, recipe="original")
    m = run_weighted_sum(spec).metrics
    again = run_recipe(spec.replace(recipe="gradual"), ORIGINAL).metrics
    assert m["sparsity"] == again["sparsity"] and m["val_acc"] == again["val_acc"]


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_the_default_recipe_takes_every_gradient_optimizer(optimizer):
    """ProxGen's denominator is the optimizer's own: RMSprop's sqrt(v) + eps, none for SGD
    (the plain proximal gradient step); both make exact zeros at a large weight."""
    m = train_run(quick(optimizer=optimizer, weight=logit_weight(6.0), lr=0.05)).metrics
    assert m["status"] == "ok" and m["sparsity"] > 0.0


class PlainDefaultRecipe(WeightedSumRun):
    """The default recipe written out as its formulas read, for checking the optimized step:
    masks held by the gradients (the gradients of pruned weights masked, their optimizer state
    zeroed when pruned), and ProxGen's step parameter by parameter,
    ``w <- w - clamp(w, -cut, cut)`` with ``cut = scale / d``, ``scale = lr·λ·r/l1_init`` and
    ``d = sqrt(v)/sqrt(1 - β2^t) + eps`` (Adam), ``sqrt(v) + eps`` (RMSprop), 1 (SGD)."""

    def __init__(self, spec, **kwargs):
        super().__init__(spec, recipe=GRADUAL, **kwargs)
        self.masks_held_by = "gradients"

    def step(self, xb, yb):
        step = self.global_step
        if step == self.recovery_start:
            self.pruner.fix_masks()
        weight = self.spec.options.weight
        ce = F.cross_entropy(self.model(xb), yb)
        ce.backward(torch.full_like(ce, 1.0 - weight))
        self.pruner.mask_grads_()
        self.optimizer.step()
        self.strength = strength = self.strength_at(step)
        if strength > 0.0 and weight > 0.0:
            group = self.optimizer.param_groups[0]
            scale = group["lr"] * weight / self.l1_init * strength
            with torch.no_grad():
                for p in self.pruner.params:
                    state = self.optimizer.state[p]
                    if "exp_avg_sq" in state:
                        bias_correction = math.sqrt(1.0 - group["betas"][1] ** (step + 1))
                        d = state["exp_avg_sq"].sqrt() / bias_correction + group["eps"]
                    elif "square_avg" in state:
                        d = state["square_avg"].sqrt() + group["eps"]
                    else:
                        d = torch.ones_like(p)
                    cut = d.reciprocal() * scale
                    p.sub_(torch.clamp(p, -cut, cut))
        return ce


@pytest.mark.parametrize("changes", [
    {}, {"optimizer": "rmsprop"}, {"optimizer": "sgd", "lr": 0.05}, {"prune_every": 3},
    {"prune": "all", "prune_bias": True, "fused": False}, {"warm": True},
], ids=["adam", "rmsprop", "sgd", "prune-every-3", "conv-bias-unfused", "warm-start"])
def test_the_default_step_gives_the_weights_of_a_plain_implementation(changes):
    """The default recipe's step (masks held by zeroing the pruned weights after the optimizer
    step, ProxGen on flat buffers) trains bit for bit the weights and masks of the recipe
    written out plainly (:class:`PlainDefaultRecipe`)."""
    changes = dict(changes)
    init_state = None
    if changes.pop("warm", False):  # masks from a previous run, as a sweep's continuation
        init_state = run_recipe(quick(weight=0.5, recipe="original"), ORIGINAL).state
    spec = quick(weight=logit_weight(2.0), epochs=6, **changes)
    fast = run_recipe(spec, GRADUAL, init_state=init_state)
    plain = PlainDefaultRecipe(spec, init_state=init_state).run()
    assert fast.metrics["status"] == plain.metrics["status"] == "ok"
    assert 0.0 < plain.metrics["sparsity"] < 1.0
    for name, value in plain.state["model"].items():
        assert torch.equal(value, fast.state["model"][name]), name
    for name, mask in plain.state["masks"].items():
        assert torch.equal(mask, fast.state["masks"][name]), name
    strip = [{k: v for k, v in record.items() if k != "time"} for record in plain.history]
    assert strip == [{k: v for k, v in record.items() if k != "time"} for record in fast.history]
