"""The update notice: tell the user when the stable index has a newer epicast.

The CLI starts an :class:`UpdateCheck` when it starts and asks it for its lines
when the command has finished. The check runs in a daemon thread, at most once
a day (the answer is cached), with a short timeout; the CLI waits for it at most
:data:`WAIT` seconds, and any failure means no notice. Only the standard
library is imported here: the CLI imports this module on every run. ``packaging``
(a dependency) is imported in the thread, when a page or a
cached answer needs comparing.

Where the index URL comes from, first found wins:

1. the environment variable ``EPICAST_INDEX_URL``;
2. ``index_url`` in the ``[updates]`` table of ``$XDG_CONFIG_HOME/epicast/config.toml``
   (default ``~/.config/epicast/config.toml``);
3. the ``Project-URL`` labelled "Stable index" in the installed package's metadata
   (``project_urls`` in setup.cfg, set at build time).

A given URL that is not http(s) with a host turns the check off with one
warning line, like an unreadable config file.

``EPICAST_UPDATE_TIMEOUT`` (seconds, e.g. ``5``) lets the check take longer
than its defaults: the index may take that long to answer, and the CLI waits
that long for it at the end of a command (a slow network; tests that must see
the notice on a busy machine). An invalid value is ignored.

The check is off when ``EPICAST_NO_UPDATE_CHECK`` is set to anything but the
empty string, or when the config file says ``check = false``. A config file that
cannot be read (invalid TOML, wrong types, Python 3.10 without ``tomli``) turns
the check off too, with one warning line, so that a ``check = false`` in it is
never ignored.

The cache, ``$XDG_CACHE_HOME/epicast/update-check.json`` (default
``~/.cache/epicast/update-check.json``), is written atomically::

    {"schema": 1, "index_url": "...", "checked": 1732440000.0, "latest": "1.2.0", "error": null}

``checked`` is the time of the last attempt (seconds since the epoch); ``latest``
the newest final release found (kept from the previous answer when an attempt
fails: a release on stable never goes away); ``error`` why the last attempt
failed, or ``null``. An attempt is recorded before the index is asked, so a run
that ends before the index answers (a server that never answers) is not retried
for a day either. A cache of another index URL is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from epicast._folders import user_folder

logger = logging.getLogger(__name__)

PROJECT = "epicast"
INDEX_ENV = "EPICAST_INDEX_URL"
DISABLE_ENV = "EPICAST_NO_UPDATE_CHECK"
TIMEOUT_ENV = "EPICAST_UPDATE_TIMEOUT"
INDEX_LABEL = "Stable index"
"""The label of the metadata's ``Project-URL`` naming the default index."""
INTERVAL = 24 * 3600.0
"""Seconds between two checks of the same index."""
TIMEOUT = 1.0
"""Seconds the check waits for the index to connect and to answer."""
WAIT = 0.3
"""Seconds the CLI waits for an unfinished check once its command is done."""
CACHE_SCHEMA = 1
MAX_PAGE = 8 * 1024 * 1024
PENDING = "no answer before epicast exited"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


@dataclass(frozen=True)
class Settings:
    """What the environment and the config file say about the check.

    Attributes
    ----------
    enabled
        False when turned off (environment, ``check = false``, an unreadable config file).
    index_url
        The simple-API URL of the index (what ``pip --index-url`` takes), or ``None``.
    problem
        Why the config file could not be used (printed as a warning), or ``None``.
    """

    enabled: bool
    index_url: str | None
    problem: str | None = None


@dataclass(frozen=True)
class IndexFile:
    """One file listed on a simple-API project page (PEP 503 / PEP 691)."""

    filename: str
    yanked: bool = False
    requires_python: str | None = None


def patience(environ: Mapping[str, str]) -> tuple[float, float]:
    """Return the check's timeout and the CLI's wait for it, in seconds.

    The defaults :data:`TIMEOUT` and :data:`WAIT`, or both raised to the
    positive number ``EPICAST_UPDATE_TIMEOUT`` holds.
    """
    try:
        seconds = float(environ.get(TIMEOUT_ENV, ""))
    except ValueError:
        return TIMEOUT, WAIT
    if not 0 < seconds < float("inf"):
        return TIMEOUT, WAIT
    return max(seconds, TIMEOUT), max(seconds, WAIT)


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the user config file, ``$XDG_CONFIG_HOME/epicast/config.toml``."""
    return user_folder("XDG_CONFIG_HOME", ".config", environ) / "config.toml"


def cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the cache file, ``$XDG_CACHE_HOME/epicast/update-check.json``."""
    return user_folder("XDG_CACHE_HOME", ".cache", environ) / "update-check.json"


def settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Return whether to check and which index, from the environment, config and metadata."""
    environ = os.environ if environ is None else environ
    if environ.get(DISABLE_ENV):
        return Settings(enabled=False, index_url=None)
    path = config_path(environ)
    table, problem = _read_config(path)
    if problem is not None:
        return Settings(enabled=False, index_url=None, problem=f"{path}: {problem}")
    given = [
        (INDEX_ENV, environ.get(INDEX_ENV)),
        (f"{path}: [updates] index_url", table.get("index_url")),
    ]
    enabled = table.get("check", True)
    for source, url in given if enabled else ():
        if url and not _is_http_url(url):
            problem = f"{source}={url!r} is not an http(s) URL of an index; no update check"
            return Settings(enabled=False, index_url=None, problem=problem)
    index_url = next((url for _, url in given if url), None) or default_index_url()
    return Settings(enabled=enabled, index_url=index_url)


def _is_http_url(url: str) -> bool:
    """Tell whether ``url`` is an http(s) URL with a host (what the check can ask)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _read_config(path: Path) -> tuple[dict, str | None]:
    """Return the ``[updates]`` table of the config file and a problem (or ``None``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        return {}, f"cannot be read ({exc}); no update check"
    toml = _toml_parser()
    if toml is None:
        return {}, "reading it needs Python 3.11 or the tomli package; no update check"
    try:
        table = toml.loads(text).get("updates", {})
    except toml.TOMLDecodeError as exc:
        return {}, f"invalid TOML ({exc}); no update check"
    if not isinstance(table, dict):
        return {}, "[updates] must be a table; no update check"
    problems = [f"unknown key {key!r}" for key in table if key not in ("check", "index_url")]
    if not isinstance(table.get("check", True), bool):
        problems.append("check must be true or false")
    if not isinstance(table.get("index_url", ""), str):
        problems.append("index_url must be a string")
    if problems:
        return {}, f"[updates]: {', '.join(problems)}; no update check"
    return table, None


def _toml_parser():
    """Return ``tomllib`` (3.11+) or ``tomli``, or ``None`` when neither is there."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            return None
    return tomllib


def default_index_url() -> str | None:
    """Return the "Stable index" ``Project-URL`` of the installed epicast, or ``None``."""
    from importlib import metadata

    try:
        entries = metadata.metadata(PROJECT).get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in entries:
        label, _, url = entry.partition(",")
        if _label(label) == _label(INDEX_LABEL) and url.strip():
            return url.strip()
    return None


def _label(text: str) -> str:
    """Normalise a Project-URL label as PEP 753 does (no punctuation or space, lower case)."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def notice(latest: str, installed: str, index_url: str) -> str:
    """Return the line telling the user about a newer release."""
    return (
        f"epicast {latest} is available (you have {installed}): "
        f"pip install -U --index-url {index_url} {PROJECT}"
    )


def is_newer(candidate: str, installed: str) -> bool:
    """Whether version ``candidate`` is later than ``installed`` (PEP 440; invalid: no)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(candidate) > Version(installed)
    except InvalidVersion:
        return False


def newest_release(files: Iterable[IndexFile], python: str | None = None) -> str | None:
    """Return the newest final release among ``files``, or ``None``.

    Yanked files, pre-releases and development releases, files whose
    ``Requires-Python`` excludes ``python`` (default: this interpreter) and names
    that are not epicast's distributions are left out.
    """
    from packaging.specifiers import InvalidSpecifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    python = python or ".".join(map(str, sys.version_info[:3]))
    newest = None
    for item in files:
        text = version_in_filename(item.filename)
        if item.yanked or text is None:
            continue
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if version.is_prerelease:
            continue
        if item.requires_python:
            try:
                if not SpecifierSet(item.requires_python).contains(python, prereleases=True):
                    continue
            except InvalidSpecifier:
                pass  # as pip does: an invalid Requires-Python does not exclude the file
        if newest is None or version > newest:
            newest = version
    return None if newest is None else str(newest)


def version_in_filename(filename: str) -> str | None:
    """Return the version part of an epicast wheel or sdist file name, else ``None``."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        name, version = parts[0], (parts[1] if len(parts) in (5, 6) else None)
    else:
        stem = next(
            (filename[: -len(ext)] for ext in (".tar.gz", ".zip") if filename.endswith(ext)), ""
        )
        name, _, version = stem.rpartition("-")
    if not version or name.lower().replace("-", "_").replace(".", "_") != PROJECT:
        return None
    return version


def files_on_page(body: bytes, content_type: str) -> list[IndexFile]:
    """Return the files listed on a project page: PEP 691 JSON or PEP 503 HTML."""
    if content_type == SIMPLE_JSON or content_type.endswith("json"):
        return [
            IndexFile(
                str(item["filename"]),
                yanked=bool(item.get("yanked")),
                requires_python=item.get("requires-python"),
            )
            for item in json.loads(body).get("files", [])
        ]
    return _links_in_html(body.decode("utf-8", errors="replace"))


def _links_in_html(text: str) -> list[IndexFile]:
    """Return the ``<a>`` elements of a PEP 503 page as `IndexFile` objects."""
    from html.parser import HTMLParser
    from urllib.parse import unquote, urlsplit

    files: list[IndexFile] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "a" and found.get("href"):
                path = urlsplit(found["href"]).path
                files.append(
                    IndexFile(
                        unquote(path.rsplit("/", 1)[-1]),
                        yanked="data-yanked" in found,
                        requires_python=found.get("data-requires-python"),
                    )
                )

    parser = Links()
    parser.feed(text)
    parser.close()
    return files


def query(index_url: str, timeout: float = TIMEOUT) -> str | None:
    """Ask the index for epicast's project page; return its newest final release.

    Raises
    ------
    OSError
        If the index does not answer in time or refuses (``urllib.error.URLError``).
    ValueError
        If the URL is not http(s) or the page is not a project page.
    """
    import urllib.parse
    import urllib.request

    url = f"{index_url.rstrip('/')}/{PROJECT}/"
    if not _is_http_url(url):
        raise ValueError(f"not an http(s) URL: {index_url}")
    parts = urllib.parse.urlsplit(url)
    # Like pip, use the proxy settings of the environment, but not for this machine.
    handlers = [urllib.request.ProxyHandler({})] if _is_loopback(parts.hostname) else []
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(
        url, headers={"Accept": ACCEPT, "User-Agent": f"{PROJECT}-update-check"}
    )
    with opener.open(request, timeout=timeout) as response:
        body = response.read(MAX_PAGE + 1)
        content_type = response.headers.get_content_type()
    if len(body) > MAX_PAGE:
        raise ValueError(f"the page of {url} is larger than {MAX_PAGE} bytes")
    return newest_release(files_on_page(body, content_type))


def _is_loopback(host: str | None) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def read_cache(path: Path, index_url: str) -> dict | None:
    """Return the cached answer for ``index_url``, or ``None`` (none, unreadable, other index)."""
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(cached, dict)
        or cached.get("schema") != CACHE_SCHEMA
        or cached.get("index_url") != index_url
        or not isinstance(cached.get("checked"), (int, float))
        or not isinstance(cached.get("latest"), (str, type(None)))
    ):
        return None
    return cached


def write_cache(
    path: Path, index_url: str, checked: float, latest: str | None, error: str | None
) -> None:
    """Write the cache atomically (epicast's one atomic writer); never fail."""
    from epicast._files import atomic_path  # not at import: the CLI imports this module
    from epicast.errors import EpicastError

    record = {
        "schema": CACHE_SCHEMA,
        "index_url": index_url,
        "checked": checked,
        "latest": latest,
        "error": error,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, force=True) as temporary:
            temporary.write_text(json.dumps(record), encoding="utf-8")
    except (OSError, EpicastError) as exc:  # a read-only or full disk: checked again next run
        logger.debug("cannot write %s: %s", path, exc)


class UpdateCheck:
    """The check for a newer release of one CLI run, in a daemon thread.

    Parameters
    ----------
    installed
        The installed version of epicast.
    environ
        The environment (default ``os.environ``).
    """

    def __init__(self, installed: str, environ: Mapping[str, str] | None = None) -> None:
        self.installed = installed
        self.environ = dict(os.environ if environ is None else environ)
        self.timeout, self.wait = patience(self.environ)
        self._lines: list[str] = []
        self._thread = threading.Thread(target=self._run, name="epicast-update-check", daemon=True)

    @classmethod
    def start(cls, installed: str, environ: Mapping[str, str] | None = None) -> UpdateCheck | None:
        """Start a check unless ``EPICAST_NO_UPDATE_CHECK`` is set; return it or ``None``."""
        if (os.environ if environ is None else environ).get(DISABLE_ENV):
            return None
        check = cls(installed, environ)
        check._thread.start()
        return check

    def lines(self, wait: float | None = None) -> list[str]:
        """Return the lines to print (a notice or a warning), waiting at most ``wait`` s.

        By default as long as :func:`patience` says.
        """
        self._thread.join(self.wait if wait is None else wait)
        return [] if self._thread.is_alive() else list(self._lines)

    def _run(self) -> None:
        try:
            self._lines = self._check(time.time())
        except Exception:  # the check must never break or disturb a command
            logger.debug("update check failed", exc_info=True)

    def _check(self, now: float) -> list[str]:
        found = settings(self.environ)
        if found.problem is not None:
            return [f"epicast: warning: {found.problem}"]
        if not found.enabled or not found.index_url:
            return []
        path = cache_path(self.environ)
        cached = read_cache(path, found.index_url)
        if cached is not None and 0 <= now - cached["checked"] < INTERVAL:
            latest = cached["latest"]
        else:
            previous = None if cached is None else cached["latest"]
            write_cache(path, found.index_url, now, previous, PENDING)
            try:
                latest, error = query(found.index_url, self.timeout), None
            except Exception as exc:
                latest, error = previous, f"{type(exc).__name__}: {exc}"
            write_cache(path, found.index_url, now, latest, error)
        if latest and latest != self.installed and is_newer(latest, self.installed):
            return [notice(latest, self.installed, found.index_url)]
        return []
