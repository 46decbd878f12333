"""Publish and promote as transactions over the release record: intent, act, confirm.

A stage that puts a version's files on an index (``ci publish`` on unstable,
``ci promote`` on testing or stable) first writes its intent into the release
record (``pending``: the action, the index stage it goes to, and what the
record will say once it is done), then acts on devpi, then confirms: the
intent becomes the published files or a promotion. All three happen under the
version's transaction lock.

Killed at any instant, a stage leaves either nothing or an intent. The next
stage of that version (publish, verify, promote, approve, bench, calibrate)
settles it before it reads the record (:func:`settle`), under the same lock,
and says which way in one line on standard error:

- **finished**: the index holds exactly the files the intent names (devpi
  accepted the upload or the push before the kill), so the intent is recorded
  as done;
- **undone**: the index does not hold them, so the intent is dropped; files a
  killed publish left on the volatile unstable index are deleted, so that
  nothing is installable there that the record does not list.

The same settling puts a released version's files back on unstable when a
direct upload replaced them there (devpi allows it on a volatile index).

devpi applies a push in one database transaction, so a promotion's files are
on the target index all or none. Whatever instant the stage or devpi-server
dies, the index and the record disagree only until the next stage of the
version runs (tests/pipeline/test_faults.py kills them at every step boundary
of :mod:`ci.faults`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ci.archive import Archive
from ci.errors import CIError
from ci.index import DevpiClient, DevpiRefusedError
from ci.release import actor, now, read_record, require_published, update_record

LOCK = "transaction"


@contextmanager
def locked(archive: Archive, project: str, version: str) -> Iterator[None]:
    """Hold the version's transaction lock: one publish, promotion or settling at a time."""
    with archive.lock(project, version, LOCK):
        yield


def begin(archive: Archive, project: str, version: str, intent: dict[str, Any]) -> None:
    """Record ``intent`` (``action``, ``to`` and what to record when done) as pending."""
    intent = {**intent, "who": actor(), "when": now()}

    def write_intent(record: dict) -> bool:
        record["pending"] = intent
        return True

    update_record(archive, project, version, write_intent)


def confirm(archive: Archive, project: str, version: str) -> dict[str, Any]:
    """Record the pending intent as done; return the record."""
    return update_record(archive, project, version, _done)


def settle(
    archive: Archive, client: DevpiClient, indexes: Mapping[str, str], project: str, version: str
) -> dict[str, Any] | None:
    """Finish or undo what a killed stage left pending; return the (settled) record.

    Also puts a released version's files back on unstable if other bytes
    replaced them there (:func:`_restore_released`). Call it holding
    :func:`locked`. ``indexes`` maps the stages (unstable, testing, stable) to
    their devpi indexes.

    Raises
    ------
    CIError
        If files a killed publish left on unstable must be deleted and this
        stage's devpi user may not.
    """
    record = read_record(archive, project, version)
    if (record or {}).get("pending"):
        record = _settle_intent(archive, client, indexes, record)
    if record and record["promotions"]:
        _restore_released(client, indexes, record)
    return record


def _settle_intent(
    archive: Archive, client: DevpiClient, indexes: Mapping[str, str], record: dict[str, Any]
) -> dict[str, Any]:
    """Finish the record's pending intent if its index holds its files, else undo it."""
    project, version, pending = record["project"], record["version"], record["pending"]
    index = indexes[pending["to"]]
    wanted = _file_hashes(pending["files"] if pending["action"] == "publish" else record["files"])
    present = {f.filename: f.sha256 for f in client.release_files(index, project, version)}
    what = f"{project} {version}: the interrupted {pending['action']} to {index}"
    if all(present.get(name) == sha for name, sha in wanted.items()):
        record = update_record(archive, project, version, _done)
        _say(f"{what} had reached it: finished, now recorded")
        return record
    unpublish = (
        pending["action"] == "publish"
        and not record["promotions"]
        and _file_hashes(record["files"]) != present
    )
    if unpublish and present:
        _delete_leftovers(client, index, project, version)

    def drop(current: dict) -> bool:
        current.pop("pending", None)
        if unpublish:
            current["files"] = []
            current.pop("published_at", None)
        return True

    record = update_record(archive, project, version, drop)
    removed = ", its files removed" if present and unpublish else ""
    _say(f"{what} had not reached it: undone{removed}")
    return record


def _restore_released(client: DevpiClient, indexes: Mapping[str, str], record: dict) -> None:
    """Put a released version's files back on unstable if other bytes replaced them there.

    devpi lets the CI user replace files on the volatile unstable index, even
    those of a version already promoted (``ci publish`` refuses to). The
    released bytes are restored from the index the version reached, which
    never changes a file; a user who may not delete on unstable is told so.
    """
    project, version = record["project"], record["version"]
    unstable, reached = indexes["unstable"], indexes[record["promotions"][-1]["to"]]
    present = {f.filename: f.sha256 for f in client.release_files(unstable, project, version)}
    if not present or present == _file_hashes(record["files"]):
        return
    what = f"{project} {version}: {unstable} held other files than the released ones"
    try:
        client.delete_version(unstable, project, version)
    except DevpiRefusedError:
        _say(f"{what}; a stage with the CI credentials restores them")
        return
    client.push(reached, project, version, unstable)
    _say(f"{what}: restored from {reached}")


def settled_record(
    archive: Archive, client: DevpiClient, indexes: Mapping[str, str], project: str, version: str
) -> dict[str, Any]:
    """Settle the version (under its lock) and return its record; refuse if never published."""
    with locked(archive, project, version):
        record = settle(archive, client, indexes, project, version)
    return require_published(record, project, version)


def _done(record: dict) -> bool:
    """Apply the pending intent to ``record``: the published files, or the promotion."""
    pending = record.pop("pending", None)
    if pending is None:
        return False
    if pending["action"] == "publish":
        record.update(
            commit=pending["commit"],
            tags=pending["tags"],
            files=pending["files"],
            published_at=now(),
        )
    elif not any(p["to"] == pending["to"] for p in record["promotions"]):
        record["promotions"].append(pending["promotion"])
    return True


def _delete_leftovers(client: DevpiClient, index: str, project: str, version: str) -> None:
    try:
        client.delete_version(index, project, version)
    except DevpiRefusedError as exc:
        raise CIError(
            f"{project} {version}: an interrupted publish left files on {index} that "
            f"{client.user or 'anonymous'} may not delete ({exc.message})",
            tip="run `python -m ci publish` again with the CI credentials",
        ) from exc


def _file_hashes(files: list[dict[str, Any]]) -> dict[str, str]:
    return {f["filename"]: f["sha256"] for f in files}


def _say(line: str) -> None:
    print(f"ci: settled: {line}", file=sys.stderr)
