"""``ci status``: versions with their stage, evidence and approvals, as a table."""

from __future__ import annotations

import argparse

from ci import names
from ci.archive import Archive
from ci.index import version_key
from ci.release import read_record, stage
from ci.session import State
from ci.verify import evidence_for


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``status`` command."""
    parser = commands.add_parser("status", help="versions, their stage, evidence and approvals")
    parser.add_argument("version", nargs="?", help="only this version")
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Print the table (newest version first)."""
    only = state.options.version and names.version(state.options.version)
    rows = _rows(state.archive, only)
    header = ("project", "version", "stage", "evidence", "approved by", "commit")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))
    if not rows:
        print("(nothing published yet)")
    return 0


def _rows(archive: Archive, only: str | None = None) -> list[tuple[str, ...]]:
    """Return one row per archived version (newest first), or just ``only``."""
    rows = []
    for project in archive.listdir():
        versions = [v for v in archive.listdir(project) if only in (None, v)]
        for version in sorted(versions, key=version_key, reverse=True):
            record = read_record(archive, project, version)
            if record is None:
                continue
            evidence = evidence_for(archive, project, version)
            passed = sum(e.status == "passed" for e in evidence)
            failed = sum(e.status == "failed" for e in evidence)
            approvals = ", ".join(a["who"] for a in record["approvals"]) or _tag_approval(record)
            rows.append(
                (
                    project,
                    version,
                    _stage_shown(record),
                    f"{passed} passed, {failed} failed",
                    approvals,
                    record.get("commit", "")[:12],
                )
            )
    return rows


def _stage_shown(record: dict) -> str:
    """Return the stage, and an interrupted publish or promotion that the next stage settles."""
    pending = record.get("pending")
    if not pending:
        return stage(record)
    return f"{stage(record)} ({pending['action']} to {pending['to']} interrupted)"


def _tag_approval(record: dict) -> str:
    """``tag X`` (``signed tag X``) if a final tag approved the stable promotion, else ``-``."""
    for promotion in record["promotions"]:
        approval = promotion.get("approval") or {}
        if approval.get("how") == "tag":
            return f"{'signed ' if approval.get('signed') else ''}tag {approval['tag']}"
    return "-"
