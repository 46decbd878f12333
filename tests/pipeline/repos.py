"""A release repository of the demo project, driven with ``python -m ci`` (shared by tests).

The project is ``packages/release-demo`` (a setuptools-scm package with a
console script, a tox.ini with ``py3XX-{smoke,unit,bench}`` environments and a
pipeline.toml), copied into a temporary git repository, renamed per scenario
(so scenarios sharing the session's devpi-server never collide, and so nothing
in ci/ can know the name), committed and tagged. :class:`Repo` runs ``python -m
ci ...`` in a subprocess whose working directory is that repository, and reads
the outcomes on the index (devpi's JSON API) and in the archive.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from tests.pipeline.conftest import DevpiServer

ROOT = Path(__file__).resolve().parents[2]
DEMO = Path(__file__).parent / "packages" / "release-demo"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PY = f"py{PYTHON}"
ACTOR = "release-tester"
QA_PERSON = "qa-person"
UNSTABLE, TESTING, STABLE = "ci/unstable", "ci/testing", "qa/stable"
ALL_PASSED = (
    f"smoke {PY} passed (2 passed, 0 failed), "
    f"unit {PY} passed (1 passed, 0 failed), "
    f"bench {PY} passed (1 passed, 0 failed)"
)
SMOKE_PASSED = f"smoke {PY} passed (2 passed, 0 failed)"

OUTPUTS: list[str] = []
"""Everything any ci command of this module printed (for the password check)."""
REPOS: dict[Path, list[Path]] = {}
"""The repositories released to each server (by state directory), for the password check."""
TIMINGS: dict[str, float] = {}
# Variables that would steer ci, devpi, pip or git signing from outside the test.
STEERING = ("DEVPI_", "CI_", "PIP_", "QA_KEYRING", "GNUPGHOME", "GIT_", "GITHUB_", "BUILDKITE_")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without variables that steer ci, devpi, pip or git, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STEERING)}
    env.update(extra or {})
    return env


def run_ci(
    *args: str, env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run ``python -m ci ARGS`` in ``cwd`` (default: the repository root) with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "ci", *args],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# -- a release repository ----------------------------------------------------------------


@dataclass
class Repo:
    """A temporary git repository of the demo project, released with ``python -m ci``."""

    path: Path
    project: str
    env: dict[str, str]
    server_url: str
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def archive(self) -> Path:
        return self.path / ".state" / "archive" / self.project

    @property
    def dist(self) -> Path:
        return self.path / "dist"

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def ci(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run ``python -m ci ARGS`` in the repository; record output and wall time."""
        began = time.monotonic()
        result = run_ci(*args, env={**self.env, **(env or {})}, cwd=self.path, timeout=timeout)
        self.durations[" ".join(args)] = time.monotonic() - began
        OUTPUTS.extend((result.stdout, result.stderr))
        return result

    def ok(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        """Run a ci command that must succeed; return its output."""
        result = self.ci(*args, env=env)
        assert result.returncode == 0, f"ci {' '.join(args)}:\n{result.stdout}{result.stderr}"
        return result.stdout

    def start(self, *args: str) -> subprocess.Popen:
        """Start ``python -m ci ARGS`` without waiting (for races and kills)."""
        return subprocess.Popen(
            [sys.executable, "-m", "ci", *args],
            cwd=self.path,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(self, process: subprocess.Popen, timeout: float = 300) -> tuple[int, str, str]:
        stdout, stderr = process.communicate(timeout=timeout)
        OUTPUTS.extend((stdout, stderr))
        return process.returncode, stdout, stderr

    def tag(self, name: str) -> None:
        self.git("tag", name)

    def report(self) -> dict:
        return json.loads((self.dist / "build-report.json").read_text())

    def built(self) -> dict[str, str]:
        """``{filename: sha256}`` of the last ``ci build``."""
        return {f["filename"]: f["sha256"] for f in self.report()["files"]}

    def record(self, version: str) -> dict | None:
        path = self.archive / version / "release.json"
        return json.loads(path.read_text()) if path.exists() else None

    def evidence(self, version: str) -> dict[str, dict]:
        folder = self.archive / version / "tests"
        return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}

    def on_index(self, index: str) -> dict[str, dict[str, str]]:
        return index_files(self.server_url, index, self.project)

    def release(self, version: str, *, promote: bool = True) -> str:
        """Build, publish, verify and (unless told not to) promote to testing."""
        built = self.ok("build")
        assert f" {version} " in built, built
        self.ok("publish")
        self.ok("verify")
        if promote:
            assert self.ok("promote", version, "--to", "testing") == (
                f"{self.project} {version} promoted to testing\n"
            )
        return built


def make_repo(
    target: Path,
    project: str,
    server: DevpiServer,
    *,
    config: dict | None = None,
    change: Mapping[str, str] | None = None,
) -> Repo:
    """Copy the demo to ``target`` as distribution ``project``, commit it; return the repo.

    ``config`` (``suites``, ``bench_required``, ``min_effect``, ``require_signed_tags``, and
    ``bench``: keys of ``[bench]`` with their TOML values)
    writes a variant of pipeline.toml outside the repository and points ``CI_CONFIG`` at it;
    ``change`` maps file paths to new contents before the first commit.
    """
    shutil.copytree(DEMO, target)
    pyproject = target / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('name = "ci-release-demo"', f'name = "{project}"')
    )
    settings = target / "pipeline.toml"
    settings.write_text(
        re.sub(
            r"(?m)^python = .*$",
            f'python = "{PYTHON}"',
            re.sub(r"(?m)^pythons = .*$", f'pythons = ["{PYTHON}"]', settings.read_text()),
        )
    )
    for name, text in (change or {}).items():
        (target / name).write_text(text)
    env = clean_environment(
        {
            "PYTHONPATH": str(ROOT),
            "CI_STATE_DIR": str(server.state_dir),
            "CI_ACTOR": ACTOR,
            "GIT_AUTHOR_NAME": "Release Tester",
            "GIT_AUTHOR_EMAIL": "tester@example.org",
            "GIT_COMMITTER_NAME": "Release Tester",
            "GIT_COMMITTER_EMAIL": "tester@example.org",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
        }
    )
    if config:
        variant = settings.read_text()
        if "suites" in config:
            suites = ", ".join(f'"{s}"' for s in config["suites"])
            variant = re.sub(r"(?m)^suites = .*$", f"suites = [{suites}]", variant)
        if config.get("bench_required") is False:
            variant = variant.replace("[bench]\n", "[bench]\nrequired = false\n")
        bench = config.get("bench", {})
        if "min_effect" in config:
            bench = {**bench, "min_effect": str(config["min_effect"])}
        for key, value in bench.items():
            variant = re.sub(rf"(?m)^{key} = .*\n", "", variant)
            variant = variant.replace("[bench]\n", f"[bench]\n{key} = {value}\n")
        if config.get("require_signed_tags"):
            variant = variant.replace("require_signed_tags = false", "require_signed_tags = true")
        config_file = target.parent / f"{target.name}-pipeline.toml"
        config_file.write_text(variant)
        env["CI_CONFIG"] = str(config_file)
    repo = Repo(target, project, env, server.url)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", ".")
    repo.git("commit", "-qm", "the demo project")
    REPOS.setdefault(server.state_dir, []).append(target)
    return repo


SMOKE_ONLY = {"suites": ["smoke"], "bench_required": False}
"""Promotion policy alone: the smoke suite, no benchmark gate."""


def wheel(project: str, version: str) -> str:
    return f"{project.replace('-', '_')}-{version}-py3-none-any.whl"


def sdist(project: str, version: str) -> str:
    return f"{project.replace('-', '_')}-{version}.tar.gz"


def devpi_json(url: str) -> requests.Response:
    """GET ``url`` from devpi's JSON API, bypassing any proxy of the environment."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, headers={"Accept": "application/json"}, timeout=30)


def index_files(url: str, index: str, project: str) -> dict[str, dict[str, str]]:
    """``{version: {filename: sha256}}`` of ``project`` on ``index`` itself (devpi JSON API).

    Fails if a version lists a file twice.
    """
    response = devpi_json(f"{url}/{index}/{project}?ignore_bases=")
    if response.status_code == 404:
        return {}
    response.raise_for_status()
    found = {}
    for version, data in response.json()["result"].items():
        links = [link for link in data.get("+links", []) if link.get("rel") == "releasefile"]
        names = [link["href"].split("#")[0].rsplit("/", 1)[-1] for link in links]
        assert len(names) == len(set(names)), f"{index} lists a file twice: {names}"
        found[version] = {
            name: link["hashes"]["sha256"] for name, link in zip(names, links, strict=True)
        }
    return found


def toxresult_count(url: str, index: str, project: str, version: str) -> int:
    data = devpi_json(f"{url}/{index}/{project}/{version}?ignore_bases=").json()["result"]
    return sum(link.get("rel") == "toxresult" for link in data["+links"])


def error_lines(result: subprocess.CompletedProcess | tuple[int, str, str]) -> list[str]:
    """The stderr lines of a handled error (exit 2, no traceback)."""
    if isinstance(result, subprocess.CompletedProcess):
        code, stderr = result.returncode, result.stderr
    else:
        code, _, stderr = result
    assert code == 2, (code, stderr)
    assert "Traceback" not in stderr
    return stderr.splitlines()


def promotions(record: dict) -> list[tuple[str, str]]:
    return [(p["from"], p["to"]) for p in record["promotions"]]
