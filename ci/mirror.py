"""A new devpi-server's PyPI mirror, warmed while the release builds.

The first time a new server is asked for a project, devpi-server fetches and
parses the project's whole file list: 0.1-1.3 s of CPU each here (numpy's
lists thousands of files), 36-40 s for epicast's ~65 dependencies, all paid by
verify's first environment. ``ci pipeline`` therefore has uv resolve the
project's requirements through the new server in the background while build
and publish run (:func:`warming`), and verify finds the lists ready. The
resolution runs in a clone of the checkout, since building the project's
metadata writes into the source tree that ``ci build`` is building from.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ci import shell
from ci.environments import UV
from ci.verify import isolated_environment

logger = logging.getLogger(__name__)


@dataclass
class Warmup:
    """How a warm-up ended: uv's exit status (negative: killed), None if not started."""

    returncode: int | None = None


@contextmanager
def warming(root: Path, index_url: str, python: str) -> Iterator[Warmup]:
    """Resolve the requirements of ``root`` (all extras) through ``index_url`` while the block runs.

    Best effort: the result is discarded and a failure costs nothing but the
    warm-up. The block's end waits for the resolution; an exception in the
    block stops it at once.

    Parameters
    ----------
    root
        The git checkout of the project (``pyproject.toml`` at its top).
    index_url
        A simple index of the server whose mirror to warm.
    python
        The Python version to resolve for, e.g. ``"3.10"``.
    """
    outcome = Warmup()
    work = Path(tempfile.mkdtemp(prefix="ci-mirror-"))
    try:
        source = work / "source"
        shell.run(["git", "clone", "--quiet", "--shared", root, source])
        command = [*UV, "pip", "compile", "pyproject.toml", "--all-extras", "--quiet"]
        command += ["--python-version", python, "--output-file", os.devnull]
        env = isolated_environment(index_url)
        process = shell.start(command, cwd=source, env=env, inherit=False)
    except (shell.CommandError, OSError) as exc:
        logger.info("mirror warm-up not started: %s", exc)
        shutil.rmtree(work, ignore_errors=True)
        yield outcome
        return
    try:
        yield outcome
    except BaseException:
        shell.stop(process)
        raise
    finally:
        outcome.returncode = process.wait()
        logger.info("mirror warm-up ended with exit status %s", outcome.returncode)
        shutil.rmtree(work, ignore_errors=True)
