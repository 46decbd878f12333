"""``python -m ci devpi start|stop|status|setup``: the package index the pipeline releases to.

Locally (no ``DEVPI_URL``) this runs a real devpi-server on 127.0.0.1 with its
state under ``<state dir>/devpi`` (see :mod:`ci.state`)::

    secret        the server's key (--secretfile): login tokens survive restarts,
                  and the local role passwords are derived from it (ci.credentials)
    server/       the server's data (devpi-init creates it on the first start)
    server.json   pid, port and URL of the running server (the pid file)
    server.log    the server's output

In real CI, ``DEVPI_URL`` names a server someone else runs: ``start`` only checks
that it answers and has the indexes, ``stop`` leaves it alone, and ``setup``
creates the users and indexes with the root credentials from the environment.

Layout (created and converged idempotently by ``start`` and ``setup``; the index
names are ``[indexes]`` of ``pipeline.toml``, the users come from the roles):

==============  ==========  ================  ======================================
index           volatile    acl_upload        purpose
==============  ==========  ================  ======================================
ci/unstable     yes         ci                every build, straight from ``publish``
ci/testing      no          ci                files whose suites all passed
qa/stable       no          qa                released files; only QA may push
root/pypi       (mirror)                      PyPI, ``mirror_no_project_list=True``
==============  ==========  ================  ======================================

All three have ``bases=root/pypi`` and no ``mirror_whitelist``: devpi then hides
the mirror's releases of any name that has releases on the index itself, so a
look-alike on PyPI never shadows ours (dependency confusion). Each index takes
toxresults only from its uploading user (devpi's default is anyone). The server
runs with ``--restrict-modify root``: only root creates users and indexes or
changes their settings, so no user can grant itself upload rights.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ci import credentials as creds
from ci.config import Indexes, load_config
from ci.devpi_server import DEFAULT_PORT, HOST, PORT_ENV, EmbeddedServer, Server
from ci.errors import CIError
from ci.index import DevpiClient
from ci.state import repo_root

log = logging.getLogger(__name__)

MIRROR = "root/pypi"
EXIT_NOT_RUNNING = 3


# -- layout ----------------------------------------------------------------------


def layout() -> Indexes:
    """Return the configured indexes (``[indexes]`` of ``pipeline.toml``)."""
    return load_config(repo_root()).indexes


def index_settings(indexes: Indexes, ci_user: str, qa_user: str) -> dict[str, dict[str, Any]]:
    """Return the wanted settings of the mirror and of every index, in creation order."""

    def stage(uploader: str, volatile: bool) -> dict[str, Any]:
        return {
            "type": "stage",
            "bases": [MIRROR],
            "volatile": volatile,
            "acl_upload": [uploader],
            "acl_toxresult_upload": [uploader],
            "mirror_whitelist": [],
        }

    return {
        MIRROR: {"mirror_no_project_list": True},
        indexes.unstable: stage(ci_user, volatile=True),
        indexes.testing: stage(ci_user, volatile=False),
        indexes.stable: stage(qa_user, volatile=False),
    }


def setup(
    client: DevpiClient, ci: creds.Credentials, qa: creds.Credentials, indexes: Indexes
) -> list[str]:
    """Create or converge users and indexes; return what changed (empty: nothing did).

    ``client`` must be logged in as root. An index owner that is neither role user
    is created with a random password nobody knows: who may upload is decided by
    each index's ``acl_upload``, not by its owner.
    """
    changes = []
    for user in (ci, qa):
        outcome = client.ensure_user(user.user, user.password)
        if outcome != "unchanged":
            changes.append(f"{user.user} {outcome}")
    owners = {name.split("/")[0] for name in (indexes.unstable, indexes.testing, indexes.stable)}
    for owner in sorted(owners - {ci.user, qa.user, "root"}):
        if client.ensure_owner(owner) != "unchanged":
            changes.append(f"{owner} created")
    for index, settings in index_settings(indexes, ci.user, qa.user).items():
        outcome = client.ensure_index(index, settings)
        if outcome != "unchanged":
            changes.append(f"{index} {outcome}")
    return changes


# -- where the server is ------------------------------------------------------------


def locate(environ: Mapping[str, str] | None = None) -> Server:
    """Return the server of this environment: ``DEVPI_URL``, else the running local one.

    Raises
    ------
    CIError
        If ``DEVPI_URL`` is unset and the local server is not running.
    """
    environ = os.environ if environ is None else environ
    url = environ.get(creds.URL_ENV)
    if url:
        return Server(_checked_url(url).rstrip("/"))
    embedded = EmbeddedServer.from_environment(environ)
    info = embedded.running()
    if info is None:
        raise CIError(
            f"the local devpi-server is not running (state in {embedded.root})",
            tip=f"start it with `python -m ci devpi start`, or set {creds.URL_ENV}",
        )
    return Server(info["url"], secretfile=embedded.secretfile, pid=info["pid"])


def _checked_url(url: str) -> str:
    """Return ``DEVPI_URL`` if it is an http(s) URL without credentials; refuse it if not.

    Credentials inside the URL would reach command lines (twine's) and logs:
    they belong in the role variables, which nothing prints. The refusal shows
    the URL without anything before an ``@``.
    """
    parts = urlsplit(url)
    shown = "…@" + url.rsplit("@", 1)[1] if "@" in url else url
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = parts._replace(scheme="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CIError(
            f"{creds.URL_ENV} is not the http(s) URL of a devpi-server: {shown!r}",
            tip=f"set it like https://devpi.example.org, or unset {creds.URL_ENV}",
        )
    if "@" in parts.netloc:
        raise CIError(
            f"{creds.URL_ENV} carries credentials before the @ of {shown!r}",
            tip="remove them from the URL and set DEVPI_<ROLE>_USER and DEVPI_<ROLE>_PASSWORD",
        )
    return url


def connect(role: str, environ: Mapping[str, str] | None = None) -> DevpiClient:
    """Return a client of this environment's server, logged in as ``role`` (ci, qa, root)."""
    server = locate(environ)
    client = DevpiClient(server.url)
    try:
        client.login(server.credentials(role, environ))
    except BaseException:
        client.close()
        raise
    return client


# -- the command ---------------------------------------------------------------------


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
    start.set_defaults(handler=cmd_start)
    actions.add_parser("stop", help="stop the local server").set_defaults(handler=cmd_stop)
    actions.add_parser(
        "status", help="print the URL and indexes (exit 3: not running)"
    ).set_defaults(handler=cmd_status)
    actions.add_parser(
        "setup", help="create or converge users and indexes (root credentials)"
    ).set_defaults(handler=cmd_setup)


def _describe(changes: list[str]) -> str:
    return "; ".join(changes) if changes else "users and indexes unchanged"


def _setup_as_root(server: Server) -> list[str]:
    with DevpiClient(server.url) as client:
        client.login(server.credentials("root"))
        return setup(client, server.credentials("ci"), server.credentials("qa"), layout())


def cmd_start(args: argparse.Namespace) -> int:
    """Start the local server (or check ``DEVPI_URL``'s) and set up users and indexes."""
    began = time.monotonic()
    if os.environ.get(creds.URL_ENV):
        server = locate()
        listed = _index_summary(server)
        print(f"devpi: {creds.URL_ENV} is set, using {server.display_url}; indexes {listed}")
        return 0
    embedded = EmbeddedServer.from_environment()
    server, started = embedded.start(args.port)
    changes = _setup_as_root(server)
    elapsed = time.monotonic() - began
    verb = "started" if started else "already running at"
    print(
        f"devpi: {verb} {server.display_url} (pid {server.pid}) in {elapsed:.1f} s; "
        f"{_describe(changes)}"
    )
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
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


def cmd_status(args: argparse.Namespace) -> int:
    """Print one line: where the server is and which indexes it has."""
    if not os.environ.get(creds.URL_ENV):
        embedded = EmbeddedServer.from_environment()
        if embedded.running() is None:
            print(f"devpi: not running (state in {embedded.root})")
            return EXIT_NOT_RUNNING
    server = locate()
    where = f"pid {server.pid}" if server.local else f"from {creds.URL_ENV}"
    print(f"devpi: running at {server.display_url} ({where}); indexes {_index_summary(server)}")
    return 0


def cmd_setup(args: argparse.Namespace) -> int:
    """Create or converge users and indexes on the server (needs root credentials)."""
    server = locate()
    changes = _setup_as_root(server)
    print(f"devpi: set up {server.display_url}: {_describe(changes)}")
    return 0


def _index_summary(server: Server) -> str:
    """Return e.g. ``ci/unstable (volatile), ci/testing, qa/stable``; missing ones raise."""
    with DevpiClient(server.url) as client:
        users = client.users()
    present = {
        f"{user}/{name}": config
        for user, userconfig in users.items()
        for name, config in (userconfig.get("indexes") or {}).items()
    }
    configured = layout()
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
