"""The release record of one version (``release.json`` in the archive).

It holds what was built (commit, tags, files and their sha256), QA approvals,
every promotion (who, when, from, to, evidence), and the intent of a publish
or promotion under way (``pending``, see :mod:`ci.transaction`). It is the
history; the package index is the state. A version's stage is the last
promotion's target, or ``unstable`` once published.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ci import records
from ci.archive import Archive
from ci.errors import CIError

RECORD = "release.json"
RELEASED = ("testing", "stable")
"""The stages of a released version: promoted past unstable once its tests passed."""
ACTOR_VARIABLES = ("CI_ACTOR", "GITHUB_ACTOR", "BUILDKITE_UNBLOCKER", "BUILDKITE_BUILD_CREATOR")


def actor() -> str:
    """Return who is acting: the CI system's user variable, else the login name."""
    for name in ACTOR_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return getpass.getuser()


def now() -> str:
    """Return the current UTC time in ISO 8601, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_record(archive: Archive, project: str, version: str) -> dict[str, Any] | None:
    """Return the release record, or ``None`` if the version was never published.

    A record of another shape (edited by hand, damaged, or another version's)
    is refused in one line naming its wrong field: every stage acts on it.
    """
    record = archive.read_json(project, version, RECORD)
    if record is None:
        return None
    where = archive.path(project, version, RECORD)
    records.checked(records.ReleaseRecord, record, where)
    if (record["project"], record["version"]) != (project, version):
        raise CIError(
            f"{where} is the record of {record['project']} {record['version']}",
            tip=records.ReleaseRecord.tip,
        )
    record.setdefault("approvals", [])
    return record


def update_record(
    archive: Archive, project: str, version: str, change: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Apply ``change`` to the record under the archive lock; write it if ``change`` says so.

    ``change`` receives the current record (an empty skeleton for a new version)
    and returns whether it modified it, so a re-run that changes nothing writes
    nothing.
    """
    with archive.lock(project, version, RECORD):
        record = read_record(archive, project, version) or {
            "project": project,
            "version": version,
            "files": [],
            "promotions": [],
            "approvals": [],
        }
        if change(record):
            archive.write_json(record, project, version, RECORD)
        return record


def require_published(record: dict[str, Any] | None, project: str, version: str) -> dict[str, Any]:
    """Return ``record`` if it lists published files; refuse in one line if not."""
    if not record or not record["files"]:
        raise CIError(f"{project} {version} was never published", tip="run `python -m ci publish`")
    return record


def wheel_of(record: dict[str, Any]) -> dict[str, Any]:
    """Return the wheel's entry (filename, sha256, ...) among a record's files."""
    return next(f for f in record["files"] if f["kind"] == "wheel")


def stage(record: dict[str, Any] | None) -> str:
    """Return the stage a record says the version has reached."""
    if not record:
        return "unknown"
    if not record["files"]:
        return "unpublished"
    return record["promotions"][-1]["to"] if record["promotions"] else "unstable"


def accepted_regression(promotion: dict[str, Any]) -> dict[str, Any] | None:
    """Return a promotion's ``accepted_regression`` ({reason, who}), from its benchmark gate."""
    return (promotion.get("benchmarks") or {}).get("accepted_regression")
