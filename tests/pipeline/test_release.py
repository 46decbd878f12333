"""The whole release, end to end: ``python -m ci`` on a tiny project, a real devpi-server.

Each scenario releases a copy of the demo project (``tests/pipeline/repos.py``)
in a git repository of its own. Every stage runs as ``python -m ci ...`` in a
subprocess whose working directory is that repository; tox, pip, twine and
devpi are all real. Outcomes are checked on the index through devpi's JSON API
and in the archive's ``release.json``.

Scenarios that only test promotion policy verify the smoke suite alone
(``CI_CONFIG`` names a copy of pipeline.toml with ``suites = ["smoke"]``);
the others run all three suites on the Python running the tests.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.pipeline.repos import (
    ACTOR,
    ALL_PASSED,
    OUTPUTS,
    PY,
    PYTHON,
    QA_PERSON,
    REPOS,
    SMOKE_ONLY,
    SMOKE_PASSED,
    STABLE,
    TESTING,
    TIMINGS,
    UNSTABLE,
    Repo,
    clean_environment,
    error_lines,
    make_repo,
    promotions,
    sdist,
    toxresult_count,
    wheel,
)
from tests.sampling import sample_command_lines

if TYPE_CHECKING:
    from conftest import DevpiServer

# -- 1. a dev version stops at testing -----------------------------------------------------


@dataclass
class Untagged:
    """An untagged commit released by ``ci pipeline`` (see the ``untagged`` fixture)."""

    repo: Repo
    first: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def untagged(devpi: DevpiServer, tmp_path_factory: pytest.TempPathFactory) -> Untagged:
    """An untagged commit released by ``ci pipeline``, to testing.

    Shared, in this order, by the tests of that run, of a second run at the same
    commit, and of verify's reuse (which adds a test to the checkout).
    """
    repo = make_repo(tmp_path_factory.mktemp("untagged") / "repo", "ci-demo-dev", devpi)
    began = time.monotonic()
    first = repo.ci("pipeline")
    TIMINGS["ci pipeline, untagged commit -> testing (3 suites)"] = time.monotonic() - began
    return Untagged(repo, first)


def untagged_pipeline_end(devpi: DevpiServer, version: str) -> list[str]:
    """The last lines of ``ci pipeline`` for the untagged demo release: dashboard, testing, pip."""
    return [
        f"dashboard: {devpi.state_dir}/dashboard/index.html "
        "(1 version, 1 comparison of benchmarks)",
        f"pipeline: ci-demo-dev {version} is on testing ({devpi.url}/ci/testing/+simple/)",
        f"pipeline: install it with: pip install --index-url {devpi.url}/ci/testing/+simple/ "
        f"ci-demo-dev=={version}",
        "pipeline: only final versions that QA approved go on to stable",
    ]


def test_an_untagged_commit_passes_and_stops_at_testing(untagged: Untagged, devpi: DevpiServer):
    repo, result = untagged.repo, untagged.first
    assert result.returncode == 0, result.stdout + result.stderr
    version = "0.1.dev1"
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"devpi: already running at {devpi.url} ")
    assert lines[1].startswith(f"built ci-demo-dev {version} at ")
    assert lines[2:5] == [
        f"published ci-demo-dev {version} to ci/unstable: {wheel('ci-demo-dev', version)} "
        f"uploaded, {sdist('ci-demo-dev', version)} uploaded",
        f"verified ci-demo-dev {version}: {ALL_PASSED}",
        f"ci-demo-dev {version} promoted to testing",
    ]
    header, row, benched = lines[5:8]
    assert header.split() == ["benchmark", version, "-", "ratio", "99%", "CI", "p", "verdict"]
    assert (row.split()[0], row.split()[3:]) == ("test_add", ["-", "-", "-", "-", "no-baseline"])
    assert benched.startswith(
        f"bench: ci-demo-dev {version} vs nothing (no stable release yet): no-baseline (4 rounds); "
        f"archived {repo.archive}/{version}/bench/"
    )
    assert lines[8:] == untagged_pipeline_end(devpi, version)
    built = repo.built()
    assert repo.on_index(UNSTABLE) == {version: built}
    assert repo.on_index(TESTING) == {version: built}
    assert repo.on_index(STABLE) == {}
    record = repo.record(version)
    assert promotions(record) == [("unstable", "testing")]
    assert record["promotions"][0]["who"] == ACTOR
    assert record["promotions"][0]["sha256"] == built[wheel("ci-demo-dev", version)]
    assert sorted(e["suite"] for e in record["promotions"][0]["evidence"]) == [
        "bench",
        "smoke",
        "unit",
    ]
    assert (record["commit"], record["tags"]) == (repo.git("rev-parse", "HEAD"), [])
    # Dependencies (pytest) came through the devpi server, from the unstable index.
    server_log = (devpi.server_dir / "server.log").read_text()
    assert "GET /ci/unstable/+simple/pytest/" in server_log

    refused = repo.ci("promote", version, "--to", "stable")
    assert error_lines(refused) == [
        f"ci: error: ci-demo-dev {version} is not a final version; "
        "only final versions go to stable",
        "ci: tip: tag the approved candidate's commit with the final version (e.g. 1.2.0)",
    ]
    assert repo.on_index(STABLE) == {}
    assert repo.record(version) == record


def test_the_same_pipeline_again_reuses_every_stage(untagged: Untagged, devpi: DevpiServer):
    """The same command again at the same commit: each stage finds its result, in one line."""
    repo, version = untagged.repo, "0.1.dev1"
    built, record, evidence = repo.built(), repo.record(version), repo.evidence(version)
    began = time.monotonic()
    again = repo.ci("pipeline")
    TIMINGS["ci pipeline again, same commit (every stage reused)"] = time.monotonic() - began
    assert again.returncode == 0, again.stdout + again.stderr
    lines = again.stdout.splitlines()
    the_wheel = wheel("ci-demo-dev", version)
    sha = built[the_wheel]
    reused = f" for {the_wheel} sha256 {sha[:12]}… "
    again_hint = "; --force re-runs"
    assert lines[0].startswith(f"devpi: already running at {devpi.url} ")
    assert lines[1] == (
        f"build: ci-demo-dev {version} at {record['commit'][:12]} already built{reused}"
        f"({skip_time(repo.report()['built_at'])}){again_hint}"
    )
    assert lines[2] == (
        f"publish: ci-demo-dev {version} is already on ci/unstable (2 files, same sha256): "
        "nothing uploaded"
    )
    assert lines[3:8] == [
        *(
            f"verify: {suite} {PY} already passed{reused}"
            f"({skip_time(evidence[f'{suite}-{PY}']['run_at'])}){again_hint}"
            for suite in ("smoke", "unit", "bench")
        ),
        f"verified ci-demo-dev {version}: {ALL_PASSED}",
        f"ci-demo-dev {version} already on testing",
    ]
    [run] = [p for p in (repo.archive / version / "bench").glob("*.json") if ".raw." not in p.name]
    assert lines[8] == (
        f"bench: ci-demo-dev {version} vs nothing already measured: no-baseline (run {run.stem})"
        f"{reused}({skip_time(json.loads(run.read_text())['finished_at'])}){again_hint}"
    )
    assert lines[9:] == untagged_pipeline_end(devpi, version)
    assert repo.evidence(version) == evidence
    assert len(list((repo.archive / version / "bench").glob("*.raw.json"))) == 1
    assert repo.record(version) == record


def skip_time(iso: str) -> str:
    """How a skip line shows when the reused result was made."""
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def test_verify_reuses_a_pass_of_the_same_key_and_force_runs_again(
    untagged: Untagged, devpi: DevpiServer
):
    """On the untagged release (after its second pipeline): the smoke suite alone."""
    repo, project, version = untagged.repo, "ci-demo-dev", "0.1.dev1"
    smoke = ("--suite", "smoke")
    the_wheel = wheel(project, version)
    sha = repo.built()[the_wheel]
    evidence_file = repo.archive / version / "tests" / f"smoke-{PY}.json"
    first = evidence_file.read_bytes()
    evidence = json.loads(first)
    assert (evidence["file"]["sha256"], evidence["python_version"]) == (
        sha,
        platform.python_version(),
    )
    attached = toxresult_count(devpi.url, UNSTABLE, project, version)
    assert attached == 3  # smoke, unit and bench of the first pipeline; none since

    # The same wheel, tests and interpreter: one line, nothing run, nothing written.
    again = repo.ci("verify", *smoke)
    assert (again.returncode, again.stdout) == (
        0,
        f"verify: smoke {PY} already passed for {the_wheel} sha256 {sha[:12]}… "
        f"({skip_time(evidence['run_at'])}); --force re-runs\n"
        f"verified {project} {version}: {SMOKE_PASSED}\n",
    )
    assert "verify: 1/1" not in again.stderr  # no suite ran
    assert evidence_file.read_bytes() == first
    assert toxresult_count(devpi.url, UNSTABLE, project, version) == attached

    # --force runs the suite again.
    assert repo.ok("verify", *smoke, "--force") == f"verified {project} {version}: {SMOKE_PASSED}\n"
    assert toxresult_count(devpi.url, UNSTABLE, project, version) == attached + 1

    # A new test in the checkout changes the test inputs: the suite runs, with it.
    more = "def test_more():\n    pass\n"
    (repo.path / "tests" / "smoke" / "test_more.py").write_text(more)
    three = f"smoke {PY} passed (3 passed, 0 failed)"
    assert repo.ok("verify", *smoke) == f"verified {project} {version}: {three}\n"

    # Evidence of another interpreter (another patch release) does not count either.
    recorded = json.loads(evidence_file.read_text())
    evidence_file.write_text(json.dumps({**recorded, "python_version": "3.0.0"}))
    assert repo.ok("verify", *smoke) == f"verified {project} {version}: {three}\n"
    assert json.loads(evidence_file.read_text())["python_version"] == platform.python_version()
    assert toxresult_count(devpi.url, UNSTABLE, project, version) == attached + 3


# -- 2, 8, 10: a candidate, then the final version approved, installed from stable ---------------


@dataclass
class Released:
    """The outcome of the shared release scenario (see the ``released`` fixture)."""

    repo: Repo
    race: list[tuple[int, str, str]]
    installed: subprocess.CompletedProcess
    built: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def released(devpi: DevpiServer, tmp_path_factory: pytest.TempPathFactory) -> Released:
    """``0.1.0rc1`` to testing (two promotions racing), then ``0.1.0`` approved to stable."""
    work = tmp_path_factory.mktemp("released")
    repo = make_repo(work / "repo", "ci-demo-final", devpi)
    repo.tag("0.1.0rc1")
    built = {}
    began = time.monotonic()
    repo.ok("build")
    repo.ok("publish")
    repo.ok("verify")
    racing_began = time.monotonic()
    racers = [repo.start("promote", "0.1.0rc1", "--to", "testing") for _ in range(2)]
    race = [repo.finish(process) for process in racers]
    ended = time.monotonic()
    TIMINGS["commit -> testing (build, publish, verify 3 suites, promote)"] = ended - began
    for stage in ("build", "publish", "verify"):
        TIMINGS[f"  {stage}"] = repo.durations[stage]
    TIMINGS["  promote to testing (two racing)"] = ended - racing_began
    built["0.1.0rc1"] = repo.built()

    repo.tag("0.1.0")
    repo.release("0.1.0")
    built["0.1.0"] = repo.built()
    for _ in range(2):  # a re-run records nothing new
        approved = repo.ok("approve", "0.1.0", "--by", QA_PERSON, "--notes", "checked the demo")
        assert approved == f"ci-demo-final 0.1.0 approved by {QA_PERSON}\n"
    assert error_lines(repo.ci("promote", "0.1.0", "--to", "stable")) == [
        f"ci: error: ci-demo-final 0.1.0 has no benchmark run for wheel "
        f"{built['0.1.0'][wheel('ci-demo-final', '0.1.0')][:12]}",
        "ci: tip: run `python -m ci bench 0.1.0` first",
    ]
    assert error_lines(repo.ci("bench", "0.1.0", "--instructions")) == [
        f"ci: error: counting instructions needs the kernels script "
        f"{repo.path}/benchmarks/kernels.py, which does not exist",
        "ci: tip: set `kernels` in the [bench] section of pipeline.toml",
    ]
    benched = repo.ok("bench", "0.1.0")
    assert "ci-demo-final 0.1.0 vs nothing (no stable release yet): no-baseline" in benched
    assert repo.ok("promote", "0.1.0", "--to", "stable") == (
        "ci-demo-final 0.1.0 promoted to stable\n"
    )
    TIMINGS["devpi part of 0.1.0: publish + promote testing + promote stable"] = (
        repo.durations["publish"]
        + repo.durations["promote 0.1.0 --to testing"]
        + repo.durations["promote 0.1.0 --to stable"]
    )

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip_env = clean_environment({"PIP_CONFIG_FILE": os.devnull})
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install"),
            *("--disable-pip-version-check", "--no-cache-dir"),
            *("--index-url", f"{devpi.url}/qa/stable/+simple/", "ci-demo-final"),
        ],
        env=pip_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert "Successfully installed ci-demo-final-0.1.0" in install.stdout
    version = subprocess.run(
        [str(venv / "bin" / "ci-release-demo"), "--version"],
        env=pip_env,
        capture_output=True,
        text=True,
        check=False,
    )
    return Released(repo, race, version, built)


def test_a_candidate_reaches_testing(released: Released):
    repo = released.repo
    rc1 = released.built["0.1.0rc1"]
    assert set(rc1) == {wheel("ci-demo-final", "0.1.0rc1"), sdist("ci-demo-final", "0.1.0rc1")}
    assert repo.on_index(UNSTABLE)["0.1.0rc1"] == rc1
    assert repo.on_index(TESTING)["0.1.0rc1"] == rc1
    assert "0.1.0rc1" not in repo.on_index(STABLE)
    record = repo.record("0.1.0rc1")
    assert promotions(record) == [("unstable", "testing")]
    assert (record["tags"], record["approvals"]) == (["0.1.0rc1"], [])
    assert {f["filename"]: f["sha256"] for f in record["files"]} == rc1
    evidence = repo.evidence("0.1.0rc1")
    assert sorted(evidence) == [f"bench-{PY}", f"smoke-{PY}", f"unit-{PY}"]
    assert {e["status"] for e in evidence.values()} == {"passed"}
    assert {e["file"]["sha256"] for e in evidence.values()} == {
        rc1[wheel("ci-demo-final", "0.1.0rc1")]
    }
    # The suites ran side by side in this checkout: their bytecode went beside
    # their environments, none into the files they share.
    assert [p for p in ("tests", "benchmarks") if list((repo.path / p).rglob("*.pyc"))] == []


def test_two_racing_promotions_have_exactly_one_effect(released: Released):
    codes = [code for code, _, _ in released.race]
    outputs = sorted(stdout for _, stdout, _ in released.race)
    assert codes == [0, 0], released.race
    assert outputs == [
        "ci-demo-final 0.1.0rc1 already on testing\n",
        "ci-demo-final 0.1.0rc1 promoted to testing\n",
    ]
    assert len(released.repo.record("0.1.0rc1")["promotions"]) == 1


def test_the_approved_final_version_reaches_stable(released: Released, devpi: DevpiServer):
    repo = released.repo
    final = released.built["0.1.0"]
    for index in (UNSTABLE, TESTING, STABLE):
        assert repo.on_index(index)["0.1.0"] == final, index
    record = repo.record("0.1.0")
    assert record["tags"] == ["0.1.0", "0.1.0rc1"]
    assert promotions(record) == [("unstable", "testing"), ("testing", "stable")]
    to_stable = record["promotions"][1]
    assert to_stable["who"] == ACTOR
    assert to_stable["sha256"] == final[wheel("ci-demo-final", "0.1.0")]
    assert to_stable["approval"] == {"how": "ci approve", "who": [QA_PERSON]}
    assert to_stable["benchmarks"]["verdict"] == "no-baseline"
    [approval] = record["approvals"]
    assert (approval["who"], approval["notes"], approval["how"]) == (
        QA_PERSON,
        "checked the demo",
        "ci approve",
    )
    # The three suites' toxresults travelled with the wheel.
    assert toxresult_count(devpi.url, STABLE, "ci-demo-final", "0.1.0") == 3


def test_the_stable_release_installs_with_pip_and_runs(released: Released):
    assert (released.installed.returncode, released.installed.stdout) == (0, "0.1.0\n")


def test_status_prints_versions_and_stages(released: Released):
    repo = released.repo
    commit = repo.git("rev-parse", "HEAD")[:12]
    result = repo.ci("status")
    assert result.returncode == 0, result.stderr
    rows = [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()]
    assert rows == [
        ["project", "version", "stage", "evidence", "approved by", "commit"],
        ["ci-demo-final", "0.1.0", "stable", "3 passed, 0 failed", QA_PERSON, commit],
        ["ci-demo-final", "0.1.0rc1", "testing", "3 passed, 0 failed", "-", commit],
    ]
    one = repo.ci("status", "0.1.0rc1")
    assert [re.split(r"\s{2,}", line.strip()) for line in one.stdout.splitlines()] == rows[::2]


@pytest.fixture(scope="module", autouse=True)
def _report_timings(devpi: DevpiServer):
    """Print the measured stage times at the end of the module (visible with -s).

    Reported, not asserted: wall time on a shared machine is not a test result.
    """
    yield
    TIMINGS["devpi start (fresh: init, users, indexes)"] = devpi.start_seconds
    print()
    for label, seconds in TIMINGS.items():
        print(f"{label:<70} {seconds:6.1f} s")


# -- 3. approval by a (signed) final tag ---------------------------------------------------------


def test_a_final_tag_on_a_tested_candidate_is_approval(devpi: DevpiServer, tmp_path: Path):
    """Tags count by the version they name: ``v1.0.0`` on the commit of ``v1.0.0rc1``."""
    repo = make_repo(tmp_path / "repo", "ci-demo-tag", devpi, config=SMOKE_ONLY)
    repo.tag("v1.0.0rc1")
    repo.release("1.0.0rc1", promote=False)
    repo.tag("v1.0.0")
    repo.release("1.0.0")
    # The candidate has not reached testing yet: the tag approves nothing.
    refused = repo.ci("promote", "1.0.0", "--to", "stable")
    assert error_lines(refused) == [
        "ci: error: ci-demo-tag 1.0.0 has no QA approval",
        "ci: tip: QA runs `python -m ci approve 1.0.0`, or tags an approved candidate's commit",
    ]
    assert repo.ok("promote", "1.0.0rc1", "--to", "testing") == (
        "ci-demo-tag 1.0.0rc1 promoted to testing\n"
    )
    assert repo.ok("promote", "1.0.0", "--to", "stable") == "ci-demo-tag 1.0.0 promoted to stable\n"
    record = repo.record("1.0.0")
    assert record["approvals"] == []
    assert promotions(record) == [("unstable", "testing"), ("testing", "stable")]
    assert record["promotions"][1]["approval"] == {
        "how": "tag",
        "tag": "v1.0.0",
        "candidates": ["v1.0.0rc1"],
        "signed": False,
    }
    assert repo.on_index(STABLE) == {"1.0.0": repo.built()}
    assert repo.ok("promote", "1.0.0", "--to", "stable") == "ci-demo-tag 1.0.0 already on stable\n"
    assert len(repo.record("1.0.0")["promotions"]) == 2
    status = [re.split(r"\s{2,}", line.strip()) for line in repo.ok("status").splitlines()]
    assert [row[1:5] for row in status[1:]] == [
        ["1.0.0", "stable", "1 passed, 0 failed", "tag v1.0.0"],
        ["1.0.0rc1", "testing", "1 passed, 0 failed", "-"],
    ]


@dataclass
class Key:
    home: Path
    fingerprint: str


@pytest.fixture
def gpg_keys(tmp_path: Path) -> Iterator[dict[str, Key]]:
    """Two throwaway GnuPG keys in their own homes: ``qa`` (the QA keyring) and ``stranger``."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed")
    keys = {}
    try:
        for name in ("qa", "stranger"):
            home = tmp_path / f"gnupg-{name}"
            home.mkdir(mode=0o700)
            env = clean_environment({"GNUPGHOME": str(home)})
            subprocess.run(
                [
                    *("gpg", "--batch", "--passphrase", "", "--quick-gen-key"),
                    *(f"{name} <{name}@example.org>", "ed25519", "sign", "never"),
                ],
                env=env,
                capture_output=True,
                check=True,
                timeout=120,
            )
            listing = subprocess.run(
                ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            fingerprint = next(
                line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
            )
            keys[name] = Key(home, fingerprint)
        yield keys
    finally:
        for key in keys.values():
            subprocess.run(
                ["gpgconf", "--kill", "all"],
                env=clean_environment({"GNUPGHOME": str(key.home)}),
                capture_output=True,
                check=False,
            )


def test_signed_final_tags(devpi: DevpiServer, tmp_path: Path, gpg_keys: dict[str, Key]):
    config = {**SMOKE_ONLY, "require_signed_tags": True}
    repo = make_repo(tmp_path / "repo", "ci-demo-signed", devpi, config=config)
    repo.tag("1.0.0rc1")
    repo.release("1.0.0rc1")
    repo.tag("1.0.0")
    repo.release("1.0.0")
    keyring = {"QA_KEYRING": str(gpg_keys["qa"].home)}

    def sign_tag(key: Key) -> None:
        repo.git(
            *("-c", f"user.signingkey={key.fingerprint}", "-c", "gpg.program=gpg"),
            *("tag", "-f", "-s", "-m", "release 1.0.0", "1.0.0"),
            env={"GNUPGHOME": str(key.home)},
        )

    no_keyring = repo.ci("promote", "1.0.0", "--to", "stable")
    assert error_lines(no_keyring) == [
        "ci: error: signed tags are required but QA_KEYRING is not set",
        "ci: tip: point QA_KEYRING at the GnuPG home holding the QA public keys",
    ]
    unsigned = repo.ci("promote", "1.0.0", "--to", "stable", env=keyring)
    not_signed = [
        "ci: error: tag 1.0.0 is not signed by a key on the QA keyring",
        "ci: tip: QA signs the final tag: git tag -s VERSION COMMIT",
    ]
    assert error_lines(unsigned) == not_signed
    sign_tag(gpg_keys["stranger"])
    assert error_lines(repo.ci("promote", "1.0.0", "--to", "stable", env=keyring)) == not_signed
    assert promotions(repo.record("1.0.0")) == [("unstable", "testing")]
    assert repo.on_index(STABLE) == {}

    sign_tag(gpg_keys["qa"])
    assert repo.ok("promote", "1.0.0", "--to", "stable", env=keyring) == (
        "ci-demo-signed 1.0.0 promoted to stable\n"
    )
    record = repo.record("1.0.0")
    assert record["approvals"] == []
    assert promotions(record) == [("unstable", "testing"), ("testing", "stable")]
    assert record["promotions"][1]["approval"] == {
        "how": "tag",
        "tag": "1.0.0",
        "candidates": ["1.0.0rc1"],
        "signed": True,
    }
    assert repo.on_index(STABLE) == {"1.0.0": repo.built()}


# -- the benchmark gate: a slower release needs an accepted reason to reach stable ----------------

SLOW_ADD = """import time


def add(a: int, b: int) -> int:
    time.sleep(0.0002)
    return a + b
"""


def test_a_regression_or_a_drift_is_refused_until_accepted(devpi: DevpiServer, tmp_path: Path):
    # A large min_effect: the release that changes nothing is surely "same" as the one before.
    config = {"suites": ["smoke"], "min_effect": 0.5}
    repo = make_repo(tmp_path / "repo", "ci-demo-bench", devpi, config=config)
    repo.tag("0.1.0")
    repo.release("0.1.0")
    repo.ok("approve", "0.1.0", "--by", QA_PERSON)
    repo.ok("bench", "0.1.0")
    repo.ok("promote", "0.1.0", "--to", "stable")

    init = repo.path / "src" / "ci_release_demo" / "__init__.py"
    init.write_text(
        init.read_text()
        .replace(
            'def add(a: int, b: int) -> int:\n    """Return ``a + b``."""\n    return a + b\n',
            'def add(a: int, b: int) -> int:\n    """Return ``a + b``."""\n    time.sleep(0.0002)\n'
            "    return a + b\n",
        )
        .replace("from importlib", "import time\nfrom importlib")
    )
    repo.git("commit", "-qam", "add sleeps")
    repo.tag("0.2.0")
    repo.release("0.2.0")
    repo.ok("approve", "0.2.0", "--by", QA_PERSON)
    benched = repo.ci("bench", "0.2.0")
    assert benched.returncode == 1, benched.stdout + benched.stderr
    lines = benched.stdout.splitlines()
    assert lines[0].split() == ["benchmark", "0.2.0", "0.1.0", "ratio", "99%", "CI", "p", "verdict"]
    assert lines[1].split()[0] == "test_add"
    assert lines[1].split()[-1] == "slower"
    assert lines[-1].startswith("bench: ci-demo-bench 0.2.0 vs 0.1.0: slower (4 rounds); archived ")
    [run] = sorted((repo.archive / "0.2.0" / "bench").glob("*-vs-0.1.0.json"))
    archived = json.loads(run.read_text())
    [compared] = archived["benchmarks"]
    assert (archived["verdict"], compared["verdict"]) == ("slower", "slower")
    assert compared["ratio"] > 100
    assert compared["ci_low"] > 100
    # 4 rounds are too few for a 99% interval of the median: it is the rounds' range
    assert compared["candidate_low"] <= compared["candidate"] <= compared["candidate_high"]
    assert set(archived["machine"]) == {"host", "processor", "cores"}
    raw = json.loads(run.with_suffix(".raw.json").read_text())["rounds"]
    assert [len(raw[side]) for side in ("candidate", "baseline")] == [4, 4]

    refused = repo.ci("promote", "0.2.0", "--to", "stable")
    assert error_lines(refused) == [
        f"ci: error: ci-demo-bench 0.2.0 is slower than 0.1.0 in 1 benchmark(s), e.g. test_add "
        f"x{compared['ratio']:.2f} (run {run.stem})",
        "ci: tip: fix it and release again, or accept it: --accept-regression 'why'",
    ]
    assert repo.on_index(STABLE).keys() == {"0.1.0"}
    reason = "the sleep is the feature"
    repo.ok("promote", "0.2.0", "--to", "stable", "--accept-regression", reason)
    gate = repo.record("0.2.0")["promotions"][-1]["benchmarks"]
    assert gate == {
        "run": run.stem,
        "verdict": "slower",
        "baseline": "0.1.0",
        "drift": {"reference": "0.1.0", "verdict": "slower"},  # the baseline is the fastest
        "accepted_regression": {"reason": reason, "who": ACTOR},
    }

    # 0.3.0 changes no code: the same as 0.2.0, but as slow against 0.1.0, the fastest stable
    # release of the window, measured in the same rounds: a drift, refused until accepted.
    (repo.path / "NOTES.txt").write_text("no code change\n")
    repo.git("add", "NOTES.txt")
    repo.git("commit", "-qm", "notes")
    repo.tag("0.3.0")
    repo.release("0.3.0")
    repo.ok("approve", "0.3.0", "--by", QA_PERSON)
    benched = repo.ci("bench", "0.3.0")
    assert benched.returncode == 1, benched.stdout + benched.stderr
    lines = benched.stdout.splitlines()
    assert lines[1].split()[-1] == "same"
    assert lines[-2].startswith(
        "drift: vs 0.1.0, the fastest of 2 stable release(s): slower (at most +5%, most test_add x"
    )
    [run] = sorted((repo.archive / "0.3.0" / "bench").glob("*-vs-0.2.0.json"))
    archived = json.loads(run.read_text())
    assert archived["verdict"] == "same"
    assert set(archived["sha256"]) == {"candidate", "baseline", "reference"}
    assert (archived["drift"]["reference"], archived["drift"]["window"]) == (
        "0.1.0",
        ["0.1.0", "0.2.0"],
    )
    [drifted] = archived["drift"]["benchmarks"]
    refused = repo.ci("promote", "0.3.0", "--to", "stable")
    assert error_lines(refused) == [
        "ci: error: ci-demo-bench 0.3.0 is more than +5% slower than 0.1.0, the fastest recent "
        f"stable release, in 1 benchmark(s), e.g. test_add x{drifted['ratio']:.2f} "
        f"(run {run.stem})",
        "ci: tip: fix it and release again, or accept it: --accept-regression 'why'",
    ]
    repo.ok("promote", "0.3.0", "--to", "stable", "--accept-regression", reason)
    gate = repo.record("0.3.0")["promotions"][-1]["benchmarks"]
    assert gate["drift"] == {"reference": "0.1.0", "verdict": "slower"}
    assert gate["accepted_regression"] == {"reason": reason, "who": ACTOR}

    unknown = repo.ci("bench", "9.9.9")
    assert error_lines(unknown) == [
        "ci: error: ci-demo-bench 9.9.9 was never published",
        "ci: tip: run `python -m ci publish`",
    ]


# -- 4, 5: failing and unverified files stay behind ------------------------------------------------


def test_a_failing_unit_test_leaves_the_version_in_unstable(devpi: DevpiServer, tmp_path: Path):
    failing = "from ci_release_demo import add\n\n\ndef test_add():\n    assert add(2, 3) == 6\n"
    repo = make_repo(
        tmp_path / "repo", "ci-demo-fail", devpi, change={"tests/unit/test_add.py": failing}
    )
    version = "0.1.dev1"
    repo.ok("build")
    repo.ok("publish")
    verify = repo.ci("verify")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert verify.stdout == (
        f"verified ci-demo-fail {version}: smoke {PY} passed (2 passed, 0 failed), "
        f"unit {PY} failed (0 passed, 1 failed), bench {PY} passed (1 passed, 0 failed)\n"
    )
    env = f"py{PYTHON.replace('.', '')}"
    # One plain progress line per suite, in the order they finished.
    steps = [
        re.fullmatch(r"verify: (\d)/3 (.+) \(\d+ s\)", line)
        for line in verify.stderr.splitlines()
        if line.startswith("verify: ")
    ]
    assert [step.group(1) for step in steps] == ["1", "2", "3"]
    assert sorted(step.group(2) for step in steps) == [
        f"{env}-bench passed",
        f"{env}-smoke passed",
        f"{env}-unit failed",
    ]
    failure = verify.stderr.split(f"{env}-unit failed:\n", 1)[1]
    assert "assert 5 == 6" in failure
    evidence = repo.evidence(version)[f"unit-{PY}"]
    assert (evidence["status"], evidence["passed"], evidence["failed"]) == ("failed", 0, 1)

    refused = repo.ci("promote", version, "--to", "testing")
    assert error_lines(refused) == [
        f"ci: error: ci-demo-fail {version}: suite unit failed on {PY}",
        "ci: tip: fix the failure and release a new version",
    ]
    assert repo.on_index(UNSTABLE) == {version: repo.built()}
    assert repo.on_index(TESTING) == {}
    assert repo.record(version)["promotions"] == []


def test_unverified_and_rebuilt_files_are_refused(devpi: DevpiServer, tmp_path: Path):
    repo = make_repo(tmp_path / "repo", "ci-demo-rebuilt", devpi, config=SMOKE_ONLY)
    version = "0.1.dev1"
    repo.ok("build")
    repo.ok("publish")
    first = repo.built()[wheel("ci-demo-rebuilt", version)]
    unverified = repo.ci("promote", version, "--to", "testing")
    assert error_lines(unverified) == [
        f"ci: error: ci-demo-rebuilt {version}: no passing smoke suite for wheel {first[:12]}",
        "ci: tip: run `python -m ci verify` first",
    ]
    assert repo.ok("verify") == f"verified ci-demo-rebuilt {version}: {SMOKE_PASSED}\n"

    # Same dev version, other content: amend the commit, rebuild, re-publish to the
    # volatile unstable index, which replaces the files.
    (repo.path / "src" / "ci_release_demo" / "greeting.txt").write_text("hello again\n")
    repo.git("commit", "-qa", "--amend", "-m", "the demo project, changed")
    repo.ok("build")
    rebuilt = repo.built()
    second = rebuilt[wheel("ci-demo-rebuilt", version)]
    assert second != first
    assert repo.ok("publish") == (
        f"published ci-demo-rebuilt {version} to ci/unstable: "
        f"{wheel('ci-demo-rebuilt', version)} uploaded, {sdist('ci-demo-rebuilt', version)} "
        "uploaded\n"
    )
    assert repo.on_index(UNSTABLE) == {version: rebuilt}
    refused = repo.ci("promote", version, "--to", "testing")
    assert error_lines(refused) == [
        f"ci: error: ci-demo-rebuilt {version}: no passing smoke suite for wheel {second[:12]}",
        "ci: tip: run `python -m ci verify` first",
    ]
    assert repo.on_index(TESTING) == {}
    record = repo.record(version)
    assert (record["promotions"], record["commit"]) == ([], repo.git("rev-parse", "HEAD"))


def test_a_promoted_version_cannot_be_republished_with_other_files(
    devpi: DevpiServer, tmp_path: Path
):
    """3.0.0 reaches testing; the tag then moves to another commit. Its rebuilt files
    must not replace 3.0.0 anywhere: publish refuses, and the indexes keep the
    verified files."""
    project, version = "ci-demo-moved", "3.0.0"
    repo = make_repo(tmp_path / "repo", project, devpi, config=SMOKE_ONLY)
    repo.tag(version)
    repo.release(version)
    first = repo.built()
    readme = repo.path / "README.md"
    readme.write_text(readme.read_text() + "\nChanged after 3.0.0 reached testing.\n")
    repo.git("commit", "-qam", "another commit")
    repo.git("tag", "-f", version)
    repo.ok("build")
    assert repo.built()[wheel(project, version)] != first[wheel(project, version)]
    assert error_lines(repo.ci("publish")) == [
        f"ci: error: {project} {version} was already promoted to testing with other files",
        "ci: tip: a released version never changes; commit or tag a new version",
    ]
    assert repo.on_index(UNSTABLE) == {version: first}
    assert repo.on_index(TESTING) == {version: first}
    assert promotions(repo.record(version)) == [("unstable", "testing")]


# -- 6. malformed tags ----------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["release-one", "v1.x"])
def test_a_malformed_tag_is_one_line(devpi: DevpiServer, tmp_path: Path, tag: str):
    repo = make_repo(tmp_path / "repo", "ci-demo-badtag", devpi)
    repo.tag(tag)
    commit = repo.git("rev-parse", "HEAD")[:12]
    assert error_lines(repo.ci("build")) == [
        f"ci: error: tag '{tag}' on {commit} is not a PEP 440 version",
        "ci: tip: release tags look like 1.2.0rc1 or 1.2.0: delete it (git tag -d TAG) "
        "and tag again",
    ]
    assert not repo.dist.exists()


# -- 7. publish and promote killed at every step boundary, and devpi-server too ----------------


def _agreement(repo: Repo, version: str) -> str:
    """Assert that the record and the three indexes agree; return the stage reached.

    Nothing is pending; every index the record says the version reached holds
    exactly the recorded files (nothing recorded that is not installable), and
    every other index holds none (nothing installable that is not recorded).
    """
    record = repo.record(version) or {"files": [], "promotions": []}
    assert "pending" not in record, record["pending"]
    recorded = {f["filename"]: f["sha256"] for f in record["files"]}
    reached = ["unstable"] if recorded else []
    reached += [p["to"] for p in record["promotions"]]
    for name, index in (("unstable", UNSTABLE), ("testing", TESTING), ("stable", STABLE)):
        expected = recorded if name in reached else None
        assert repo.on_index(index).get(version) == expected, index
    return reached[-1] if reached else "unpublished"


def _settled_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("ci: settled: ")]


def test_killed_at_every_step_the_next_stage_settles_index_and_record(
    spare_devpi: DevpiServer, tmp_path: Path
):
    """``ci publish`` and ``ci promote`` (testing and stable), or the devpi-server,
    SIGKILLed at each step boundary of ci.faults (12 points): the next stage of
    the version, whichever it is, finishes or undoes the interrupted one and says
    so in one line, after which record and indexes agree. No password appears on
    the command line of any process sampled meanwhile, in any output or file
    (one publish takes the server and the role credentials from environment
    variables, as real CI does; the others derive them locally)."""
    server = spare_devpi
    project, version = "ci-demo-faults", "1.0.0"
    repo = make_repo(tmp_path / "repo", project, server, config=SMOKE_ONLY)
    repo.tag(version)
    repo.ok("build")
    with sample_command_lines() as command_lines:
        interrupted = f"ci: settled: {project} {version}: the interrupted"
        never = [
            f"ci: error: {project} {version} was never published",
            "ci: tip: run `python -m ci publish`",
        ]
        points = []

        def kill(
            point: str, *args: str, env: Mapping[str, str] | None = None
        ) -> subprocess.CompletedProcess:
            """Run a stage with CI_FAULT=point (and ``env``); return its result."""
            points.append(point)
            result = repo.ci(*args, env={"CI_FAULT": point, **(env or {})})
            if not point.startswith("devpi@"):
                assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
                assert "pending" in repo.record(version)
            return result

        def restart_devpi() -> None:
            assert server.ci("devpi", "start").returncode == 0

        def unreachable(result: subprocess.CompletedProcess) -> None:
            assert error_lines(result)[0].startswith(
                f"ci: error: cannot reach the devpi server at {server.url}"
            ), result.stderr
            restart_devpi()

        def unpublished_by(stage: tuple[str, ...], removed: str = "") -> None:
            """Run the next stage: it undoes the publish, then finds nothing published."""
            assert error_lines(repo.ci(*stage)) == [
                f"{interrupted} publish to {UNSTABLE} had not reached it: undone{removed}",
                *never,
            ]
            assert _agreement(repo, version) == "unpublished"

        # publish: killed with its intent recorded and nothing uploaded, or devpi-server killed
        kill("publish.intent", "publish")
        unpublished_by(("verify",))
        unreachable(kill("devpi@publish.intent", "publish"))
        unpublished_by(("bench", version))
        # ... killed after its first upload: the file it left on unstable is removed
        kill("publish.uploaded", "publish")
        assert len(repo.on_index(UNSTABLE)[version]) == 1
        unpublished_by(("promote", version, "--to", "testing"), ", its files removed")
        unreachable(kill("devpi@publish.uploaded", "publish"))
        unpublished_by(("calibrate", version), ", its files removed")
        # ... killed with every file uploaded, before recording them: finished
        # (as in real CI: the server and the role credentials from environment variables)
        real_ci = {k: v for k, v in server.remote_env().items() if k.startswith("DEVPI_")}
        kill("publish.done", "publish", env=real_ci)
        result = repo.ci("verify")
        assert result.returncode == 0, result.stdout + result.stderr
        assert _settled_lines(result) == [
            f"{interrupted} publish to {UNSTABLE} had reached it: finished, now recorded"
        ]
        assert result.stdout == f"verified {project} {version}: {SMOKE_PASSED}\n"
        assert _agreement(repo, version) == "unstable"
        # ... devpi-server killed there: nothing is left to do on the index, publish ends
        assert repo.ci("publish", env={"CI_FAULT": "devpi@publish.done"}).returncode == 0
        points.append("devpi@publish.done")
        restart_devpi()
        assert repo.ok("publish").endswith("nothing uploaded\n")
        assert _agreement(repo, version) == "unstable"

        def undone_by(stage: tuple[str, ...], index: str, stays: str) -> None:
            """Run the next stage: it undoes the promotion to ``index``; the version ``stays``."""
            assert _settled_lines(repo.ci(*stage)) == [
                f"{interrupted} promote to {index} had not reached it: undone"
            ]
            assert _agreement(repo, version) == stays

        # promote to testing: devpi-server killed before the push, then the promotion
        unreachable(kill("devpi@promote.intent", "promote", version, "--to", "testing"))
        undone_by(("verify",), TESTING, "unstable")
        kill("promote.intent", "promote", version, "--to", "testing")
        undone_by(("approve", version, "--by", QA_PERSON), TESTING, "unstable")
        # ... devpi-server killed right after it accepted the push: recorded all the same
        result = repo.ci(
            "promote", version, "--to", "testing", env={"CI_FAULT": "devpi@promote.pushed"}
        )
        points.append("devpi@promote.pushed")
        assert result.stdout == f"{project} {version} promoted to testing\n", result.stderr
        restart_devpi()
        assert _agreement(repo, version) == "testing"

        # promote to stable (QA approved): devpi-server killed before the push, then the promotion
        repo.ok("approve", version, "--by", QA_PERSON)
        unreachable(kill("devpi@promote.intent", "promote", version, "--to", "stable"))
        undone_by(("verify",), STABLE, "testing")
        kill("promote.intent", "promote", version, "--to", "stable")
        undone_by(("approve", version, "--by", QA_PERSON), STABLE, "testing")
        # ... killed right after devpi accepted the push: the files are on stable, installable
        kill("promote.pushed", "promote", version, "--to", "stable")
        assert repo.on_index(STABLE)[version] == repo.built()
        assert "testing (promote to stable interrupted)" in repo.ok("status", version)
        result = repo.ci("verify")
        assert _settled_lines(result) == [
            f"{interrupted} promote to {STABLE} had reached it: finished, now recorded"
        ]
        assert _agreement(repo, version) == "stable"
        assert (
            repo.ok("promote", version, "--to", "stable")
            == f"{project} {version} already on stable\n"
        )
        record = repo.record(version)
        assert promotions(record) == [("unstable", "testing"), ("testing", "stable")]
        assert record["promotions"][-1]["approval"] == {"how": "ci approve", "who": [QA_PERSON]}
        assert len(points) == 12, points

        # A direct upload by the CI user replaces the released wheel on volatile unstable
        # (devpi allows it): the next stage puts the released bytes back.
        released = repo.dist / wheel(project, version)
        tampered = tmp_path / released.name
        shutil.copy(released, tampered)
        with zipfile.ZipFile(tampered, "a") as archive:
            archive.writestr("extra.txt", "not what was verified")
        with server.client("ci") as client:
            assert client.upload(UNSTABLE, tampered) == "uploaded"
        assert repo.on_index(UNSTABLE)[version] != repo.built()
        assert _settled_lines(repo.ci("verify")) == [
            f"ci: settled: {project} {version}: {UNSTABLE} held other files than the released "
            f"ones: restored from {STABLE}"
        ]
        assert _agreement(repo, version) == "stable"

    # No password on any command line (twine's uploads among them), output or file:
    # the repository with its archive, the server's state with its logs and the dashboard.
    repo.ok("dashboard")
    assert (server.state_dir / "dashboard" / "index.html").is_file()
    assert any(" twine upload " in line for line in command_lines)
    passwords = [server.credentials(role).password for role in ("root", "ci", "qa")]
    _assert_no_passwords(
        passwords,
        [*OUTPUTS, *server.outputs, *command_lines],
        [*REPOS[server.state_dir], server.state_dir],
    )


# -- 9. passwords appear nowhere ------------------------------------------------------------------


def _assert_no_passwords(passwords: list[str], texts: list[str], roots: list[Path]) -> None:
    assert all(passwords)
    leaks = [i for i, text in enumerate(texts) for p in passwords if p in text]
    assert leaks == [], "a password appears in the output of a ci command"
    files = [path for root in roots for path in root.rglob("*") if path.is_file()]
    assert files
    leaked = [str(path) for path in files for p in passwords if p.encode() in path.read_bytes()]
    assert leaked == []


def test_no_password_in_any_output_archive_dist_or_log(released: Released, devpi: DevpiServer):
    """Every output of every ci command, every file of the repositories (archive,
    dist/), and the server's state directory (logs): no root, ci or qa password."""
    passwords = [devpi.credentials(role).password for role in ("root", "ci", "qa")]
    repos = REPOS[devpi.state_dir]
    assert released.repo.path in repos
    archive_files = list(released.repo.archive.rglob("*.json"))
    assert len(archive_files) >= 8  # two release records, six evidence files
    _assert_no_passwords(passwords, [*OUTPUTS, *devpi.outputs], [*repos, devpi.state_dir])
