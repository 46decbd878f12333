"""Fixtures of the pipeline tests: a real devpi-server, tiny real wheels, the ci command.

``devpi`` (session scope) is one devpi-server started by ``python -m ci devpi start``
on a free 127.0.0.1 port with its state in a temporary directory; later tests
(publish, verify, promote) reuse it. ``spare_devpi`` is a second one for tests
that stop, kill or restart it, and ``start_devpi`` starts private ones. Every
``python -m ci`` runs in a subprocess with an environment built here, so no
test changes ``os.environ``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.credentials import Credentials, derive
from ci.index import DevpiClient
from tests.pipeline.repos import run_ci

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = Path(__file__).parent / "packages"

PROBES = ("probe-release", "probe-acl", "probe-conflict", "probe-conflict-rebuilt", "six")
"""Projects under packages/ that ``wheels`` builds: one per behaviour under test."""

STEERING_PREFIXES = ("DEVPI_", "CI_STATE_DIR", "CI_DEVPI_PORT", "CI_CONFIG", "PIP_")


def clean_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return os.environ without variables that steer ci, devpi or pip, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STEERING_PREFIXES)}
    env.update(extra or {})
    return env


@dataclass
class DevpiServer:
    """A running devpi-server of the tests.

    Attributes
    ----------
    state_dir
        ``CI_STATE_DIR`` of the server (it lives in ``state_dir / "devpi"``).
    url
        Its root URL, ``http://127.0.0.1:PORT``.
    env
        Environment for ``python -m ci`` using it as the local server (derived credentials).
    start_seconds
        Wall time of the first ``ci devpi start`` (server, users and indexes).
    outputs
        Everything the ci commands run through `ci` printed (for the password check).
    """

    state_dir: Path
    url: str
    env: dict[str, str]
    start_seconds: float
    outputs: list[str]

    @property
    def server_dir(self) -> Path:
        return self.state_dir / "devpi"

    def credentials(self, role: str) -> Credentials:
        """The derived credentials of ``role`` (what ``ci`` uses for a local server)."""
        return derive(role, (self.server_dir / "secret").read_bytes())

    def remote_env(self, roles: tuple[str, ...] = ("root", "ci", "qa")) -> dict[str, str]:
        """Environment of real CI: ``DEVPI_URL`` and the roles' user and password variables."""
        env = clean_environment({"DEVPI_URL": self.url})
        for role in roles:
            found = self.credentials(role)
            env[f"DEVPI_{role.upper()}_USER"] = found.user
            env[f"DEVPI_{role.upper()}_PASSWORD"] = found.password
        return env

    def client(self, role: str | None = None) -> DevpiClient:
        """A client of this server, logged in as ``role`` (anonymous for ``None``)."""
        client = DevpiClient(self.url)
        if role is not None:
            client.login(self.credentials(role))
        return client

    def ci(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``python -m ci ARGS`` against this server; record the output."""
        result = run_ci(*args, env=self.env if env is None else env)
        self.outputs.extend((result.stdout, result.stderr))
        return result

    def info(self) -> dict:
        return json.loads((self.server_dir / "server.json").read_text())


def start_server(state_dir: Path) -> DevpiServer:
    """Start a server with ``python -m ci devpi start --port 0``."""
    env = clean_environment({"CI_STATE_DIR": str(state_dir)})
    began = time.monotonic()
    result = run_ci("devpi", "start", "--port", "0", env=env)
    elapsed = time.monotonic() - began
    if result.returncode:
        pytest.fail(f"ci devpi start failed:\n{result.stdout}{result.stderr}")
    info = json.loads((state_dir / "devpi" / "server.json").read_text())
    return DevpiServer(state_dir, info["url"], env, elapsed, [result.stdout, result.stderr])


def stop_server(server: DevpiServer) -> None:
    """Stop it with ``python -m ci devpi stop``; fail the test if that does not work."""
    result = server.ci("devpi", "stop")
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="session")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    """The shared devpi-server of the test session."""
    server = start_server(tmp_path_factory.mktemp("shared-state"))
    yield server
    stop_server(server)


@pytest.fixture
def start_devpi(tmp_path: Path) -> Iterator[Callable[[], DevpiServer]]:
    """Return a function starting a private server (stopped after the test)."""
    started: list[DevpiServer] = []

    def start() -> DevpiServer:
        started.append(start_server(tmp_path / f"state-{len(started)}"))
        return started[-1]

    yield start
    for server in started:
        server.ci("devpi", "stop")


@pytest.fixture(scope="session")
def _spare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevpiServer]:
    server = start_server(tmp_path_factory.mktemp("spare-state"))
    yield server
    server.ci("devpi", "stop")


@pytest.fixture
def spare_devpi(_spare: DevpiServer) -> DevpiServer:
    """A second server of the session, for tests that stop, kill or restart it.

    Not the shared ``devpi``, so that the other tests never find it down; one
    for all such tests (a first start, devpi-init, is the slow part), running
    when each test begins: ``ci devpi start`` starts it again if the previous
    test left it stopped or killed.
    """
    result = _spare.ci("devpi", "start")
    assert result.returncode == 0, result.stdout + result.stderr
    return _spare


@pytest.fixture
def ci_environment() -> Callable[..., dict[str, str]]:
    """Return `clean_environment` (os.environ without ci/devpi/pip settings, plus extras)."""
    return clean_environment


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess]:
    """Return `run_ci`: ``run("devpi", "status", env=...)`` runs ``python -m ci``."""
    return run_ci


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of the PROBES projects, built once per session, two builds at a time."""
    work = tmp_path_factory.mktemp("wheels")
    built: dict[str, Path] = {}
    pending = list(PROBES)
    running: list[tuple[str, Path, subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < 2:
            name = pending.pop(0)
            source = shutil.copytree(PACKAGES / name, work / "src" / name)
            out = work / "dist" / name
            command = [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
            process = subprocess.Popen(
                [*command, "--outdir", str(out), str(source)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=clean_environment(),
            )
            running.append((name, out, process))
        name, out, process = running.pop(0)
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode(errors="replace")
        (built[name],) = out.glob("*.whl")
    return built


# The tiny projects under packages/ carry their own tests (release-demo's suites
# run inside `ci verify`, against the installed wheel); never collect them here.
collect_ignore = ["packages"]
