"""The ci tool's one way to write a file: readers see the old content or the new, never a part."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def atomic_file(path: Path, *, binary: bool = False, mode: int = 0o644) -> Iterator[IO]:
    """Yield a file beside ``path`` to write; move it into place when the block succeeds.

    The temporary file is fsynced and renamed over ``path`` (``os.replace``),
    so a reader sees the old content or the new one even if the writer is
    killed half-way. If the block raises, ``path`` is left as it was and the
    temporary file is removed.

    Parameters
    ----------
    path
        The file to write; its folder is created if needed.
    binary
        Yield a file of bytes rather than of UTF-8 text.
    mode
        Permissions of the new file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
