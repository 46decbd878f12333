"""The statistics of ci/verdict.py against values worked out by hand and by scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ci import verdict

ALPHA, MIN_EFFECT = 0.01, 0.03


def test_the_interval_is_the_t_interval_of_the_mean_log_ratio():
    candidate = np.array([1.10, 1.12, 1.09, 1.11, 1.13, 1.10])
    baseline = np.array([1.00, 1.01, 0.99, 1.00, 1.02, 1.00])
    logs = np.log(candidate / baseline)
    half = stats.t.ppf(1 - ALPHA / 2, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size)

    result = verdict.paired_test(candidate, baseline, alpha=ALPHA, min_effect=MIN_EFFECT)

    assert result["ratio"] == pytest.approx(math.exp(logs.mean()), rel=1e-12)
    assert result["ci_low"] == pytest.approx(math.exp(logs.mean() - half), rel=1e-12)
    assert result["ci_high"] == pytest.approx(math.exp(logs.mean() + half), rel=1e-12)
    assert result["p_value"] == pytest.approx(stats.ttest_1samp(logs, 0).pvalue, rel=1e-12)
    assert result["verdict"] == verdict.SLOWER


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (1.031, verdict.SLOWER),
        (1.029, verdict.SAME),
        (1 / 1.031, verdict.FASTER),
        (1.0, verdict.SAME),
    ],
)
def test_exact_values_are_judged_by_the_ratio_alone(ratio: float, expected: str):
    # instruction counts repeat exactly: no spread, so no test and no p-value
    baseline = np.full(3, 1_000_000.0)
    result = verdict.paired_test(baseline * ratio, baseline, alpha=ALPHA, min_effect=MIN_EFFECT)
    assert result["p_value"] is None
    assert result["ci_low"] == result["ci_high"] == pytest.approx(ratio, rel=1e-12)
    assert result["verdict"] == expected


def test_a_large_but_insignificant_difference_is_the_same():
    candidate = np.array([1.5, 0.7, 1.6, 0.8])
    baseline = np.ones(4)
    result = verdict.paired_test(candidate, baseline, alpha=ALPHA, min_effect=MIN_EFFECT)
    assert result["p_value"] > ALPHA
    assert result["verdict"] == verdict.SAME


def test_compare_names_what_only_one_side_has():
    rows = verdict.compare(
        {"both": [2.0, 2.0], "new": [1.0]},
        {"both": [1.0, 1.0], "gone": [1.0]},
        alpha=ALPHA,
        min_effect=MIN_EFFECT,
    )
    assert [(row.name, row.verdict) for row in rows] == [
        ("both", verdict.SLOWER),
        ("gone", verdict.MISSING),
        ("new", verdict.NEW),
    ]
    assert rows[0].ratio == pytest.approx(2.0)
    assert verdict.overall(rows, has_baseline=True) == verdict.SLOWER
    alone = verdict.compare({"both": [1.0]}, None, alpha=ALPHA, min_effect=MIN_EFFECT)
    assert [row.verdict for row in alone] == [verdict.NO_BASELINE]
    assert verdict.overall(alone, has_baseline=False) == verdict.NO_BASELINE


@pytest.mark.parametrize(
    ("n", "ranks"),
    [(1, (1, 1)), (7, (1, 7)), (9, (1, 9)), (10, (1, 10)), (12, (2, 11)), (30, (8, 23))],
)
def test_median_interval_is_the_order_statistics_the_binomial_tail_allows(n, ranks):
    """[x(k), x(n+1-k)] with the largest k whose tail P(B <= k-1) is within alpha / 2."""
    values = np.arange(1.0, n + 1)[::-1]  # any order
    assert verdict.median_interval(values, ALPHA) == ranks
    k = ranks[0]
    if k > 1:  # covers at least 1 - alpha, and k + 1 would not
        assert stats.binom.cdf(k - 1, n, 0.5) <= ALPHA / 2 < stats.binom.cdf(k, n, 0.5)


def test_median_interval_covers_the_median_as_often_as_promised():
    """Seeded: over 2000 samples of 12 log-normal rounds, at least 99% of intervals cover."""
    rng = np.random.default_rng(7)
    covered = sum(
        low <= 1.0 <= high
        for low, high in (
            verdict.median_interval(np.exp(rng.normal(0, 0.05, 12)), ALPHA) for _ in range(2000)
        )
    )
    assert covered >= 0.99 * 2000 - 10  # binomial noise of the check itself


def test_only_the_gated_measurements_decide():
    timed = verdict.compare({"t": [2.0, 2.0]}, {"t": [1.0, 1.0]}, alpha=0.01, min_effect=0.03)
    counted = verdict.compare(
        {"instructions::k": [1.0]},
        {"instructions::k": [1.0]},
        alpha=0.01,
        min_effect=0.01,
        unit=verdict.INSTRUCTIONS,
    )
    rows = timed + counted
    assert [r.verdict for r in rows] == [verdict.SLOWER, verdict.SAME]
    assert verdict.overall(verdict.gated(rows, verdict.GATE), has_baseline=True) == "slower"
    only_counts = verdict.gated(rows, ["instructions"])
    assert only_counts == counted
    assert verdict.overall(only_counts, has_baseline=True) == verdict.SAME
