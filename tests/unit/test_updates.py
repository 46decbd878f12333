"""The update check's parts, in-process and without a network: versions, pages, settings.

The check against a real devpi index, offline and turned off, through the installed
``epicast`` command, is in tests/pipeline/test_updates.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from epicast import updates
from epicast.updates import IndexFile, Settings


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("epicast-1.2.0-py3-none-any.whl", "1.2.0"),
        ("epicast-1.2.0-1-py3-none-any.whl", "1.2.0"),  # with a build tag
        ("epicast-1.2.0.tar.gz", "1.2.0"),
        ("Epicast-1.2.0.zip", "1.2.0"),
        ("epicast-1.2.0rc1.tar.gz", "1.2.0rc1"),
        ("other-1.2.0-py3-none-any.whl", None),
        ("epicast-tools-1.2.0.tar.gz", None),
        ("epicast-1.2.0-py3-none.whl", None),
        ("epicast-1.2.0.egg", None),
        ("epicast.tar.gz", None),
    ],
)
def test_version_in_filename(filename, version):
    assert updates.version_in_filename(filename) == version


@pytest.mark.parametrize(
    ("candidate", "installed", "newer"),
    [
        ("1.2.0", "1.1.0", True),
        ("1.10.0", "1.9.0", True),  # numbers, not strings
        ("1.1.0", "1.1.0", False),
        ("1.1", "1.1.0", False),  # the same version in PEP 440
        ("1.0.0", "1.1.0", False),
        ("1.1.0", "1.1.0rc1", True),  # a release candidate's user hears of the final
        ("1.1.0", "1.1.0.dev3", True),
        ("1.0.0", "1.1.0.dev3", False),
        ("1.0.post1", "1.0", True),
        ("not a version", "1.0", False),
        ("1.0", "0+unknown", True),
    ],
)
def test_is_newer_compares_pep_440_versions(candidate, installed, newer):
    assert updates.is_newer(candidate, installed) is newer


def test_newest_release_is_the_newest_final_one_this_python_can_install():
    files = [
        IndexFile("epicast-1.9.0-py3-none-any.whl"),
        IndexFile("epicast-1.10.0.tar.gz"),
        IndexFile("epicast-1.10.0-py3-none-any.whl"),
        IndexFile("epicast-2.0.0rc1-py3-none-any.whl"),  # a pre-release
        IndexFile("epicast-2.0.0.dev4-py3-none-any.whl"),  # a development release
        IndexFile("epicast-1.11.0-py3-none-any.whl", yanked=True),
        IndexFile("epicast-1.12.0-py3-none-any.whl", requires_python=">=3.99"),
        IndexFile("epicast-1.13.0-py3-none-any.whl", requires_python="no specifier"),
        IndexFile("epicast-banana-py3-none-any.whl"),
        IndexFile("numpy-9.0-py3-none-any.whl"),
    ]
    assert updates.newest_release(files, python="3.12.1") == "1.13.0"
    assert updates.newest_release(files[:7], python="3.12.1") == "1.10.0"
    assert updates.newest_release(files[:7], python="3.99.0") == "1.12.0"
    assert updates.newest_release(files[3:5], python="3.12.1") is None
    assert updates.newest_release([]) is None


def test_pages_in_json_and_in_html_list_the_same_files():
    page = {
        "meta": {"api-version": "1.0"},
        "name": "epicast",
        "files": [
            {"filename": "epicast-1.0.0.tar.gz", "url": "x", "hashes": {}},
            {"filename": "epicast-1.1.0.tar.gz", "url": "y", "hashes": {}, "yanked": "broken"},
            {"filename": "epicast-1.2.0.tar.gz", "url": "z", "requires-python": ">=3.99"},
        ],
    }
    html = (
        "<!DOCTYPE html><html><body><h1>Links for epicast</h1>\n"
        '<a href="../../files/epicast-1.0.0.tar.gz#sha256=00">epicast-1.0.0.tar.gz</a><br>\n'
        '<a href="https://files.example.org/epicast-1.1.0.tar.gz" data-yanked="">x</a>\n'
        '<a href="epicast-1.2.0.tar.gz" data-requires-python="&gt;=3.99">x</a>\n'
        "<a>no link</a></body></html>"
    )
    expected = [
        IndexFile("epicast-1.0.0.tar.gz"),
        IndexFile("epicast-1.1.0.tar.gz", yanked=True),
        IndexFile("epicast-1.2.0.tar.gz", requires_python=">=3.99"),
    ]
    as_json = json.dumps(page).encode()
    assert updates.files_on_page(as_json, updates.SIMPLE_JSON) == expected
    assert updates.files_on_page(html.encode(), "text/html") == expected
    assert updates.files_on_page(html.encode(), "application/vnd.pypi.simple.v1+html") == expected


def test_notice_line():
    assert updates.notice("1.2.0", "1.1.0", "https://pkgs.example.org/qa/stable/+simple/") == (
        "epicast 1.2.0 is available (you have 1.1.0): "
        "pip install -U --index-url https://pkgs.example.org/qa/stable/+simple/ epicast"
    )


# -- settings: where the index URL comes from, and turning the check off -------------------


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "config"), **extra}


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "epicast" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_index_url_from_environment_then_config_then_metadata(tmp_path):
    env_url, config_url = "http://env.example/simple/", "http://config.example/simple/"
    default = updates.default_index_url()
    assert updates.settings(environment(tmp_path)) == Settings(enabled=True, index_url=default)
    write_config(tmp_path, f'[updates]\nindex_url = "{config_url}"\n')
    assert updates.settings(environment(tmp_path)).index_url == config_url
    with_env = environment(tmp_path, EPICAST_INDEX_URL=env_url)
    assert updates.settings(with_env) == Settings(enabled=True, index_url=env_url)
    empty_env = environment(tmp_path, EPICAST_INDEX_URL="")
    assert updates.settings(empty_env).index_url == config_url


def test_config_without_updates_table_changes_nothing(tmp_path):
    write_config(tmp_path, '[other]\nkey = "value"\n')
    found = updates.settings(environment(tmp_path))
    assert found == Settings(enabled=True, index_url=updates.default_index_url())


@pytest.mark.parametrize("value", ["1", "yes", "0", "false"])
def test_any_non_empty_environment_value_turns_the_check_off(tmp_path, value):
    found = updates.settings(environment(tmp_path, EPICAST_NO_UPDATE_CHECK=value))
    assert found == Settings(enabled=False, index_url=None)
    found = updates.settings(environment(tmp_path, EPICAST_NO_UPDATE_CHECK=""))
    assert found.enabled


def test_config_turns_the_check_off(tmp_path):
    write_config(tmp_path, '[updates]\ncheck = false\nindex_url = "http://x.example/simple/"\n')
    found = updates.settings(environment(tmp_path, EPICAST_INDEX_URL="http://y.example/"))
    assert found == Settings(enabled=False, index_url="http://y.example/")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[updates\n", "invalid TOML ("),
        ('[updates]\ncheck = "no"\n', "[updates]: check must be true or false"),
        ("[updates]\nindex_url = 3\n", "[updates]: index_url must be a string"),
        ("[updates]\nchek = false\n", "[updates]: unknown key 'chek'"),
        ('updates = "off"\n', "[updates] must be a table"),
    ],
)
def test_a_config_file_that_cannot_be_used_turns_the_check_off_and_says_why(
    tmp_path, text, problem
):
    path = write_config(tmp_path, text)
    found = updates.settings(environment(tmp_path))
    assert not found.enabled
    assert found.problem.startswith(f"{path}: {problem}")
    assert found.problem.endswith("; no update check")


@pytest.mark.parametrize("url", ["pkgs.example.org", "ftp://x/", "http://[::1", "http://h:port/"])
def test_an_index_url_that_is_no_http_url_turns_the_check_off_and_says_why(tmp_path, url):
    found = updates.settings(environment(tmp_path, EPICAST_INDEX_URL=url))
    problem = f"EPICAST_INDEX_URL={url!r} is not an http(s) URL of an index; no update check"
    assert found == Settings(enabled=False, index_url=None, problem=problem)
    path = write_config(tmp_path, f'[updates]\nindex_url = "{url}"\n')
    found = updates.settings(environment(tmp_path))
    assert found.problem == f"{path}: [updates] index_url={url!r} is not an http(s) URL " + (
        "of an index; no update check"
    )


def test_without_a_toml_parser_the_config_file_turns_the_check_off(tmp_path, monkeypatch):
    # Python 3.10 without tomli: an import of either module fails.
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    assert updates.settings(environment(tmp_path)).enabled  # no file: nothing to read
    path = write_config(tmp_path, "[updates]\ncheck = false\n")
    assert updates.settings(environment(tmp_path)) == Settings(
        enabled=False,
        index_url=None,
        problem=f"{path}: reading it needs Python 3.11 or the tomli package; no update check",
    )


def test_xdg_folders_must_be_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    relative = {"XDG_CACHE_HOME": "cache", "XDG_CONFIG_HOME": "config"}
    assert updates.cache_path(relative) == tmp_path / "home/.cache/epicast/update-check.json"
    assert updates.config_path(relative) == tmp_path / "home/.config/epicast/config.toml"
    absolute = {"XDG_CACHE_HOME": str(tmp_path / "c"), "XDG_CONFIG_HOME": str(tmp_path / "d")}
    assert updates.cache_path(absolute) == tmp_path / "c/epicast/update-check.json"
    assert updates.config_path(absolute) == tmp_path / "d/epicast/config.toml"


# -- the cache ---------------------------------------------------------------------------


def test_cache_round_trip_and_what_is_ignored(tmp_path):
    path = tmp_path / "cache" / "epicast" / "update-check.json"
    url = "http://a.example/simple/"
    assert updates.read_cache(path, url) is None
    updates.write_cache(path, url, 1700000000.5, "1.2.0", None)
    expected = {
        "schema": 1,
        "index_url": url,
        "checked": 1700000000.5,
        "latest": "1.2.0",
        "error": None,
    }
    assert json.loads(path.read_text()) == expected
    assert updates.read_cache(path, url) == expected
    assert updates.read_cache(path, "http://b.example/simple/") is None
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    for garbage in ("", "[]", "{", json.dumps({**expected, "schema": 2})):
        path.write_text(garbage)
        assert updates.read_cache(path, url) is None


def test_an_unwritable_cache_folder_is_no_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    updates.write_cache(blocker / "epicast" / "update-check.json", "http://x/", 1.0, None, None)
    assert blocker.read_text() == ""


def test_update_check_with_a_fresh_cache_asks_no_index(tmp_path):
    # Nothing listens on port 1: asking it would record an error instead of 9.0.
    env = {
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EPICAST_INDEX_URL": "http://127.0.0.1:1/simple/",
    }
    path = updates.cache_path(env)
    updates.write_cache(path, env["EPICAST_INDEX_URL"], time.time(), "9.0", None)
    check = updates.UpdateCheck.start("1.0", env)
    assert check.lines(wait=10) == [updates.notice("9.0", "1.0", env["EPICAST_INDEX_URL"])]
    assert json.loads(path.read_text())["latest"] == "9.0"
    path.unlink()
    assert updates.UpdateCheck.start("1.0", env).lines(wait=10) == []
    error = json.loads(path.read_text())["error"]
    assert error.startswith("URLError: "), error
    assert "refused" in error, error


def test_update_check_is_not_started_when_turned_off(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "EPICAST_NO_UPDATE_CHECK": "1"}
    assert updates.UpdateCheck.start("1.0", env) is None
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, (updates.TIMEOUT, updates.WAIT)),
        ("5", (5.0, 5.0)),
        ("0.5", (updates.TIMEOUT, 0.5)),  # raises the defaults, never lowers them
        ("", (updates.TIMEOUT, updates.WAIT)),
        ("abc", (updates.TIMEOUT, updates.WAIT)),
        ("-1", (updates.TIMEOUT, updates.WAIT)),
        ("nan", (updates.TIMEOUT, updates.WAIT)),
        ("inf", (updates.TIMEOUT, updates.WAIT)),
    ],
)
def test_update_timeout_raises_the_timeout_and_the_wait(value, expected):
    environ = {} if value is None else {updates.TIMEOUT_ENV: value}
    assert updates.patience(environ) == expected
