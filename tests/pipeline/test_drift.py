"""The drift gate's reference: chained ratios of archived runs give each release's level."""

from __future__ import annotations

import itertools
import math

import pytest

from ci import drift


def run(baseline: str | None, *ratios: float) -> dict:
    """A bench run record against ``baseline`` with one benchmark per ratio."""
    benchmarks = [{"name": f"b{i}", "ratio": r} for i, r in enumerate(ratios)]
    return {"baseline": baseline, "benchmarks": benchmarks}


def archive_of(runs: dict[str, list[dict]]):
    return lambda version: runs.get(version, [])


def test_levels_chain_each_release_to_its_baseline():
    runs = {
        "0.1.0": [run(None, None)],
        "0.2.0": [run("0.1.0", 1.02, 1.02)],
        "0.3.0": [run("0.2.0", 1.02, 1.02)],
        "0.4.0": [run("0.3.0", 0.81, 1.0)],  # geometric mean 0.9
    }
    levels = drift.levels(list(runs), archive_of(runs))
    assert levels.keys() == runs.keys()
    assert levels["0.3.0"] == pytest.approx(1.02**2)
    assert levels["0.4.0"] == pytest.approx(1.02**2 * 0.9)
    assert drift.fastest(list(runs), archive_of(runs)) == "0.4.0"


def test_a_slow_creep_keeps_the_oldest_release_as_reference():
    """Six releases, each 2% slower than the one before: the reference stays the first."""
    versions = [f"0.{k}.0" for k in range(1, 7)]
    runs = {versions[0]: [run(None, None)]}
    for older, newer in itertools.pairwise(versions):
        runs[newer] = [run(older, 1.02)]
    assert drift.fastest(versions, archive_of(runs)) == "0.1.0"
    assert drift.levels(versions, archive_of(runs))["0.6.0"] == pytest.approx(1.02**5)
    assert math.log(1.02**5) > math.log1p(0.05)  # beyond max_drift 5%: the gate would fail


def test_the_latest_run_counts_and_a_broken_chain_is_left_out():
    runs = {
        "1.0.0": [run(None, None)],
        "1.1.0": [run("1.0.0", 1.5), run("1.0.0", 0.95)],  # measured again: the last one
        "1.2.0": [run("0.9.0", 0.5)],  # its baseline was never measured here
    }
    assert drift.levels(list(runs), archive_of(runs)) == {
        "1.0.0": 1.0,
        "1.1.0": pytest.approx(0.95),
    }
    assert drift.fastest(list(runs), archive_of(runs)) == "1.1.0"


def test_without_any_run_the_oldest_release_of_the_window_is_the_reference():
    assert drift.fastest(["0.3.0", "0.10.0", "0.2.0"], archive_of({})) == "0.2.0"
    assert drift.fastest([], archive_of({})) is None


def test_a_level_counts_only_the_measurements_the_run_was_gated_by():
    """Timings reported beside a gate of instruction counts do not move a release's level."""
    gated = {
        "gate": ["instructions"],
        "baseline": "0.1.0",
        "benchmarks": [
            {"name": "test_add", "unit": "s", "ratio": 0.5},
            {"name": "instructions::work", "unit": "instructions", "ratio": 1.02},
        ],
    }
    runs = {"0.1.0": [run(None, None)], "0.2.0": [gated]}
    assert drift.levels(list(runs), archive_of(runs))["0.2.0"] == pytest.approx(1.02)
    assert drift.fastest(list(runs), archive_of(runs)) == "0.1.0"
