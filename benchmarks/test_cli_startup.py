"""Start-up as a user feels it: ``epicast run seir-basic`` in a new process.

The first invocation compiles the kernels, as in a fresh environment: the runs
get a numba cache folder of their own (``NUMBA_CACHE_DIR``), empty at first,
whatever ran before. Later invocations load the compiled code from it. The
update check is off (``EPICAST_NO_UPDATE_CHECK``): it reads the network at most
once a day, which would time the index rather than epicast.

Wall time includes the interpreter's start. Peak memory is the child's own
maximum resident set size from ``os.wait4``, taken by a small launcher process
(:data:`LAUNCHER`): a child forked from pytest itself would report pytest's
resident memory at the fork, since the kernel carries a process's peak across
``exec``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (POSIX)")

COMMAND = ["run", "seir-basic"]
LAUNCHER = """
import json, os, sys, time
result, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawn(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
kilobytes = usage.ru_maxrss / 1024 if sys.platform == "darwin" else usage.ru_maxrss
code = os.waitstatus_to_exitcode(status)
with open(result, "w") as out:
    json.dump({"wall": wall, "megabytes": kilobytes / 1024, "code": code}, out)
"""
"""Spawns the command, waits for it, writes its wall time, peak memory and exit code (JSON)."""


def epicast_command() -> list[str]:
    """The installed ``epicast`` script of this environment (else ``python -m epicast``)."""
    script = shutil.which("epicast", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "epicast"]


@pytest.fixture(scope="module")
def numba_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty numba cache folder shared by this module's invocations."""
    return tmp_path_factory.mktemp("numba-cache")


def run_cli(cwd: Path, numba_cache: Path) -> tuple[float, float]:
    """Run the command once; return its wall time (s) and peak resident memory (MB)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache), "EPICAST_NO_UPDATE_CHECK": "1"}
    result = cwd / "result.json"
    with open(cwd / "stdout.txt", "wb") as stdout, open(cwd / "stderr.txt", "wb") as stderr:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, result, *epicast_command(), *COMMAND],
            cwd=cwd,
            env=env,
            stdout=stdout,
            stderr=stderr,
            check=True,
        )
    measured = json.loads(result.read_text())
    assert measured["code"] == 0, (cwd / "stderr.txt").read_text()
    assert "seir-basic" in (cwd / "stdout.txt").read_text()
    return measured["wall"], measured["megabytes"]


def test_cli_first_invocation(benchmark, tmp_path, numba_cache, report):
    benchmark.group = "cli start-up"
    report["command"] = " ".join(["epicast", *COMMAND])
    report["first"] = benchmark.pedantic(
        run_cli, (tmp_path, numba_cache), rounds=1, warmup_rounds=0
    )
    assert any(numba_cache.rglob("*.nbi")), "the first invocation left no compiled code"


def test_cli_later_invocation(benchmark, rounds, tmp_path, numba_cache, report):
    benchmark.group = "cli start-up"
    results = []
    benchmark.pedantic(
        lambda: results.append(run_cli(tmp_path, numba_cache)),
        rounds=rounds.cli,
        warmup_rounds=1,
    )
    report["command"] = " ".join(["epicast", *COMMAND])
    # the warm-up round is the session's second invocation, unless the first test did not run
    report["second"] = results[0] if "first" in report else results[1]
