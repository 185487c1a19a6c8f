"""The paired drop's bound: coverage by simulation, fixed-sequence testing, sample sizes."""

from __future__ import annotations

import numpy as np
import pytest

from paretoprune.stats import (
    certified_prefix,
    examples_needed,
    indistinguishable,
    paired_drop,
    upper_bound,
)

CONFIDENCE = 0.95


def _coverage(n, drop, discordance, reps, seed):
    """Share of ``reps`` seeded paired samples of ``n`` examples whose bound covers ``drop``."""
    rng = np.random.default_rng(seed)
    b_rate, c_rate = (discordance + drop) / 2, (discordance - drop) / 2
    counts = rng.multinomial(n, [b_rate, c_rate, 1 - b_rate - c_rate], size=reps)
    covered = [upper_bound(int(b), int(c), n, CONFIDENCE) >= drop - 1e-12
               for b, c in counts[:, :2]]
    return float(np.mean(covered))


@pytest.mark.parametrize(("n", "drop", "discordance"), [
    (135, 0.0, 0.04),     # the digits quick start's 10 % validation share
    (300, 0.01, 0.01),    # every discordant pair a loss: where the conditional bound covers ~50 %
    (674, 0.005, 0.03),
    (2500, 0.01, 0.03),
    (5000, 0.002, 0.02),  # LeNet-5 on the mnist-5k validation half
])
def test_the_bound_covers_a_known_drop_at_least_at_the_confidence(n, drop, discordance):
    assert _coverage(n, drop, discordance, reps=1000, seed=n) >= CONFIDENCE


def test_the_bound_is_above_the_estimate_and_shrinks_with_more_examples():
    assert upper_bound(4, 4, 674, CONFIDENCE) > 0.0
    assert upper_bound(40, 40, 6740, CONFIDENCE) < upper_bound(4, 4, 674, CONFIDENCE)
    assert upper_bound(12, 3, 1000, CONFIDENCE) > (12 - 3) / 1000
    assert upper_bound(12, 3, 1000, 0.0) == pytest.approx(9 / 1000)  # the point rule
    # a larger confidence gives a larger bound
    assert upper_bound(12, 3, 1000, 0.99) > upper_bound(12, 3, 1000, 0.9)


def test_paired_drop_counts_the_discordant_pairs():
    labels = np.array([0, 1, 2, 3, 4, 5])
    dense = np.array([0, 1, 2, 3, 9, 9])      # right on 4
    pruned = np.array([0, 1, 9, 9, 4, 9])     # right on 3: loses 2 and 3, gains 4
    result = paired_drop(dense, pruned, labels, CONFIDENCE)
    assert (result.n, result.b, result.c) == (6, 2, 1)
    assert result.drop == pytest.approx(1 / 6) and result.upper > result.drop
    with pytest.raises(ValueError, match="5 predictions for 6 examples"):
        paired_drop(dense, pruned[:5], labels, CONFIDENCE)


def test_fixed_sequence_stops_at_the_first_failure():
    assert certified_prefix([0.001, 0.008, 0.012, 0.004], 0.01) == 2  # the last is never tested
    assert certified_prefix([float("nan"), 0.0], 0.01) == 0
    assert certified_prefix([], 0.01) == 0


def test_indistinguishable_means_shown_equal_within_a_margin():
    labels = np.zeros(5000, dtype=int)
    one, two = labels.copy(), labels.copy()
    one[:4], two[4:9] = 1, 1                       # 4 against 5 of 5,000: equal within 0.25
    assert indistinguishable(one, two, labels, CONFIDENCE, 0.0025)
    assert not indistinguishable(one[:400], two[:400], labels[:400], CONFIDENCE, 0.0025)  # few
    two[:60] = 1                                   # 60 more mistakes: a real difference
    assert not indistinguishable(one, two, labels, CONFIDENCE, 0.0025)
    assert not indistinguishable(one, one, labels, 0.0, 0.0025)  # the point rule tells apart


def test_examples_needed_certify_a_network_as_good_as_the_reference():
    n = examples_needed(0.02, 0.01, CONFIDENCE)
    m = round(0.02 * n)
    assert upper_bound((m + 1) // 2, m - (m + 1) // 2, n, CONFIDENCE) <= 0.01
    assert examples_needed(0.02, 0.02, CONFIDENCE) < n  # a larger drop needs fewer
    assert examples_needed(0.0, 0.01, CONFIDENCE) > 300  # even with no disagreement
    assert examples_needed(0.02, 0.01, 0.0) == 1


def test_adaptive_search_then_fixed_sequence_on_the_same_data_keeps_the_error_rate():
    """The planner chooses where to train from the validation bounds, and certification reads
    the same validation data (no calibration split). Simulated: networks along a parameter s
    with a known drop 0.04·s², their mistakes nested and drawn from one shared validation
    sample (strongly correlated, as pruned networks of one dense network are); the real planner
    brackets the --max-drop boundary; the answer is the sparsest network of the fixed
    sequence. How often it exceeds D must stay at most 1 - C."""
    from paretoprune.planner import Planner

    # measured: 1.5 % wrong, and 84 % of the samples certify a network
    n, max_drop, discordance, budget, reps = 1000, 0.02, 0.04, 8, 200
    rng = np.random.default_rng(17)
    wrong = certified = 0
    for _ in range(reps):
        u = rng.random(n)  # one validation sample: each example's place along the losses

        def outcome(s, u=u):
            drop = 0.04 * s * s
            b = int(np.count_nonzero(u < (discordance + drop) / 2))
            c = int(np.count_nonzero(1 - u < (discordance - drop) / 2))
            return b, c, drop

        planner = Planner(rule="midpoint", range=(0.0, 1.0), budget=budget, x="loss", y="size",
                          param="s", scalarization="parameter", target=True)
        trained = []
        for _ in range(budget):
            proposals = planner.ask(1)
            if not proposals:
                break
            s = proposals[0].param
            b, c, drop = outcome(s)
            upper = upper_bound(b, c, n, CONFIDENCE)
            trained.append((s, upper, drop))
            planner.tell({"s": s, "status": "ok", "loss": drop + 0.1, "size": 1.0 - s,
                          "within": upper <= max_drop})
        trained.sort()  # the fixed order: dense (small s) to sparse
        k = certified_prefix([upper for _, upper, _ in trained], max_drop)
        certified += k > 0
        if k and trained[k - 1][2] > max_drop:
            wrong += 1
    assert wrong / reps <= 1 - CONFIDENCE
    assert certified / reps > 0.5  # not vacuous: most samples certify an answer
