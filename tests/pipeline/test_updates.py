"""The update notice of the installed ``epicast`` command, against real servers.

tox installs the built epicast wheel into the pipeline environment; each test runs
its ``epicast`` command in a subprocess with the cache and config folders
(``XDG_CACHE_HOME``, ``XDG_CONFIG_HOME``) in tmp_path. The newer release is a
throwaway project named epicast, version 99.0, built here and uploaded to an
index of the session's devpi-server with the settings of the stable index. A
small HTTP server in this process stands in for an index where a test needs
every request recorded, and a socket that listens but never answers for an
index that hangs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ci.config import load_config
from ci.devpi import index_settings

if TYPE_CHECKING:
    from conftest import DevpiServer

ROOT = Path(__file__).resolve().parents[2]
EPICAST = Path(sys.executable).with_name("epicast")
INDEX = "qa/updates"
"""An index of the session's server with the settings of the stable index."""
PAGE = "/qa/updates/+simple/epicast/"
PENDING = "no answer before epicast exited"
STEERING = ("EPICAST_", "DEVPI_", "CI_STATE_DIR", "CI_DEVPI_PORT", "CI_CONFIG", "PIP_")
"""Variables of the test's own environment that would steer epicast, ci or pip."""


def clean_environment() -> dict[str, str]:
    """os.environ without STEERING variables and proxies (all servers here are local)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(STEERING) and not key.lower().endswith("_proxy")
    }


@pytest.fixture(scope="module")
def installed() -> str:
    """The version of the installed epicast; skipped (failed on CI) when there is none."""
    if not EPICAST.exists():
        reason = f"no epicast command in {EPICAST.parent}: run through `tox -e pipeline`"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: not skipped)")
        pytest.skip(reason)
    return metadata.version("epicast")


def build_epicast(version: str, work: Path, requires_python: str) -> subprocess.Popen:
    """Start building a wheel of an empty project named epicast into ``work/dist``."""
    source = work / f"epicast-{version}"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(
        "[build-system]\n"
        'requires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        "[project]\n"
        'name = "epicast"\n'
        f'version = "{version}"\n'
        f'requires-python = "{requires_python}"\n'
        'description = "A stand-in newer epicast for the update notice tests."\n\n'
        "[tool.setuptools]\n"
        "packages = []\n"
    )
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation"]
    return subprocess.Popen(
        [*command, "--outdir", str(work / "dist"), str(source)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=clean_environment(),
    )


@pytest.fixture(scope="module")
def stable_like(devpi: DevpiServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The simple-API URL of an index holding epicast 99.0, 100.0rc1 and 101.0 (Python >= 4).

    The pre-release and the release no Python 3 can install must not be named.
    """
    work = tmp_path_factory.mktemp("newer-epicast")
    builds = [
        build_epicast("99.0", work, ">=3.8"),
        build_epicast("100.0rc1", work, ">=3.8"),
        build_epicast("101.0", work, ">=4"),
    ]
    for process in builds:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode(errors="replace")
    indexes = load_config(ROOT).indexes
    ci_user, qa_user = devpi.credentials("ci").user, devpi.credentials("qa").user
    with devpi.client("root") as root:
        root.ensure_index(INDEX, index_settings(indexes, ci_user, qa_user)[indexes.stable])
    with devpi.client("qa") as qa:
        for wheel in sorted((work / "dist").glob("*.whl")):
            qa.upload(INDEX, wheel)
    return f"{devpi.url}/{INDEX}/+simple/"


def user_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a user whose cache and config folders are in ``tmp_path``.

    The check may take up to a minute (``EPICAST_UPDATE_TIMEOUT``), so that what
    it finds does not depend on how busy the machine is; the tests of an index
    that never answers use the defaults.
    """
    env = clean_environment()
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        MPLBACKEND="Agg",
        EPICAST_UPDATE_TIMEOUT="60",
    )
    env.update(extra)
    return env


def epicast(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run the installed ``epicast ARGS``; return the result and its wall time in seconds.

    The time is for reports only: no test asserts on wall time.
    """
    began = time.monotonic()
    result = subprocess.run(
        [str(EPICAST), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    return result, time.monotonic() - began


def cache_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "cache" / "epicast" / "update-check.json").read_text())


def write_cache(tmp_path: Path, index_url: str, checked: float, latest: str | None) -> None:
    path = tmp_path / "cache" / "epicast" / "update-check.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"schema": 1, "index_url": index_url, "checked": checked, "latest": latest}
    path.write_text(json.dumps({**record, "error": None}))


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "epicast" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def page_requests(devpi: DevpiServer) -> int:
    """How many times devpi-server logged a GET of epicast's page on the index."""
    log = (devpi.server_dir / "server.log").read_text()
    return sum(1 for line in log.splitlines() if line.endswith(f"GET {PAGE}"))


def notice(version: str, installed: str, index_url: str) -> str:
    return (
        f"epicast {version} is available (you have {installed}): "
        f"pip install -U --index-url {index_url} epicast\n"
    )


# -- a real devpi index with a newer release ------------------------------------------------


def test_notice_of_the_newer_release_then_the_cached_answer(
    devpi, stable_like, installed, tmp_path
):
    env = user_environment(tmp_path, EPICAST_INDEX_URL=stable_like)
    asked = page_requests(devpi)
    before = time.time()
    version, _ = epicast("--version", env=env)
    assert version.returncode == 0, version.stderr
    assert version.stdout == f"epicast {installed}\n"
    assert version.stderr == notice("99.0", installed, stable_like)
    cache = cache_of(tmp_path)
    assert before <= cache.pop("checked") <= time.time()
    assert cache == {"schema": 1, "index_url": stable_like, "latest": "99.0", "error": None}
    assert page_requests(devpi) == asked + 1

    # Within a day: the cached answer, no request, the cache untouched.
    cached = (tmp_path / "cache" / "epicast" / "update-check.json").read_bytes()
    scenarios, _ = epicast("scenarios", env=env)
    assert scenarios.returncode == 0, scenarios.stderr
    assert scenarios.stdout.startswith("seir-basic") or "seir-basic" in scenarios.stdout
    assert scenarios.stderr == notice("99.0", installed, stable_like)
    assert (tmp_path / "cache" / "epicast" / "update-check.json").read_bytes() == cached
    assert page_requests(devpi) == asked + 1


def test_the_cached_answer_is_used_for_a_day(devpi, stable_like, installed, tmp_path):
    env = user_environment(tmp_path, EPICAST_INDEX_URL=stable_like)
    asked = page_requests(devpi)
    write_cache(tmp_path, stable_like, time.time() - 23 * 3600, "98.0")
    result, _ = epicast("--version", env=env)
    assert result.stderr == notice("98.0", installed, stable_like)
    assert cache_of(tmp_path)["latest"] == "98.0"
    assert page_requests(devpi) == asked


@pytest.mark.parametrize(
    "age", [25 * 3600, -3600], ids=["checked-yesterday", "checked-in-the-future"]
)
def test_a_stale_cache_is_checked_again(devpi, stable_like, installed, tmp_path, age):
    env = user_environment(tmp_path, EPICAST_INDEX_URL=stable_like)
    asked = page_requests(devpi)
    write_cache(tmp_path, stable_like, time.time() - age, "98.0")
    before = time.time()
    result, _ = epicast("scenarios", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == notice("99.0", installed, stable_like)
    cache = cache_of(tmp_path)
    assert before <= cache["checked"] <= time.time()
    assert cache["latest"] == "99.0"
    assert page_requests(devpi) == asked + 1


def test_a_cache_of_another_index_is_ignored(devpi, stable_like, installed, tmp_path):
    env = user_environment(tmp_path, EPICAST_INDEX_URL=stable_like)
    asked = page_requests(devpi)
    write_cache(tmp_path, f"{devpi.url}/qa/stable/+simple/", time.time(), "98.0")
    result, _ = epicast("--version", env=env)
    assert result.stderr == notice("99.0", installed, stable_like)
    assert cache_of(tmp_path)["index_url"] == stable_like
    assert page_requests(devpi) == asked + 1


def test_devpi_answers_in_json_as_pep_691_asks(stable_like):
    import urllib.request

    from epicast import updates

    request = urllib.request.Request(f"{stable_like}epicast/", headers={"Accept": updates.ACCEPT})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert response.headers.get_content_type() == updates.SIMPLE_JSON
        files = updates.files_on_page(response.read(), updates.SIMPLE_JSON)
    assert sorted(f.filename for f in files) == [
        "epicast-100.0rc1-py3-none-any.whl",
        "epicast-101.0-py3-none-any.whl",
        "epicast-99.0-py3-none-any.whl",
    ]
    assert [f.requires_python for f in files if f.filename.startswith("epicast-101.0")] == [">=4"]


def test_no_notice_after_a_failed_command_and_stdout_stays_clean(stable_like, installed, tmp_path):
    env = user_environment(tmp_path, EPICAST_INDEX_URL=stable_like)
    write_cache(tmp_path, stable_like, time.time(), "99.0")
    failed, _ = epicast("run", "no-such-scenario", env=env)
    assert failed.returncode == 2
    assert failed.stderr.startswith("epicast: error: ")
    assert "available" not in failed.stderr
    schema, _ = epicast("schema", env=env)
    assert schema.returncode == 0, schema.stderr
    assert "population" in json.loads(schema.stdout)["properties"]
    assert schema.stderr == notice("99.0", installed, stable_like)


def test_the_installed_metadata_names_the_local_stable_index(installed, tmp_path):
    from epicast import updates

    assert updates.default_index_url() == "http://127.0.0.1:3141/qa/stable/+simple/"
    found = updates.settings({"XDG_CONFIG_HOME": str(tmp_path)})
    assert found.index_url == "http://127.0.0.1:3141/qa/stable/+simple/"


# -- an index that records every request, for the settings ---------------------------------


class Recorder(ThreadingHTTPServer):
    """An index serving one page of epicast files (PEP 503 HTML) and recording requests."""

    daemon_threads = True

    def __init__(self, versions: list[str]) -> None:
        super().__init__(("127.0.0.1", 0), _RecorderHandler)
        self.versions = versions
        self.requests: list[str] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/simple/"


class _RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        links = "".join(
            f'<a href="/files/epicast-{v}-py3-none-any.whl">epicast-{v}-py3-none-any.whl</a>\n'
            for v in self.server.versions
        )
        body = f"<!DOCTYPE html><html><body>\n{links}</body></html>".encode()
        self.send_response(200 if self.path == "/simple/epicast/" else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def start_recorder() -> Iterator:
    """Return a function starting a `Recorder` with the given versions (stopped after the test)."""
    started: list[tuple[Recorder, threading.Thread]] = []

    def start(versions: list[str]) -> Recorder:
        server = Recorder(versions)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        started.append((server, thread))
        return server

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join()


def test_index_url_from_the_config_file(start_recorder, installed, tmp_path):
    index = start_recorder(["0.0.1", "77.0"])
    write_config(tmp_path, f'[updates]\nindex_url = "{index.url}"\n')
    result, _ = epicast("--version", env=user_environment(tmp_path))
    assert result.stderr == notice("77.0", installed, index.url)
    assert index.requests == ["/simple/epicast/"]


def test_the_environment_wins_over_the_config_file(start_recorder, installed, tmp_path):
    ours, theirs = start_recorder(["77.0"]), start_recorder(["88.0"])
    write_config(tmp_path, f'[updates]\nindex_url = "{theirs.url}"\n')
    env = user_environment(tmp_path, EPICAST_INDEX_URL=ours.url)
    result, _ = epicast("--version", env=env)
    assert result.stderr == notice("77.0", installed, ours.url)
    assert (ours.requests, theirs.requests) == (["/simple/epicast/"], [])


def test_no_notice_when_the_installed_version_is_the_newest(start_recorder, installed, tmp_path):
    from packaging.version import Version

    index = start_recorder(["0.0.1", installed])
    result, _ = epicast("--version", env=user_environment(tmp_path, EPICAST_INDEX_URL=index.url))
    assert (result.returncode, result.stderr) == (0, "")
    # A development build (no tag) is not a release: then 0.0.1 is the newest one.
    newest = "0.0.1" if Version(installed).is_prerelease else installed
    assert cache_of(tmp_path)["latest"] == newest
    assert index.requests == ["/simple/epicast/"]


def test_a_project_missing_from_the_index_is_a_failed_check(start_recorder, installed, tmp_path):
    index = start_recorder(["77.0"])
    url = index.url.replace("/simple/", "/other/")
    result, _ = epicast("--version", env=user_environment(tmp_path, EPICAST_INDEX_URL=url))
    assert (result.returncode, result.stderr) == (0, "")
    cache = cache_of(tmp_path)
    assert (cache["latest"], cache["error"]) == (None, "HTTPError: HTTP Error 404: Not Found")


# -- turned off -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["environment", "config", "config-with-environment-url"])
def test_turned_off_asks_nothing_and_writes_no_cache(start_recorder, installed, tmp_path, how):
    index = start_recorder(["77.0"])
    extra = {"EPICAST_NO_UPDATE_CHECK": "1"} if how == "environment" else {}
    if how != "config":
        extra["EPICAST_INDEX_URL"] = index.url
    if how.startswith("config"):
        write_config(tmp_path, f'[updates]\ncheck = false\nindex_url = "{index.url}"\n')
    env = user_environment(tmp_path, **extra)
    for command in (["--version"], ["scenarios"]):
        result, _ = epicast(*command, env=env)
        assert (result.returncode, result.stderr) == (0, ""), command
    assert index.requests == []
    assert not (tmp_path / "cache" / "epicast" / "update-check.json").exists()


def test_an_invalid_config_file_is_one_warning_and_no_check(start_recorder, installed, tmp_path):
    index = start_recorder(["77.0"])
    path = write_config(tmp_path, f'[updates]\ncheck = "no"\nindex_url = "{index.url}"\n')
    result, _ = epicast("--version", env=user_environment(tmp_path))
    assert result.returncode == 0
    assert result.stdout == f"epicast {installed}\n"
    assert result.stderr == (
        f"epicast: warning: {path}: [updates]: check must be true or false; no update check\n"
    )
    assert index.requests == []


# -- offline ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_connection_refused(installed, tmp_path):
    url = f"http://127.0.0.1:{free_port()}/simple/"
    env = user_environment(tmp_path, EPICAST_INDEX_URL=url)
    result, _ = epicast("--version", env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"epicast {installed}\n", "")
    cache = cache_of(tmp_path)
    assert cache["index_url"] == url
    assert cache["latest"] is None
    assert "Connection refused" in cache["error"]
    # Cached: the next run within a day does not try again (and still says nothing).
    again, _ = epicast("scenarios", env=env)
    assert (again.returncode, again.stderr) == (0, "")
    assert cache_of(tmp_path) == {**cache}


def test_offline_index_that_never_answers(installed, tmp_path):
    """The command ends without waiting for the index; the attempt is cached as failed."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel; nobody ever answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        # the default timeout and wait, not the test's minute
        env = user_environment(tmp_path, EPICAST_INDEX_URL=url, EPICAST_UPDATE_TIMEOUT="")
        result, seconds = epicast("--version", env=env)
        print(f"\nepicast --version with an index that never answers: {seconds:.2f} s")
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            f"epicast {installed}\n",
            "",
        )
        # The attempt is recorded before asking: a failure, whether epicast exited
        # before the check's own timeout (PENDING) or after it.
        cache = cache_of(tmp_path)
        assert (cache["index_url"], cache["latest"]) == (url, None)
        assert cache["error"] == PENDING or "timed out" in cache["error"], cache
        again, _ = epicast("--version", env=env)
        assert (again.returncode, again.stderr) == (0, "")
        silent.setblocking(False)
        connections = 0
        while True:
            try:
                silent.accept()[0].close()
            except BlockingIOError:
                break
            connections += 1
    assert connections == 1  # the second run did not try again
    assert cache_of(tmp_path) == cache


def test_the_check_gives_up_on_an_index_that_never_answers(installed, tmp_path):
    """In process, the mechanism: the check's own timeout ends it, as a cached failure.

    The bound (60 s) only keeps a broken timeout from hanging the test; the
    check itself gives up after ``updates.TIMEOUT``.
    """
    from epicast import updates

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        env = user_environment(tmp_path, EPICAST_INDEX_URL=url, EPICAST_UPDATE_TIMEOUT="")
        check = updates.UpdateCheck.start(installed, env)
        assert check is not None
        assert check.lines(wait=60) == []
    cache = cache_of(tmp_path)
    assert (cache["index_url"], cache["latest"]) == (url, None)
    assert "timed out" in cache["error"], cache
