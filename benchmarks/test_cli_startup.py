"""Start-up as a user feels it: ``epicast run seir-basic`` in a new process.

The first invocation of a session may compile the kernels (when numba's cache
is empty, e.g. in a fresh environment); later ones load them from the cache.
Wall time includes the interpreter's start. Peak memory is the child's own
maximum resident set size, from ``os.wait4`` (``getrusage(RUSAGE_CHILDREN)``
would give the maximum over all children so far, not per invocation).
This file sorts before the in-process benchmarks, so that their compilation
does not warm the cache for the first invocation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (POSIX)")

COMMAND = ["run", "seir-basic"]


def epicast_command() -> list[str]:
    """The installed ``epicast`` script of this environment (else ``python -m epicast``)."""
    script = shutil.which("epicast", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "epicast"]


def run_cli(cwd: Path) -> tuple[float, float]:
    """Run the command once; return its wall time (s) and peak resident memory (MB)."""
    with open(cwd / "stdout.txt", "wb") as stdout, open(cwd / "stderr.txt", "wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            [*epicast_command(), *COMMAND], cwd=cwd, stdout=stdout, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, (cwd / "stderr.txt").read_text()
    assert "seir-basic" in (cwd / "stdout.txt").read_text()
    kilobytes = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
    return wall, kilobytes / 1024


def test_cli_first_invocation(benchmark, tmp_path, report):
    benchmark.group = "cli start-up"
    report["command"] = " ".join(["epicast", *COMMAND])
    report["first"] = benchmark.pedantic(run_cli, (tmp_path,), rounds=1, warmup_rounds=0)


def test_cli_later_invocation(benchmark, rounds, tmp_path, report):
    benchmark.group = "cli start-up"
    results = []
    benchmark.pedantic(
        lambda: results.append(run_cli(tmp_path)), rounds=rounds.cli, warmup_rounds=1
    )
    report["command"] = " ".join(["epicast", *COMMAND])
    # the warm-up round is the session's second invocation, unless the first test did not run
    report["second"] = results[0] if "first" in report else results[1]
