"""A small client of the devpi-server HTTP API: the operations the release stages need.

Why ``requests`` on the JSON API rather than devpi-client: devpi-client is an
interactive command line tool that keeps its login token in a client directory
(``~/.devpi/client``) and takes passwords as command line arguments, both of
which the pipeline must avoid (credentials never written to files, never visible
in ``ps``). The handful of calls needed here are part of devpi's documented
JSON/HTTP interface (the one devpi-client itself speaks):

=====================================  ==========================================
``POST /+login`` ``{user, password}``  a token, sent as ``X-Devpi-Auth: b64(user:token)``
``GET /USER/INDEX/PROJECT?ignore_bases``  versions, each with ``+links`` (href, hashes)
``POST /USER/INDEX/`` (multipart)      upload: ``:action=file_upload``, metadata, ``content``
``POST /USER/INDEX/`` (multipart)      documentation: ``:action=doc_upload``, name, version, zip
``POST /USER/INDEX`` ``{name, version, targetindex}``  push a release to another index
``POST <file URL>`` (JSON body)        attach a toxresult to a release file
``DELETE /USER/INDEX/PROJECT/VERSION``  remove a version (volatile indexes only)
=====================================  ==========================================

Per-index queries always pass ``ignore_bases`` (and index reads ``no_projects``)
so that asking about our own project never makes the server consult PyPI.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from packaging.version import InvalidVersion, Version

from ci import shell
from ci.atomic import atomic_file
from ci.credentials import Credentials, env_names
from ci.distribution import read_dist_file, sha256_of
from ci.errors import CIError

log = logging.getLogger(__name__)

JSON = "application/json"
CHUNK = 1 << 20
ALREADY_THERE = "already there"
"""What upload and push return when the index holds the same file (same sha256)."""


class DevpiUnreachableError(CIError):
    """The server did not answer (connection refused, timeout, DNS failure)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"cannot reach the devpi server at {url} ({reason})",
            tip="start the local one with `python -m ci devpi start`, or check DEVPI_URL",
        )
        self.url = url
        self.reason = reason


class DevpiAuthError(CIError):
    """The server rejected a user name and password."""

    def __init__(self, credentials: Credentials, url: str) -> None:
        if credentials.origin.startswith("DEVPI_"):
            tip = f"check {credentials.origin} in the CI secret store"
        else:
            user_var, password_var = env_names(credentials.role)
            tip = (
                f"the local server's {credentials.user!r} was created with another password: "
                f"set {user_var}/{password_var} as then, or stop the server and remove its state"
            )
        super().__init__(
            f"devpi at {url} rejected the password of user {credentials.user!r} "
            f"({credentials.role} role, {credentials.origin})",
            tip=tip,
        )
        self.user = credentials.user
        self.url = url


class DevpiRefusedError(CIError):
    """The server answered a request with an error status."""

    def __init__(self, action: str, status: int, detail: str, tip: str | None = None) -> None:
        super().__init__(f"devpi refused to {action}: HTTP {status} {detail}".rstrip(), tip=tip)
        self.action = action
        self.status = status
        self.detail = detail


class ReleaseConflictError(CIError):
    """A non-volatile index already holds a different file under the same name."""

    def __init__(self, filename: str, index: str, theirs: str, ours: str) -> None:
        super().__init__(
            f"{filename} is already on {index} with other content "
            f"(sha256 {theirs[:12]}…, this file {ours[:12]}…); "
            "a file on a non-volatile index is never overwritten",
            tip="release a new version (new commit or tag) instead of rebuilding this one",
        )
        self.filename = filename
        self.index = index
        self.theirs = theirs
        self.ours = ours


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a version on an index: a wheel, an sdist or the documentation zip.

    Parameters
    ----------
    index
        ``user/index`` holding the file.
    project, version
        As registered on the index.
    filename
        Base name, e.g. ``pkg-1.0-py3-none-any.whl``.
    url
        Absolute download URL (without ``#`` fragment).
    sha256
        Hex digest the server recorded.
    toxresults
        URLs of the toxresults attached to this file.
    """

    index: str
    project: str
    version: str
    filename: str
    url: str
    sha256: str
    toxresults: tuple[str, ...] = field(default=())


def redact_url(url: str) -> str:
    """Return ``url`` without any ``user:password@`` part (safe to print)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DevpiClient:
    """A session with one devpi-server, optionally logged in as one user.

    Parameters
    ----------
    url
        Root URL of the server, e.g. ``http://127.0.0.1:3141``.
    timeout
        Seconds to wait for the server on each request.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.display_url = redact_url(self.url)
        self.timeout = timeout
        self.user: str | None = None
        self._credentials: Credentials | None = None
        self.session = requests.Session()
        # Proxies and ~/.netrc must not reach a loopback server.
        self.session.trust_env = not _is_loopback(self.url)
        self.session.headers["Accept"] = JSON

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()

    def __enter__(self) -> DevpiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------

    def _url(self, path: str) -> str:
        return path if "://" in path else f"{self.url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        ok: Iterable[int] = (200,),
        tip: str | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send a request; return the response if its status is in ``ok``.

        Raises
        ------
        DevpiUnreachableError
            If the server does not answer.
        DevpiRefusedError
            For any other status, with the server's message.
        """
        try:
            response = self.session.request(method, self._url(path), timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise DevpiUnreachableError(
                self.display_url, f"no answer in {self.timeout:g} s"
            ) from exc
        except requests.ConnectionError as exc:
            raise DevpiUnreachableError(self.display_url, _connection_reason(exc)) from exc
        log.debug("%s %s -> %s", method, redact_url(response.url), response.status_code)
        if response.status_code not in set(ok):
            raise DevpiRefusedError(
                action,
                response.status_code,
                _server_message(response),
                tip=tip or _TIPS.get(response.status_code),
            )
        return response

    def get_json(self, path: str, *, action: str, missing_ok: bool = False) -> Any:
        """GET a devpi JSON document and return its ``result`` (``None`` on 404 if allowed)."""
        ok = (200, 404) if missing_ok else (200,)
        response = self.request("GET", path, action=action, ok=ok)
        if response.status_code == 404:
            return None
        return response.json().get("result")

    # -- users and indexes (used by ``ci devpi``) -------------------------------

    def api(self) -> dict[str, Any]:
        """Return ``/+api`` (also the cheapest reachability check)."""
        return self.get_json("+api", action="answer /+api")

    def login(self, credentials: Credentials) -> None:
        """Log in; later requests carry the token in ``X-Devpi-Auth``.

        Raises
        ------
        DevpiAuthError
            If the server rejects the user name or password.
        """
        response = self.request(
            "POST",
            "+login",
            action=f"log in {credentials.user!r}",
            ok=(200, 401),
            json={"user": credentials.user, "password": credentials.password},
        )
        if response.status_code == 401:
            raise DevpiAuthError(credentials, self.display_url)
        token = response.json()["result"]["password"]
        auth = base64.b64encode(f"{credentials.user}:{token}".encode()).decode("ascii")
        self.session.headers["X-Devpi-Auth"] = auth
        self.user = credentials.user
        self._credentials = credentials  # in memory only: twine needs the password to upload
        log.info("logged in to %s as %s", self.display_url, credentials.user)

    def users(self) -> dict[str, dict[str, Any]]:
        """Return every user's configuration, including its indexes' configurations."""
        return self.get_json("", action="list users") or {}

    def ensure_user(self, name: str, password: str) -> str:
        """Create user ``name`` or reset its password if it does not log in; return what happened.

        Needs a root login. Returns ``"created"``, ``"password reset"`` or ``"unchanged"``.
        """
        if self.get_json(name, action=f"read user {name!r}", missing_ok=True) is None:
            self.request(
                "PUT", name, action=f"create user {name!r}", ok=(201,), json={"password": password}
            )
            return "created"
        probe = self.request(
            "POST",
            "+login",
            action=f"log in {name!r}",
            ok=(200, 401),
            json={"user": name, "password": password},
        )
        if probe.status_code == 200:
            return "unchanged"
        self.request(
            "PATCH", name, action=f"set the password of {name!r}", json={"password": password}
        )
        return "password reset"

    def ensure_owner(self, name: str) -> str:
        """Create user ``name``, with a random password nobody keeps, unless it exists.

        For index owners that are not role users. Returns ``"created"`` or ``"unchanged"``.
        """
        if self.get_json(name, action=f"read user {name!r}", missing_ok=True) is not None:
            return "unchanged"
        self.request(
            "PUT",
            name,
            action=f"create user {name!r}",
            ok=(201,),
            json={"password": secrets.token_urlsafe(32)},
        )
        return "created"

    def index_config(self, index: str) -> dict[str, Any] | None:
        """Return the configuration of ``user/index`` (without its project list) or ``None``."""
        return self.get_json(f"{index}?no_projects=", action=f"read index {index}", missing_ok=True)

    def require_index(self, index: str) -> dict[str, Any]:
        """Return the configuration of ``index``; raise `CIError` if there is no such index."""
        config = self.index_config(index)
        if config is None:
            raise CIError(
                f"{self.display_url} has no index {index}",
                tip="create it with `python -m ci devpi start` (local) or `ci devpi setup`",
            )
        return config

    def may_upload(self, config: Mapping[str, Any]) -> bool:
        """Whether the logged-in user is in an index's ``acl_upload`` (root always is)."""
        acl = set(config.get("acl_upload", ()))
        if ":ANONYMOUS:" in acl:
            return True
        return self.user is not None and (
            self.user == "root" or self.user in acl or ":AUTHENTICATED:" in acl
        )

    def ensure_index(self, index: str, wanted: Mapping[str, Any]) -> str:
        """Create ``index`` with the settings ``wanted``, or converge an existing one to them.

        Settings not named in ``wanted`` are left alone. Returns ``"created"``,
        ``"updated (KEYS)"`` or ``"unchanged"``.

        Raises
        ------
        CIError
            If the index exists with another ``type`` (devpi cannot change it).
        """
        current = self.index_config(index)
        if current is None:
            self.request("PUT", index, action=f"create index {index}", json=dict(wanted))
            return "created"
        if "type" in wanted and current.get("type") != wanted["type"]:
            raise CIError(
                f"index {index} exists as a {current.get('type')} index, not {wanted['type']}",
                tip=f"delete {index} on the server (devpi cannot change an index's type)",
            )
        changes = {
            key: value
            for key, value in wanted.items()
            if key != "type" and _normalised(current.get(key)) != _normalised(value)
        }
        if not changes:
            return "unchanged"
        self.request("PATCH", index, action=f"change the settings of {index}", json=changes)
        return f"updated ({', '.join(sorted(changes))})"

    # -- releases (used by publish, verify, promote) ---------------------------

    def _project(self, index: str, project: str) -> dict[str, Any]:
        """Return ``{version: versiondata}`` of ``project`` on ``index`` itself (not its bases)."""
        found = self.get_json(
            f"{index}/{project}?ignore_bases=",
            action=f"list {project} on {index}",
            missing_ok=True,
        )
        if found is None:
            self.require_index(index)  # a missing index is an error, a missing project is not
        return found or {}

    def versions(self, index: str, project: str) -> list[str]:
        """Return the versions of ``project`` on ``index`` itself, oldest first (PEP 440)."""
        return sorted(self._project(index, project), key=version_key)

    def release_files(self, index: str, project: str, version: str) -> list[ReleaseFile]:
        """Return the release files of ``project`` ``version`` on ``index`` (empty if none)."""
        found = self._project(index, project)
        verdata = (found or {}).get(version) or {}
        links = verdata.get("+links", [])
        toxresults: dict[str, list[str]] = {}
        for link in links:
            if link.get("rel") == "toxresult" and link.get("for_href"):
                toxresults.setdefault(_strip_fragment(link["for_href"]), []).append(
                    _strip_fragment(link["href"])
                )
        files = [
            _release_file(index, verdata.get("name", project), version, link, toxresults)
            for link in links
            if link.get("rel") == "releasefile"
        ]
        return sorted(files, key=lambda item: item.filename)

    def download(self, release_file: ReleaseFile, directory: Path) -> Path:
        """Download ``release_file`` into ``directory``, checking it against its sha256.

        The file appears under its own name only once complete and verified.

        Raises
        ------
        CIError
            If the content does not match the sha256 the index recorded.
        """
        target = directory / release_file.filename
        digest = hashlib.sha256()
        response = self.request(
            "GET",
            release_file.url,
            action=f"send {release_file.filename}",
            stream=True,
            headers={"Accept": "*/*"},  # with Accept: JSON devpi answers with the file's metadata
        )
        with response, atomic_file(target, binary=True) as out:
            for chunk in response.iter_content(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            if digest.hexdigest() != release_file.sha256:
                raise CIError(
                    f"{release_file.filename} from {release_file.index} has sha256 "
                    f"{digest.hexdigest()[:12]}…, the index recorded {release_file.sha256[:12]}…",
                    tip="the file was altered in transit or on the server; do not install it",
                )
        return target

    def upload(self, index: str, path: Path) -> str:
        """Upload a wheel or sdist to ``index``; return ``"uploaded"`` or ``"already there"``.

        An identical file already on the index counts as success. A different file
        of the same name is replaced on a volatile index and refused on a
        non-volatile one.

        Raises
        ------
        ReleaseConflictError
            If a non-volatile index holds a different file under that name.
        DevpiRefusedError
            If the logged-in user may not upload to ``index``.
        """
        dist = read_dist_file(path)
        project, version, ours = dist.project, str(dist.version), dist.sha256
        config = self.require_index(index)
        existing = {f.filename: f.sha256 for f in self.release_files(index, project, version)}
        # Without upload rights the server must refuse, even an identical file.
        if path.name in existing and self.may_upload(config):
            if existing[path.name] == ours:
                return ALREADY_THERE
            if not config.get("volatile", False):
                raise ReleaseConflictError(path.name, index, existing[path.name], ours)
        self._twine_upload(index, path)
        return "uploaded"

    def _twine_upload(self, index: str, path: Path) -> None:
        """Upload with twine (devpi speaks PyPI's upload API); the password goes by environment."""
        user = self._credentials.user if self._credentials else ""
        password = self._credentials.password if self._credentials else ""
        try:
            shell.run(
                [
                    sys.executable,
                    "-m",
                    "twine",
                    "upload",
                    "--non-interactive",
                    "--disable-progress-bar",
                    "--repository-url",
                    self._url(f"{index}/"),
                    path,
                ],
                env={"TWINE_USERNAME": user, "TWINE_PASSWORD": password},
            )
        except shell.CommandError as exc:
            if "409" in exc.output:  # lost a race with another upload of this name
                dist = read_dist_file(path)
                theirs = {
                    f.filename: f.sha256
                    for f in self.release_files(index, dist.project, str(dist.version))
                }
                raise ReleaseConflictError(
                    path.name, index, theirs.get(path.name, "?"), dist.sha256
                ) from exc
            status, detail = _twine_failure(exc.output)
            if status == 0 and "ConnectionError" in exc.output:
                raise DevpiUnreachableError(self.display_url, "connection lost") from exc
            raise DevpiRefusedError(
                f"accept {path.name} on {index} from {user or 'anonymous'}", status, detail
            ) from exc

    def docs(self, index: str, project: str, version: str) -> ReleaseFile | None:
        """Return the documentation zip of a version on ``index`` (None if it has none)."""
        verdata = self._project(index, project).get(version) or {}
        for link in verdata.get("+links", []):
            if link.get("rel") == "doczip":
                return _release_file(index, verdata.get("name", project), version, link, {})
        return None

    def upload_docs(self, index: str, project: str, version: str, path: Path) -> str:
        """Upload the documentation zip of a version; return ``"uploaded"`` or ``"already there"``.

        devpi keeps one zip per version and pushes it along with the release
        files on promotion. The same bytes again count as success; other bytes
        replace it on a volatile index and are refused by a non-volatile one.
        """
        present = self.docs(index, project, version)
        if present and present.sha256 == sha256_of(path):
            return ALREADY_THERE
        with path.open("rb") as content:
            self.request(
                "POST",
                f"{index}/",
                action=f"accept the documentation of {project} {version} on {index}",
                data={":action": "doc_upload", "name": project, "version": version},
                files={"content": (path.name, content, "application/zip")},
            )
        return "uploaded"

    def push(self, source: str, project: str, version: str, target: str) -> str:
        """Copy a release (files and toxresults) from ``source`` to ``target`` on the server.

        Returns ``"pushed"``, or ``"already there"`` if ``target`` holds the same files.

        Raises
        ------
        CIError
            If ``source`` has no files for the version, or ``target`` holds different ones.
        DevpiRefusedError
            If the logged-in user may not upload to ``target``.
        """
        wanted = {f.filename: f.sha256 for f in self.release_files(source, project, version)}
        if not wanted:
            raise CIError(
                f"{project} {version} has no files on {source}",
                tip="publish it first (`python -m ci publish`)",
            )
        target_config = self.require_index(target)
        present = {f.filename: f.sha256 for f in self.release_files(target, project, version)}
        if self.may_upload(target_config):  # else the server must refuse
            if all(present.get(name) == sha for name, sha in wanted.items()):
                return ALREADY_THERE
            if not target_config.get("volatile", False):
                for name, sha in wanted.items():
                    if name in present and present[name] != sha:
                        raise ReleaseConflictError(name, target, present[name], sha)
        self.request(
            "POST",
            source,
            action=f"push {project} {version} from {source} to {target} as {self.user}",
            json={"name": project, "version": version, "targetindex": target},
        )
        return "pushed"

    def attach_toxresult(self, release_file: ReleaseFile, result: Mapping[str, Any]) -> str:
        """Attach a tox result (JSON) to a release file; return the toxresult's path."""
        response = self.request(
            "POST",
            release_file.url,
            action=f"attach a toxresult to {release_file.filename} on {release_file.index}",
            json=dict(result),
        )
        return response.json().get("result", "")

    def delete_version(self, index: str, project: str, version: str) -> None:
        """Remove ``project`` ``version`` from a volatile index (devpi refuses on others)."""
        self.request(
            "DELETE",
            f"{index}/{project}/{version}",
            action=f"delete {project} {version} from {index}",
            tip="only a volatile index (unstable) lets a release be deleted",
        )


# -- helpers ---------------------------------------------------------------


_TIPS = {
    401: "use the role this index allows: ci uploads to unstable and testing, qa pushes to stable",
    403: "use the role this index allows: ci uploads to unstable and testing, qa pushes to stable;"
    " only root changes users and indexes",
    404: "check the index, project and version names (`python -m ci devpi status`)",
}


def _twine_failure(output: str) -> tuple[int, str]:
    """Return the HTTP status and the server's reason from twine's error output."""
    found = re.search(r"HTTPError: (\d+) [^\n]*\n(.*)", output, re.DOTALL)
    if not found:
        return 0, output.strip().splitlines()[-1] if output.strip() else "twine failed"
    detail = " ".join(found.group(2).split())
    return int(found.group(1)), detail


def version_key(version: str) -> tuple[int, Version | str]:
    """Return a sort key: PEP 440 versions by meaning, anything else after them by name."""
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def _normalised(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return sorted(str(item) for item in value)
    return value


def _release_file(
    index: str, project: str, version: str, link: Mapping[str, Any], toxresults: Mapping
) -> ReleaseFile:
    """Return the file of a devpi ``+links`` entry; ``toxresults`` maps file URLs to theirs."""
    url = _strip_fragment(link["href"])
    return ReleaseFile(
        index=index,
        project=project,
        version=version,
        filename=url.rsplit("/", 1)[-1],
        url=url,
        sha256=(link.get("hashes") or {}).get("sha256", ""),
        toxresults=tuple(toxresults.get(url, ())),
    )


def _strip_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def _server_message(response: requests.Response) -> str:
    """Return devpi's one-line explanation of an error response."""
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text
    message = " ".join(str(message).split())
    return message[:300] or (response.reason or "")


def _connection_reason(exc: BaseException) -> str:
    """Return a short reason for a connection failure (e.g. ``connection refused``)."""
    text = str(exc)
    if "Connection refused" in text or "[Errno 111]" in text:
        return "connection refused"
    if "Name or service not known" in text or "name resolution" in text:
        return "unknown host"
    return "connection failed"
