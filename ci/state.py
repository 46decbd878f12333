"""Where the ci tool keeps local state.

Local state (the embedded devpi-server, later the archive and build reports of a
local run) lives under one git-ignored directory: ``.state`` at the repository
root, or the directory named by the ``CI_STATE_DIR`` environment variable (the
tests point it at a temporary directory). Nothing secret is written here except
the devpi-server's own key (``devpi/secret``, mode 0600), which the server needs
to keep login tokens valid across restarts.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ci.errors import CIError

log = logging.getLogger(__name__)

STATE_DIR_ENV = "CI_STATE_DIR"
"""Environment variable overriding the state directory."""


def repo_root(start: Path | None = None) -> Path:
    """Return the git work tree containing ``start`` (default: the working directory).

    Falls back to ``start`` itself outside a git work tree, so the tool still works
    from an unpacked source archive.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / ".git").exists():
            return directory
    return here


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Return the state directory: ``$CI_STATE_DIR`` or ``<repository root>/.state``."""
    environ = os.environ if environ is None else environ
    configured = environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return repo_root() / ".state"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed, readable and writable by the owner only.

    devpi-server refuses a secret file in a group- or world-writable directory.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    except OSError as exc:
        raise CIError(
            f"cannot create the state folder {path}: {exc.strerror}",
            tip=f"set {STATE_DIR_ENV} to a folder you can write, or unset it for .state",
        ) from exc
    return path


def read_json(path: Path) -> dict[str, Any] | None:
    """Return the JSON object in ``path``, or ``None`` if it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else None
