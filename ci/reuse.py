"""Reuse of earlier results: a stage skips work whose result already exists for its key.

A stage's result is reused only when everything that determines it is the
same: the release file (its sha256) and the stage's other inputs, e.g. for
``ci verify`` the checkout's test files and the exact interpreter. Each skip is
one line naming what was found and when (:func:`skip_line`); ``--force`` runs
the stage again. A failed result is never reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from ci import shell
from ci.distribution import sha256_of

FORCE_HELP = "run again even if a result for the same files and inputs exists"


def inputs_digest(root: Path, paths: Sequence[str]) -> str:
    """Return the sha256 of the checkout's files under ``paths``, as they are on disk.

    The files are those git knows or would add (tracked and untracked, not
    ignored), so caches and build outputs do not count, but an untracked new
    test does. Each file counts with its path and content; a tracked file
    missing from the disk counts as missing.

    Parameters
    ----------
    root
        The git checkout.
    paths
        Files or folders relative to ``root``; ones that do not exist add nothing.
    """
    listing = shell.run(
        [
            *("git", "-C", root, "ls-files", "-z"),
            *("--cached", "--others", "--exclude-standard", "--", *paths),
        ]
    )
    digest = hashlib.sha256()
    for name in sorted(set(filter(None, listing.split("\0")))):
        path = root / name
        content = sha256_of(path) if path.is_file() else "missing"
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


def skip_line(stage: str, what: str, filename: str, sha256: str, when: str) -> str:
    """Return the one line a stage prints when it reuses an earlier result.

    Parameters
    ----------
    stage
        The command, e.g. ``"verify"``.
    what
        What was found, e.g. ``"smoke py3.11 already passed"``.
    filename, sha256
        The release file the result is for.
    when
        When the result was made (ISO 8601).
    """
    return (
        f"{stage}: {what} for {filename} sha256 {sha256[:12]}… ({_utc_minutes(when)}); "
        "--force re-runs"
    )


def _utc_minutes(iso: str) -> str:
    """Return an ISO 8601 time as ``YYYY-mm-dd HH:MM UTC``."""
    moment = datetime.fromisoformat(iso).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
