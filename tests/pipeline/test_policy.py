"""Promotion policy decided in process: evidence and the benchmark gate, on a real archive folder.

test_release.py takes releases through devpi end to end; here each rule of
``ci.promote`` meets the evidence and bench runs it decides on, one case at a
time, with nothing but the archive.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci import promote
from ci.archive import Archive
from ci.config import Bench, PipelineConfig, Verify
from ci.errors import CIError

WHEEL = "a" * 64
OTHER = "b" * 64
CONFIG = PipelineConfig(verify=Verify(suites=["smoke", "unit"], pythons=["3.11", "3.12"]))
RECORD = {
    "project": "demo",
    "version": "1.0.0",
    "files": [{"filename": "demo-1.0.0-py3-none-any.whl", "kind": "wheel", "sha256": WHEEL}],
}


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    return Archive(str(tmp_path / "archive"), tmp_path)


def evidence(archive: Archive, suite: str, python: str, status: str, sha256: str = WHEEL) -> None:
    record = {
        "suite": suite,
        "python": python,
        "status": status,
        "passed": int(status == "passed"),
        "failed": int(status == "failed"),
        "skipped": 0,
        "duration_s": 1.0,
        "file": {"filename": "demo-1.0.0-py3-none-any.whl", "sha256": sha256},
    }
    archive.write_json(record, "demo", "1.0.0", "tests", f"{suite}-py{python}.json")


def test_every_suite_passed_on_a_python_and_failed_on_none(archive: Archive):
    evidence(archive, "smoke", "3.11", "passed")
    evidence(archive, "unit", "3.11", "passed")
    evidence(archive, "smoke", "3.12", "skipped")
    evidence(archive, "unit", "3.12", "skipped")
    assert promote._passing_evidence(archive, CONFIG, RECORD) == [
        {"suite": "smoke", "python": "3.11", "status": "passed", "passed": 1, "failed": 0},
        {"suite": "unit", "python": "3.11", "status": "passed", "passed": 1, "failed": 0},
    ]


def test_a_failure_on_any_python_refuses(archive: Archive):
    evidence(archive, "smoke", "3.11", "passed")
    evidence(archive, "unit", "3.11", "passed")
    evidence(archive, "unit", "3.12", "failed")
    with pytest.raises(CIError, match=r"^demo 1\.0\.0: suite unit failed on py3\.12$"):
        promote._passing_evidence(archive, CONFIG, RECORD)


def test_evidence_of_another_wheel_does_not_count(archive: Archive):
    evidence(archive, "smoke", "3.11", "passed")
    evidence(archive, "unit", "3.11", "passed", sha256=OTHER)
    with pytest.raises(CIError, match=r"no passing unit suite for wheel aaaaaaaaaaaa$"):
        promote._passing_evidence(archive, CONFIG, RECORD)


COMPARED = {"candidate": 1.5, "baseline": 1.0, "ratio": 1.5, "ci_low": 1.4, "ci_high": 1.6}


def bench_run(
    archive: Archive, name: str, verdict: str, sha256: str = WHEEL, **fields: object
) -> None:
    """Archive a run whose one timed benchmark has ``verdict``; ``fields`` replace its own."""
    benchmarks = [
        {"name": "b.py::test_add", "unit": "s", **COMPARED, "p_value": 1e-4, "verdict": verdict}
    ]
    settings = {"python": "3.11", "rounds": 8, "alpha": 0.01, "min_effect": 0.03}
    when = {"started_at": "2026-12-01T10:00:00+00:00", "finished_at": "2026-12-01T10:05:00+00:00"}
    record = {"version": "1.0.0", "sha256": {"candidate": sha256}, "verdict": verdict}
    record |= {"baseline": "0.9.0", **settings, **when, "benchmarks": benchmarks, **fields}
    archive.write_json(record, "demo", "1.0.0", "bench", name)


def test_the_latest_bench_run_of_the_wheel_is_the_gate(archive: Archive):
    bench_run(archive, "20261206T100000Z-vs-0.9.0.json", "slower")
    bench_run(archive, "20261206T110000Z-vs-0.9.0.json", "same")
    bench_run(archive, "20261206T120000Z-vs-0.9.0.json", "slower", sha256=OTHER)
    assert promote._check_benchmarks(CONFIG, archive, RECORD, None) == {
        "run": "20261206T110000Z-vs-0.9.0",
        "verdict": "same",
        "baseline": "0.9.0",
    }


def test_a_regression_needs_an_accepted_reason(archive: Archive, monkeypatch):
    monkeypatch.setenv("CI_ACTOR", "qa-person")
    bench_run(archive, "20261206T100000Z-vs-0.9.0.json", "slower")
    with pytest.raises(CIError, match=r"slower than 0\.9\.0 in 1 benchmark\(s\), e\.g\. test_add"):
        promote._check_benchmarks(CONFIG, archive, RECORD, None)
    accepted = promote._check_benchmarks(CONFIG, archive, RECORD, "known, documented")
    assert accepted["accepted_regression"] == {"reason": "known, documented", "who": "qa-person"}


def test_a_regression_names_a_benchmark_of_the_gate(archive: Archive):
    """Timings reported beside a gate of instruction counts are not what refused it."""
    timed = {"name": "b.py::test_add", "unit": "s", **COMPARED, "p_value": 1e-4}
    counted = {"name": "instructions::work", "unit": "instructions", **COMPARED, "p_value": None}
    rows = [{**timed, "verdict": "slower"}, {**counted, "ratio": 1.04, "verdict": "slower"}]
    name = "20261206T100000Z-vs-0.9.0.json"
    bench_run(archive, name, "slower", gate=["instructions"], benchmarks=rows)
    with pytest.raises(CIError, match=r"in 1 benchmark\(s\), e\.g\. work x1\.04 "):
        promote._check_benchmarks(CONFIG, archive, RECORD, None)


def test_no_bench_run_refuses_only_when_required(archive: Archive):
    with pytest.raises(CIError, match=r"has no benchmark run for wheel aaaaaaaaaaaa$"):
        promote._check_benchmarks(CONFIG, archive, RECORD, None)
    optional = CONFIG.model_copy(update={"bench": Bench(required=False)})
    assert promote._check_benchmarks(optional, archive, RECORD, None) is None


@pytest.mark.parametrize("version", ["1.0.0rc1", "1.0.0.dev3", "1.0.0.post1", "1.0.0+local"])
def test_only_final_versions_go_to_stable(version: str):
    with pytest.raises(CIError, match="is not a final version"):
        promote._check_final({**RECORD, "version": version})
    promote._check_final(RECORD)
