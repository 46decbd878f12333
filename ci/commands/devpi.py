"""``ci devpi start|stop|status|setup``: the embedded devpi-server, or the one DEVPI_URL names."""

from __future__ import annotations

import argparse
import os
import time

from ci import credentials as creds
from ci.devpi import EXIT_NOT_RUNNING, locate, setup
from ci.devpi_server import DEFAULT_PORT, HOST, PORT_ENV, EmbeddedServer, Server
from ci.errors import CIError
from ci.index import DevpiClient
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``devpi start|stop|status|setup`` to the ci command line."""
    parser = commands.add_parser(
        "devpi", help="run the local devpi-server, or check the one DEVPI_URL names"
    )
    actions = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start the local server (idempotent) and set it up")
    start.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port on {HOST}; 0 picks a free one (default: ${PORT_ENV}, the last port, "
        f"or {DEFAULT_PORT})",
    )
    start.set_defaults(handler=handle_start)
    actions.add_parser("stop", help="stop the local server").set_defaults(handler=handle_stop)
    actions.add_parser(
        "status", help="print the URL and indexes (exit 3: not running)"
    ).set_defaults(handler=handle_status)
    actions.add_parser(
        "setup", help="create or converge users and indexes (root credentials)"
    ).set_defaults(handler=handle_setup)


def _describe(changes: list[str]) -> str:
    return "; ".join(changes) if changes else "users and indexes unchanged"


def _setup_as_root(state: State, server: Server) -> list[str]:
    with DevpiClient(server.url) as client:
        client.login(server.credentials("root"))
        ci, qa = server.credentials("ci"), server.credentials("qa")
        return setup(client, ci, qa, state.config.indexes)


def handle_start(state: State) -> int:
    """Start the local server (or check ``DEVPI_URL``'s) and set up users and indexes."""
    began = time.monotonic()
    if os.environ.get(creds.URL_ENV):
        server = locate()
        listed = _index_summary(state, server)
        print(f"devpi: {creds.URL_ENV} is set, using {server.display_url}; indexes {listed}")
        return 0
    embedded = EmbeddedServer.from_environment()
    server, started = embedded.start(state.options.port)
    changes = _setup_as_root(state, server)
    elapsed = time.monotonic() - began
    verb = "started" if started else "already running at"
    print(
        f"devpi: {verb} {server.display_url} (pid {server.pid}) in {elapsed:.1f} s; "
        f"{_describe(changes)}"
    )
    return 0


def handle_stop(state: State) -> int:
    """Stop the local server."""
    if os.environ.get(creds.URL_ENV):
        print(f"devpi: {creds.URL_ENV} is set; not stopping a server this tool did not start")
        return 0
    began = time.monotonic()
    embedded = EmbeddedServer.from_environment()
    info, outcome = embedded.stop()
    if info is None:
        print(f"devpi: not running (state in {embedded.root})")
    else:
        elapsed = time.monotonic() - began
        print(f"devpi: {outcome} {info['url']} (pid {info['pid']}) in {elapsed:.1f} s")
    return 0


def handle_status(state: State) -> int:
    """Print one line: where the server is and which indexes it has."""
    if not os.environ.get(creds.URL_ENV):
        embedded = EmbeddedServer.from_environment()
        if embedded.running() is None:
            print(f"devpi: not running (state in {embedded.root})")
            return EXIT_NOT_RUNNING
    server = locate()
    where = f"pid {server.pid}" if server.local else f"from {creds.URL_ENV}"
    indexes = _index_summary(state, server)
    print(f"devpi: running at {server.display_url} ({where}); indexes {indexes}")
    return 0


def handle_setup(state: State) -> int:
    """Create or converge users and indexes on the server (needs root credentials)."""
    server = locate()
    changes = _setup_as_root(state, server)
    print(f"devpi: set up {server.display_url}: {_describe(changes)}")
    return 0


def _index_summary(state: State, server: Server) -> str:
    """Return e.g. ``ci/unstable (volatile), ci/testing, qa/stable``; missing ones raise."""
    with DevpiClient(server.url) as client:
        users = client.users()
    present = {
        f"{user}/{name}": config
        for user, userconfig in users.items()
        for name, config in (userconfig.get("indexes") or {}).items()
    }
    configured = state.config.indexes
    wanted = (configured.unstable, configured.testing, configured.stable)
    missing = [name for name in wanted if name not in present]
    if missing:
        raise CIError(
            f"{server.display_url} has no index {', '.join(missing)}",
            tip="create the indexes with `python -m ci devpi setup` "
            "(DEVPI_ROOT_USER/DEVPI_ROOT_PASSWORD)",
        )
    return ", ".join(
        f"{name} (volatile)" if present[name].get("volatile") else name for name in wanted
    )
