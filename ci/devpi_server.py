"""The embedded devpi-server process: start, stop and find it, under a state directory.

Files under the server's state directory (normally ``<state dir>/devpi``)::

    secret        the server's key (--secretfile): login tokens survive restarts,
                  and the local role passwords are derived from it (ci.credentials)
    server/       the server's data (devpi-init creates it on the first start)
    server.json   pid, port and URL of the running server (the pid file)
    server.log    the server's output
    lock          serialises start and stop between concurrent ci processes
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci import credentials as creds
from ci import records, shell
from ci.errors import CIError
from ci.index import DevpiClient, DevpiUnreachableError, redact_url
from ci.processes import alive, command_line
from ci.state import private_dir, read_json, state_dir

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 3141
PORT_ENV = "CI_DEVPI_PORT"
SERVER_OPTIONS = (
    "--restrict-modify",
    "root",
    # The defaults (time 16, 512 MiB, 8 lanes) make each start take 12-17 s here;
    # these only derive the token-signing key from the secret file.
    "--argon2-time-cost",
    "1",
    "--argon2-memory-cost",
    "8192",
    "--argon2-parallelism",
    "1",
    # The PyPI mirror answers "no such project" when PyPI does not answer within
    # the timeout (default 5 s), and pip/uv then fail to resolve: seen for
    # pydantic-core while two verify environments resolved dask and arviz at once.
    "--request-timeout",
    "30",
)
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
INIT_SNIPPET = (
    "import sys; from devpi_server.init import init; "
    "sys.exit(init(argv=['devpi-init', '--serverdir', sys.argv[1], "
    "'--root-passwd', sys.stdin.read()]))"
)


@dataclass(frozen=True)
class Server:
    """A devpi-server the pipeline talks to.

    Parameters
    ----------
    url
        Its root URL (may carry credentials only if ``DEVPI_URL`` does; print
        ``display_url``).
    secretfile
        The secret file of the local embedded server; ``None`` for ``DEVPI_URL``.
    pid
        Process id of the local embedded server, else ``None``.
    """

    url: str
    secretfile: Path | None = None
    pid: int | None = None

    @property
    def local(self) -> bool:
        """Whether this is the embedded server."""
        return self.secretfile is not None

    @property
    def display_url(self) -> str:
        """The URL without credentials."""
        return redact_url(self.url)

    def credentials(self, role: str, environ: Mapping[str, str] | None = None) -> creds.Credentials:
        """Return the credentials of ``role`` for this server (see :mod:`ci.credentials`)."""
        return creds.resolve(role, secretfile=self.secretfile, environ=environ)


class EmbeddedServer:
    """The local devpi-server process and its files under ``root``.

    Parameters
    ----------
    root
        The server's state directory, normally ``<state dir>/devpi``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.secretfile = root / "secret"
        self.serverdir = root / "server"
        self.info_file = root / "server.json"
        self.log_file = root / "server.log"
        self.lock_file = root / "lock"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> EmbeddedServer:
        """Return the embedded server of the state directory of ``environ``."""
        return cls(state_dir(environ) / "devpi")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise start and stop between concurrent ``ci`` processes."""
        private_dir(self.root)
        with self.lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def initialised(self) -> bool:
        """Whether the server directory exists (started before: its mirror has pages)."""
        return (self.serverdir / ".nodeinfo").exists()

    def running(self) -> dict[str, Any] | None:
        """Return ``server.json`` if its pid is alive and is this directory's server."""
        info = read_json(self.info_file)
        if not info or not isinstance(info.get("pid"), int):
            return None
        if not alive(info["pid"]) or not self._is_ours(info["pid"]):
            return None
        return info

    def _is_ours(self, pid: int) -> bool:
        """Whether ``pid`` is a devpi-server of this directory (not a process that took its id)."""
        return os.fsdecode(self.serverdir) in (command_line(pid) or ())

    def _port(self, requested: int | None) -> int:
        """Return the port to listen on: ``requested``, else the last run's, else 3141."""
        if requested is None:
            last = read_json(self.info_file) or {}
            requested = last.get("port") if isinstance(last.get("port"), int) else DEFAULT_PORT
        return _free_port() if requested == 0 else _check_port_free(requested)

    def _initialise(self, environ: Mapping[str, str]) -> None:
        """Create the secret file and the server directory on the first start."""
        private_dir(self.root)
        if not self.secretfile.exists():
            fd = os.open(self.secretfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(base64.b64encode(secrets.token_bytes(32)))
        if self.initialised():
            return
        root = creds.resolve("root", secretfile=self.secretfile, environ=environ)
        # The password goes through a pipe, never through a command line.
        result = shell.execute(
            [sys.executable, "-c", INIT_SNIPPET, str(self.serverdir)],
            stdin=root.password,
            env=_server_environment(),
            inherit=False,
        )
        if result.returncode:
            raise CIError(
                f"devpi-init failed in {self.serverdir}: {_last_line(result.output)}",
                tip="check that devpi-server is installed (pip install -r requirements/dev.txt)",
            )

    def start(
        self, port: int | None = None, environ: Mapping[str, str] | None = None
    ) -> tuple[Server, bool]:
        """Start the server unless it runs; return it and whether it was started now.

        Parameters
        ----------
        port
            Port to listen on; ``0`` picks a free one; ``None`` means ``$CI_DEVPI_PORT``,
            else the port of the previous run, else 3141.
        environ
            The environment (default ``os.environ``), for ``CI_DEVPI_PORT``.
        """
        environ = os.environ if environ is None else environ
        port = _requested_port(port, environ)  # checked before anything is created
        with self.locked():
            info = self.running()
            if info is not None:
                return Server(info["url"], self.secretfile, info["pid"]), False
            port = self._port(port)
            self._initialise(environ)
            url = f"http://{HOST}:{port}"
            if self.log_file.exists():
                self.log_file.replace(self.log_file.with_suffix(".log.1"))
            pid = shell.detach(
                [
                    sys.executable,
                    "-m",
                    "devpi_server",
                    "--serverdir",
                    str(self.serverdir),
                    "--secretfile",
                    str(self.secretfile),
                    "--host",
                    HOST,
                    "--port",
                    str(port),
                    *SERVER_OPTIONS,
                ],
                env=_server_environment(),
                inherit=False,
                log=self.log_file,
            )
            records.write(
                self.info_file,
                {"schema": 1, "pid": pid, "port": port, "url": url, "started": time.time()},
            )
            self._wait_until_ready(pid, url)
            return Server(url, self.secretfile, pid), True

    def _wait_until_ready(self, pid: int, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        with DevpiClient(url, timeout=2.0) as client:
            while True:
                try:
                    client.api()
                    return
                except DevpiUnreachableError:
                    pass
                if not alive(pid):
                    raise CIError(
                        f"devpi-server exited during start-up: {_last_line(self._log_tail())}",
                        tip=f"see {self.log_file}",
                    )
                if time.monotonic() > deadline:
                    _terminate(pid)
                    raise CIError(
                        f"devpi-server did not answer at {url} within {START_TIMEOUT:g} s",
                        tip=f"see {self.log_file}",
                    )
                time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> tuple[dict[str, Any] | None, str]:
        """Stop the server (SIGTERM, then SIGKILL); return its info and how it ended."""
        with self.locked():
            info = self.running()
            outcome = "not running" if info is None else _terminate(info["pid"])
            recorded = read_json(self.info_file)
            if recorded and recorded.get("pid") is not None:
                recorded["pid"] = None  # keep the port for the next start
                records.write(self.info_file, recorded)
            return info, outcome


# -- processes -------------------------------------------------------------------


def _server_environment() -> dict[str, str]:
    """Return the environment of devpi processes: ours without any credential variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DEVPI_")}


def _terminate(pid: int) -> str:
    """SIGTERM ``pid``, wait up to STOP_TIMEOUT, then SIGKILL; return how it ended."""
    for sig, timeout, outcome in (
        (signal.SIGTERM, STOP_TIMEOUT, "stopped"),
        (signal.SIGKILL, 5.0, f"killed after {STOP_TIMEOUT:g} s"),
    ):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return outcome
            time.sleep(0.05)
    raise CIError(f"devpi-server (pid {pid}) did not exit after SIGKILL", tip="check `ps`")


def _requested_port(port: int | None, environ: Mapping[str, str]) -> int | None:
    """Return ``port``, else ``$CI_DEVPI_PORT``, else None; refuse what is no TCP port."""
    if port is None and environ.get(PORT_ENV):
        try:
            port = int(environ[PORT_ENV])
        except ValueError:
            raise CIError(
                f"{PORT_ENV}={environ[PORT_ENV]!r} is not a port number",
                tip="set it to a number, or to 0 for any free port",
            ) from None
    if port is not None and not 0 <= port <= 65535:
        raise CIError(
            f"port {port} is not a TCP port (0 to 65535)",
            tip=f"pass --port or set {PORT_ENV} to a port from 1024 up, or 0 for a free one",
        )
    return port


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _check_port_free(port: int) -> int:
    with socket.socket() as sock:
        # As the server will: TIME_WAIT connections of a previous run do not count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise CIError(
                f"port {port} on {HOST} is taken by another program",
                tip=f"choose another with --port PORT or {PORT_ENV} (0 picks a free port)",
            ) from exc
    return port


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
