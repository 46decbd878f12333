"""The built files of a release: name, version and hash, read from the files themselves.

Nothing in the ci tool names the project; everything it knows comes from here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

from ci.errors import CIError


@dataclass(frozen=True)
class DistFile:
    """One distribution file (wheel or sdist) and its identity."""

    path: Path
    project: str
    version: Version
    kind: str  # "wheel" or "sdist"
    sha256: str

    @property
    def filename(self) -> str:
        """The file name, as on the package index."""
        return self.path.name


def read_dist_file(path: Path) -> DistFile:
    """Identify a wheel or sdist by its (standardised) file name and hash its bytes."""
    try:
        if path.suffix == ".whl":
            name, version, _, _ = parse_wheel_filename(path.name)
            kind = "wheel"
        elif path.name.endswith(".tar.gz"):
            name, version = parse_sdist_filename(path.name)
            kind = "sdist"
        else:
            raise CIError(f"{path.name} is neither a wheel nor an sdist")
    except ValueError as exc:
        raise CIError(f"{path.name}: not a standard distribution file name: {exc}") from exc
    return DistFile(path, str(name), version, kind, sha256_of(path))


def sha256_of(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    with path.open("rb") as handle:
        return sha256_of_stream(handle)


def sha256_of_stream(handle: BinaryIO) -> str:
    """Return the hex SHA-256 of what is left to read in a binary file object (any fsspec file)."""
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def is_final(version: Version) -> bool:
    """Return whether ``version`` is final: no dev, pre, post or local part (PEP 440)."""
    return not (
        version.is_devrelease or version.is_prerelease or version.is_postrelease or version.local
    )


def is_tagged(version: Version) -> bool:
    """Return whether ``version`` was built from a release tag (final or pre-release).

    setuptools-scm gives every other commit a ``.devN`` version, and a dirty
    checkout a local part.
    """
    return not (version.is_devrelease or version.local)
