"""Named step boundaries of the stages that change an index, where a test can kill.

The fault-injection test (tests/pipeline/test_faults.py) sets ``CI_FAULT`` to a
point's name to have the stage SIGKILL itself there, as an agent lost at that
instant would be, or to ``devpi@<point>`` to have it SIGKILL the local
devpi-server there and carry on. Unset, as everywhere else, :func:`point` does
nothing. The points, in the order a release passes them:

- ``publish.intent``: the intent is in the release record, nothing uploaded yet;
- ``publish.uploaded``: the first file is on the unstable index;
- ``publish.done``: every file and the documentation are uploaded, not yet recorded;
- ``promote.intent``: the promotion's intent is recorded, nothing pushed yet;
- ``promote.pushed``: devpi accepted the push, the promotion is not yet recorded.
"""

from __future__ import annotations

import os
import signal
import time

from ci.errors import CIError
from ci.processes import alive

FAULT_ENV = "CI_FAULT"
POINTS = ("publish.intent", "publish.uploaded", "publish.done", "promote.intent", "promote.pushed")


def check_environment() -> None:
    """Refuse a ``CI_FAULT`` naming no point: a typo would silently inject nothing.

    Raises
    ------
    CIError
        If ``CI_FAULT`` is set to anything but a point or ``devpi@`` and a point.
    """
    wanted = os.environ.get(FAULT_ENV)
    if wanted and wanted not in (*POINTS, *(f"devpi@{name}" for name in POINTS)):
        raise CIError(
            f"{FAULT_ENV}={wanted!r} names no fault point",
            tip=f"use one of {', '.join(POINTS)} (devpi@ before one kills the local "
            f"devpi-server there), or unset {FAULT_ENV}",
        )


def point(name: str) -> None:
    """Pass the step boundary ``name``; kill here if ``CI_FAULT`` says so."""
    wanted = os.environ.get(FAULT_ENV)
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif wanted == f"devpi@{name}":
        _kill_local_devpi()


def _kill_local_devpi() -> None:
    """SIGKILL the local devpi-server and wait until it is gone."""
    from ci.devpi import locate

    pid = locate().pid
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
