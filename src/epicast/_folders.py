"""epicast's folders in the user's home: its configuration and its caches (XDG base directories)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def user_folder(variable: str, default: str, environ: Mapping[str, str] | None = None) -> Path:
    """Return epicast's folder in an XDG base directory, e.g. ``~/.cache/epicast``.

    Parameters
    ----------
    variable
        The XDG variable, e.g. ``XDG_CACHE_HOME``; used if it is an absolute
        path, as the XDG specification asks.
    default
        The folder under the home folder otherwise, e.g. ``.cache``.
    environ
        The environment to read (default ``os.environ``).
    """
    value = (os.environ if environ is None else environ).get(variable, "")
    return (Path(value) if os.path.isabs(value) else Path.home() / default) / "epicast"
