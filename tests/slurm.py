"""The single-node Slurm of scripts/slurm, as a session fixture for the suites that need it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "slurm"
START_SLURM, STOP_SLURM = SCRIPTS / "start.sh", SCRIPTS / "stop.sh"


@pytest.fixture(scope="session")
def slurm() -> Iterator[str]:
    """Start the single-node Slurm of the repository; SLURM_CONF is set for the session.

    Stopped at the end of the session (scripts/slurm/stop.sh) unless it was running before.

    Skips where Slurm is not installed and cannot be (not root), except on CI
    (CI=true), where that fails.
    """
    if shutil.which("slurmctld") is None and os.geteuid() != 0:
        reason = "Slurm is not installed and installing it needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: not skipped)")
        pytest.skip(reason)
    was_running = shutil.which("sinfo") is not None and _slurm_answers()
    started = subprocess.run(
        ["bash", str(START_SLURM)], capture_output=True, text=True, timeout=900, check=False
    )
    if started.returncode != 0:
        pytest.fail(f"{START_SLURM} failed ({started.returncode}):\n{started.stderr[-4000:]}")
    conf = started.stdout.splitlines()[-1].removeprefix("SLURM_CONF=")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", conf)
        yield conf
    if not was_running:
        subprocess.run(["bash", str(STOP_SLURM)], capture_output=True, timeout=120, check=False)


def _slurm_answers() -> bool:
    """Whether a Slurm controller of ours answers (SLURM_CONF from start.sh's default)."""
    conf = Path(os.environ.get("EPICAST_SLURM_DIR", "/tmp/epicast-slurm")) / "slurm.conf"
    if not conf.is_file():
        return False
    env = {**os.environ, "SLURM_CONF": str(conf)}
    ping = subprocess.run(
        ["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return ping.returncode == 0 and "UP" in ping.stdout
