"""Regression verdicts from interleaved benchmark rounds.

``ci bench`` runs the candidate and the baseline in alternating rounds (A B,
B A, A B, ...), so that whatever else the machine does at a given moment hits
both alike. Each round gives one typical time per benchmark and side (the
minimum over that round's calls, the least disturbed by other work). The
rounds are paired: the statistic is the log of candidate / baseline per round,
which cancels the slow drift of a shared machine, and the test is a one-sample
t-test of those log ratios against 0 (scipy). A verdict needs both a
significant test (p < ``alpha``) and an effect of at least ``min_effect``:
``slower`` when the estimated ratio is at least ``1 + min_effect``, ``faster``
when at most ``1 / (1 + min_effect)``, ``same`` otherwise. The confidence
interval of the ratio is the t interval of the mean log ratio at level
``1 - alpha``, exponentiated. The error rates this gives on our machines are
measured by tests/regression/experiment.py (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

SLOWER, SAME, FASTER = "slower", "same", "faster"
NEW, MISSING = "new", "missing"
"""A benchmark only the candidate has, or only the baseline has."""
NO_BASELINE = "no-baseline"
TIMES, INSTRUCTIONS = "times", "instructions"
"""The measurements ``[bench] gate`` names; ``instructions`` is also the unit of counted rows."""
GATE = (TIMES, INSTRUCTIONS)
"""Every measurement decides: the gate of runs archived before ``gate`` was recorded."""


@dataclass(frozen=True)
class Comparison:
    """The comparison of one benchmark: typical values, their ratio and the verdict.

    ``candidate`` and ``baseline`` are medians over rounds of each round's
    typical value (seconds per call, or instructions per call); the ratio and
    its interval are candidate / baseline, ``None`` when not comparable.
    """

    name: str
    unit: str
    candidate: float | None
    baseline: float | None
    ratio: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    verdict: str
    candidate_low: float | None = None
    candidate_high: float | None = None
    """Interval of the candidate's median over rounds (see :func:`median_interval`)."""

    def as_record(self) -> dict[str, Any]:
        """Return the comparison as a JSON-ready dict."""
        return asdict(self)


def compare(
    candidate: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]] | None,
    *,
    alpha: float,
    min_effect: float,
    unit: str = "s",
) -> list[Comparison]:
    """Compare every benchmark of two interleaved runs.

    Parameters
    ----------
    candidate, baseline
        Per benchmark name, one typical value per round, in round order, so that
        ``candidate[name][r]`` and ``baseline[name][r]`` were measured side by
        side. ``baseline`` is None when there is nothing to compare with.
    alpha
        Significance level of the test (and 1 - level of the interval).
    min_effect
        Smallest relative change that counts, e.g. 0.03 for 3%.
    unit
        Unit of the values, recorded with each comparison.

    Returns
    -------
    list of Comparison
        One per benchmark name of either side, sorted by name.
    """
    results = []
    for name in sorted(set(candidate) | set(baseline or {})):
        ours = np.asarray(candidate.get(name, ()), dtype=float)
        theirs = np.asarray((baseline or {}).get(name, ()), dtype=float)
        low, high = median_interval(ours, alpha)
        typical = {
            "candidate": _median(ours),
            "baseline": _median(theirs),
            "candidate_low": low,
            "candidate_high": high,
        }
        if baseline is None or not ours.size or not theirs.size:
            verdict = NO_BASELINE if baseline is None else (MISSING if not ours.size else NEW)
            results.append(Comparison(name, unit, **typical, **_NOT_COMPARED, verdict=verdict))
            continue
        rounds = min(ours.size, theirs.size)
        results.append(
            Comparison(
                name,
                unit,
                **typical,
                **paired_test(ours[:rounds], theirs[:rounds], alpha=alpha, min_effect=min_effect),
            )
        )
    return results


_NOT_COMPARED = {"ratio": None, "ci_low": None, "ci_high": None, "p_value": None}


def paired_test(
    candidate: np.ndarray, baseline: np.ndarray, *, alpha: float, min_effect: float
) -> dict[str, Any]:
    """Return ratio, interval, p-value and verdict of paired per-round values.

    Parameters
    ----------
    candidate, baseline
        Typical values of the same rounds, shape (R,), positive.
    alpha, min_effect
        As for :func:`compare`.
    """
    logs = np.log(candidate) - np.log(baseline)
    mean = float(logs.mean())
    if logs.size < 2 or np.all(logs == logs[0]):
        # No spread (e.g. instruction counts): the ratio is exact, there is nothing to test.
        low = high = mean
        p_value = None
    else:
        from scipy import stats  # here, not at the top: every `ci` command imports this module

        result = stats.ttest_1samp(logs, 0.0)
        low, high = result.confidence_interval(1 - alpha)
        p_value = float(result.pvalue)
    ratio = math.exp(mean)
    return {
        "ratio": ratio,
        "ci_low": math.exp(low),
        "ci_high": math.exp(high),
        "p_value": p_value,
        "verdict": _verdict(ratio, p_value, alpha, min_effect),
    }


def _verdict(ratio: float, p_value: float | None, alpha: float, min_effect: float) -> str:
    """Judge a ratio: beyond the minimum effect and, unless exact (no p-value), significant."""
    if p_value is not None and p_value >= alpha:
        return SAME
    if ratio >= 1 + min_effect:
        return SLOWER
    if ratio <= 1 / (1 + min_effect):
        return FASTER
    return SAME


def gates(unit: str, gate: Sequence[str]) -> bool:
    """Tell whether rows of ``unit`` (instructions, or seconds) decide verdicts under ``gate``."""
    return (INSTRUCTIONS if unit == INSTRUCTIONS else TIMES) in gate


def gated(comparisons: Sequence[Comparison], gate: Sequence[str]) -> list[Comparison]:
    """Return the comparisons that decide a verdict: those of the measurements in ``gate``."""
    return [c for c in comparisons if gates(c.unit, gate)]


def overall(comparisons: Sequence[Comparison], has_baseline: bool) -> str:
    """Return the verdict of a whole run: slower if any benchmark is, else faster if any is."""
    if not has_baseline:
        return NO_BASELINE
    verdicts = {c.verdict for c in comparisons}
    if SLOWER in verdicts:
        return SLOWER
    return FASTER if FASTER in verdicts else SAME


def median_interval(values: np.ndarray, alpha: float) -> tuple[float | None, float | None]:
    """Return a distribution-free interval of the median of ``values`` at level ``1 - alpha``.

    It is ``[x(k), x(n+1-k)]`` of the sorted values, with the largest ``k`` whose
    binomial tail P(B <= k - 1) stays within ``alpha / 2`` (B ~ Binomial(n, 1/2));
    with too few values for that level, the whole range.
    """
    if not values.size:
        return None, None
    ordered = np.sort(values)
    n = ordered.size
    k = 1
    if n > 1:
        from scipy import stats

        while k < n // 2 and stats.binom.cdf(k, n, 0.5) <= alpha / 2:
            k += 1
    return float(ordered[k - 1]), float(ordered[n - k])


def _median(values: np.ndarray) -> float | None:
    return float(np.median(values)) if values.size else None


def format_value(value: float | None, unit: str) -> str:
    """Return a typical value for people: ``253.1 µs``, ``8.28 ms``, ``1,234,567 instr``."""
    if value is None:
        return "-"
    if unit != "s":
        return f"{value:,.0f} {unit}"
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if value >= scale:
            return f"{value / scale:.4g} {suffix}"
    return f"{value / 1e-9:.4g} ns"
