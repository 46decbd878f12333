"""``ci publish``: upload the built files to the unstable index and record the release.

The documentation zip of ``ci build`` (if any) goes with them: devpi keeps it
beside the version's files and pushes it along on every promotion.

Safe to re-run: an identical file already on the index counts as success, and
the release record only changes when something new was published. Killed at
any point, it leaves the record and the index disagreeing only until the next
stage of the version settles the publish (:mod:`ci.transaction`). When every
file is already there (an unchanged commit), one line says that nothing was
uploaded.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ci import faults, transaction
from ci.build import built_docs, built_files
from ci.devpi import connect
from ci.errors import CIError
from ci.session import State

logger = logging.getLogger(__name__)


def publish(state: State, dist: Path) -> tuple[dict, dict[str, str]]:
    """Upload the files (and docs) of ``dist/build-report.json``; return the report and outcomes.

    The release record in the archive gets the commit, tags and file hashes,
    as a transaction (:mod:`ci.transaction`): the intent first, then the
    uploads, then the record. A version already published with these files
    (an unchanged commit) needs no intent.
    """
    report, files = built_files(dist)
    config, archive = state.config, state.archive
    index = config.indexes.unstable
    project, version = report.project, report.version
    doczip = built_docs(dist, report)
    published = report.as_json(include={"commit", "tags", "files"})
    with connect("ci") as client, transaction.locked(archive, project, version):
        record = transaction.settle(archive, client, config.indexes.model_dump(), project, version)
        _refuse_changed_promoted_files(record, project, version, published["files"])
        present = {f.filename: f.sha256 for f in client.release_files(index, project, version)}
        unchanged = all((record or {}).get(key) == value for key, value in published.items())
        done = unchanged and all(present.get(f.filename) == f.sha256 for f in files)
        if not done:
            transaction.begin(
                archive, project, version, {"action": "publish", "to": "unstable", **published}
            )
            faults.point("publish.intent")
        outcomes = {}
        for file in files:
            outcomes[file.filename] = client.upload(index, file.path)
            faults.point("publish.uploaded")
        if doczip:
            outcomes[doczip.name] = client.upload_docs(index, project, version, doczip)
        if not done:
            faults.point("publish.done")
            transaction.confirm(archive, project, version)
    return {**report.as_json(), "index": index}, outcomes


def _refuse_changed_promoted_files(
    record: dict | None, project: str, version: str, files: list[dict]
) -> None:
    """Refuse other bytes under a version that already left unstable: releases never change."""
    if record and record["promotions"] and record["files"] != files:
        raise CIError(
            f"{project} {version} was already promoted to "
            f"{record['promotions'][-1]['to']} with other files",
            tip="a released version never changes; commit or tag a new version",
        )
