"""The package index the pipeline releases to: its layout, its setup, where the server runs.

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

import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ci import credentials as creds
from ci.config import Indexes
from ci.devpi_server import EmbeddedServer, Server
from ci.errors import CIError
from ci.index import DevpiClient

log = logging.getLogger(__name__)

MIRROR = "root/pypi"
EXIT_NOT_RUNNING = 3


# -- layout ----------------------------------------------------------------------


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
