"""Building the distribution from a git checkout: versions from tags, package data.

These tests build real wheels from a temporary clone of this repository (its
committed HEAD), so they run from the source tree, not against an installed
wheel (tox environment ``packaging``).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DATA = [
    line
    for line in (Path(__file__).parents[1] / "package-data.txt").read_text().splitlines()
    if line and not line.startswith("#")
]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(repo)], check=True)
    for tag in git(repo, "tag").split():
        git(repo, "tag", "-d", tag)
    git(repo, "config", "user.email", "test@example.org")
    git(repo, "config", "user.name", "test")
    return repo


def build_wheel(repo: Path, out: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--installer",
            "uv",
            "--outdir",
            str(out),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.parametrize(
    ("tags", "extra_commits", "version"),
    [
        (["0.1.0rc1"], 0, "0.1.0rc1"),
        (["0.1.0rc1", "0.1.0"], 0, "0.1.0"),
        (["0.1.0"], 2, "0.1.1.dev2"),
    ],
)
def test_version_comes_from_the_tag(clone, tmp_path, tags, extra_commits, version):
    for tag in tags:
        git(clone, "tag", tag)
    try:
        for number in range(extra_commits):
            git(clone, "commit", "--allow-empty", "-qm", f"empty {number}")
        wheel = build_wheel(clone, tmp_path)
        assert wheel.name == f"epicast-{version}-py3-none-any.whl"
    finally:
        if extra_commits:
            git(clone, "reset", "--hard", "-q", f"HEAD~{extra_commits}")
        for tag in tags:
            git(clone, "tag", "-d", tag)


def test_wheel_contains_every_data_file_and_scenario(clone, tmp_path):
    names = set(zipfile.ZipFile(build_wheel(clone, tmp_path)).namelist())
    assert set(PACKAGE_DATA) - names == set()
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
