"""Run headless Chromium on a local page, as the dashboard's browser tests do.

One run per call, with a new empty profile, no network services of its own
(background networking, component updates and sync are off), a time limit,
and the whole process group killed afterwards so no helper outlives the test.
Chromium prints the page's console messages to stderr (``--enable-logging=stderr``)
as ``...:INFO:CONSOLE:<line>] "<message>", source: <url>``, at INFO level
whatever the console level.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

TIMEOUT = 60
"""Seconds one Chromium run may take."""
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
LOGGING = ("--enable-logging=stderr", "--v=0")
CONSOLE_PROBLEM = re.compile(r"CONSOLE|Uncaught|Failed to load resource")


def run_chromium(
    binary: Path, page: Path, profile: Path, extra: Sequence[str]
) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` with a new profile; kill its process group after."""
    command = [str(binary), *FLAGS, f"--user-data-dir={profile}", *LOGGING, *extra, page.as_uri()]
    profile.mkdir()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        stdout, stderr = process.communicate()
        pytest.fail(f"chromium took more than {TIMEOUT}s:\n{stderr[-2000:]}")
    finally:
        _kill_group(process.pid)  # helpers (zygote, crashpad) outliving the browser
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def console_problems(stderr: str) -> list[str]:
    """Return the log lines reporting a console message, an uncaught error or a failed load.

    Any console message counts: the dashboard has no scripts, so nothing should
    write to the console (and the log does not tell errors from other levels).
    """
    return [line for line in stderr.splitlines() if CONSOLE_PROBLEM.search(line)]
