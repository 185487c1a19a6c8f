"""--method gmp: the cubic schedule, the final sparsity (exact, or within one weight per tensor),
persistent masks, no l1 term, torch.nn.utils.prune masks."""

from __future__ import annotations

import pytest
import torch
from _regrowth import NoRegrowth

from paretoprune.training import TrainSpec, apply_torch_prune, build_model, train_run
from paretoprune.training.gmp import EXACT_THRESHOLD, GmpRun, Ramp, steps_per_epoch

QUICK = {"method": "gmp", "epochs": 4, "max_train_samples": 400, "device": "cpu"}


def quick(**kw) -> TrainSpec:
    return TrainSpec.from_flat({**QUICK, **kw})


# --- the schedule -----------------------------------------------------------------------------


def test_the_cubic_schedule_of_zhu_and_gupta():
    ramp = Ramp.of_run(0.1, 0.7, 10, 1000)
    assert (ramp.start, ramp.end, ramp.every) == (100, 700, 10)
    updates = [t for t in range(1000) if ramp.updates_at(t)]
    assert updates == list(range(100, 701, 10))  # t0, t0 + Δt, ..., t0 + nΔt
    S = 0.9
    values = [ramp.value(t, 0.0, S) for t in updates]
    for t, s in zip(updates, values, strict=True):
        assert s == pytest.approx(S * (1 - (1 - (t - 100) / 600) ** 3))
    assert values[0] == 0.0 and values[-1] == S
    assert all(b > a for a, b in zip(values, values[1:], strict=False))  # strictly rising
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    assert all(b < a for a, b in zip(steps, steps[1:], strict=False))  # fast first, then slower
    assert ramp.value(50, 0.0, S) == 0.0 and ramp.value(900, 0.0, S) == S
    # from a warm start's sparsity s_i: s_t = s_f + (s_i - s_f)(1 - p)^3
    assert ramp.value(400, 0.5, S) == pytest.approx(S + (0.5 - S) * 0.5**3)


def test_schedule_edges():
    ramp = Ramp.of_run(0.1, 0.7, 7, 100)  # the last interval is shorter: the end still updates
    assert ramp.updates_at(70) and ramp.updates_at(66) and not ramp.updates_at(69)
    at_once = Ramp.of_run(0.0, 0.0, 10, 100)  # the target from the first step
    assert at_once.updates_at(0) and at_once.value(0, 0.0, 0.8) == 0.8
    assert [t for t in range(100) if at_once.updates_at(t)] == [0]
    short = Ramp.of_run(1.0, 1.0, 10, 20)  # clipped to the last step: a run ends at its target
    assert (short.start, short.end) == (19, 19) and short.value(19, 0.0, 0.5) == 0.5
    assert steps_per_epoch(100, 32) == 4 and steps_per_epoch(96, 32) == 3


# --- runs -------------------------------------------------------------------------------------


class CheckedRun(NoRegrowth, GmpRun):
    """A run that asserts persistent masks after every step."""


def test_global_scope_hits_the_exact_count_along_the_schedule():
    S = 0.9
    run = CheckedRun(quick(target_sparsity=S, threshold=EXACT_THRESHOLD))
    result = run.run()
    m, n = result.metrics, result.metrics["n_prunable"]
    assert m["status"] == "ok" and m["method"] == "gmp" and m["target_sparsity"] == S
    assert m["nnz"] == n - round(S * n)
    per_epoch = steps_per_epoch(run.data.x_train.shape[0], run.spec.batch_size)
    for epoch, record in enumerate(result.history, start=1):
        last = epoch * per_epoch - 1
        update = max((t for t in range(last + 1) if run.ramp.updates_at(t)), default=None)
        budget = 0.0 if update is None else run.ramp.value(update, 0.0, S)
        assert record["budget"] == pytest.approx(budget)
        assert record["nnz"] == n - round(budget * n)  # each epoch ends on its schedule


def test_layer_scope_is_within_one_weight_per_tensor():
    S = 0.95
    m = train_run(quick(target_sparsity=S, gmp_scope="layer")).metrics
    sizes = {"net.1": 64 * 128, "net.3": 128 * 64, "net.5": 64 * 10}  # the digits mlp
    for layer, size in sizes.items():
        assert m[f"nnz.{layer}"] == size - round(S * size)
    n = m["n_prunable"]
    assert n == sum(sizes.values())
    assert abs((n - m["nnz"]) - S * n) <= 0.5 * len(sizes)
    # global keeps a different mix of the same count
    g = train_run(quick(target_sparsity=S)).metrics
    assert g["nnz"] == n - round(S * n)
    assert [g[f"nnz.{k}"] for k in sizes] != [m[f"nnz.{k}"] for k in sizes]


def test_the_runner_prunes_by_the_schedule_only():
    # the default --threshold (1e-3) would zero kept weights that cross zero; gmp ignores it
    m = train_run(quick(target_sparsity=0.5, epochs=6)).metrics
    assert m["nnz"] == m["n_prunable"] - round(0.5 * m["n_prunable"])


def test_no_l1_term_a_zero_target_is_plain_cross_entropy_training():
    gmp = train_run(quick(target_sparsity=0.0, epochs=2))
    dense = train_run(quick(epochs=2).as_method("weighted-sum", weight=0.0, threshold=0.0))
    for name, value in dense.state["model"].items():
        assert torch.equal(value, gmp.state["model"][name]), name
    assert gmp.metrics["sparsity"] == 0.0


def test_masks_persist_and_export_to_torch_prune():
    result = CheckedRun(quick(target_sparsity=0.8, threshold=EXACT_THRESHOLD)).run()
    masks = result.state["masks"]
    model = build_model("mlp", 10, (1, 8, 8))
    model.load_state_dict(result.state["model"])
    x = torch.randn(5, 1, 8, 8)
    before = model(x)
    apply_torch_prune(model, masks)
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        layer = modules[name.removesuffix(".weight")]
        assert torch.equal(layer.weight_mask.bool(), mask)  # torch.nn.utils.prune's buffer
        assert torch.equal(layer.weight_orig != 0, mask)  # the pruned weights are zero
    assert torch.allclose(model(x), before)
    assert sum(int(m.sum()) for m in masks.values()) == result.metrics["nnz"]
