"""Paired statistics of two classifiers on the same examples: the accuracy drop with an exact
one-sided upper confidence bound, fixed-sequence testing, and the sample sizes they need.

Pure math (numpy and scipy; no torch, no pandas).

**The paired drop and its bound.** On n examples compare a reference R (the dense network) and
a candidate P example by example: ``b`` = #(R right, P wrong), ``c`` = #(R wrong, P right),
``m = b + c`` (the discordant pairs). The drop is ``(b - c) / n``. Its upper bound at confidence
C is the largest drop that an exact one-sided test of ``b - c`` does not reject at level
``1 - C``. The test is the exact *unconditional* McNemar test: ``m`` is Binomial(n, q) and
``b | m`` is Binomial(m, (q + drop) / 2q), and the p-value is maximized over the discordance rate
q inside its Clopper-Pearson confidence set at ``1 - γ`` with ``γ = 0.02 (1 - C)``, plus ``γ``
(Berger and Boos 1994: valid at level ``1 - C`` whatever q is). The textbook conditional bound
``m (2 p+ - 1) / n`` (Clopper-Pearson ``p+`` of b given m) covers the drop only given m: when a
candidate rarely fixes the reference's mistakes and m happens to be small it covers about half
the time (a simulation showed 51 %), so it is not used. ``tests/test_stats.py`` checks the
coverage of this one by simulation. Cost: on 5,000 examples the bound is within a few percent of
the conditional one; on a few hundred it is wider, because a small m is weak evidence there.

**Fixed-sequence testing** (Maurer, Hothorn and Lehmacher 1995; Westfall and Krishen 2001).
Hypotheses ``H_k: drop_k > D`` in an order fixed before the data are read (dense to sparse) are
each tested at level ``1 - C``; testing stops at the first one not rejected. The family-wise
error stays at most ``1 - C`` with no multiplicity correction: a false certification needs the
first true ``H_k`` in the order to be rejected, which happens with probability at most ``1 - C``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

__all__ = [
    "PairedDrop",
    "certified_prefix",
    "examples_needed",
    "indistinguishable",
    "paired_drop",
    "upper_bound",
]


@dataclass(frozen=True)
class PairedDrop:
    """The paired comparison of a candidate with its reference on ``n`` examples: ``b``
    examples only the reference gets right, ``c`` only the candidate, ``drop = (b - c) / n`` and
    ``upper``, its one-sided upper bound at ``confidence`` (``drop`` itself at confidence 0)."""

    n: int
    b: int
    c: int
    drop: float
    upper: float
    confidence: float


#: Share of ``1 - C`` spent on the confidence set of the discordance rate (Berger and Boos).
NUISANCE_SHARE = 0.02
#: Discordance rates tried inside that confidence set when maximizing the p-value.
NUISANCE_GRID = 9


def _prob_at_most(t: int, n: int, q: np.ndarray, drop: float) -> np.ndarray:
    """P(b - c <= t) on n paired examples with discordance rate ``q`` (each value of the array)
    and drop ``drop``: m ~ Binomial(n, q) discordant pairs, b | m ~ Binomial(m, (q + drop) / 2q)."""
    q = np.clip(np.asarray(q, dtype=float), 1e-300, 1.0)
    p = np.clip((q + drop) / (2.0 * q), 0.0, 1.0)
    sd = math.sqrt(n * float(q.max()) * (1.0 - float(q.min()))) + 1.0
    lo = max(0, int(n * float(q.min()) - 12 * sd))
    hi = min(n, int(n * float(q.max()) + 12 * sd) + 1)
    m = np.arange(lo, hi + 1)[:, None]
    weights = _scipy.binom.pmf(m, n, q[None, :])
    inside = _scipy.binom.cdf(np.floor((t + m) / 2.0), m, p[None, :])
    return np.sum(weights * inside, axis=0)


@functools.lru_cache(maxsize=4096)
def upper_bound(b: int, c: int, n: int, confidence: float) -> float:
    """The one-sided upper confidence bound of the paired drop from ``b`` examples only the
    reference gets right and ``c`` only the candidate, of ``n`` (see the module docstring);
    the point estimate ``(b - c) / n`` at confidence 0; NaN for ``n == 0``."""
    if n <= 0:
        return math.nan
    if not 0.0 <= confidence < 1.0:
        raise ValueError(f"confidence must be in [0, 1), got {confidence}")
    b, c, n = int(b), int(c), int(n)
    t, m = b - c, b + c
    if confidence == 0.0:
        return t / n
    alpha = 1.0 - confidence
    gamma = NUISANCE_SHARE * alpha
    # a two-sided Clopper-Pearson set of the discordance rate at 1 - gamma
    q_lo = 0.0 if m == 0 else float(_scipy.beta.ppf(gamma / 2, m, n - m + 1))
    q_hi = 1.0 if m == n else float(_scipy.beta.ppf(1 - gamma / 2, m + 1, n - m))

    def p_value(drop: float) -> float:  # of H: the drop is `drop`, against smaller drops
        lo = max(q_lo, abs(drop))
        if lo > q_hi:
            return 0.0
        rates = np.linspace(lo, q_hi, NUISANCE_GRID)
        return float(_prob_at_most(t, n, rates, drop).max()) + gamma

    low, high = t / n, q_hi  # the p-value falls as the drop grows
    if p_value(high) > alpha:
        return high
    while high - low > 1e-5:  # a thousandth of a point
        mid = 0.5 * (low + high)
        if p_value(mid) > alpha:
            low = mid
        else:
            high = mid
    return high


def _correct(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    if predicted.shape != labels.shape:
        raise ValueError(f"{predicted.shape[0] if predicted.ndim else 0} predictions for "
                         f"{labels.shape[0] if labels.ndim else 0} examples")
    return predicted == labels


def paired_drop(reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray,
                confidence: float) -> PairedDrop:
    """The :class:`PairedDrop` of ``candidate`` against ``reference`` (their predicted labels
    of the same examples, in the same order) on the true ``labels``. ValueError when the
    lengths differ."""
    ref, cand = _correct(reference, labels), _correct(candidate, labels)
    n = int(ref.size)
    b = int(np.count_nonzero(ref & ~cand))
    c = int(np.count_nonzero(~ref & cand))
    drop = (b - c) / n if n else math.nan
    return PairedDrop(n, b, c, drop, upper_bound(b, c, n, confidence), confidence)


def certified_prefix(uppers: Sequence[float], max_drop: float) -> int:
    """Fixed-sequence testing: how many of the candidates, in the given (pre-fixed) order,
    are certified -- the length of the leading run whose upper bound is at most ``max_drop``
    (a NaN bound fails)."""
    count = 0
    for upper in uppers:
        if not (upper <= max_drop + 1e-12):  # NaN fails too
            break
        count += 1
    return count


def indistinguishable(first: np.ndarray, second: np.ndarray, labels: np.ndarray,
                      confidence: float, margin: float) -> bool:
    """Whether two classifiers' accuracies are shown equal within ``margin`` on these examples:
    two one-sided tests (Schuirmann 1987) with the paired bound of :func:`upper_bound` -- the
    drop of each against the other is at most ``margin`` at ``confidence``. Equivalence must be
    shown, not merely a difference missed: on a few hundred examples nothing is
    indistinguishable at a margin of a quarter point. Always False at confidence 0."""
    if confidence == 0.0:
        return False
    one, two = _correct(first, labels), _correct(second, labels)
    n = int(one.size)
    b = int(np.count_nonzero(one & ~two))
    c = int(np.count_nonzero(~one & two))
    return bool(n and upper_bound(b, c, n, confidence) <= margin
                and upper_bound(c, b, n, confidence) <= margin)


def examples_needed(disagreement: float, max_drop: float, confidence: float,
                    limit: int = 10_000_000) -> int:
    """The fewest examples on which a candidate as accurate as its reference, disagreeing with
    it on a share ``disagreement`` of the examples (half each way), gets an upper bound of at
    most ``max_drop`` at ``confidence``; ``limit`` + 1 when even ``limit`` is not enough, 1
    at confidence 0."""
    if confidence == 0.0:
        return 1
    if max_drop <= 0.0:
        return limit + 1

    def enough(n: int) -> bool:
        m = round(disagreement * n)
        b = (m + 1) // 2
        return upper_bound(b, m - b, n, confidence) <= max_drop

    lo, hi = 1, 1
    while not enough(hi):
        if hi > limit:
            return limit + 1
        lo, hi = hi, hi * 2
    while lo < hi:  # the bound falls with n (up to rounding of m): the first n that is enough
        mid = (lo + hi) // 2
        if enough(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi
