"""How epicast's functions are compiled, and where the compiled code is kept.

Every compiled function of epicast takes :data:`OPTIONS`. Numba caches
compiled code on disk, but its own cache is keyed by the source file's *path*:
each new environment (a tox environment, a verify suite, a calibration's
environment, a user's new venv) compiles epicast again, 5-15 s, though the
sources are the same bytes. :class:`SharedCacheLocator` keys epicast's cache by
*content* instead: one folder per fingerprint of epicast's sources and of the
numba, llvmlite and numpy versions, under ``NUMBA_CACHE_DIR`` when that is set,
else the user's cache folder (``$XDG_CACHE_HOME/epicast/numba``, by default
``~/.cache/epicast/numba``). Numba still checks, per function, the Python
version and the CPU the code was compiled for, so a shared folder never serves
code built for another machine. The fingerprint covers every module of the
package and of its subpackages, not only the one a function is defined in:
numba's own cache misses a change in a compiled function's callees in other
modules, this one does not (an edit anywhere compiles again, which only
developers see).

Only epicast's own functions use this locator; every other package keeps
numba's defaults. Where the folder cannot be written, numba's defaults apply
(next to the installed package, or numba's user-wide cache).
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
from pathlib import Path

import llvmlite
import numba
import numpy as np
from numba.core import caching

from epicast._folders import user_folder

OPTIONS = {"cache": True, "error_model": "numpy"}
"""Keyword arguments of every ``njit`` in epicast."""
PACKAGE = Path(__file__).resolve().parent
KEEP = 8
"""Fingerprint folders kept; older ones (other versions, edited sources) are removed."""


@functools.cache
def fingerprint() -> str:
    """Return a digest of everything compiled code depends on besides the CPU and Python."""
    digest = hashlib.sha256()
    for version in (numba.__version__, llvmlite.__version__, np.__version__):
        digest.update(version.encode() + b"\0")
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def cache_root() -> Path:
    """Return the folder that holds one subfolder per fingerprint."""
    if numba.config.CACHE_DIR:
        return Path(numba.config.CACHE_DIR) / "epicast"
    return user_folder("XDG_CACHE_HOME", ".cache") / "numba"


class SharedCacheLocator(caching._CacheLocator):
    """Numba cache locator of epicast's functions, keyed by :func:`fingerprint`."""

    def __init__(self, py_func, py_file: str) -> None:
        self._py_file = py_file  # numba's warning about code it cannot cache names it
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = str(cache_root() / fingerprint())

    def get_cache_path(self) -> str:
        return self._cache_path

    def get_source_stamp(self) -> str:
        return fingerprint()

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    def ensure_cache_path(self) -> None:
        fresh = not os.path.isdir(self._cache_path)
        super().ensure_cache_path()
        if fresh:
            _remove_old(Path(self._cache_path).parent)

    @classmethod
    def from_function(cls, py_func, py_file: str):
        """Return a locator for a function of epicast that can be cached; None otherwise."""
        if PACKAGE not in Path(py_file).resolve().parents:
            return None
        try:
            locator = cls(py_func, py_file)
            locator.ensure_cache_path()
        except (OSError, RuntimeError):  # RuntimeError: no home folder (a user without one)
            return None
        return locator


def _remove_old(root: Path) -> None:
    """Keep the KEEP most recently written fingerprint folders of ``root``."""
    written = {}
    for folder in root.iterdir():
        try:
            written[folder] = folder.stat().st_mtime
        except OSError:  # removed meanwhile by another process
            continue
    for old in sorted(written, key=written.get, reverse=True)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)


def _locator_classes() -> list:
    """Return numba's list of cache locators, tried in order (``_CacheImpl``'s in older numba)."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    return impl._locator_classes


def _register() -> None:
    """Put :class:`SharedCacheLocator` first in numba's list."""
    classes = _locator_classes()
    if SharedCacheLocator not in classes:
        classes.insert(0, SharedCacheLocator)


_register()
