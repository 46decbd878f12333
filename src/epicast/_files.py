"""Atomic file creation shared by every writer of output files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from epicast.errors import EpicastError, OutputExistsError


def check_writable(path: Path, *, force: bool) -> None:
    """Raise a one-line error if ``path`` cannot be created (before any work is done)."""
    if path.exists() and not force:
        raise OutputExistsError(str(path))
    if not path.parent.is_dir():
        raise EpicastError(f"{path}: folder {path.parent} does not exist")


@contextmanager
def atomic_path(path: str | Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place when the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind.
    Without ``force`` an existing file is never replaced, even one created by
    someone else while the block ran.
    """
    path = Path(path)
    check_writable(path, force=force)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)  # mkstemp creates 0600; give the usual file mode
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
