"""Each benchmark's history across releases, and the steps in its level.

A history has one point per version that reached testing or stable, in
release order: the typical value of the version's latest bench run (seconds
or instructions per call) with its interval, the machine that measured it,
and that run's verdict. Timings from different machines are not comparable,
so each machine's points form their own series; instruction counts are
comparable across machines, so a counted benchmark has one series.

Steps are found in each series by fitting a piecewise-constant level to the
logarithm of the values, the Potts model that asv fits: ruptures' PELT finds
the levels minimising the squared error plus a penalty per step. The penalty
is ``PENALTY`` times the variance of the points around their level, estimated
from the differences between neighbouring releases without the largest one
(which may be the step), and never below a quarter of the smallest effect
that counts; so a step must stand out from the release-to-release scatter.
A step smaller than the runs' ``min_effect`` is not reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ci.release import accepted_regression

PENALTY = 20.0
"""Penalty per step, in variances of the points. In series of 8 releases with 2% scatter
it marks 3% of flat series with a step and finds 99.6% of 15% steps in the middle (91% of
10% ones); tests/dashboard/test_history.py checks it on seeded series."""
TIMING_UNIT = "s"


@dataclass(frozen=True)
class HistoryPoint:
    """One version's typical value of a benchmark, from its latest bench run."""

    version: str
    value: float
    low: float | None
    high: float | None
    machine: str
    verdict: str
    accepted: bool
    """A regression of this version was accepted on its way to stable."""


@dataclass(frozen=True)
class Step:
    """A change of a benchmark's level between two consecutive versions of a series."""

    benchmark: str
    unit: str
    machine: str
    before: str
    after: str
    ratio: float
    """The level from ``after`` on, divided by the level up to ``before``."""


@dataclass(frozen=True)
class History:
    """A benchmark's points in release order and the steps found in them."""

    name: str
    unit: str
    points: list[HistoryPoint]
    steps: list[Step]

    def series(self) -> dict[str, list[HistoryPoint]]:
        """Return the points per comparable series: per machine for timings, else one."""
        return comparable_series(self.unit, self.points)

    @property
    def largest(self) -> float:
        """Return the largest relative step (0 without steps), for ordering histories."""
        return max((abs(math.log(s.ratio)) for s in self.steps), default=0.0)


def histories(
    versions: Iterable[tuple[str, dict[str, Any] | None, list[dict[str, Any]]]],
) -> list[History]:
    """Return the history of every benchmark, the ones that moved most first.

    Parameters
    ----------
    versions
        ``(version, release record, bench runs oldest first)`` of each version
        that reached testing or stable, in release order.
    """
    points: dict[str, list[HistoryPoint]] = {}
    units: dict[str, str] = {}
    min_effect = 0.0
    for version, record, runs in versions:
        if not runs:
            continue
        run = runs[-1]
        min_effect = max(min_effect, run.get("min_effect", 0.0))
        for item in run["benchmarks"]:
            if item["candidate"] is None:
                continue
            units[item["name"]] = item["unit"]
            points.setdefault(item["name"], []).append(
                HistoryPoint(
                    version=version,
                    value=item["candidate"],
                    low=item.get("candidate_low"),
                    high=item.get("candidate_high"),
                    machine=machine_name(run.get("machine")),
                    verdict=item["verdict"],
                    accepted=item["verdict"] == "slower" and _accepted(record),
                )
            )
    found = [
        History(name, units[name], series, _steps(name, units[name], series, min_effect))
        for name, series in sorted(points.items())
    ]
    return sorted(found, key=lambda h: -h.largest)


def comparable_series(unit: str, points: list[HistoryPoint]) -> dict[str, list[HistoryPoint]]:
    """Return the points per series that may be compared: per machine for timings, else one."""
    if unit != TIMING_UNIT:
        return {"": points}
    found: dict[str, list[HistoryPoint]] = {}
    for point in points:
        found.setdefault(point.machine, []).append(point)
    return found


def machine_name(machine: dict[str, Any] | None) -> str:
    """Return how a run's machine is named: ``host (processor, N cores)``."""
    if not machine:
        return "unrecorded machine"
    return f"{machine['host']} ({machine['processor']}, {machine['cores']} cores)"


def find_steps(values: Sequence[float], min_effect: float) -> list[tuple[int, float]]:
    """Return the steps of a series: (index of the first value after, ratio of the levels).

    Parameters
    ----------
    values
        Positive values in release order.
    min_effect
        Smallest relative change reported, e.g. 0.03 for 3%.
    """
    import ruptures  # here, not at the top: only the dashboard needs it

    logs = np.log(np.asarray(values, dtype=float))
    if logs.size < 2:
        return []
    # Neighbours differ by about sqrt(2) sigma; the largest difference may be a step.
    squares = np.sort(np.diff(logs) ** 2)
    variance = float(squares[:-1].mean()) / 2 if squares.size > 1 else 0.0
    variance = max(variance, (math.log1p(min_effect) / 4) ** 2, 1e-12)
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(logs).predict(pen=PENALTY * variance)
    starts = [0, *ends[:-1]]
    levels = [float(logs[a:b].mean()) for a, b in zip(starts, ends, strict=True)]
    steps = []
    for k in range(1, len(levels)):
        ratio = math.exp(levels[k] - levels[k - 1])
        if abs(math.log(ratio)) >= math.log1p(min_effect):
            steps.append((starts[k], ratio))
    return steps


def _steps(name: str, unit: str, points: list[HistoryPoint], min_effect: float) -> list[Step]:
    found = []
    for machine, series in comparable_series(unit, points).items():
        for index, ratio in find_steps([p.value for p in series], min_effect):
            before, after = series[index - 1].version, series[index].version
            found.append(Step(name, unit, machine, before, after, ratio))
    return found


def _accepted(record: dict[str, Any] | None) -> bool:
    """Tell whether a regression was accepted when the version was promoted."""
    return any(accepted_regression(p) for p in (record or {}).get("promotions", []))
