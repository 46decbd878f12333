"""``ci archive prune``: remove what ``[retention]`` lets go, never what a release stands on.

What may go, and only once older than ``max_age_days`` (by the time it finished):

- calibration runs beyond the newest ``keep_runs`` of their calibration in their
  version: any run of a version that never reached testing, and the on-demand
  runs of one that did (the runs pipeline.toml lists, a release tag's, stay);
- the test evidence and benchmark runs of versions that never reached testing
  (dev builds, candidates that failed).

Never: anything of a version at testing or stable but its on-demand runs, a
release record, or a run newer than ``max_age_days``. A calibration folder is
removed manifest-first behind a ``.pruning`` marker: readers stop counting it
at once (no manifest, no run), and if the removal is cut short the next prune
finishes it. A folder without a manifest and without the marker is left
alone: on an object store it may be an upload in progress.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from ci import records
from ci.archive import Archive
from ci.config import Retention
from ci.errors import CIError
from ci.index import version_key
from ci.manifest import MANIFEST
from ci.release import RELEASED, read_record, stage

MARKER = ".pruning"
INTERRUPTED = "finishing a removal that was cut short"


@dataclass(frozen=True)
class Removal:
    """One folder or file that the policy lets go, and why."""

    parts: tuple[str, ...]
    size: int
    why: str
    folder: bool


def plan(archive: Archive, policy: Retention, now: datetime) -> list[Removal]:
    """Return what the policy removes from ``archive`` at ``now``, interrupted removals first."""
    cutoff = now - timedelta(days=policy.max_age_days)
    found = []
    for project in _folders(archive):
        for version in sorted(_folders(archive, project), key=version_key):
            released = stage(read_record(archive, project, version)) in RELEASED
            found += _runs(archive, policy, cutoff, (project, version), released)
            if not released:
                found += _records(archive, cutoff, (project, version))
    return sorted(found, key=lambda removal: removal.why != INTERRUPTED)  # stable: order kept


def remove(archive: Archive, removal: Removal) -> None:
    """Remove one item; a calibration folder marker first, then its manifest, then the rest."""
    path = archive.path(*removal.parts)
    if not removal.folder:
        archive.fs.rm(path)
        return
    archive.fs.pipe(f"{path}/{MARKER}", b"")
    if archive.fs.exists(f"{path}/{MANIFEST}"):
        archive.fs.rm(f"{path}/{MANIFEST}")
    archive.fs.rm(path, recursive=True)


def _runs(
    archive: Archive, policy: Retention, cutoff: datetime, version: tuple[str, str], released: bool
) -> list[Removal]:
    """Calibration runs the policy lets go, and those whose removal was cut short.

    Let go: runs beyond the newest ``keep_runs`` of their calibration, old enough.
    Cut short: runs holding the marker, whatever their age.
    """
    found = []
    for name in _folders(archive, *version, "calibrations"):
        parts = (*version, "calibrations", name)
        runs = []
        for run in _folders(archive, *parts):
            if archive.exists(*parts, run, MARKER):
                size = _du(archive, *parts, run)
                found.append(Removal((*parts, run), size, INTERRUPTED, folder=True))
                continue
            if not archive.exists(*parts, run, MANIFEST):
                continue  # an upload in progress, on an object store
            manifest = archive.read_json(*parts, run, MANIFEST) or {}
            on_demand = (manifest.get("requested") or {}).get("on_demand", False)
            if not released or on_demand:
                runs.append((manifest.get("finished_at", ""), run, on_demand))
        for finished, run, on_demand in sorted(runs, reverse=True)[policy.keep_runs :]:
            if finished and _when(finished, archive.path(*parts, run, MANIFEST)) < cutoff:
                kind = "on-demand run" if on_demand else "run"
                why = f"{kind} beyond the newest {policy.keep_runs}, finished {finished[:10]}"
                found.append(Removal((*parts, run), _du(archive, *parts, run), why, folder=True))
    return found


def _records(archive: Archive, cutoff: datetime, version: tuple[str, str]) -> list[Removal]:
    """Test evidence and benchmark runs of a version that never reached testing, old enough."""
    found = []
    for folder in ("tests", "bench"):
        for name in archive.listdir(*version, folder):
            if name.startswith(".") or not name.endswith(".json") or ".raw." in name:
                continue
            record: dict[str, Any] = archive.read_json(*version, folder, name) or {}
            finished = record.get("finished_at", "")
            if not finished or _when(finished, archive.path(*version, folder, name)) >= cutoff:
                continue
            what = "evidence" if folder == "tests" else "benchmark run"
            why = f"{what} of a version that never reached testing, finished {finished[:10]}"
            names = [name]
            raw = record.get("raw")
            if folder == "bench" and raw and archive.exists(*version, folder, raw):
                names.append(raw)
            for item in names:
                size = archive.fs.size(archive.path(*version, folder, item))
                found.append(Removal((*version, folder, item), size, why, folder=False))
    return found


def _folders(archive: Archive, *parts: str) -> list[str]:
    """Return the visible sub-folders (hidden ones are uploads in progress, or locks)."""
    return [
        name
        for name in archive.listdir(*parts)
        if not name.startswith(".") and archive.fs.isdir(archive.path(*parts, name))
    ]


def _du(archive: Archive, *parts: str) -> int:
    return int(archive.fs.du(archive.path(*parts)))


def _when(iso: object, where: str) -> datetime:
    """Return the time ``finished_at`` of the record at ``where`` says; refuse it if none."""
    try:
        return datetime.fromisoformat(iso).astimezone(timezone.utc)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise CIError(
            f"{where}: finished_at {iso!r} is not an ISO 8601 time, so its age is unknown",
            tip=f"{records.RESTORE}; nothing was removed",
        ) from exc
