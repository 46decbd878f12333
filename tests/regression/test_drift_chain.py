"""The drift gate over a chain of releases, each 2% slower than the one before.

Six releases of the demo project (``tests/pipeline/repos.py``) go through the
real pipeline on a real devpi-server: build, publish, verify, testing,
approval, ``ci bench``, stable. Each release's kernel ``work`` sums 2% more
numbers than the one before, so it executes 2% more instructions: under the
per-step gate (``instruction_effect`` 3%), so every release is "same" as the
one before, while the candidate drifts from the fastest stable release of the
window by 1.02 ** k. The drift gate (``max_drift`` 5%) must fail from the third
step on (1.061), before the fourth, and the same chain with nothing slowed
(A/A) must pass every step.

The demo gates on instruction counts alone (``[bench] gate``), counted under
valgrind: a 2% step is far inside the spread of timings on a shared machine
(docs/benchmarks.md), while counts repeat to 1e-4 whatever else the machine
does, which is why this test runs beside the other environments. Without
valgrind it is skipped, unless ``CI`` is "true".
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ci import instructions
from tests.pipeline.repos import QA_PERSON, Repo, make_repo

if TYPE_CHECKING:
    from tests.pipeline.conftest import DevpiServer

STEP = 1.02
"""Each release of the slowed chain does this many times the work of the one before."""
RELEASES = 6
STEPS = 5_000
"""Numbers the first release's kernel sums: about 2e6 instructions per call."""
BENCH = {
    "rounds": "2",  # the timings are reported, not gated: as few rounds as allowed
    "gate": '["instructions"]',
    "kernels": '"benchmarks/kernels.py"',
    "kernel_calls": "{ work = 100 }",
    "instruction_effect": "0.03",
    "max_drift": "0.05",
}
WORK = '''"""A kernel of known cost for the drift test: a sum of STEPS numbers."""

STEPS = {steps}


def work() -> int:
    """Return the sum of the first STEPS numbers, one at a time."""
    total = 0
    for number in range(STEPS):
        total += number
    return total
'''
KERNELS = '''"""The demo's kernels for `ci bench --instructions`: python kernels.py NAME CALLS."""

import gc
import sys

try:
    from ci_release_demo.work import work
except ImportError as error:
    print(error, file=sys.stderr)
    sys.exit(3)

name, calls = sys.argv[1], int(sys.argv[2])
if name != "work":
    print(f"no kernel {name}", file=sys.stderr)
    sys.exit(3)
work()
gc.freeze()
for _ in range(calls):
    work()
'''

pytestmark = pytest.mark.skipif(
    not instructions.available() and os.environ.get("CI") != "true",
    reason="valgrind is not installed (set CI=true to make this a failure)",
)


def release_chain(devpi: DevpiServer, target: Path, project: str, step: float) -> list[dict]:
    """Release RELEASES versions, each ``step`` times the work of the one before.

    Every release is benched against the one before and promoted to stable
    (a drift accepted, as a team would, so that the chain goes on); return the
    bench run record of each release after the first.
    """
    files = {
        "src/ci_release_demo/work.py": WORK.format(steps=STEPS),
        "benchmarks/kernels.py": KERNELS,
    }
    config = {"suites": ["smoke"], "bench": BENCH}
    repo = make_repo(target, project, devpi, config=config, change=files)
    runs = []
    for k in range(RELEASES):
        version = f"0.{k + 1}.0"
        if k:
            work = repo.path / "src" / "ci_release_demo" / "work.py"
            work.write_text(WORK.format(steps=round(STEPS * step**k)))
            (repo.path / "NOTES.txt").write_text(f"release {version}\n")
            repo.git("add", ".")
            repo.git("commit", "-qm", f"release {version}")
        repo.tag(version)
        repo.release(version)
        repo.ok("approve", version, "--by", QA_PERSON)
        benched = repo.ci("bench", version)
        assert benched.returncode in (0, 1), benched.stdout + benched.stderr
        if k:
            runs.append(_bench_run(repo, version))
            [timed] = [line for line in benched.stdout.splitlines() if line.startswith("test_add")]
            assert timed.endswith("(not gated)"), benched.stdout
        _promote_to_stable(repo, version, drifted=benched.returncode == 1)
    return runs


def _bench_run(repo: Repo, version: str) -> dict:
    [run] = sorted((repo.archive / version / "bench").glob("*-vs-*[0-9].json"))
    return json.loads(run.read_text())


def _promote_to_stable(repo: Repo, version: str, *, drifted: bool) -> None:
    promoted = repo.ci("promote", version, "--to", "stable")
    if not drifted:
        assert promoted.returncode == 0, promoted.stderr
        return
    assert promoted.returncode == 2, promoted.stderr
    assert "the fastest recent stable release" in promoted.stderr
    repo.ok("promote", version, "--to", "stable", "--accept-regression", "the chain goes on")


def _work(rows: list[dict]) -> dict:
    """Return the instruction-count row of the kernel ``work``."""
    [row] = [b for b in rows if b["name"] == "instructions::work"]
    return row


def test_a_chain_of_2_percent_steps_is_same_each_step_and_drifted_by_the_fourth(
    devpi: DevpiServer, tmp_path: Path
):
    runs = release_chain(devpi, tmp_path / "repo", "ci-drift-chain", STEP)
    assert [run["verdict"] for run in runs] == ["same"] * (RELEASES - 1)
    for run in runs:
        assert _work(run["benchmarks"])["ratio"] == pytest.approx(STEP, rel=2e-3)
    assert [run["drift"]["reference"] for run in runs] == ["0.1.0"] * (RELEASES - 1)
    levels = [_work(run["drift"]["benchmarks"])["ratio"] for run in runs]
    assert levels == pytest.approx([STEP**k for k in range(1, RELEASES)], rel=3e-3)
    drifts = [run["drift"]["verdict"] for run in runs]
    # 1.02, 1.04: within 5%; 1.061 from the third step on
    assert drifts == ["same", "same", "slower", "slower", "slower"]


def test_the_same_chain_with_nothing_slowed_passes_every_step(devpi: DevpiServer, tmp_path: Path):
    runs = release_chain(devpi, tmp_path / "repo", "ci-drift-aa", 1.0)
    assert [run["verdict"] for run in runs] == ["same"] * (RELEASES - 1)
    assert [run["drift"]["verdict"] for run in runs] == ["same"] * (RELEASES - 1)
    for run in runs:
        assert _work(run["drift"]["benchmarks"])["ratio"] == pytest.approx(1.0, abs=1e-3)
