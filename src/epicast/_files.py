"""Atomic file creation shared by every writer of output files.

A file is written to a hidden temporary beside it, named for the host and
process writing it (``.out.h5.<host>-<pid>-<random>.tmp``), then moved into
place. A process killed meanwhile (SIGKILL, a lost node) cannot remove its
temporary, so the next writer of the same file removes those it can prove are
stale: written on this host by a process that no longer runs.
"""

from __future__ import annotations

import glob
import os
import secrets
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from epicast._yamlfile import os_reason
from epicast.errors import EpicastError, OutputExistsError

_HOST = socket.gethostname().replace("/", "_")


def check_writable(path: Path, *, force: bool) -> None:
    """Raise a one-line error if ``path`` cannot be created (before any work is done)."""
    if path.exists() and not force:
        raise OutputExistsError(str(path))
    if not path.parent.is_dir():
        raise EpicastError(f"{path}: folder {path.parent} does not exist")
    _probe(path.parent, f"{path}: cannot write in {path.parent}")


def _probe(folder: Path, context: str) -> None:
    """Create and remove a file in ``folder``; raise ``context: reason`` if that fails.

    A read-only or special file system (/proc, /sys) refuses what permission bits allow.
    """
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise EpicastError(f"{context}: {os_reason(exc)}") from exc


FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
"""The figure formats epicast writes (the suffix of ``--plot`` chooses)."""


OUTPUT_SUFFIXES = (".h5", ".hdf5")
"""The suffixes of epicast's HDF5 output files."""


def check_figure(path: Path, *, force: bool) -> None:
    """Raise a one-line error if ``path`` is no figure epicast can write (before any work)."""
    _check_suffix(path, FIGURE_SUFFIXES, "a figure")
    check_writable(path, force=force)


def check_output(path: Path, *, force: bool) -> None:
    """Raise a one-line error if ``path`` is no HDF5 output epicast can write (before any work)."""
    _check_suffix(path, OUTPUT_SUFFIXES, "an HDF5 output file")
    check_writable(path, force=force)


def _check_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    if path.suffix.lower() not in suffixes:
        raise EpicastError(
            f"{path}: {what} must end in {', '.join(suffixes)}, not {path.suffix or 'no suffix'}"
        )


def check_folder(folder: Path, names: tuple[str, ...], *, force: bool) -> None:
    """Raise a one-line error if the files ``names`` cannot be created in ``folder``.

    A folder that does not exist yet must be creatable: its nearest existing
    ancestor is a folder this process can write in.
    """
    if folder.exists() and not folder.is_dir():
        raise EpicastError(f"{folder}: exists and is not a folder")
    if not folder.is_dir():
        ancestor = next(parent for parent in folder.absolute().parents if parent.exists())
        if not ancestor.is_dir():
            raise EpicastError(f"{folder}: cannot create the folder: {ancestor} is not a folder")
        _probe(ancestor, f"{folder}: cannot create the folder in {ancestor}")
    for name in names if folder.is_dir() else ():
        check_writable(folder / name, force=force)


@contextmanager
def atomic_path(path: str | Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind.
    Without ``force`` an existing file is never replaced, even one created by
    someone else while the block ran.
    """
    path = Path(path)
    check_writable(path, force=force)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}.tmp")
    tmp.touch(exist_ok=False)
    try:
        yield tmp
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and fails if the file appeared meanwhile
    except FileExistsError:
        raise OutputExistsError(str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove the temporaries of ``path`` left by dead processes of this host; return them."""
    removed = []
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        owner = temporary.name[len(path.name) + 2 : -len(".tmp")]  # host-pid-random
        host, pid, _ = [*owner.rsplit("-", 2), "", ""][:3]
        if host == _HOST and pid.isdigit() and not _running(int(pid)):
            temporary.unlink(missing_ok=True)
            removed.append(temporary)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
