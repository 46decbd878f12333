"""The exceptions epicast raises for problems a user can fix.

The CLI prints an :class:`EpicastError` as one line per problem (no traceback)
and exits with status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class EpicastError(Exception):
    """Base class of every error caused by user input (files, options, names)."""

    def lines(self) -> list[str]:
        """Return the message as the lines the CLI prints."""
        return [str(self)]


class InputFileError(EpicastError):
    """An input file is missing, unreadable, or invalid.

    Parameters
    ----------
    source
        The file (or bundled name) the problems were found in.
    problems
        One message per problem, each naming the field path and what was expected.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """Return one ``source: problem`` line per problem."""
        return [f"{self.source}: {problem}" for problem in self.problems]


class ScenarioError(InputFileError):
    """A scenario file is missing, unreadable, or invalid."""


class CalibrationError(InputFileError):
    """A calibration file or its data file is missing, unreadable, or invalid."""


class OutputExistsError(EpicastError):
    """An output file exists and overwriting it was not asked for."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"{path}: file exists; use --force to overwrite it")


class ClusterError(EpicastError):
    """A Dask cluster cannot be opened, reached, or given workers.

    Parameters
    ----------
    where
        The cluster asked for: ``local``, ``slurm`` or a scheduler address.
    reason
        What went wrong, and what to do about it, in one line.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"cluster {where!r}: {reason}")
