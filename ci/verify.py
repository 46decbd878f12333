"""``ci verify``: run each test suite against the wheel as published, in clean environments.

For every configured suite and Python: the wheel is downloaded from the
unstable index and checked against the sha256 the index recorded, then tox
installs it (``--installpkg``) into a new environment with every dependency
resolved through the devpi server only (user pip and uv configuration is
ignored, no extra index), and runs the suite from the same commit's tests.
The suites of one Python run one after another at one environment path, each
in a new environment, sharing the bytecode and numba's cache (compiled once
per Python), and the Pythons side by side; with fewer Pythons than cores, the
suites too.
Each result becomes evidence in the archive (``tests/<suite>-py<python>.json``)
and a toxresult attached to the release file on devpi.

Evidence is keyed by what determines the result: the wheel's sha256, the
digest of the checkout's test inputs (``[verify] inputs``: tox.ini, the lock,
the tests; see :func:`ci.reuse.inputs_digest`) and the interpreter's full
version. A suite that already passed for the same key is not run again (one
line says so; ``--force`` runs it). Failed evidence is never reused, and a
Python that was missing is looked for again.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import git, records, reuse, shell, transaction
from ci.build import read_report
from ci.devpi import connect
from ci.errors import CIError
from ci.index import ReleaseFile
from ci.progress import Progress
from ci.release import now
from ci.session import State

logger = logging.getLogger(__name__)

# Variables that would let pip or uv reach another index or read user configuration.
_INSTALLER_PREFIXES = ("PIP_", "UV_")


@dataclass(frozen=True)
class Target:
    """The release under test: project, version and the commit it was built from."""

    project: str
    version: str
    commit: str


def release_target(state: State, dist: Path, version: str | None) -> Target:
    """Identify the release to verify from the build report and the release record."""
    report = read_report(dist)
    version = version or report.version
    indexes = state.config.indexes.model_dump()
    with connect("ci") as client:
        record = transaction.settled_record(state.archive, client, indexes, report.project, version)
    head = git.checkout(state.root).commit
    if head != record["commit"]:
        raise CIError(
            f"{report.project} {version} was built from {record['commit'][:12]}, "
            f"this checkout is {head[:12]}",
            tip="check out the release's commit so that its own tests run",
        )
    return Target(report.project, version, record["commit"])


def verify(
    state: State, target: Target, suites: list[str], pythons: list[str], *, force: bool = False
) -> list[dict]:
    """Run every suite on every Python; archive and attach the evidence; return it.

    A suite that already passed for the same key (wheel sha256, test inputs,
    interpreter version) is not run again unless ``force``: its archived
    evidence is returned with ``"reused": True`` and nothing new is written.
    The Pythons run side by side, as many as the machine has cores, each one's
    suites one after another, or the suites too with fewer Pythons than cores
    (:func:`_run_jobs`). Each finished suite is a step of the progress shown on
    standard error (:mod:`ci.progress`).
    """
    root, config, archive = state.root, state.config, state.archive
    versions = {python: interpreter_version(python) for python in pythons}
    inputs = reuse.inputs_digest(root, config.verify.inputs)
    with connect("ci") as client:
        wheel_file = _published_wheel(client, config.indexes.unstable, target)
        earlier = {}
        if not force:
            earlier = _passed_earlier(archive, target, suites, versions, wheel_file.sha256, inputs)
        jobs = [(p, s) for p in pythons for s in suites if (p, s) not in earlier]
        index = config.indexes.unstable
        fresh = _run_jobs(client, archive, target, wheel_file, jobs, versions, inputs, root, index)
    return [earlier.get((p, s)) or fresh[(p, s)] for p in pythons for s in suites]


def _run_jobs(
    client,
    archive,
    target: Target,
    wheel_file: ReleaseFile,
    jobs: list[tuple[str, str]],
    versions: dict[str, str | None],
    inputs: str,
    root: Path,
    index: str,
) -> dict[tuple[str, str], dict]:
    """Run the (python, suite) jobs against the wheel on ``index``; return their evidence.

    As many chains of suites run side by side as the machine has cores
    (:func:`chains`); the suites of a chain run one after another
    (:func:`_run_chain`). Each result is archived and attached to the wheel on
    devpi as a toxresult (skipped ones are not) as soon as its chain is done.
    """
    if not jobs:
        return {}
    cores = os.cpu_count() or 1
    results = {}
    with tempfile.TemporaryDirectory(prefix="ci-verify-") as tmp:
        wheel = client.download(wheel_file, Path(tmp))
        index_url = f"{client.url}/{index}/+simple/"
        planned = chains(jobs, cores)
        with (
            Progress("verify", len(jobs)) as progress,
            ThreadPoolExecutor(min(len(planned), cores)) as pool,
        ):
            runs = [
                pool.submit(
                    _run_chain, root, wheel, index_url, python, suites, versions[python], progress
                )
                for python, suites in planned
            ]
            for finished in as_completed(runs):
                for result in finished.result():
                    evidence = {
                        **result,
                        "project": target.project,
                        "version": target.version,
                        "commit": target.commit,
                        "file": {"filename": wheel_file.filename, "sha256": wheel_file.sha256},
                        "inputs_sha256": inputs,
                        "index": index,
                    }
                    name = f"{result['suite']}-py{result['python']}.json"
                    archive.write_json(evidence, target.project, target.version, "tests", name)
                    if result["status"] != "skipped":
                        client.attach_toxresult(wheel_file, evidence)
                    results[(result["python"], result["suite"])] = evidence
    return results


def chains(jobs: list[tuple[str, str]], cores: int) -> list[tuple[str, list[str]]]:
    """Group the (python, suite) jobs into chains: a Python and suites run one after another.

    With at least as many Pythons as cores, one chain per Python, so that its
    suites share numba's cache (:func:`_run_chain`); with fewer, one chain per
    suite, so that every core works.

    Examples
    --------
    >>> chains([("3.11", "smoke"), ("3.11", "unit"), ("3.12", "smoke")], cores=2)
    [('3.11', ['smoke', 'unit']), ('3.12', ['smoke'])]
    >>> chains([("3.11", "smoke"), ("3.11", "unit")], cores=2)
    [('3.11', ['smoke']), ('3.11', ['unit'])]
    """
    by_python: dict[str, list[str]] = {}
    for python, suite in jobs:
        by_python.setdefault(python, []).append(suite)
    if len(by_python) >= cores:
        return list(by_python.items())
    return [(python, [suite]) for python, suite in jobs]


def _run_chain(
    root: Path,
    wheel: Path,
    index_url: str,
    python: str,
    suites: list[str],
    python_version: str | None,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Run suites of one Python one after another; return their results.

    Each suite gets a new environment (tox recreates it), always at the same
    path, with the bytecode and numba's cache in folders beside it: installed
    from the same wheel, the files are the same (uv links them from its
    cache), so what the first suite compiled is not compiled again by the next
    (:func:`_shared_by_the_chain`).
    """
    work = Path(tempfile.mkdtemp(prefix=f"py{python}-", dir=wheel.parent))
    results = []
    for suite in suites:
        with progress.step(_env_name(python, suite)) as step:
            result = _run_suite(root, wheel, index_url, suite, python, python_version, work)
            step.outcome = result["status"]
        results.append({**result, "run_at": now()})
    shutil.rmtree(work, ignore_errors=True)
    return results


def _passed_earlier(
    archive,
    target: Target,
    suites: list[str],
    versions: dict[str, str | None],
    wheel_sha256: str,
    inputs: str,
) -> dict[tuple[str, str], dict]:
    """Return the archived passes of this key, by (python, suite), marked ``reused``."""
    found = {}
    for python, version in versions.items():
        for suite in suites:
            name = f"{suite}-py{python}.json"
            evidence = _read_evidence(archive, target.project, target.version, name)
            if evidence and reusable(evidence, wheel_sha256, inputs, version):
                found[(python, suite)] = {**evidence.model_dump(), "reused": True}
    return found


def reusable(
    evidence: records.Evidence, wheel_sha256: str, inputs_sha256: str, python_version: str | None
) -> bool:
    """Whether archived evidence is a pass for exactly this wheel, test inputs and interpreter.

    Failed evidence never counts, nor does evidence of a missing interpreter
    (``python_version`` None: it is looked for again).
    """
    return (
        python_version is not None
        and evidence.status == "passed"
        and evidence.file.sha256 == wheel_sha256
        and evidence.inputs_sha256 == inputs_sha256
        and evidence.python_version == python_version
    )


def reused_lines(results: list[dict]) -> list[str]:
    """Return one line per reused evidence record, saying what passed when."""
    return [
        reuse.skip_line(
            "verify",
            f"{e['suite']} py{e['python']} already passed",
            e["file"]["filename"],
            e["file"]["sha256"],
            e["run_at"],
        )
        for e in results
        if e.get("reused")
    ]


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
    root: Path,
    wheel: Path,
    index_url: str,
    suite: str,
    python: str,
    python_version: str | None,
    work: Path,
) -> dict[str, Any]:
    """Run one suite on one Python with tox in ``work``; return status, counts and durations.

    The environment is ``work/env``, its caches in ``work`` (see
    :func:`_run_chain`); the durations are tox's own: creating and installing
    the environment (``setup_s``), and running the suite (``tests_s``).
    """
    env_name = _env_name(python, suite)
    base = {"suite": suite, "python": python, "python_version": python_version, "tox_env": env_name}
    if python_version is None:
        return {
            **base,
            "status": "skipped",
            "reason": f"python{python} not found",
            "passed": 0,
            "failed": 0,
            "skipped": 0,
            "duration_s": 0.0,
        }
    junit = work / f"{env_name}.xml"
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
        str(work / "tox"),
        *_shared_by_the_chain(work),
        "--installpkg",
        str(wheel),
        "--",
        f"--junitxml={junit}",
    ]
    started = time.monotonic()
    result = shell.execute(command, env=isolated_environment(index_url), inherit=False, cwd=root)
    duration = round(time.monotonic() - started, 1)
    logger.info("%s", result.output)
    counts = _junit_counts(junit)
    status = "passed" if result.returncode == 0 and counts["failed"] == 0 else "failed"
    if status == "failed":
        tail = "\n".join(result.output.strip().splitlines()[-15:])
        print(f"{env_name} failed:\n{tail}", file=sys.stderr)
    return {
        **base,
        "status": status,
        **counts,
        "duration_s": duration,
        **_tox_durations(result.output, env_name),
        "exit_code": result.returncode,
    }


def _shared_by_the_chain(work: Path) -> list[str]:
    """Return tox's overrides that let the suites of a chain share what they compile.

    Every suite of the chain gets a new environment at ``work/env``. Python's
    bytecode (``PYTHONPYCACHEPREFIX``) and numba's cache (``NUMBA_CACHE_DIR``)
    live beside it in ``work``, never in the checkout that parallel chains
    share: each process compiles only what it imports, once, and the next
    processes and suites load it. They are set here, not left to the
    project's tox.ini, so that every project verified gets them. (Compiling
    all of site-packages when installing took 16 s per environment and per
    install step; writing no bytecode made each process compile its imports.)
    Coverage's data file (``COVERAGE_FILE``: pytest-cov, a PyScaffold default,
    writes ``.coverage`` in the checkout) goes there too, so that parallel
    chains never write the same file.
    """
    shared = {
        "PYTHONPYCACHEPREFIX": work / "pycache",
        "NUMBA_CACHE_DIR": work / "numba",
        "COVERAGE_FILE": work / ".coverage",
    }
    overrides = [f"testenv.env_dir={work / 'env'}"]
    overrides += [f"testenv.set_env+={name}={path}" for name, path in shared.items()]
    return [argument for override in overrides for argument in ("--override", override)]


def _tox_durations(output: str, env_name: str) -> dict[str, float]:
    """Return tox's setup and test seconds of ``env_name`` from its report line, if any.

    tox ends with ``py311-unit: OK (331.87=setup[71.18]+cmd[260.69] seconds)``.
    """
    found = re.search(
        rf"{re.escape(env_name)}: \w+ \([\d.]+=setup\[([\d.]+)\]\+cmd\[([\d.]+)\]", output
    )
    if found is None:
        return {}
    return {"setup_s": float(found.group(1)), "tests_s": float(found.group(2))}


def _env_name(python: str, suite: str) -> str:
    """Return the tox environment of a suite on a Python: ``py311-unit`` for 3.11 and unit."""
    return f"py{python.replace('.', '')}-{suite}"


def interpreter_version(python: str) -> str | None:
    """Return the full version of ``python<python>`` on PATH (``3.11.7``), None if it is missing.

    A pyenv shim of an inactive version is on PATH but does not start: missing.
    """
    name = f"python{python}"
    if shutil.which(name) is None:
        return None
    ask = [name, "-c", "import platform; print(platform.python_version())"]
    found = shell.execute(ask)
    if found.returncode or not found.output.strip():
        return None
    return found.output.strip().splitlines()[-1]


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


def evidence_for(archive, project: str, version: str) -> list[records.Evidence]:
    """Return every evidence record of a version in the archive."""
    names = [name for name in archive.listdir(project, version, "tests") if name.endswith(".json")]
    return [_read_evidence(archive, project, version, name) for name in names]


def _read_evidence(archive, project: str, version: str, name: str) -> records.Evidence | None:
    """Return one evidence record (None if missing), refused in one line if damaged."""
    evidence = archive.read_json(project, version, "tests", name)
    where = archive.path(project, version, "tests", name)
    return evidence and records.load(records.Evidence, evidence, where)
