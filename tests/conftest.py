"""Shared fixtures: run the installed ``epicast`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def epicast_cli(tmp_path: Path):
    """Return a function running ``python -m epicast ARGS`` in ``tmp_path``."""

    def run(*args: str | Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "epicast", *map(str, args)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "MPLBACKEND": "Agg"},
            check=False,
        )

    return run


@pytest.fixture(autouse=True)
def _no_leaked_environment():
    """Fail a test that changes os.environ without restoring it."""
    before = _environment()
    yield
    assert _environment() == before, "test leaked environment variable changes"


@pytest.fixture(scope="session", autouse=True)
def _no_update_check():
    """Turn off the CLI's update check: no test asks a package index or writes ~/.cache.

    For the whole session, so that the commands session fixtures run are quiet too;
    tests of the check (tests/pipeline/test_updates.py) set their own environment.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EPICAST_NO_UPDATE_CHECK", "1")
        yield


def _environment() -> dict[str, str]:
    """os.environ without the variable pytest itself updates in every phase."""
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
