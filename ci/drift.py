"""The drift gate's reference: the fastest stable release of a window, found from the archive.

Each release's benchmark run compared it with its baseline side by side, so
chaining those ratios gives every release's level relative to the oldest one
measured, whatever machines the runs were on. The fastest release of the
window (``[bench] drift_window`` stable releases below the candidate) is the
one of lowest level, the geometric mean of its benchmarks' chained ratios.
``ci bench`` then measures the candidate against it in the same interleaved
run as against the baseline, so that a series of small slowdowns, each
"same" against the release before, still fails once it adds up to more than
``max_drift``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ci import verdict
from ci.index import version_key

Runs = Callable[[str], list[dict[str, Any]]]
"""Returns the archived bench runs of a version, oldest first."""


def levels(versions: Sequence[str], runs_of: Runs) -> dict[str, float]:
    """Return the level of each version whose runs chain back to a version of known level.

    The oldest measured version (no baseline, or a baseline never measured) is
    level 1; a version measured against a baseline of known level has that
    level times the geometric mean of its benchmarks' ratios in its latest such
    run, of the measurements that run's gate decided by (timings, instruction
    counts or both).
    """
    found: dict[str, float] = {}
    for version in sorted(versions, key=version_key):
        measured = runs_of(version)
        if not measured:
            continue
        run = measured[-1]
        gate = run.get("gate", verdict.GATE)
        ratios = [
            b["ratio"]
            for b in run["benchmarks"]
            if b.get("ratio") and verdict.gates(b.get("unit", "s"), gate)
        ]
        baseline = run.get("baseline")
        if baseline in found and ratios:
            mean_log = sum(math.log(r) for r in ratios) / len(ratios)
            found[version] = found[baseline] * math.exp(mean_log)
        elif not found:
            found[version] = 1.0
    return found


def fastest(window: Sequence[str], runs_of: Runs) -> str | None:
    """Return the release of ``window`` with the lowest level (the oldest if none is known).

    Parameters
    ----------
    window
        Stable releases below the candidate, any order.
    runs_of
        The archived runs of a version.
    """
    if not window:
        return None
    known = levels(window, runs_of)
    ordered = sorted(window, key=version_key)
    if not known:
        return ordered[0]
    return min(known, key=lambda v: (known[v], -ordered.index(v)))
