"""Processes the ci tool started: whether one runs, what it runs, stopping what one left behind.

The one module that asks the operating system about processes (through psutil),
behind stale pid files, leftover folders and interrupted calibrations.
"""

from __future__ import annotations

import ctypes
import os
import signal
from contextlib import suppress

import psutil

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a child receives when its parent dies (Linux)."""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (reaping it if it is our exited child; zombies count as dead).

    A process of another user counts as running.
    """
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def command_line(pid: int) -> list[str] | None:
    """Return the arguments ``pid`` runs with, None if it does not run or may not be read."""
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return None


def kill_group(group: int, naming: str) -> list[int]:
    """SIGKILL the processes of process group ``group`` whose command line contains ``naming``.

    What an interrupted run left behind (its Dask workers, say) is found by its
    group; ``naming`` (a path only that run uses) keeps a process that reuses an
    old group id safe. Returns the pids killed.
    """
    killed = []
    for process in psutil.process_iter(["cmdline"]):
        with suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == group and naming in " ".join(process.info["cmdline"]):
                process.kill()
                killed.append(process.pid)
    return killed


def die_with_parent() -> None:
    """Have this process killed when its parent dies (a ``preexec_fn``; Linux).

    A child in a session of its own escapes the signals a CI service sends to
    the job's process group; this ties it to the ci process instead. psutil
    has no call for prctl(2), hence ctypes.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
