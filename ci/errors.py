"""The one handled error type of the ci tool.

The CLI prints a :class:`CIError` as ``ci: error: <message>`` plus an optional
``ci: tip: <what to do>`` line, without traceback, and exits with status 2.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class CIError(Exception):
    """A failure the user can act on (bad tag, wrong index, missing credential, ...).

    Parameters
    ----------
    message
        What went wrong, in one line.
    tip
        What to do about it, in one line, or ``None``.
    """

    def __init__(self, message: str, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip
