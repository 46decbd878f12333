"""The archive store: evidence, release records, benchmarks and calibrations by version.

Layout (see DESIGN.md)::

    <archive>/<project>/<version>/release.json
    <archive>/<project>/<version>/tests/<suite>-py<python>.json
    <archive>/<project>/<version>/bench/<run>.json
    <archive>/<project>/<version>/calibrations/<name>/<timestamp>-<commit>/

The archive is a local folder by default or any fsspec URL (an object store at
scale). JSON artefacts are written under a temporary name and then moved into
place, so readers see whole files only. Read-modify-write of a record happens
under :meth:`Archive.lock`, so two promotions racing give exactly one effect.
"""

from __future__ import annotations

import fcntl
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec

from ci import names, records
from ci.errors import CIError
from ci.progress import Progress

logger = logging.getLogger(__name__)


class Archive:
    """An archive rooted at a folder or fsspec URL.

    Parameters
    ----------
    url
        ``s3://bucket/prefix``, ``file:///abs/path`` or a plain path; a relative
        path is taken relative to ``base``.
    base
        Folder that relative paths start from (the repository root).
    """

    def __init__(self, url: str, base: Path) -> None:
        if "://" not in url:
            url = str((base / url).resolve())
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except ImportError as exc:
            raise CIError(
                f"[archive] url {url}: its fsspec backend is not installed ({exc.name or exc})",
                tip="install the package fsspec names for that protocol (e.g. s3fs for s3://)",
            ) from exc
        except ValueError as exc:
            raise CIError(
                f"[archive] url {url}: {exc}", tip="use a folder, or an fsspec URL like s3://..."
            ) from exc
        self.url = url

    def path(self, *parts: str) -> str:
        """Return the store path of ``parts`` below the archive root.

        Each part must be one plain name (:func:`ci.names.component`; hidden
        ones too, as partial uploads are), so that no name given to a command
        can reach outside its folder.
        """
        for part in parts:
            names.component(part.removeprefix("."), "archive path part")
        return "/".join([self.root.rstrip("/"), *parts])

    def exists(self, *parts: str) -> bool:
        """Return whether the file or folder exists."""
        return self.fs.exists(self.path(*parts))

    def listdir(self, *parts: str) -> list[str]:
        """Return the names in a folder, sorted; empty if it does not exist."""
        if not self.fs.isdir(self.path(*parts)):
            return []
        return sorted(Path(entry).name for entry in self.fs.ls(self.path(*parts), detail=False))

    def read_json(self, *parts: str) -> dict[str, Any] | None:
        """Return a record (:func:`ci.records.parse`), or ``None`` if it does not exist."""
        path = self.path(*parts)
        if not self.fs.exists(path):
            return None
        with self.fs.open(path, "r", encoding="utf-8") as handle:
            return records.parse(handle.read(), f"{self.url}/{'/'.join(parts)}")

    def write_json(self, data: dict[str, Any], *parts: str) -> str:
        """Write a record (:func:`ci.records.dump`) atomically; return its path.

        It is written under a hidden temporary name and then moved into place,
        so readers see the old record or the new one, never a part.
        """
        path = self.path(*parts)
        folder = path.rsplit("/", 1)[0]
        self.fs.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{uuid.uuid4().hex}.tmp"
        with self.fs.open(tmp, "w", encoding="utf-8") as handle:
            handle.write(records.dump(data))
        self.fs.mv(tmp, path)
        return path

    def publish_folder(self, local: Path, *parts: str, last: str) -> str:
        """Copy the folder ``local`` to ``parts`` so that it appears complete or not at all.

        The files go to a hidden sibling (``.<name>.partial-<random>``) first,
        the file ``last`` (the manifest) after all others, and the folder is then
        renamed into place: atomic on a file system. On an object store, where a
        rename is a copy, a folder counts as complete once ``last`` exists
        (:meth:`complete_folders`), which is why it is written last. Each file
        is a step of the progress shown on standard error (:mod:`ci.progress`).

        Returns
        -------
        str
            The store path of the published folder.
        """
        final = self.path(*parts)
        parent, name = final.rsplit("/", 1)
        partial = f"{parent}/.{name}.partial-{uuid.uuid4().hex[:8]}"
        self.fs.makedirs(partial, exist_ok=True)
        files = sorted(p for p in local.rglob("*") if p.is_file())
        with Progress("archive", len(files)) as progress:
            for path in sorted(files, key=lambda p: p.name == last):
                relative = path.relative_to(local).as_posix()
                target = f"{partial}/{relative}"
                with progress.step(relative) as step:
                    self.fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
                    self.fs.put_file(str(path), target)
                    step.outcome = "uploaded"
        self.fs.mv(partial, final, recursive=True)
        return final

    def complete_folders(self, *parts: str, marker: str) -> list[str]:
        """Return the names of the folders under ``parts`` that hold ``marker``, sorted.

        Hidden folders (partial uploads) and folders without the marker (an
        interrupted copy to an object store) are left out.
        """
        return [
            name
            for name in self.listdir(*parts)
            if not name.startswith(".") and self.exists(*parts, name, marker)
        ]

    @contextmanager
    def lock(self, *parts: str) -> Iterator[None]:
        """Hold an exclusive lock on a record while reading and rewriting it.

        Local archives use ``flock`` on a lock file beside the record; object
        stores have no locks, so there the CI system's concurrency group must
        keep promotions of one version from running at the same time.
        """
        if "file" not in self.fs.protocol:
            yield
            return
        path = Path(self.path(*parts) + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
