"""``ci verify``: run each test suite against the wheel as published, in clean environments.

For every configured suite and Python: the wheel is downloaded from the
unstable index and checked against the sha256 the index recorded, then tox
installs it (``--installpkg``) into a new environment with every dependency
resolved through the devpi server only (user pip and uv configuration is
ignored, no extra index), and runs the suite from the same commit's tests.
Each result becomes evidence in the archive (``tests/<suite>-py<python>.json``)
and a toxresult attached to the release file on devpi.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import git
from ci.archive import configured_archive
from ci.build import REPORT_NAME
from ci.config import load_config
from ci.devpi import connect
from ci.errors import CIError
from ci.index import ReleaseFile
from ci.jsonfile import read_json
from ci.progress import Progress
from ci.release import now, read_record
from ci.shell import mask
from ci.state import repo_root

logger = logging.getLogger(__name__)

# Variables that would let pip or uv reach another index or read user configuration.
_INSTALLER_PREFIXES = ("PIP_", "UV_")


@dataclass(frozen=True)
class Target:
    """The release under test: project, version and the commit it was built from."""

    project: str
    version: str
    commit: str


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``verify`` command."""
    parser = commands.add_parser(
        "verify", help="run the test suites against the published wheel in clean environments"
    )
    parser.add_argument("version", nargs="?", help="version to verify (default: the built one)")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="folder of `ci build`")
    parser.add_argument("--suite", action="append", help="only this suite (repeatable)")
    parser.add_argument("--python", action="append", help="only this Python, e.g. 3.12")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    root = repo_root()
    config = load_config(root).verify
    target = release_target(args.dist, args.version, root)
    results = verify(target, args.suite or config.suites, args.python or config.pythons, root)
    summary = ", ".join(
        f"{r['suite']} py{r['python']} {r['status']}"
        + (f" ({r['passed']} passed, {r['failed']} failed)" if r["status"] != "skipped" else "")
        for r in results
    )
    print(f"verified {target.project} {target.version}: {summary}")
    return 1 if any(r["status"] == "failed" for r in results) else 0


def release_target(dist: Path, version: str | None, root: Path) -> Target:
    """Identify the release to verify from the build report and the release record."""
    report = read_json(dist / REPORT_NAME)
    version = version or report["version"]
    record = read_record(configured_archive(root), report["project"], version)
    if record is None:
        raise CIError(
            f"{report['project']} {version} was never published",
            tip="run `python -m ci publish` first",
        )
    head = git.checkout(root).commit
    if head != record["commit"]:
        raise CIError(
            f"{report['project']} {version} was built from {record['commit'][:12]}, "
            f"this checkout is {head[:12]}",
            tip="check out the release's commit so that its own tests run",
        )
    return Target(report["project"], version, record["commit"])


def verify(target: Target, suites: list[str], pythons: list[str], root: Path) -> list[dict]:
    """Run every suite on every Python; archive and attach the evidence; return it.

    The tox runs are independent (own environment, work folder and report), so
    as many run at once as the machine has cores: installing one overlaps the
    tests of another. Each finished run is a step of the progress shown on
    standard error (:mod:`ci.progress`).
    """
    config = load_config(root)
    archive = configured_archive(root)
    results = []
    jobs = [(python, suite) for python in pythons for suite in suites]
    with connect("ci") as client, tempfile.TemporaryDirectory(prefix="ci-verify-") as tmp:
        wheel_file = _published_wheel(client, config.indexes.unstable, target)
        wheel = client.download(wheel_file, Path(tmp))
        index_url = f"{client.url}/{config.indexes.unstable}/+simple/"
        with (
            Progress("verify", len(jobs)) as progress,
            ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool,
        ):

            def run(job: tuple[str, str]) -> dict[str, Any]:
                python, suite = job
                with progress.step(_env_name(python, suite)) as step:
                    result = _run_suite(root, wheel, index_url, suite, python, Path(tmp))
                    step.outcome = result["status"]
                return result

            for (python, suite), result in zip(jobs, pool.map(run, jobs), strict=True):
                evidence = {
                    **result,
                    "project": target.project,
                    "version": target.version,
                    "commit": target.commit,
                    "file": {"filename": wheel_file.filename, "sha256": wheel_file.sha256},
                    "index": config.indexes.unstable,
                    "run_at": now(),
                }
                archive.write_json(
                    evidence, target.project, target.version, "tests", f"{suite}-py{python}.json"
                )
                if result["status"] != "skipped":
                    client.attach_toxresult(wheel_file, evidence)
                results.append(evidence)
    return results


def _published_wheel(client, index: str, target: Target) -> ReleaseFile:
    wheels = [
        f
        for f in client.release_files(index, target.project, target.version)
        if f.filename.endswith(".whl")
    ]
    if len(wheels) != 1:
        raise CIError(
            f"{index} holds {len(wheels)} wheels of {target.project} {target.version}, expected 1",
            tip="run `python -m ci publish` for this version",
        )
    return wheels[0]


def _run_suite(
    root: Path, wheel: Path, index_url: str, suite: str, python: str, tmp: Path
) -> dict[str, Any]:
    """Run one suite on one Python with tox; return status, counts and duration."""
    env_name = _env_name(python, suite)
    base = {"suite": suite, "python": python, "tox_env": env_name}
    if not _interpreter_runs(f"python{python}"):
        return {
            **base,
            "status": "skipped",
            "reason": f"python{python} not found",
            "passed": 0,
            "failed": 0,
            "skipped": 0,
            "duration_s": 0.0,
        }
    junit = tmp / f"{env_name}.xml"
    workdir = tmp / f"tox-{env_name}"
    command = [
        sys.executable,
        "-m",
        "tox",
        "run",
        "-e",
        env_name,
        "--root",
        str(root),
        "--workdir",
        str(workdir),
        "--installpkg",
        str(wheel),
        "--",
        f"--junitxml={junit}",
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=isolated_environment(index_url),
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    duration = round(time.monotonic() - started, 1)
    logger.info("%s", mask(result.stdout))
    counts = _junit_counts(junit)
    status = "passed" if result.returncode == 0 and counts["failed"] == 0 else "failed"
    if status == "failed":
        tail = "\n".join(mask(result.stdout).strip().splitlines()[-15:])
        print(f"{env_name} failed:\n{tail}", file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)
    return {
        **base,
        "status": status,
        **counts,
        "duration_s": duration,
        "exit_code": result.returncode,
    }


def _env_name(python: str, suite: str) -> str:
    """Return the tox environment of a suite on a Python: ``py311-unit`` for 3.11 and unit."""
    return f"py{python.replace('.', '')}-{suite}"


def _interpreter_runs(name: str) -> bool:
    """Whether ``name`` is on PATH and starts (a pyenv shim of an inactive version does not)."""
    if shutil.which(name) is None:
        return False
    return subprocess.run([name, "-c", ""], capture_output=True, check=False).returncode == 0


def isolated_environment(index_url: str) -> dict[str, str]:
    """Our environment with pip and uv pointed at the devpi index and nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INSTALLER_PREFIXES)}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=index_url,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_DEFAULT_INDEX=index_url,
        UV_INDEX_STRATEGY="first-index",
    )
    return env


def _junit_counts(path: Path) -> dict[str, int]:
    """Count passed, failed (failures and errors) and skipped tests in a JUnit XML file."""
    if not path.exists():
        return {"passed": 0, "failed": 1, "skipped": 0}
    suites = ET.parse(path).getroot()
    suites = [suites] if suites.tag == "testsuite" else list(suites)
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return {"passed": total - failed - skipped, "failed": failed, "skipped": skipped}


def evidence_for(archive, project: str, version: str) -> list[dict]:
    """Return every evidence record of a version in the archive."""
    folder = (project, version, "tests")
    return [
        archive.read_json(*folder, name)
        for name in archive.listdir(*folder)
        if name.endswith(".json")
    ]
