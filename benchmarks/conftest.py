"""Benchmark settings: the quick mode, and the summary of ratios printed at the end.

Times in the summary are the minimum over rounds (the least disturbed by other
work on the machine); pytest-benchmark's own table has the full statistics.
Ratios are reported against their targets but never asserted: timings depend
on the machine, accuracy does not (and is asserted by the benchmarks).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

QUICK_ENV = "BENCH_QUICK"


@dataclass(frozen=True)
class Rounds:
    """Rounds per benchmark: ``fast`` for sub-millisecond runs, ``slow`` for ~30 ms, ``cli`` for
    the subprocess start-up runs."""

    fast: int
    slow: int
    cli: int


FULL = Rounds(fast=300, slow=20, cli=5)
QUICK = Rounds(fast=30, slow=3, cli=1)

_REPORT = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--quick",
        action="store_true",
        help=f"few rounds per benchmark, for CI (also: environment variable {QUICK_ENV}=1)",
    )


def quick_mode(config: pytest.Config) -> bool:
    return config.getoption("--quick") or os.environ.get(QUICK_ENV, "") not in ("", "0")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORT] = {}


@pytest.fixture(scope="session")
def rounds(pytestconfig: pytest.Config) -> Rounds:
    return QUICK if quick_mode(pytestconfig) else FULL


@pytest.fixture(scope="session")
def quick(pytestconfig: pytest.Config) -> bool:
    return quick_mode(pytestconfig)


@pytest.fixture(scope="session")
def report(pytestconfig: pytest.Config) -> dict:
    """Numbers for the summary, filled in by the benchmarks."""
    return pytestconfig.stash[_REPORT]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    r = config.stash.get(_REPORT, {})
    if not r:
        return
    write = terminalreporter.write_line
    terminalreporter.section("epicast: ratios against the targets")
    write(f"mode: {'quick' if quick_mode(config) else 'full'}; times are minima over rounds")
    if "single" in r:
        line = f"seir-gbr-16age compiled (epicast.simulate): {r['single'] * 1e3:.3f} ms per run"
        if "kernel" in r:
            ns = r["kernel"] / r["evaluations"] * 1e9
            line += (
                f"; kernel alone {r['kernel'] * 1e3:.3f} ms, "
                f"{r['evaluations']} right-hand sides, {ns:.0f} ns each"
            )
        write(line)
    if "error" in r:
        write(f"  its largest error vs DOP853 (rtol=atol=1e-10): {r['error']:.1e} of peak")
    if "lsoda" in r:
        write(
            f"LSODA NumPy reference (rtol=1e-6): {r['lsoda'] * 1e3:.1f} ms per run, "
            f"{r['lsoda_evaluations']} right-hand sides; its error {r['lsoda_error']:.1e} of peak"
        )
    if "single" in r and "lsoda" in r:
        ratio = r["lsoda"] / r["single"]
        write(f"reference / compiled = {ratio:.0f}x (target >= 60x): {_verdict(ratio >= 60)}")
    if "single" in r and "batch" in r:
        per_set = r["batch"] / r["batch_size"]
        ratio = per_set / r["single"]
        write(
            f"batch of {r['batch_size']} on {r['threads']} threads: "
            f"{per_set * 1e3:.3f} ms per set; "
            f"per set / single run = {ratio:.2f} (target <= 0.33): {_verdict(ratio <= 1 / 3)}"
        )
    for name in ("first", "second"):
        if name in r:
            wall, rss = r[name]
            write(f"`{r['command']}`, {name} invocation: {wall:.2f} s wall, peak RSS {rss:.0f} MB")
    if "second" in r:
        write(f"second invocation <= 2 s: {_verdict(r['second'][0] <= 2.0)}")
    _calibration_lines(r, write)


def _calibration_lines(r: dict, write) -> None:
    """ESS per second against emcee, and 8 chains on 1 and 2 workers."""
    if "epicast_ess" in r and "emcee_ess" in r:
        ours = r["epicast_ess"] / r["epicast_seconds"]
        theirs = r["emcee_ess"] / r["emcee_seconds"]
        write(
            f"sir-boarding-school, one core: epicast min bulk ESS {r['epicast_ess']:.0f} in "
            f"{r['epicast_seconds']:.2f} s = {ours:.0f}/s (R-hat max {r['epicast_rhat']:.4f}); "
            f"emcee {r['emcee_ess']:.0f} (tau {r['emcee_tau']:.1f}) in "
            f"{r['emcee_seconds']:.2f} s = {theirs:.0f}/s"
        )
        ratio = ours / theirs
        write(
            f"ESS per second epicast / emcee = {ratio:.1f}x (target >= 20x): "
            f"{_verdict(ratio >= 20)}"
        )
    if "workers_1" in r and "workers_2" in r:
        speedup = r["workers_1"] / r["workers_2"]
        write(
            f"8 chains: {r['workers_1']:.2f} s on 1 worker, {r['workers_2']:.2f} s on 2 = "
            f"{speedup:.2f}x (target >= 1.8x): {_verdict(speedup >= 1.8)}"
        )


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"
