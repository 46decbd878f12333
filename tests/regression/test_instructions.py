"""Instruction counts of the compiled kernels under valgrind (ci/instructions.py).

Against this checkout's wheel in its own environment (``epicast_python``):
processes doing the same calls count the same instructions, per-call counts do
not depend on the number of calls, and a batch of 64 runs costs about 64 single
runs. Without valgrind these tests are skipped, unless ``CI`` is "true": there
they fail, since CI machines are meant to have it. That a missing valgrind is a
handled error with a tip is checked everywhere (PATH emptied).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ci import bench, instructions, verdict
from ci.config import Bench
from ci.errors import CIError

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "kernels.py"
CALLS = 500
"""Calls of the 16-age kernel: 1e9 instructions; processes doing the same differ by ~1e4."""
REPEAT_TOLERANCE = 1e-3
"""Relative difference allowed between per-call counts (measured: 1e-4 at most, see docs)."""

needs_valgrind = pytest.mark.skipif(
    not instructions.available() and os.environ.get("CI") != "true",
    reason="valgrind is not installed (set CI=true to make this a failure)",
)


@pytest.fixture(scope="module")
def totals(epicast_python: Path, tmp_path_factory) -> dict[str, int]:
    """Instructions of processes with 1 + (0, n, n, 2n) calls of the 16-age kernel."""
    cwd = tmp_path_factory.mktemp("instructions")
    runs = instructions.process_totals(
        epicast_python, SCRIPT, "seir-gbr-16age", [0, CALLS, CALLS, 2 * CALLS], cwd
    )
    return dict(zip(("base", "first", "second", "double"), runs, strict=True))


@needs_valgrind
def test_repeated_counts_agree(totals):
    first = (totals["first"] - totals["base"]) / CALLS
    second = (totals["second"] - totals["base"]) / CALLS
    assert first > 1e5  # a 16-age year takes ~2e6 instructions
    assert second == pytest.approx(first, rel=REPEAT_TOLERANCE)


@needs_valgrind
def test_per_call_counts_do_not_depend_on_calls(totals):
    single = (totals["first"] - totals["base"]) / CALLS
    double = (totals["double"] - totals["base"]) / (2 * CALLS)
    assert double == pytest.approx(single, rel=REPEAT_TOLERANCE)


@needs_valgrind
def test_a_batch_of_64_costs_about_64_single_runs(epicast_python, totals, tmp_path):
    single = (totals["first"] - totals["base"]) / CALLS
    batch = instructions.count(epicast_python, SCRIPT, "batch-64", 4, tmp_path)
    # the 64 sets take different numbers of steps (their rates vary by 20%)
    assert 0.5 * 64 < batch / single < 2 * 64


@needs_valgrind
def test_bench_compares_a_release_with_itself_as_the_same(epicast_python, tmp_path):
    pythons = {bench.CANDIDATE: epicast_python, bench.BASELINE: epicast_python}
    counted = bench.count_instructions(pythons, SCRIPT, tmp_path, {"seir-basic": 1000})
    [row] = verdict.compare(
        counted[bench.CANDIDATE],
        counted[bench.BASELINE],
        alpha=0.01,
        min_effect=0.01,
        unit=verdict.INSTRUCTIONS,
    )
    assert row.name == "instructions::seir-basic"
    assert row.candidate > 1e5  # a one-group year takes ~5e5 instructions
    assert row.ratio == pytest.approx(1.0, abs=REPEAT_TOLERANCE)
    assert row.verdict == verdict.SAME


def test_missing_valgrind_is_a_handled_error_with_a_tip(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not instructions.available()
    with pytest.raises(CIError, match="valgrind") as raised:
        instructions.count(Path("python"), SCRIPT, "seir-basic", 10, tmp_path)
    assert raised.value.tip == "install it: sudo apt-get install valgrind"


def test_counting_without_kernels_to_count_is_a_handled_error_with_a_tip(tmp_path):
    script = tmp_path / "kernels.py"
    script.write_text("")
    with pytest.raises(CIError, match="needs kernels to count") as raised:
        bench.check_countable(script, Bench())
    assert raised.value.tip == "set `kernel_calls` in the [bench] section of pipeline.toml"
    with pytest.raises(CIError, match="which does not exist"):
        bench.check_countable(tmp_path / "missing.py", Bench(kernel_calls={"k": 1}))


def test_a_kernel_the_release_lacks_is_reported(monkeypatch, tmp_path):
    """kernels.py exits with 3 when the installed epicast has no such kernel."""
    (tmp_path / "valgrind").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 'chain is not available' >&2\nexit 3\n", encoding="utf-8")
    for program in (tmp_path / "valgrind", python):
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(instructions.KernelUnavailableError, match="chain is not available"):
        instructions.count(python, SCRIPT, "chain", 10, tmp_path)


def test_totals_are_read_from_cachegrind_and_callgrind_files(tmp_path):
    cachegrind = tmp_path / "cachegrind.out"
    cachegrind.write_text("cmd: python\nevents: Ir\nfl=a.c\nfn=f\n1 5\nsummary: 1234\n")
    callgrind = tmp_path / "callgrind.out"
    callgrind.write_text("events: Ir Dr\nfn=f\n1 5 2\ntotals: 4321 99\n")
    assert instructions.read_total(cachegrind) == 1234
    assert instructions.read_total(callgrind) == 4321
    truncated = tmp_path / "truncated.out"
    truncated.write_text("events: Ir\nfn=f\n1 5\n")
    with pytest.raises(CIError, match="no total"):
        instructions.read_total(truncated)
    with pytest.raises(CIError, match="no output file"):
        instructions.read_total(tmp_path / "missing.out")
