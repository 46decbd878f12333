"""``ci archive verify|prune``: check the archive against its manifests, or prune it."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

import fsspec

from ci import manifest, retention
from ci.errors import CIError
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``archive verify`` and ``archive prune``."""
    parser = commands.add_parser("archive", help="check the archive, or prune it")
    actions = parser.add_subparsers(title="actions", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="check every archived file against the sha256 in its manifest"
    )
    verify.add_argument(
        "path", nargs="?", help="a folder or URL in the archive (default: the whole archive)"
    )
    verify.set_defaults(handler=handle_verify)
    prune = actions.add_parser(
        "prune", help="remove old runs and dev-version evidence as [retention] allows"
    )
    prune.add_argument(
        "--dry-run", action="store_true", help="list what would go and the bytes freed"
    )
    prune.set_defaults(handler=handle_prune)


def handle_verify(state: State) -> int:
    """Check every archived folder under the path (or the whole archive); exit 1 on a mismatch."""
    path = state.options.path
    if path:
        fs, root = fsspec.core.url_to_fs(path if "://" in path else str(Path(path).resolve()))
    else:
        fs, root = state.archive.fs, state.archive.root
    root = root.rstrip("/")
    if path and not fs.isdir(root):
        raise CIError(f"{path} is not a folder", tip="give a folder of the archive")
    folders = manifest.manifest_folders(fs, root)
    if path and not folders:
        raise CIError(
            f"no archived folder (with a {manifest.MANIFEST}) under {path}",
            tip="give a calibration folder of the archive, or a folder above some",
        )
    problems = [problem for folder in folders for problem in manifest.check(fs, folder)]
    for problem in problems:
        print(f"MISMATCH {problem.line()}")
    bad = {p.folder for p in problems}
    files = sum(len(manifest.read(fs, f)["files"]) for f in folders)
    print(
        f"archive verify: {len(folders) - len(bad)} of {len(folders)} folder(s) intact "
        f"({files} file(s) checked) under {root}"
    )
    return 1 if problems else 0


def handle_prune(state: State) -> int:
    """Remove (or with --dry-run list) what the [retention] policy lets go."""
    dry_run = state.options.dry_run
    removals = retention.plan(state.archive, state.config.retention, datetime.now(timezone.utc))
    verb = "would remove" if dry_run else "removed"
    for removal in removals:
        if not dry_run:
            retention.remove(state.archive, removal)
        print(f"prune: {verb} {'/'.join(removal.parts)} ({_size(removal.size)}): {removal.why}")
    freed = _size(sum(r.size for r in removals))
    print(f"prune: {verb} {len(removals)} item(s), {freed} {'to free' if dry_run else 'freed'}")
    return 0


def _size(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"
