"""``ci devpi`` and the index client, against real devpi-servers, wheels and pip."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import requests

from ci import devpi_server as devpi_module
from ci import processes, shell
from ci.credentials import Credentials, derive, resolve
from ci.devpi import connect, locate
from ci.errors import CIError
from ci.index import (
    DevpiAuthError,
    DevpiRefusedError,
    ReleaseConflictError,
    ReleaseFile,
    version_key,
)
from tests.sampling import sample_command_lines

if TYPE_CHECKING:
    from collections.abc import Callable

    from conftest import DevpiServer

INDEXES = ("ci/unstable", "ci/testing", "qa/stable")


def one_error(result: subprocess.CompletedProcess) -> tuple[str, str]:
    """Assert ``result`` is a handled error: exit 2, an error line and a tip line only."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("ci: error: ")
    assert lines[1].startswith("ci: tip: ")
    return lines[0], lines[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- start, status, stop ---------------------------------------------------------


def test_a_fresh_start_creates_the_server_users_and_indexes(devpi: DevpiServer) -> None:
    """The session's first ``ci devpi start``; its wall time is reported (-s), not asserted."""
    print(
        f"\nci devpi start (fresh: devpi-init, server, users, indexes): {devpi.start_seconds:.2f} s"
    )
    started = devpi.outputs[0]
    assert re.fullmatch(
        rf"devpi: started {re.escape(devpi.url)} \(pid \d+\) in [\d.]+ s; "
        r"ci created; qa created; root/pypi updated \(mirror_no_project_list\); "
        r"ci/unstable created; ci/testing created; qa/stable created\n",
        started,
    ), started
    with devpi.client() as client:
        assert {"ci", "qa"} <= set(client.users())
        for index in ("ci/unstable", "ci/testing", "qa/stable"):
            assert client.index_config(index)["type"] == "stage"


def test_start_is_idempotent(devpi: DevpiServer) -> None:
    pid = devpi.info()["pid"]
    result = devpi.ci("devpi", "start")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert result.stdout.startswith(f"devpi: already running at {devpi.url} (pid {pid})")
    assert result.stdout.rstrip().endswith("users and indexes unchanged")
    assert devpi.info()["pid"] == pid


def test_status_prints_url_and_indexes(devpi: DevpiServer) -> None:
    result = devpi.ci("devpi", "status")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"devpi: running at {devpi.url} (pid {devpi.info()['pid']}); "
        "indexes ci/unstable (volatile), ci/testing, qa/stable\n"
    )


def test_status_and_stop_when_nothing_runs(tmp_path: Path, ci_environment, run) -> None:
    env = ci_environment({"CI_STATE_DIR": str(tmp_path)})
    status = run("devpi", "status", env=env)
    assert (status.returncode, status.stdout) == (
        3,
        f"devpi: not running (state in {tmp_path / 'devpi'})\n",
    )
    stop = run("devpi", "stop", env=env)
    assert (stop.returncode, stop.stdout) == (
        0,
        f"devpi: not running (state in {tmp_path / 'devpi'})\n",
    )


def test_restart_keeps_users_indexes_files_and_tokens(
    spare_devpi: DevpiServer, wheels: dict[str, Path]
) -> None:
    with spare_devpi.client("ci") as before:
        before.upload("ci/unstable", wheels["probe-release"])
        token = before.session.headers["X-Devpi-Auth"]
    port = spare_devpi.info()["port"]

    stop = spare_devpi.ci("devpi", "stop")
    assert stop.returncode == 0, stop.stderr
    assert stop.stdout.startswith("devpi: stopped "), stop.stdout
    start = spare_devpi.ci("devpi", "start")
    assert start.returncode == 0, start.stderr
    assert start.stdout.startswith(f"devpi: started http://127.0.0.1:{port} ")
    assert start.stdout.rstrip().endswith("users and indexes unchanged")

    with spare_devpi.client() as after:
        after.session.headers["X-Devpi-Auth"] = token  # the token from before the restart
        assert after.api()["authstatus"][:2] == ["ok", "ci"]
        assert after.versions("ci/unstable", "ci-probe-release") == ["1.0"]
        assert set(INDEXES) <= {f"{u}/{i}" for u, c in after.users().items() for i in c["indexes"]}


def test_a_killed_server_leaves_a_stale_pid_file_that_start_replaces(
    spare_devpi: DevpiServer,
) -> None:
    old = spare_devpi.info()
    os.kill(old["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while spare_devpi.ci("devpi", "status").returncode != 3:
        assert time.monotonic() < deadline, "status still says running after SIGKILL"
        time.sleep(0.05)
    start = spare_devpi.ci("devpi", "start")
    assert start.returncode == 0, start.stderr
    assert start.stdout.startswith(f"devpi: started {old['url']} ")
    assert spare_devpi.info()["pid"] != old["pid"]


def test_a_pid_file_naming_another_process_is_stale(spare_devpi: DevpiServer) -> None:
    spare_devpi.ci("devpi", "stop")
    info_file = spare_devpi.server_dir / "server.json"
    info_file.write_text(info_file.read_text().replace('"pid": null', f'"pid": {os.getpid()}'))
    status = spare_devpi.ci("devpi", "status")
    assert status.returncode == 3, status.stdout
    start = spare_devpi.ci("devpi", "start")
    assert start.returncode == 0, start.stderr
    assert start.stdout.startswith("devpi: started "), start.stdout
    assert spare_devpi.info()["pid"] != os.getpid()


def test_stop_kills_a_process_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devpi_module, "STOP_TIMEOUT", 0.3)
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('up', flush=True)"
    )
    log = tmp_path / "log"
    pid = shell.detach([sys.executable, "-c", stubborn + "; time.sleep(60)"], log=log)
    deadline = time.monotonic() + 30
    while "up" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert devpi_module._terminate(pid) == "killed after 0.3 s"
    assert not processes.alive(pid)


def test_a_taken_port_is_one_line(tmp_path: Path, ci_environment, run) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = ci_environment({"CI_STATE_DIR": str(tmp_path)})
        error, tip = one_error(run("devpi", "start", "--port", str(port), env=env))
    assert error == f"ci: error: port {port} on 127.0.0.1 is taken by another program"
    assert "--port" in tip


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({"CI_DEVPI_PORT": "99999"}, "port 99999 is not a TCP port (0 to 65535)"),
        ({"CI_DEVPI_PORT": "abc"}, "CI_DEVPI_PORT='abc' is not a port number"),
        ({"CI_STATE_DIR": "{file}"}, "cannot create the state folder {file}/devpi: Not a"),
        ({"CI_STATE_DIR": "/proc/ci-state"}, "cannot create the state folder /proc/ci-state/"),
        ({"CI_FAULT": "publish.intnt"}, "CI_FAULT='publish.intnt' names no fault point"),
        ({"CI_FAULT": "devpi@"}, "CI_FAULT='devpi@' names no fault point"),
    ],
)
def test_a_bad_port_state_folder_or_fault_is_one_line_before_anything_starts(
    tmp_path: Path, ci_environment, run, setting, error
) -> None:
    (tmp_path / "file").write_text("a file, not a folder")
    values = {k: v.format(file=tmp_path / "file") for k, v in setting.items()}
    env = ci_environment({"CI_STATE_DIR": str(tmp_path / "state"), **values})
    message, tip = one_error(run("devpi", "start", env=env))
    assert message.startswith(f"ci: error: {error.format(file=tmp_path / 'file')}")
    assert tip.startswith("ci: tip: ")
    assert not (tmp_path / "state").exists()


# -- users, indexes, permissions ------------------------------------------------------


def test_indexes_have_the_agreed_settings(devpi: DevpiServer) -> None:
    with devpi.client() as client:
        assert client.index_config("root/pypi")["mirror_no_project_list"] is True
        for index, uploader, volatile in (
            ("ci/unstable", "ci", True),
            ("ci/testing", "ci", False),
            ("qa/stable", "qa", False),
        ):
            config = client.index_config(index)
            assert config["type"] == "stage"
            assert config["bases"] == ["root/pypi"]
            assert config["volatile"] is volatile
            assert config["acl_upload"] == [uploader]
            assert config["acl_toxresult_upload"] == [uploader]
            assert config["mirror_whitelist"] == []


def test_start_converges_changed_index_settings(devpi: DevpiServer) -> None:
    with devpi.client("root") as root:
        root.request(
            "PATCH",
            "ci/testing",
            action="loosen ci/testing",
            json={
                "volatile": True,
                "acl_toxresult_upload": [":ANONYMOUS:"],
                "mirror_whitelist": ["*"],
            },
        )
    result = devpi.ci("devpi", "start")
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith(
        "ci/testing updated (acl_toxresult_upload, mirror_whitelist, volatile)"
    )
    with devpi.client() as client:
        config = client.index_config("ci/testing")
    assert (config["volatile"], config["acl_toxresult_upload"], config["mirror_whitelist"]) == (
        False,
        ["ci"],
        [],
    )
    assert devpi.ci("devpi", "start").stdout.rstrip().endswith("users and indexes unchanged")


def test_ci_cannot_upload_or_push_to_stable(devpi: DevpiServer, wheels: dict[str, Path]) -> None:
    with devpi.client("ci") as ci:
        with pytest.raises(DevpiRefusedError) as upload:
            ci.upload("qa/stable", wheels["probe-acl"])
        assert upload.value.status == 403
        ci.upload("ci/testing", wheels["probe-acl"])
        with pytest.raises(DevpiRefusedError) as push:
            ci.push("ci/testing", "ci-probe-acl", "1.0", "qa/stable")
        assert push.value.status == 401
        assert "user 'ci' cannot upload to 'qa/stable'" in push.value.message
        assert ci.versions("qa/stable", "ci-probe-acl") == []


def test_anonymous_and_ci_cannot_create_users_or_indexes(devpi: DevpiServer) -> None:
    with devpi.client() as anonymous, devpi.client("ci") as ci:
        for client in (anonymous, ci):
            with pytest.raises(DevpiRefusedError) as user:
                client.request("PUT", "mallory", action="create mallory", json={"password": "x"})
            assert user.value.status == 403
            with pytest.raises(DevpiRefusedError) as index:
                client.request("PUT", "ci/sneaky", action="create ci/sneaky", json={})
            assert index.value.status == 403
        assert "mallory" not in anonymous.users()
        assert anonymous.index_config("ci/sneaky") is None


def test_ci_cannot_change_the_acl_of_stable(devpi: DevpiServer) -> None:
    with devpi.client("ci") as ci:
        for settings in ({"acl_upload": ["ci"]}, {"acl_upload": ["qa", "ci"]}):
            with pytest.raises(DevpiRefusedError) as refused:
                ci.request("PATCH", "qa/stable", action="widen qa/stable", json=settings)
            assert refused.value.status == 403
        with pytest.raises(DevpiRefusedError):
            ci.request(
                "PATCH",
                "ci/testing",
                action="widen ci/testing",
                json={"acl_upload": [":ANONYMOUS:"]},
            )
        assert ci.index_config("qa/stable")["acl_upload"] == ["qa"]
        assert ci.index_config("ci/testing")["acl_upload"] == ["ci"]


# -- uploads and promotions ---------------------------------------------------------------


def test_identical_reupload_succeeds_and_a_rebuild_is_refused(
    devpi: DevpiServer, wheels: dict[str, Path]
) -> None:
    first, rebuilt = wheels["probe-conflict"], wheels["probe-conflict-rebuilt"]
    assert first.name == rebuilt.name
    assert first.read_bytes() != rebuilt.read_bytes()
    with devpi.client("ci") as ci, sample_command_lines() as command_lines:
        assert ci.upload("ci/testing", first) == "uploaded"
        assert ci.upload("ci/testing", first) == "already there"
        with pytest.raises(ReleaseConflictError) as refused:
            ci.upload("ci/testing", rebuilt)
        assert refused.value.message.startswith(
            f"{first.name} is already on ci/testing with other content (sha256 "
        )
        assert refused.value.message.endswith("a file on a non-volatile index is never overwritten")
        (kept,) = ci.release_files("ci/testing", "ci-probe-conflict", "1.0")
        assert kept.sha256 == refused.value.theirs
        # The volatile index takes the rebuild.
        assert ci.upload("ci/unstable", first) == "uploaded"
        assert ci.upload("ci/unstable", rebuilt) == "uploaded"
        (replaced,) = ci.release_files("ci/unstable", "ci-probe-conflict", "1.0")
        assert replaced.sha256 == refused.value.ours
    # twine ran (ps shows its command line) and got the password by environment only
    assert any(" twine upload " in line for line in command_lines)
    assert [line for line in command_lines if devpi.credentials("ci").password in line] == []


def test_a_release_travels_to_stable_with_its_toxresult_and_docs(
    devpi: DevpiServer, wheels: dict[str, Path], tmp_path: Path
) -> None:
    wheel = wheels["probe-release"]
    doczip = tmp_path / "ci-probe-release-1.0.doc.zip"
    with zipfile.ZipFile(doczip, "w") as docs:
        docs.writestr("index.html", "<h1>ci-probe-release 1.0</h1>")
    rebuilt = tmp_path / "rebuilt" / doczip.name
    rebuilt.parent.mkdir()
    with zipfile.ZipFile(rebuilt, "w") as docs:
        docs.writestr("index.html", "<h1>other words</h1>")
    with devpi.client("ci") as ci, devpi.client("qa") as qa:
        assert ci.upload("ci/unstable", wheel) in ("uploaded", "already there")
        (unstable,) = ci.release_files("ci/unstable", "ci-probe-release", "1.0")
        ci.attach_toxresult(unstable, {"reportversion": "1", "testenvs": {"py311-unit": {}}})
        assert ci.upload_docs("ci/unstable", "ci-probe-release", "1.0", rebuilt) == "uploaded"
        assert ci.upload_docs("ci/unstable", "ci-probe-release", "1.0", doczip) == "uploaded"
        assert ci.upload_docs("ci/unstable", "ci-probe-release", "1.0", doczip) == "already there"
        assert ci.push("ci/unstable", "ci-probe-release", "1.0", "ci/testing") == "pushed"
        assert ci.push("ci/unstable", "ci-probe-release", "1.0", "ci/testing") == "already there"
        assert qa.push("ci/testing", "ci-probe-release", "1.0", "qa/stable") == "pushed"
        assert qa.push("ci/testing", "ci-probe-release", "1.0", "qa/stable") == "already there"
        (stable,) = qa.release_files("qa/stable", "ci-probe-release", "1.0")
        assert stable.sha256 == unstable.sha256
        assert len(stable.toxresults) == 1
        assert qa.download(stable, tmp_path).read_bytes() == wheel.read_bytes()
        docs_on_stable = qa.docs("qa/stable", "ci-probe-release", "1.0")
        assert docs_on_stable.filename == doczip.name
        assert qa.download(docs_on_stable, tmp_path / "got").read_bytes() == doczip.read_bytes()
        with pytest.raises(DevpiRefusedError):  # stable never changes, docs included
            qa.upload_docs("qa/stable", "ci-probe-release", "1.0", rebuilt)
        with pytest.raises(DevpiRefusedError) as refused:
            ci.delete_version("ci/testing", "ci-probe-release", "1.0")
        assert refused.value.status == 403
        ci.delete_version("ci/unstable", "ci-probe-release", "1.0")
        assert ci.versions("ci/unstable", "ci-probe-release") == []


def test_a_download_with_another_sha256_is_refused(
    devpi: DevpiServer, wheels: dict[str, Path], tmp_path: Path
) -> None:
    with devpi.client("ci") as ci:
        ci.upload("ci/unstable", wheels["probe-acl"])
        (real,) = ci.release_files("ci/unstable", "ci-probe-acl", "1.0")
        forged = ReleaseFile(**{**real.__dict__, "sha256": "0" * 64})
        with pytest.raises(CIError, match="the index recorded 000000000000"):
            ci.download(forged, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_push_of_a_missing_release_is_one_clear_error(devpi: DevpiServer) -> None:
    with devpi.client("ci") as ci, pytest.raises(CIError) as missing:
        ci.push("ci/unstable", "ci-probe-nothing", "9.9", "ci/testing")
    assert missing.value.message == "ci-probe-nothing 9.9 has no files on ci/unstable"


def test_versions_are_in_pep440_order_and_a_missing_index_is_an_error(
    devpi: DevpiServer, wheels: dict[str, Path]
) -> None:
    with devpi.client("ci") as ci:
        assert ci.versions("ci/unstable", "ci-probe-never-uploaded") == []
        with pytest.raises(CIError, match=r"has no index ci/nope$"):
            ci.versions("ci/nope", "ci-probe-release")
    assert sorted(["1.10", "1.9", "1.10rc1", "1.9.post1"], key=version_key) == [
        "1.9",
        "1.9.post1",
        "1.10rc1",
        "1.10",
    ]


def test_connect_finds_the_local_server_or_devpi_url(devpi: DevpiServer, tmp_path: Path) -> None:
    with (
        connect("ci", environ=devpi.env) as local,
        connect("qa", environ=devpi.remote_env()) as remote,
    ):
        assert (local.url, local.user) == (devpi.url, "ci")
        assert (remote.url, remote.user) == (devpi.url, "qa")
    with pytest.raises(CIError, match="the local devpi-server is not running"):
        locate({"CI_STATE_DIR": str(tmp_path)})


# -- real CI: DEVPI_URL and credentials from the environment ----------------------------------


def test_with_devpi_url_start_checks_and_stop_leaves_the_server(devpi: DevpiServer) -> None:
    env = devpi.remote_env(roles=("ci", "qa"))
    start = devpi.ci("devpi", "start", env=env)
    assert start.returncode == 0, start.stderr
    assert start.stdout == (
        f"devpi: DEVPI_URL is set, using {devpi.url}; "
        "indexes ci/unstable (volatile), ci/testing, qa/stable\n"
    )
    stop = devpi.ci("devpi", "stop", env=env)
    assert stop.returncode == 0
    assert devpi.ci("devpi", "status").returncode == 0
    setup = devpi.ci("devpi", "setup", env=devpi.remote_env())
    assert setup.stdout == f"devpi: set up {devpi.url}: users and indexes unchanged\n"


def test_wrong_password_is_one_line(devpi: DevpiServer) -> None:
    env = {**devpi.remote_env(), "DEVPI_ROOT_PASSWORD": "not-the-password"}
    error, tip = one_error(devpi.ci("devpi", "setup", env=env))
    assert error == (
        f"ci: error: devpi at {devpi.url} rejected the password of user 'root' "
        "(root role, DEVPI_ROOT_USER/DEVPI_ROOT_PASSWORD)"
    )
    assert tip == "ci: tip: check DEVPI_ROOT_USER/DEVPI_ROOT_PASSWORD in the CI secret store"


def test_unreachable_server_is_one_line(devpi: DevpiServer) -> None:
    port = closed_port()
    env = {**devpi.remote_env(), "DEVPI_URL": f"http://127.0.0.1:{port}"}
    error, tip = one_error(devpi.ci("devpi", "status", env=env))
    url = f"http://127.0.0.1:{port}"
    assert error == f"ci: error: cannot reach the devpi server at {url} (connection refused)"
    assert tip == "ci: tip: start the local one with `python -m ci devpi start`, or check DEVPI_URL"


def test_missing_credentials_are_one_line(devpi: DevpiServer) -> None:
    env = devpi.remote_env(roles=("ci", "qa"))  # no DEVPI_ROOT_*
    error, tip = one_error(devpi.ci("devpi", "setup", env=env))
    assert error == (
        "ci: error: missing credentials for the root role: "
        "DEVPI_ROOT_USER and DEVPI_ROOT_PASSWORD are not set"
    )
    assert "secret store" in tip
    env = {**devpi.remote_env(), "DEVPI_ROOT_PASSWORD": ""}  # a user without its password
    error, tip = one_error(devpi.ci("devpi", "setup", env=env))
    assert error == (
        "ci: error: incomplete credentials for the root role: DEVPI_ROOT_PASSWORD is not set"
    )
    assert tip == "ci: tip: set both DEVPI_ROOT_USER and DEVPI_ROOT_PASSWORD, or neither"


def test_credentials_in_devpi_url_are_refused_and_never_printed(devpi: DevpiServer) -> None:
    """A password inside DEVPI_URL would reach twine's command line and the logs: refused."""
    host = devpi.url.removeprefix("http://")
    secret_url = f"http://someone:hunter2@{host}"
    result = devpi.ci("devpi", "status", env={**devpi.remote_env(), "DEVPI_URL": secret_url})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ci: error: DEVPI_URL carries credentials before the @ of '…@{host}'",
        "ci: tip: remove them from the URL and set DEVPI_<ROLE>_USER and DEVPI_<ROLE>_PASSWORD",
    ]
    for not_a_url in ("devpi.example.org", "ftp://host/", "http://host:port/", "me:hunter2@host"):
        result = devpi.ci("devpi", "status", env={**devpi.remote_env(), "DEVPI_URL": not_a_url})
        lines = result.stderr.splitlines()
        assert (result.returncode, len(lines)) == (2, 2), result.stderr
        assert lines[0].startswith("ci: error: DEVPI_URL is not the http(s) URL of a devpi-server")
        assert "hunter2" not in result.stdout + result.stderr


def test_passwords_appear_in_no_output_or_log(devpi: DevpiServer) -> None:
    devpi.ci("devpi", "status", env=devpi.remote_env())
    devpi.ci("devpi", "setup", env=devpi.remote_env())
    texts = [*devpi.outputs]
    texts += [p.read_text(errors="replace") for p in devpi.server_dir.glob("server.log*")]
    for role in ("root", "ci", "qa"):
        password = devpi.credentials(role).password
        assert not [text for text in texts if password in text], role


def test_credentials_rules() -> None:
    one, other = derive("ci", b"s" * 44), derive("qa", b"s" * 44)
    assert one.password != other.password
    assert one == derive("ci", b"s" * 44)
    assert one.password not in repr(one)
    with pytest.raises(CIError, match="DEVPI_CI_PASSWORD is not set"):
        resolve("ci", secretfile=None, environ={"DEVPI_CI_USER": "bot"})
    from_env = resolve(
        "qa", secretfile=None, environ={"DEVPI_QA_USER": "q", "DEVPI_QA_PASSWORD": "p"}
    )
    assert from_env == Credentials("qa", "q", "p", origin="DEVPI_QA_USER/DEVPI_QA_PASSWORD")


def test_wrong_local_password_names_the_way_out(devpi: DevpiServer) -> None:
    with devpi.client() as client, pytest.raises(DevpiAuthError) as rejected:
        client.login(
            Credentials("ci", "ci", "wrong", origin="derived from the local server's secret file")
        )
    assert "DEVPI_CI_USER/DEVPI_CI_PASSWORD" in (rejected.value.tip or "")


# -- dependency confusion ----------------------------------------------------------------


@pytest.mark.network
def test_a_private_name_is_not_shadowed_by_the_mirror(
    devpi: DevpiServer, wheels: dict[str, Path], tmp_path: Path, ci_environment
) -> None:
    pep691 = {"Accept": "application/vnd.pypi.simple.v1+json"}
    mirror = requests.get(f"{devpi.url}/root/pypi/+simple/six/", headers=pep691, timeout=60)
    on_pypi = mirror.json()["files"] if mirror.status_code == 200 else []
    if not any(f["filename"].startswith("six-1.") for f in on_pypi):
        pytest.skip(f"PyPI's six is not reachable through the mirror (HTTP {mirror.status_code})")

    with devpi.client("ci") as ci:
        ci.upload("ci/unstable", wheels["six"])
    ours = requests.get(f"{devpi.url}/ci/unstable/+simple/six/", headers=pep691, timeout=60)
    assert [f["filename"] for f in ours.json()["files"]] == ["six-0.0.1-py3-none-any.whl"]

    target = tmp_path / "site"
    env = ci_environment({"PIP_CONFIG_FILE": os.devnull})
    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"),
            *("--target", str(target), "--index-url", f"{devpi.url}/ci/unstable/+simple/", "six"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    assert [p.name for p in target.glob("six-*.dist-info")] == ["six-0.0.1.dist-info"]
    assert 'VALUE = "private"' in (target / "six" / "__init__.py").read_text()


# -- timing -------------------------------------------------------------------------------


def test_devpi_part_of_a_release_with_its_times(
    start_devpi: Callable[[], DevpiServer], wheels: dict[str, Path]
) -> None:
    """Start, indexes, upload and both promotions, each stage as its own login."""
    laps = {}
    began = time.monotonic()
    server = None
    try:
        server = start_devpi()
        laps["start + users + indexes"] = time.monotonic() - began
        for label, role, action in (
            ("upload", "ci", lambda c: c.upload("ci/unstable", wheels["probe-release"])),
            (
                "unstable -> testing",
                "ci",
                lambda c: c.push("ci/unstable", "ci-probe-release", "1.0", "ci/testing"),
            ),
            (
                "testing -> stable",
                "qa",
                lambda c: c.push("ci/testing", "ci-probe-release", "1.0", "qa/stable"),
            ),
        ):
            lap = time.monotonic()
            with server.client(role) as client:
                action(client)
            laps[label] = time.monotonic() - lap
    finally:
        if server is not None:
            lap = time.monotonic()
            server.ci("devpi", "stop")
            laps["stop"] = time.monotonic() - lap
    total = time.monotonic() - began
    # Reported (visible with -s), not asserted: wall time on a shared machine is no test result.
    print("\n" + ", ".join(f"{k} {v:.2f} s" for k, v in laps.items()) + f"; total {total:.2f} s")
    assert set(laps) == {
        "start + users + indexes",
        "upload",
        "unstable -> testing",
        "testing -> stable",
        "stop",
    }
