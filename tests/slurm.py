"""The single-node Slurm of scripts/slurm, as a session fixture for the suites that need it.

Several test sessions may use it at once (``dev.py test`` runs the tox
environments ``cluster`` and ``calibrations`` in parallel): each session holds a
shared lock on ``<state dir>/sessions.lock`` while it runs, starts are
serialised, and the last session to finish stops the cluster, if a test session
started it (the marker ``started-by-tests``); a Slurm someone started by hand is
left running.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts" / "slurm"
START_SLURM, STOP_SLURM = SCRIPTS / "start.sh", SCRIPTS / "stop.sh"
STARTED_BY_TESTS = "started-by-tests"


@pytest.fixture(scope="session")
def slurm() -> Iterator[str]:
    """Start the single-node Slurm of the repository; SLURM_CONF is set for the session.

    Skips where Slurm is not installed and cannot be (not root), except on CI
    (CI=true), where that fails.
    """
    if shutil.which("slurmctld") is None and os.geteuid() != 0:
        reason = "Slurm is not installed and installing it needs root"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: not skipped)")
        pytest.skip(reason)
    state = _state_dir()
    state.mkdir(parents=True, exist_ok=True)
    with (state / "sessions.lock").open("a") as sessions:
        fcntl.flock(sessions, fcntl.LOCK_SH)
        conf = _start(state)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", conf)
            yield conf
        _stop_if_last(sessions, state)


def _state_dir() -> Path:
    return Path(os.environ.get("EPICAST_SLURM_DIR", "/tmp/epicast-slurm"))


def _start(state: Path) -> str:
    """Run start.sh (one session at a time); return the path of slurm.conf."""
    with (state / "start.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _slurm_answers():
            (state / STARTED_BY_TESTS).touch()
        started = subprocess.run(
            ["bash", str(START_SLURM)], capture_output=True, text=True, timeout=900, check=False
        )
    if started.returncode != 0:
        pytest.fail(f"{START_SLURM} failed ({started.returncode}):\n{started.stderr[-4000:]}")
    return started.stdout.splitlines()[-1].removeprefix("SLURM_CONF=")


def _stop_if_last(sessions: IO[str], state: Path) -> None:
    """Stop the cluster if no other session holds it and a test session started it."""
    try:
        fcntl.flock(sessions, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another session still uses it; the last one stops it
    marker = state / STARTED_BY_TESTS
    if marker.exists():
        subprocess.run(["bash", str(STOP_SLURM)], capture_output=True, timeout=120, check=False)
        marker.unlink()


def _slurm_answers() -> bool:
    """Whether a Slurm controller of ours answers (SLURM_CONF from start.sh's default)."""
    conf = _state_dir() / "slurm.conf"
    if shutil.which("scontrol") is None or not conf.is_file():
        return False
    env = {**os.environ, "SLURM_CONF": str(conf)}
    ping = subprocess.run(
        ["scontrol", "ping"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    return ping.returncode == 0 and "UP" in ping.stdout
