"""When a stage reuses an earlier result, decided in process: keys, digests, the line;
and how verify lays out what it does run.

The end-to-end runs (a second ``ci verify``, ``--force``, a whole second ``ci
pipeline``) are in test_release.py; here every part of each key is changed on
its own, on real files, real git checkouts and a real archive folder.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from ci import bench, reuse
from ci.archive import Archive
from ci.config import Bench
from ci.index import ReleaseFile
from ci.records import Evidence
from ci.verify import chains, interpreter_version, reusable, reused_lines

WHEEL = "a" * 64
INPUTS = "b" * 64
PYTHON = "3.11.7"
PASSED = {
    "suite": "smoke",
    "python": "3.11",
    "python_version": PYTHON,
    "status": "passed",
    **{"passed": 3, "failed": 0, "skipped": 0, "duration_s": 1.5},
    "file": {"filename": "demo-1.0-py3-none-any.whl", "sha256": WHEEL},
    "inputs_sha256": INPUTS,
    "run_at": "2026-12-06T23:10:05+00:00",
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout with a tracked test, a tox.ini, sources and an ignore rule."""
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "src").mkdir()
    (repo / "tests" / "test_a.py").write_text("def test_a():\n    pass\n")
    (repo / "tox.ini").write_text("[tox]\n")
    (repo / "src" / "code.py").write_text("VALUE = 1\n")
    (repo / ".gitignore").write_text("__pycache__/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    return repo


INPUT_PATHS = ["tox.ini", "tests", "requirements"]


def test_the_inputs_digest_changes_with_any_test_input(checkout: Path):
    first = reuse.inputs_digest(checkout, INPUT_PATHS)
    assert first == reuse.inputs_digest(checkout, INPUT_PATHS)
    # Outside the inputs, ignored, or a cache: no change.
    (checkout / "src" / "code.py").write_text("VALUE = 2\n")
    (checkout / "tests" / "__pycache__").mkdir()
    (checkout / "tests" / "__pycache__" / "test_a.pyc").write_bytes(b"cache")
    assert reuse.inputs_digest(checkout, INPUT_PATHS) == first
    # An untracked new test counts (pytest collects it).
    extra = checkout / "tests" / "test_b.py"
    extra.write_text("def test_b():\n    pass\n")
    with_extra = reuse.inputs_digest(checkout, INPUT_PATHS)
    assert with_extra != first
    extra.unlink()
    assert reuse.inputs_digest(checkout, INPUT_PATHS) == first
    # A changed tox.ini, a changed or a deleted test.
    (checkout / "tox.ini").write_text("[tox]\nenv_list = a\n")
    changed_tox = reuse.inputs_digest(checkout, INPUT_PATHS)
    (checkout / "tests" / "test_a.py").unlink()
    deleted = reuse.inputs_digest(checkout, INPUT_PATHS)
    assert len({first, with_extra, changed_tox, deleted}) == 4


def test_the_skip_line_names_what_which_file_and_when():
    line = reuse.skip_line(
        "verify", "smoke py3.11 already passed", PASSED["file"]["filename"], WHEEL, PASSED["run_at"]
    )
    assert line == (
        "verify: smoke py3.11 already passed for demo-1.0-py3-none-any.whl sha256 aaaaaaaaaaaa… "
        "(2026-12-06 23:10 UTC); --force re-runs"
    )


def test_passed_evidence_of_the_same_key_is_reused():
    assert reusable(Evidence.model_validate(PASSED), WHEEL, INPUTS, PYTHON)
    assert reused_lines([{**PASSED, "reused": True}, {**PASSED, "suite": "unit"}]) == [
        "verify: smoke py3.11 already passed for demo-1.0-py3-none-any.whl sha256 aaaaaaaaaaaa… "
        "(2026-12-06 23:10 UTC); --force re-runs"
    ]


@pytest.mark.parametrize(
    ("change", "python"),
    [
        ({"status": "failed"}, PYTHON),
        ({"status": "skipped", "python_version": None}, None),
        ({"file": {"filename": PASSED["file"]["filename"], "sha256": "c" * 64}}, PYTHON),
        ({"inputs_sha256": "d" * 64}, PYTHON),
        ({}, "3.11.8"),
        ({"inputs_sha256": None}, PYTHON),
    ],
    ids=[
        "failed",
        "python-missing",
        "other-wheel",
        "other-test-inputs",
        "other-interpreter",
        "evidence-without-key",
    ],
)
def test_evidence_of_another_key_or_not_a_pass_is_not_reused(change: dict, python: str | None):
    assert not reusable(Evidence.model_validate({**PASSED, **change}), WHEEL, INPUTS, python)


def test_the_interpreter_version_is_the_full_one_or_none():
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if interpreter_version(running) is None:
        pytest.skip(f"python{running} is not on PATH")
    assert interpreter_version(running) == platform.python_version()
    assert interpreter_version("2.99") is None


# -- bench: an archived run of the same wheels, benchmarks and settings ----------------------


def release_file(name: str, sha256: str) -> ReleaseFile:
    return ReleaseFile(
        index="ci/unstable",
        project="demo",
        version=name.split("-")[1],
        filename=name,
        url=f"http://127.0.0.1/{name}",
        sha256=sha256,
    )


FILES = {
    bench.CANDIDATE: release_file("demo-2.0-py3-none-any.whl", "1" * 64),
    bench.BASELINE: release_file("demo-1.0-py3-none-any.whl", "2" * 64),
}
SETTINGS = Bench(rounds=4)


def archived_run(archive: Archive, name: str, **change) -> dict:
    run = {
        "project": "demo",
        "version": "2.0",
        "baseline": "1.0",
        "sha256": {side: file.sha256 for side, file in FILES.items()},
        "rounds": SETTINGS.rounds,
        "alpha": SETTINGS.alpha,
        "min_effect": SETTINGS.min_effect,
        "max_drift": SETTINGS.max_drift,
        "inputs_sha256": INPUTS,
        "verdict": "faster",
        "python": SETTINGS.python,
        "started_at": "2026-12-06T23:35:00+00:00",
        "finished_at": "2026-12-06T23:40:00+00:00",
        "benchmarks": [],
        **change,
    }
    archive.write_json(run, "demo", "2.0", "bench", f"{name}.json")
    return run


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": {bench.CANDIDATE: "1" * 64, bench.BASELINE: "3" * 64}},
        {"sha256": {bench.CANDIDATE: "1" * 64}},
        {"rounds": 8},
        {"max_drift": 0.5},
        {"inputs_sha256": "e" * 64},
    ],
    ids=[
        "other-baseline-wheel",
        "no-baseline",
        "other-rounds",
        "other-max-drift",
        "other-benchmarks",
    ],
)
def test_a_bench_run_of_another_key_is_not_reused(tmp_path: Path, change: dict):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    archived_run(archive, "20261206T234000Z-vs-1.0", **change)
    record = {"project": "demo", "version": "2.0"}
    assert bench._earlier_run(archive, record, FILES, SETTINGS, INPUTS, count=False) is None


def test_the_newest_bench_run_of_the_same_key_is_reused(tmp_path: Path):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    archived_run(archive, "20261206T230000Z-vs-1.0", verdict="slower")
    archived_run(archive, "20261206T234000Z-vs-1.0")
    record = {"project": "demo", "version": "2.0"}
    found = bench._earlier_run(archive, record, FILES, SETTINGS, INPUTS, count=False)
    assert (found["run"], found["verdict"]) == ("20261206T234000Z-vs-1.0", "faster")
    # A run without instruction counts does not answer a request for them.
    assert bench._earlier_run(archive, record, FILES, SETTINGS, INPUTS, count=True) is None
    assert bench._reused_line(found, FILES[bench.CANDIDATE]) == (
        "bench: demo 2.0 vs 1.0 already measured: faster (run 20261206T234000Z-vs-1.0) for "
        "demo-2.0-py3-none-any.whl sha256 111111111111… (2026-12-06 23:40 UTC); --force re-runs"
    )


# -- verify: chains of suites ------------------------------------------------------------------

JOBS = [(p, s) for p in ("3.10", "3.11", "3.12", "3.13") for s in ("smoke", "unit", "bench")]


def test_with_enough_pythons_each_runs_its_suites_in_one_chain():
    planned = chains(JOBS, cores=2)
    assert planned == [(p, ["smoke", "unit", "bench"]) for p in ("3.10", "3.11", "3.12", "3.13")]
    assert chains(JOBS, cores=4) == planned


def test_with_fewer_pythons_than_cores_every_suite_runs_on_its_own():
    one_python = [job for job in JOBS if job[0] == "3.11"]
    assert chains(one_python, cores=2) == [
        ("3.11", ["smoke"]),
        ("3.11", ["unit"]),
        ("3.11", ["bench"]),
    ]
    assert chains(JOBS, cores=8) == [(p, [s]) for p, s in JOBS]
