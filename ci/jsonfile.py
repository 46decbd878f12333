"""Versioned JSON artefacts (build reports, evidence, release records), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ci.errors import CIError

SCHEMA_VERSION = 1


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> Path:
    """Write ``text`` to ``path`` through a temporary file, fsync and ``os.replace``.

    Readers see the old content or the new one, never a partial file, even if
    the writer is killed half-way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def dump_artefact(data: dict[str, Any]) -> str:
    """Return ``data`` plus ``schema_version`` as sorted, indented JSON text."""
    text = json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=2, sort_keys=True)
    return text + "\n"


def load_artefact(text: str, where: str) -> dict[str, Any]:
    """Parse an artefact's JSON ``text`` read from ``where``, checking its schema version."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CIError(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # thousands of nested [ or {: nothing ci writes
        raise CIError(f"{where} nests arrays or objects too deeply to read") from exc
    if not isinstance(data, dict):
        raise CIError(f"{where} holds a JSON {type(data).__name__}, expected an object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise CIError(
            f"{where} has schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}",
            tip="re-create it with this version of the ci tool",
        )
    return data


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` plus ``schema_version`` as sorted, indented JSON, atomically."""
    return write_text_atomic(path, dump_artefact(data))


def read_json(path: Path) -> dict[str, Any]:
    """Read an artefact written by :func:`write_json`, checking its schema version."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CIError(f"{path} does not exist") from exc
    return load_artefact(text, str(path))
