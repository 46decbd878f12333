"""The documentation of a version: built against its wheel, zipped for devpi.

``ci build`` runs the project's documentation tox environment (``[build] docs``
in ``pipeline.toml``) with the freshly built wheel installed (``--installpkg``),
so the API and reference pages describe exactly the code being released, and
zips the HTML as ``<project>-<version>.doc.zip``, the name devpi gives doc
uploads. ``ci publish`` uploads it beside the files (``DevpiClient.upload_docs``)
and every promotion pushes it along, so each version on each index carries its
own documentation. The zip is reproducible like the wheel: sorted members with
the commit time and fixed permissions, and without Sphinx's ``.doctrees``
cache (pickles that record the build's absolute paths; not documentation).
"""

from __future__ import annotations

import sys
import tempfile
import time
import zipfile
from pathlib import Path

from ci import shell
from ci.errors import CIError

CACHE = ".doctrees"
"""Sphinx's cache of parsed documents inside the output folder, left out of the zip."""


def doczip_name(project: str, version: str) -> str:
    """Return the file name devpi stores the documentation of a version under."""
    return f"{project}-{version}.doc.zip"


def require_env(root: Path, env: str) -> None:
    """Raise CIError unless the checkout's tox configuration defines environment ``env``.

    ``ci build`` checks this before building anything, so that a misspelt
    ``[build] docs`` costs one line instead of a build and tox's error.
    """
    tox = [sys.executable, "-m", "tox", "list", "--no-desc", "--root", root]
    defined = shell.run(tox, cwd=root).split()
    if env not in defined:
        raise CIError(
            f"[build] docs = {env!r} in pipeline.toml is not a tox environment of {root} "
            f"(tox knows: {', '.join(defined) or 'none'}); name one that builds the HTML"
        )


def build_docs(root: Path, env: str, wheel: Path, target: Path, epoch: int) -> Path:
    """Build the HTML documentation with tox environment ``env`` and zip it to ``target``.

    Parameters
    ----------
    root
        The checkout, with the ``tox.ini`` that defines ``env``; the environment
        gets the output folder as its positional argument (``{posargs}``).
    env
        The tox environment, e.g. ``docs``.
    wheel
        The built wheel, installed into the environment instead of the source tree.
    target
        The zip file to write.
    epoch
        Time stamp of every member (the commit time), for reproducible bytes.
    """
    with tempfile.TemporaryDirectory(prefix="ci-docs-") as tmp:
        html = Path(tmp) / "html"
        shell.run(
            [
                sys.executable,
                "-m",
                "tox",
                "run",
                "-e",
                env,
                "--root",
                root,
                "--workdir",
                Path(tmp) / "tox",
                "--installpkg",
                wheel,
                "--",
                html,
            ],
            cwd=root,
        )
        _zip_folder(html, target, epoch)
    return target


def _zip_folder(folder: Path, target: Path, epoch: int) -> None:
    """Zip the files under ``folder`` but Sphinx's cache, with fixed order, times and modes."""
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip cannot hold times before 1980
    files = [
        p for p in folder.rglob("*") if p.is_file() and CACHE not in p.relative_to(folder).parts
    ]
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=stamp)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
