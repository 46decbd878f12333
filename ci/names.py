"""Names given on the command line that become paths: checked before anything is written.

Versions, suites and Pythons name folders and files of the archive
(``<project>/<version>/tests/<suite>-py<python>.json``). Each is checked
against what it may be (PEP 440, the lists of pipeline.toml) when the command
starts, so that a name like ``../../0.1.0/tests/smoke`` is refused in one line
instead of writing outside its version. The archive checks every path part
once more (:func:`component`), whatever its source.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.version import InvalidVersion, Version

from ci.errors import CIError

_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,199}")


def is_component(value: str) -> bool:
    """Return whether ``value`` is one plain path component (see :func:`component`)."""
    return _COMPONENT.fullmatch(value) is not None


def component(value: str, what: str = "name") -> str:
    """Return ``value`` if it is one plain path component; refuse it in one line if not.

    Letters, digits and ``. _ + ! -``, starting with a letter or digit, at most
    200 characters: no separator, no ``..``, no NUL, never absolute.
    """
    if not is_component(value):
        raise CIError(
            f"{what} {value!r} cannot name a file: use letters, digits and . _ + ! - "
            "(at most 200, starting with a letter or digit)",
            tip="check the spelling; names never contain / or ..",
        )
    return value


def version(value: str) -> str:
    """Return ``value`` if it is a PEP 440 version (e.g. 1.2.0rc1); refuse it in one line."""
    try:
        Version(value)
    except InvalidVersion as exc:
        raise CIError(f"{value!r} is not a PEP 440 version", tip="e.g. 1.2.0rc1 or 1.2.0") from exc
    return component(value, "version")


def among(values: Iterable[str], allowed: Iterable[str], what: str) -> list[str]:
    """Return ``values`` if each is one of ``allowed`` (pipeline.toml's); refuse the first not."""
    allowed = list(allowed)
    values = list(values)
    for value in values:
        if value not in allowed:
            raise CIError(
                f"{what} {value!r} is not configured (pipeline.toml has {', '.join(allowed)})",
                tip="pick one of those, or add it to pipeline.toml",
            )
    return values
