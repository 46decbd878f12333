"""The one place the ci tool runs other programs.

Output is captured and returned; a failing command becomes a :class:`CommandError`
carrying the command, its exit code and the tail of its output. Every known
secret (the values of the credential environment variables) is masked in what
is returned or logged, so passwords never reach logs or reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ci.errors import CIError

logger = logging.getLogger(__name__)

SECRET_VARIABLES = (
    "DEVPI_PASSWORD",
    "DEVPI_CI_PASSWORD",
    "DEVPI_QA_PASSWORD",
    "DEVPI_ROOT_PASSWORD",
)
_extra_secrets: set[str] = set()


class CommandError(CIError):
    """A program the ci tool ran exited with a non-zero status."""

    def __init__(self, command: Sequence[str], returncode: int, output: str) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-20:])
        super().__init__(
            f"`{' '.join(self.command[:3])} ...` failed with exit code {returncode}"
            + (f":\n{tail}" if tail else ""),
            tip="run the stage with -v to see the full output",
        )


def register_secret(value: str) -> None:
    """Mask ``value`` in every output from now on (e.g. a derived local password)."""
    if value:
        _extra_secrets.add(value)


def mask(text: str) -> str:
    """Replace every known secret in ``text`` with ``***``."""
    secrets = {os.environ.get(name, "") for name in SECRET_VARIABLES} | _extra_secrets
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def run(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit: bool = True,
    timeout: float | None = None,
) -> str:
    """Run ``command``; return its combined stdout and stderr, with secrets masked.

    Parameters
    ----------
    command
        Program and arguments.
    cwd
        Working directory.
    env
        Variables added to the current environment.
    inherit
        False to run with ``env`` alone (e.g. to keep the caller's pip or uv
        settings out).
    timeout
        Seconds before the command is killed.

    Raises
    ------
    CommandError
        If the command exits with a non-zero status.
    """
    argv, environment = _prepared("running", command, env, inherit)
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = mask(result.stdout)
    logger.debug("%s", output)
    if result.returncode:
        raise CommandError(argv, result.returncode, output)
    return output


def start(
    command: Sequence[str | Path],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    inherit: bool = True,
) -> subprocess.Popen:
    """Start ``command`` in the background with its output discarded; return the process.

    For work whose result nobody reads (a warm-up); the caller waits for it or
    stops it with :func:`stop`. It runs in a process group of its own, so that
    stopping it stops what it started too. Arguments as for :func:`run`.
    """
    argv, environment = _prepared("starting", command, env, inherit)
    return subprocess.Popen(
        argv,
        cwd=cwd,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _prepared(
    verb: str, command: Sequence[str | Path], env: Mapping[str, str] | None, inherit: bool
) -> tuple[list[str], dict[str, str]]:
    """Return the argv and environment of a command, after logging it with secrets masked."""
    argv = [str(part) for part in command]
    logger.info("%s %s", verb, mask(" ".join(argv)))
    return argv, {**(os.environ if inherit else {}), **(env or {})}


def stop(process: subprocess.Popen) -> None:
    """Kill a process of :func:`start` and everything in its group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
