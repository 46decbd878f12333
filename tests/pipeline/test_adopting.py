"""Another project adopts the release tool by following docs/adopting.md.

A project PyScaffold has just made (not epicast: no numba, no benchmarks, no
calibrations; pytest-cov on by default) gets ci/ copied unchanged and the
guide's MANIFEST.in line, tox section and pipeline.toml (read from the guide
itself), is tagged 0.1.0 and released with ``python -m ci pipeline --approve``
on the session's real devpi-server; then a new virtual environment installs
it from the stable index with pip. The copy of the tool is what runs (no
PYTHONPATH to this repository).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

from tests.pipeline.conftest import DevpiServer
from tests.pipeline.repos import ACTOR, PYTHON, ROOT, STABLE, clean_environment, sdist

GUIDE = ROOT / "docs" / "adopting.md"
PROJECT, PACKAGE, VERSION = "ci-adopter", "greet", "0.1.0"


def guide_block(language: str) -> str:
    """The one fenced block of ``language`` in the guide (dedented, as a reader copies it)."""
    blocks = re.findall(rf"(?ms)^( *)```{language}\n(.*?)^\1```", GUIDE.read_text())
    assert len(blocks) == 1, f"the guide has {len(blocks)} {language} blocks"
    indent, text = blocks[0]
    return "".join(line[len(indent) :] for line in text.splitlines(keepends=True))


def files_of(folder: Path) -> dict[Path, bytes]:
    """Every file under ``folder`` but Python's caches, by relative path, with its bytes."""
    return {
        path.relative_to(folder): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}{result.stderr}"
    return result.stdout


def test_a_new_pyscaffold_project_follows_the_guide_to_stable(
    devpi: DevpiServer, tmp_path: Path
) -> None:
    env = clean_environment(
        {
            "CI_STATE_DIR": str(devpi.state_dir),
            "CI_ACTOR": ACTOR,
            "GIT_AUTHOR_NAME": "Adopter",
            "GIT_AUTHOR_EMAIL": "adopter@example.org",
            "GIT_COMMITTER_NAME": "Adopter",
            "GIT_COMMITTER_EMAIL": "adopter@example.org",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
    )
    env.pop("PYTHONPATH", None)
    run([Path(sys.executable).with_name("putup"), "--package", PACKAGE, PROJECT], tmp_path, env)
    project = tmp_path / PROJECT

    shutil.copytree(ROOT / "ci", project / "ci", ignore=shutil.ignore_patterns("__pycache__"))
    (project / "MANIFEST.in").write_text(guide_block("text"))
    with (project / "tox.ini").open("a") as tox_ini:
        tox_ini.write("\n" + guide_block("ini"))
    pipeline_toml = re.sub(r"(?m)^pythons = .*$", f'pythons = ["{PYTHON}"]', guide_block("toml"))
    (project / "pipeline.toml").write_text(pipeline_toml)
    run(["git", "add", "."], project, env)
    run(["git", "commit", "-qm", "release with ci"], project, env)
    run(["git", "tag", VERSION], project, env)

    output = run([sys.executable, "-m", "ci", "pipeline", "--approve"], project, env, timeout=900)

    lines = output.splitlines()
    assert "calibrate: nothing to do: no calibrations in [calibrate] of pipeline.toml" in lines
    assert (
        "bench: nothing to do: no benchmarks at benchmarks ([bench] paths of pipeline.toml)"
    ) in lines
    stable = f"{devpi.url}/{STABLE}/+simple/"
    assert lines[-2:] == [
        f"pipeline: {PROJECT} {VERSION} is on stable ({stable})",
        f"pipeline: install it with: pip install --index-url {stable} {PROJECT}=={VERSION}",
    ]
    user = tmp_path / "user"
    venv.create(user, with_pip=True)
    python = str(user / "bin" / "python")
    pip_env = {**env, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": "/dev/null"}
    run(
        [python, "-m", "pip", "install", "-q", "--index-url", stable, f"{PROJECT}=={VERSION}"],
        tmp_path,
        pip_env,
    )
    imported = [python, "-c", f"import {PACKAGE}; print({PACKAGE}.__version__)"]
    assert run(imported, tmp_path, env).strip() == VERSION

    assert files_of(project / "ci") == files_of(ROOT / "ci"), "the guide changed a file of ci/"
    with tarfile.open(project / "dist" / sdist(PROJECT, VERSION)) as built:
        assert not [m for m in built.getnames() if m.split("/")[1:2] == ["ci"]]
    data = [path.name for path in project.glob(".coverage*") if path.name != ".coveragerc"]
    assert data == [], "a suite wrote coverage data into the checkout"
