"""Released wheels, from the package indexes, in new virtual environments.

``ci bench``, ``ci calibrate`` and ``ci reproduce`` never run the source tree:
each finds the release's wheel on an index (by the sha256 the release record
holds, when there is one), downloads it hash-checked, and installs it with its
extras into a new uv environment whose dependencies also come through the
devpi server only. :func:`frozen` lists what an environment ended up with, and
``pins`` installs exactly such a list again.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ci import shell
from ci.errors import CIError
from ci.index import DevpiClient, ReleaseFile
from ci.processes import alive
from ci.progress import Progress
from ci.state import state_dir
from ci.verify import isolated_environment

UV = (sys.executable, "-m", "uv")


@contextmanager
def scratch(stage: str) -> Iterator[Path]:
    """Yield an empty folder for one run of ``stage`` (its environment), removed afterwards.

    The folder is ``<state>/scratch/<stage>/<pid>``, not a system temporary
    folder: a run killed with SIGKILL cannot remove it (an environment is
    ~500 MB), so each run first removes the folders of processes that no
    longer exist.
    """
    parent = state_dir() / "scratch" / stage
    parent.mkdir(parents=True, exist_ok=True)
    for folder in parent.iterdir():
        if not folder.name.isdigit() or not alive(int(folder.name)):
            shutil.rmtree(folder, ignore_errors=True)
    folder = parent / str(os.getpid())
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def find_wheel(
    client: DevpiClient,
    indexes: Sequence[str],
    project: str,
    version: str,
    sha256: str | None = None,
) -> ReleaseFile:
    """Return the wheel of ``version`` from the first of ``indexes`` holding it.

    Parameters
    ----------
    client
        A client of the devpi server.
    indexes
        Indexes (``user/index``) to look in, in order.
    project, version
        The release.
    sha256
        When given, only a wheel with this digest counts (the one a release
        record names).

    Raises
    ------
    CIError
        If no index holds such a wheel.
    """
    for index in indexes:
        for item in client.release_files(index, project, version):
            if item.filename.endswith(".whl") and sha256 in (None, item.sha256):
                return item
    raise CIError(
        f"no wheel of {project} {version} on {', '.join(indexes)}"
        + (f" with sha256 {sha256[:12]}" if sha256 else ""),
        tip="check the version (`python -m ci status`); it must have been published",
    )


def install(
    client: DevpiClient,
    wheel: ReleaseFile,
    venv: Path,
    *,
    python: str,
    extras: Sequence[str] = (),
    index_url: str,
    pins: Mapping[str, str] | None = None,
    compile_bytecode: bool = False,
) -> Path:
    """Download ``wheel`` (hash-checked) and install it into a new environment.

    The two steps (the environment, the installation) show as progress on
    standard error (:mod:`ci.progress`).

    Parameters
    ----------
    client
        A client of the devpi server.
    wheel
        The release file to install.
    venv
        Folder of the new environment (must not exist).
    python
        Python version of the environment, e.g. ``"3.11"``.
    extras
        Extras of the wheel to install with it.
    index_url
        The only index dependencies come from.
    pins
        Exact versions (name -> version) of the other packages, e.g. from
        :func:`frozen` of an earlier environment; None to resolve afresh.
    compile_bytecode
        Compile the bytecode of all of site-packages now (16 s), for processes
        that are timed (``ci bench``): with ``PYTHONDONTWRITEBYTECODE`` (common
        in CI) every process would otherwise compile ~1000 modules (40% of a
        benchmark round). Otherwise each process compiles what it imports, into
        the environment, once (see :func:`process_environment`).

    Returns
    -------
    Path
        The environment's interpreter.
    """
    path = client.download(wheel, venv.with_name(f"{venv.name}-wheel"))
    interpreter = venv / "bin" / "python"
    requirement = f"{path}[{','.join(extras)}]" if extras else str(path)
    constraints = [f"{name}=={version}" for name, version in sorted((pins or {}).items())]
    env = isolated_environment(index_url)
    install_command = [*UV, "pip", "install", "--quiet"]
    install_command += ["--compile-bytecode"] if compile_bytecode else []
    steps = [
        (
            f"python{python} environment",
            "created",
            [*UV, "venv", "--quiet", "--python", f"python{python}", str(venv)],
        ),
        (
            Path(requirement).name,
            "installed",
            [*install_command, "--python", str(interpreter), requirement, *constraints],
        ),
    ]
    with Progress("install", len(steps)) as progress:
        for name, outcome, command in steps:
            with progress.step(name) as step:
                shell.run(command, env=env, inherit=False)
                step.outcome = outcome
    return interpreter


def process_environment(secrets: Sequence[str] = ()) -> dict[str, str]:
    """Return the variables for a process run from an environment of :func:`install`.

    Ours without ``secrets`` and without ``PYTHONDONTWRITEBYTECODE``: the
    environment is ours and temporary, so its processes write the bytecode of
    what they import into it, and the next process (a Dask worker, the next
    calibration) loads it instead of compiling it again.
    """
    dropped = {*secrets, "PYTHONDONTWRITEBYTECODE"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def frozen(interpreter: Path) -> dict[str, str]:
    """Return the exact version of every package in the environment of ``interpreter``."""
    listing = shell.run([*UV, "pip", "freeze", "--python", str(interpreter)])
    pins = {}
    for line in listing.splitlines():
        name, separator, version = line.partition("==")
        if separator:  # a line "name @ file://..." is the wheel itself
            pins[name.strip().lower()] = version.strip()
    return pins
