#!/usr/bin/env python3
"""Set up the development environment and run the project's two main commands.

Needs only python3 (3.10 or newer) and git::

    python3 dev.py pipeline   # the main job: the whole release, calibrations included, locally
    python3 dev.py test       # every test suite, as CI runs it

The first call creates ``.venv`` with the pinned tools of requirements/dev.txt;
later calls reuse it until that file changes. Extra arguments go to
``python -m ci pipeline`` (e.g. ``--python 3.12``) or to tox (e.g.
``python3 dev.py test -e py311-unit``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements" / "dev.txt"
STAMP = VENV / "requirements.sha256"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
MATRIX = ("3.10", "3.11", "3.12", "3.13")


def ensure_venv() -> None:
    """Create or refresh .venv when requirements/dev.txt changed since the last setup."""
    wanted = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print(f"dev.py: setting up {VENV.relative_to(ROOT)} from {LOCK.relative_to(ROOT)}", flush=True)
    venv.create(VENV, with_pip=True, clear=True)
    run([BIN / "python", "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([BIN / "python", "-m", "pip", "install", "--quiet", "-r", LOCK])
    STAMP.write_text(wanted)


def expose_pyenv_pythons() -> None:
    """Let tox find every pyenv Python 3.10-3.13, not only the active one.

    pyenv's ``python3.X`` shims answer only for the versions in PYENV_VERSION
    (which ``pyenv exec`` sets to the current one) or ``pyenv global``; add the
    newest installed 3.10-3.13 after the current ones. Does nothing without pyenv.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return

    def ask(*args: str) -> list[str]:
        result = subprocess.run([pyenv, *args], capture_output=True, text=True, check=False)
        return result.stdout.replace(":", "\n").split()

    active = (
        os.environ.get("PYENV_VERSION", "").split(":")
        if os.environ.get("PYENV_VERSION")
        else ask("version-name")
    )
    newest = {}
    for version in ask("versions", "--bare"):
        minor = ".".join(version.split(".")[:2])
        if minor in MATRIX and version.replace(".", "").isdigit():
            newest[minor] = max(newest.get(minor, version), version, key=_numeric)
    extra = [
        v
        for minor, v in sorted(newest.items())
        if not any(a.startswith(minor + ".") for a in active)
    ]
    os.environ["PYENV_VERSION"] = ":".join([*active, *extra])


def _numeric(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def run(command: list, **kwargs) -> None:
    """Run a command from the repository root; exit with its status if it fails."""
    result = subprocess.run([str(part) for part in command], cwd=ROOT, check=False, **kwargs)
    if result.returncode:
        sys.exit(result.returncode)


def pipeline(args: list[str]) -> None:
    """Run the whole release locally: ``python -m ci pipeline`` on the embedded devpi-server.

    With ``--calibrate``: the main job shows every stage, so the calibrations run
    on a local Dask cluster even for an untagged commit (CI runs them on tags).
    """
    run([BIN / "python", "-m", "ci", "pipeline", "--calibrate", *args])


def test(tox_args: list[str]) -> None:
    """Run every tox environment: lint and all suites, on every Python 3.10-3.13 found.

    In parallel, one environment per core, the longest first (tox.ini's
    ``env_list`` order). tox shows the output of
    the environments that fail; ``-o`` (``--parallel-live``) shows all of it live.
    """
    run([BIN / "tox", "run-parallel", "--parallel", "auto", *tox_args])


def main() -> None:
    """Dispatch ``pipeline`` or ``test``."""
    if sys.version_info < (3, 10):  # noqa: UP036 - the point is to say so on old Pythons
        sys.exit(f"dev.py: Python 3.10 or newer is needed, this is {sys.version.split()[0]}")
    if len(sys.argv) < 2 or sys.argv[1] not in ("pipeline", "test"):
        sys.exit("usage: python3 dev.py pipeline [ci pipeline options] | test [tox arguments]")
    ensure_venv()
    expose_pyenv_pythons()
    if sys.argv[1] == "pipeline":
        pipeline(sys.argv[2:])
    else:
        test(sys.argv[2:])


if __name__ == "__main__":
    main()
