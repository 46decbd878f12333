"""Manifests of archived folders, and ``ci archive verify``, which checks them.

Every archived calibration folder holds ``manifest.json``: what ran (version,
commit, wheel, inputs, seeds, cluster, environment, times, diagnostics) and
the sha256 of every other file in the folder. :func:`write` adds the
checksums when the folder is made; :func:`check` recomputes them wherever the
folder now lives (a local archive or any fsspec URL) and names every file that
does not match, is missing, or was added.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from ci import records
from ci.distribution import sha256_of, sha256_of_stream
from ci.errors import CIError

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Problem:
    """A file of a folder that does not agree with its manifest."""

    folder: str
    file: str
    reason: str

    def line(self) -> str:
        """One line for people."""
        return f"{self.folder}/{self.file}: {self.reason}"


def write(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Write ``data`` plus the sha256 of every file in ``folder`` as its manifest.

    Returns
    -------
    dict
        The manifest as written.
    """
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {**data, "files": {}}
    for path in files:
        manifest["files"][path.relative_to(folder).as_posix()] = sha256_of(path)
    records.write(folder / MANIFEST, manifest)
    return manifest


def read(fs: fsspec.AbstractFileSystem, folder: str) -> dict[str, Any]:
    """Return the manifest of ``folder`` on ``fs``; refuse one without a files table."""
    where = f"{folder}/{MANIFEST}"
    with fs.open(where, "r", encoding="utf-8") as handle:
        manifest = records.parse(handle.read(), where)
    if records.wrong_fields(records.CalibrationManifest, manifest):
        raise CIError(
            f"{where}: 'files' must map each file to its sha256",
            tip=records.CalibrationManifest.tip,
        )
    return manifest


def check(fs: fsspec.AbstractFileSystem, folder: str) -> list[Problem]:
    """Return every file of ``folder`` that does not match its manifest (empty: all match)."""
    listed = read(fs, folder)["files"]
    present = {path[len(folder) + 1 :] for path in fs.find(folder)} - {MANIFEST}
    problems = [Problem(folder, name, "missing") for name in sorted(set(listed) - present)]
    problems += [
        Problem(folder, name, "not in the manifest") for name in sorted(present - set(listed))
    ]
    for name in sorted(set(listed) & present):
        with fs.open(f"{folder}/{name}", "rb") as handle:
            actual = sha256_of_stream(handle)
        if actual != listed[name]:
            problems.append(
                Problem(
                    folder, name, f"sha256 {actual[:12]}..., manifest says {listed[name][:12]}..."
                )
            )
    return sorted(problems, key=lambda p: p.file)


def manifest_folders(fs: fsspec.AbstractFileSystem, root: str) -> list[str]:
    """Return every folder below ``root`` (or ``root`` itself) that holds a manifest.

    Hidden folders (partial uploads) are left out: they are not part of the archive.
    """
    found = [
        path.rsplit("/", 1)[0]
        for path in fs.find(root)
        if path.endswith(f"/{MANIFEST}") and "/." not in path[len(root) :]
    ]
    return sorted(found)
