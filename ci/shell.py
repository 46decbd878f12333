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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import processes
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
            f"`{mask(' '.join(self.command[:3]))} ...` failed with exit code {returncode}"
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


@dataclass(frozen=True)
class Finished:
    """A program that ran to its end: its exit status and its combined output, secrets masked."""

    command: list[str]
    returncode: int
    output: str

    def checked(self) -> str:
        """Return the output; raise :class:`CommandError` if the program failed."""
        if self.returncode:
            raise CommandError(self.command, self.returncode, self.output)
        return self.output


class Runner:
    """Runs programs for the ci tool: logs each command and masks secrets, in one place.

    Every subprocess of the tool goes through the module's :data:`runner`, an
    instance of this class; a test may swap it for one that records or refuses.
    """

    def execute(
        self,
        command: Sequence[str | Path],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        inherit: bool = True,
        timeout: float | None = None,
        stdin: str | None = None,
    ) -> Finished:
        """Run ``command`` to its end and return how it ended, whatever its exit status.

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
            settings, or the credential variables, out).
        timeout
            Seconds before the command is killed (:class:`subprocess.TimeoutExpired`).
        stdin
            Text for the program's standard input: how a secret reaches a
            program without appearing on its command line.
        """
        argv, environment = self._prepared("running", command, env, inherit)
        result = subprocess.run(
            argv,
            cwd=cwd,
            env=environment,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = mask(result.stdout)
        logger.debug("%s", output)
        return Finished(argv, result.returncode, output)

    def start(
        self,
        command: Sequence[str | Path],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        inherit: bool = True,
        log: Path | None = None,
        die_with_parent: bool = False,
    ) -> subprocess.Popen:
        """Start ``command`` in the background, in a process group of its own; return it.

        Its output goes to the file ``log`` (the caller reads it; nothing the
        tool writes there holds a secret, since the credential variables are
        the caller's to leave out of ``env``), or is discarded. Stopping the
        group with :meth:`stop` stops what it started too. With
        ``die_with_parent`` it is killed when this process dies, even by SIGKILL
        (Linux). Other arguments as for :meth:`execute`.
        """
        argv, environment = self._prepared("starting", command, env, inherit)
        with log.open("w", encoding="utf-8") if log else open(os.devnull, "w") as output:
            return subprocess.Popen(
                argv,
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=processes.die_with_parent if die_with_parent else None,
            )

    def detach(
        self,
        command: Sequence[str | Path],
        *,
        env: Mapping[str, str] | None = None,
        inherit: bool = True,
        log: Path,
    ) -> int:
        """Start ``command`` in a session of its own, to outlive this process; return its pid.

        Its output is appended to ``log`` (created private). ``posix_spawn``
        rather than :class:`subprocess.Popen`: a ``Popen`` object would warn
        about a child still running when this process ends. For servers.
        """
        argv, environment = self._prepared("starting", command, env, inherit)
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        return os.posix_spawn(argv[0], argv, environment, file_actions=actions, setsid=True)

    def stop(self, process: subprocess.Popen) -> None:
        """Kill a process of :meth:`start` and everything in its group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    @staticmethod
    def _prepared(
        verb: str, command: Sequence[str | Path], env: Mapping[str, str] | None, inherit: bool
    ) -> tuple[list[str], dict[str, str]]:
        """Return the argv and environment of a command, after logging it with secrets masked."""
        argv = [str(part) for part in command]
        logger.info("%s %s", verb, mask(" ".join(argv)))
        return argv, {**(os.environ if inherit else {}), **(env or {})}


runner = Runner()
"""The runner of every subprocess of the ci tool."""


@contextlib.contextmanager
def using(chosen: Runner) -> Iterator[Runner]:
    """Make ``chosen`` the :data:`runner` while the block runs (a command, a test)."""
    global runner
    previous, runner = runner, chosen
    try:
        yield chosen
    finally:
        runner = previous


def run(command: Sequence[str | Path], **options: Any) -> str:
    """Run ``command``; return its combined output, secrets masked.

    Options as for :meth:`Runner.execute`.

    Raises
    ------
    CommandError
        If the command exits with a non-zero status.
    """
    return runner.execute(command, **options).checked()


def execute(command: Sequence[str | Path], **options: Any) -> Finished:
    """Run ``command`` to its end with :data:`runner`, whatever its exit status."""
    return runner.execute(command, **options)


def start(command: Sequence[str | Path], **options: Any) -> subprocess.Popen:
    """Start ``command`` in the background with :data:`runner` (see :meth:`Runner.start`)."""
    return runner.start(command, **options)


def detach(command: Sequence[str | Path], **options: Any) -> int:
    """Start a server with :data:`runner` (see :meth:`Runner.detach`); return its pid."""
    return runner.detach(command, **options)


def stop(process: subprocess.Popen) -> None:
    """Stop a process of :func:`start` and its group."""
    runner.stop(process)
