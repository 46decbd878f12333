"""Versioned JSON artefacts (build reports, evidence, release records), written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ci.atomic import atomic_file
from ci.errors import CIError

SCHEMA_VERSION = 1


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
    with atomic_file(path) as handle:
        handle.write(dump_artefact(data))
    return path


def read_json(path: Path) -> dict[str, Any]:
    """Read an artefact written by :func:`write_json`, checking its schema version."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CIError(f"{path} does not exist") from exc
    return load_artefact(text, str(path))
