"""Fixtures of the dashboard tests: a small archive, the ``ci dashboard`` command, Chromium.

The archive (tests/dashboard/records.py) is written through ``ci.archive.Archive``
in the record formats of the ci stages. Chromium comes from
``scripts/chromium/install.sh``; where it cannot be installed the browser tests
are skipped, except on CI (CI=true), where they fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ci.archive import Archive
from tests.dashboard.records import fill

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "chromium" / "install.sh"
STEERING = ("CI_CONFIG", "CI_STATE_DIR", "SOURCE_DATE_EPOCH")


@pytest.fixture
def archive(tmp_path: Path) -> Archive:
    """The archive of tests/dashboard/records.py, in ``tmp_path/archive``."""
    return fill(Archive(url=str(tmp_path / "archive"), base=tmp_path))


@pytest.fixture
def dashboard(tmp_path: Path, archive: Archive) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m ci dashboard ARGS`` on the fixture archive; ``epoch`` sets the time."""
    config = tmp_path / "pipeline.toml"
    config.write_text(f"[archive]\nurl = {json.dumps(archive.root)}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in STEERING}
    env |= {"CI_CONFIG": str(config), "CI_STATE_DIR": str(tmp_path / "state")}

    def run(*args: str | Path, epoch: int | None = None) -> subprocess.CompletedProcess:
        extra = {} if epoch is None else {"SOURCE_DATE_EPOCH": str(epoch)}
        return subprocess.run(
            [sys.executable, "-m", "ci", "dashboard", *map(str, args)],
            cwd=ROOT,
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def chromium() -> Path:
    """The chromium binary, installed by scripts/chromium/install.sh if needed."""
    try:
        result = subprocess.run([INSTALL], capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        result = subprocess.CompletedProcess([INSTALL], 1, "", str(exc))
    binary = Path(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else None
    if result.returncode != 0 or binary is None or not binary.exists():
        reason = f"cannot install chromium:\n{result.stderr[-2000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}\n(CI=true: not skipped)")
        pytest.skip(reason)
    return binary
