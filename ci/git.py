"""What the pipeline needs to know from git: commit, tags, commit time, signatures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ci import shell
from ci.errors import CIError


@dataclass(frozen=True)
class Checkout:
    """The commit being released.

    Attributes
    ----------
    commit
        Full hash of ``HEAD``.
    tags
        Tags pointing at ``HEAD``, sorted.
    commit_time
        Committer time of ``HEAD`` in seconds since the epoch (``SOURCE_DATE_EPOCH``).
    """

    root: Path
    commit: str
    tags: tuple[str, ...]
    commit_time: int


def checkout(root: Path) -> Checkout:
    """Describe the git checkout at ``root``."""
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel"))
    except shell.CommandError as exc:
        raise CIError(
            f"{root} is not a git checkout", tip="run the ci tool inside a clone"
        ) from exc
    changed = _git(top, "status", "--porcelain", "--untracked-files=no")
    if changed:
        raise CIError(
            f"{top} has uncommitted changes ({len(changed.splitlines())} files); "
            "a release is built from a commit",
            tip="commit or stash them (git stash), then run the stage again",
        )
    return Checkout(
        root=top,
        commit=_git(top, "rev-parse", "HEAD"),
        tags=tuple(tags_of(top, "HEAD")),
        commit_time=int(_git(top, "log", "-1", "--format=%ct")),
    )


def tags_of(root: Path, commit: str) -> list[str]:
    """Return the tags pointing at ``commit``, sorted."""
    return sorted(_git(root, "tag", "--points-at", commit).split())


def tag_is_signed_by(root: Path, tag: str, keyring_home: Path) -> bool:
    """Return whether ``tag`` carries a good signature by a key in ``keyring_home``."""
    try:
        shell.run(["git", "-C", root, "verify-tag", tag], env={"GNUPGHOME": str(keyring_home)})
    except shell.CommandError:
        return False
    return True


def _git(root: Path, *args: str) -> str:
    return shell.run(["git", "-C", root, *args]).strip()
