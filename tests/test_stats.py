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


def test_indistinguishable_by_the_exact_mcnemar_test():
    labels = np.zeros(1000, dtype=int)
    one = labels.copy()
    two = labels.copy()
    two[:3] = 1                                # 3 discordant pairs: noise
    assert indistinguishable(one, two, labels, CONFIDENCE)
    two[:40] = 1                               # 40 against 0: a real difference
    assert not indistinguishable(one, two, labels, CONFIDENCE)
    assert not indistinguishable(one, one, labels, 0.0)  # the point rule tells all apart


def test_examples_needed_certify_a_network_as_good_as_the_reference():
    n = examples_needed(0.02, 0.01, CONFIDENCE)
    m = round(0.02 * n)
    assert upper_bound((m + 1) // 2, m - (m + 1) // 2, n, CONFIDENCE) <= 0.01
    assert examples_needed(0.02, 0.02, CONFIDENCE) < n  # a larger drop needs fewer
    assert examples_needed(0.0, 0.01, CONFIDENCE) > 300  # even with no disagreement
    assert examples_needed(0.02, 0.01, 0.0) == 1
