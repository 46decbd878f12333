"""``ci build``: reproducible files, the build report, and the package-data check."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ci.build import build, built_files, current_build
from ci.distribution import sha256_of
from ci.docs import _zip_folder
from ci.errors import CIError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = Path(__file__).parent / "packages"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def clone_of_this_repository(target: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    return target


def git_project(source: Path, target: Path, tag: str | None = None) -> Path:
    shutil.copytree(source, target)
    git(target, "init", "-q")
    git(target, "add", ".")
    git(target, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    if tag:
        git(target, "tag", tag)
    return target


def test_same_commit_builds_identical_files(tmp_path):
    """Two clones (other paths, other file times), two builds: the same bytes, docs too."""
    first = clone_of_this_repository(tmp_path / "a")
    time.sleep(1.1)  # the second checkout gets other file times
    second = clone_of_this_repository(tmp_path / "b")
    report_a = build(first, tmp_path / "dist-a")
    report_b = build(second, tmp_path / "dist-b")
    assert report_a.files == report_b.files
    assert {f.kind for f in report_a.files} == {"wheel", "sdist"}
    assert report_a.docs.filename == f"epicast-{report_a.version}.doc.zip"
    assert report_a.docs == report_b.docs
    assert report_a.commit == git(first, "rev-parse", "HEAD")
    assert report_a.source_date_epoch == int(git(first, "log", "-1", "--format=%ct"))


def test_report_names_project_version_and_tag(tmp_path):
    source = tmp_path / "tiny"
    shutil.copytree(PACKAGES / "missing-data", source)
    (source / "src" / "tinypkg" / "table.csv").unlink()
    repo = git_project(source, tmp_path / "repo", tag="1.2.3rc1")
    dist = tmp_path / "dist"
    report = build(repo, dist)
    assert (report.project, report.version, report.tags) == (
        "tinypkg",
        "1.2.3rc1",
        ["1.2.3rc1"],
    )
    assert json.loads((dist / "build-report.json").read_text())["schema_version"] == 1
    assert sorted(path.name for path in dist.iterdir()) == [
        "build-report.json",
        "tinypkg-1.2.3rc1-py3-none-any.whl",
        "tinypkg-1.2.3rc1.tar.gz",
    ]
    _, files = built_files(dist)
    assert [f.filename for f in files] == [f.filename for f in report.files]


def test_a_current_build_is_reused_until_the_commit_tags_or_files_change(tmp_path):
    """Two builds in all: ``ci build``, the same again (reused), the keys changed one
    at a time (each undone), then ``ci build --force``."""
    source = tmp_path / "tiny"
    shutil.copytree(PACKAGES / "missing-data", source)
    (source / "src" / "tinypkg" / "table.csv").unlink()
    repo = git_project(source, tmp_path / "repo", tag="0.2.0")
    dist = tmp_path / "d"
    assert current_build(repo, dist) is None  # nothing built yet
    command = [sys.executable, "-m", "ci", "build", "--root", str(repo), "--dist", "d"]
    env = {k: v for k, v in os.environ.items() if k != "CI_CONFIG"}
    env["PYTHONPATH"] = str(ROOT)

    def ci_build(*extra: str) -> str:
        result = subprocess.run(
            [*command, *extra], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert ci_build().startswith("built tinypkg 0.2.0 at ")
    report = json.loads((dist / "build-report.json").read_text())
    wheel = next(f for f in report["files"] if f["kind"] == "wheel")
    assert re.fullmatch(
        rf"build: tinypkg 0\.2\.0 at {report['commit'][:12]} already built for "
        rf"tinypkg-0\.2\.0-py3-none-any\.whl sha256 {wheel['sha256'][:12]}… "
        r"\(\d{4}-\d\d-\d\d \d\d:\d\d UTC\); --force re-runs\n",
        ci_build(),
    )
    assert {"schema_version": 1, **current_build(repo, dist).as_json()} == report

    # A changed file, another tag, another commit: not current (each undone after).
    path = dist / wheel["filename"]
    content = path.read_bytes()
    path.write_bytes(content + b"x")
    assert current_build(repo, dist) is None
    path.write_bytes(content)
    git(repo, "tag", "0.2.1")
    assert current_build(repo, dist) is None
    git(repo, "tag", "-d", "0.2.1")
    head = git(repo, "rev-parse", "HEAD")
    git(
        repo,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "two",
    )
    assert current_build(repo, dist) is None
    git(repo, "reset", "-q", "--hard", head)
    assert {"schema_version": 1, **current_build(repo, dist).as_json()} == report

    assert ci_build("--force").startswith("built tinypkg 0.2.0 at ")
    rebuilt = json.loads((dist / "build-report.json").read_text())
    assert rebuilt["files"] == report["files"]
    assert rebuilt["built_at"] >= report["built_at"]


def test_undeclared_package_data_is_refused(tmp_path):
    repo = git_project(PACKAGES / "missing-data", tmp_path / "repo", tag="0.1.0")
    with pytest.raises(CIError, match=r"wheel lacks package files .*tinypkg/table\.csv"):
        build(repo, tmp_path / "dist")
    assert not (tmp_path / "dist").exists()


def test_changed_file_after_build_is_detected(tmp_path):
    source = tmp_path / "tiny"
    shutil.copytree(PACKAGES / "missing-data", source)
    (source / "src" / "tinypkg" / "table.csv").unlink()
    dist = tmp_path / "dist"
    build(git_project(source, tmp_path / "repo"), dist)
    wheel = next(dist.glob("*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"x")
    with pytest.raises(CIError, match="changed since it was built"):
        built_files(dist)


def test_not_a_checkout_is_one_line(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ci",
            "build",
            "--root",
            str(tmp_path),
            "--dist",
            str(tmp_path / "d"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"ci: error: {tmp_path} is not a git checkout",
        "ci: tip: run the ci tool inside a clone",
    ]


def test_docs_env_missing_from_tox_is_one_line_before_building(tmp_path):
    source = tmp_path / "tiny"
    shutil.copytree(PACKAGES / "missing-data", source)
    (source / "src" / "tinypkg" / "table.csv").unlink()
    (source / "pipeline.toml").write_text('[build]\ndocs = "doc"\n')
    (source / "tox.ini").write_text("[tox]\nenv_list = lint\n\n[testenv:docs]\n")
    repo = git_project(source, tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k != "CI_CONFIG"}
    command = [sys.executable, "-m", "ci", "build", "--root", str(repo), "--dist", "d"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == (
        f"ci: error: [build] docs = 'doc' in pipeline.toml is not a tox environment of {repo} "
        "(tox knows: lint, docs); name one that builds the HTML"
    )
    assert "Traceback" not in result.stderr
    assert not (ROOT / "d").exists()


def test_the_docs_zip_depends_on_content_alone_and_leaves_out_the_cache(tmp_path: Path):
    zips = []
    for name in ("a", "b"):
        html = tmp_path / name
        (html / "_static").mkdir(parents=True)
        (html / ".doctrees").mkdir()
        (html / "_static" / "style.css").write_text("body {}\n")
        (html / "index.html").write_text("<p>epicast</p>\n")
        (html / ".doctrees" / "environment.pickle").write_bytes(f"built in {html}".encode())
        (html / "index.html").chmod(0o600 if name == "a" else 0o664)
        os.utime(html / "index.html", (0, 1_600_000_000 if name == "a" else 1_800_000_000))
        target = tmp_path / f"{name}.zip"
        _zip_folder(html, target, epoch=1_700_000_000)
        zips.append(target)
    assert sha256_of(zips[0]) == sha256_of(zips[1])
    with zipfile.ZipFile(zips[0]) as archive:
        assert archive.namelist() == ["_static/style.css", "index.html"]
