"""CSV input files next to a YAML file, every problem reported as one line.

The readers record what is wrong in a :class:`~epicast._yamlfile.Problems`
collector, located at the YAML field that names the file, and return None, so
that one pass reports every problem of a scenario or calibration file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from epicast._yamlfile import Problems, input_problem, os_reason


def read_csv(
    base: Path, name: str, loc: list[object], problems: Problems
) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    """Read a CSV file relative to ``base``: its header and (line, row) pairs."""
    path = base / name
    if (reason := input_problem(path)) is not None:
        problems.add(loc, f"cannot read {name} (looked for {path.resolve()}): {reason}")
        return None
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = [(n, row) for n, row in enumerate(csv.reader(handle), start=1) if row]
    except OSError as exc:
        where = path.resolve()
        problems.add(loc, f"cannot read {name} (looked for {where}): {os_reason(exc)}")
        return None
    except (UnicodeDecodeError, csv.Error) as exc:
        problems.add(loc, f"cannot read {name}: expected UTF-8 CSV text ({exc})")
        return None
    if len(lines) < 2:
        problems.add(loc, f"{name}: expected a header and data rows, got {len(lines)} line(s)")
        return None
    header = [column.strip() for column in lines[0][1]]
    twice = sorted({column for column in header if header.count(column) > 1})
    if twice:
        first = lines[0][0]
        problems.add(loc, f"{name} line {first}: expected each column once, got {twice[0]!r} twice")
        return None
    rows, ok = [], True
    for number, values in lines[1:]:
        if len(values) != len(header):
            problems.add(
                loc,
                f"{name} line {number}: expected {len(header)} values as in the header, "
                f"got {len(values)}",
            )
            ok = False
        rows.append((number, dict(zip(header, (v.strip() for v in values), strict=False))))
    return (header, rows) if ok else None


def read_number(
    text: str,
    name: str,
    number: int,
    column: str,
    loc: list[object],
    problems: Problems,
    maximum: float = np.inf,
) -> float | None:
    """Return ``text`` as a finite number in [0, maximum], or None after recording a problem."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value) or not 0 <= value <= maximum:
        expected = "a number >= 0" + (f" and <= {maximum:g}" if np.isfinite(maximum) else "")
        where = f"{name} line {number}, column {column}"
        problems.add(loc, f"{where}: expected {expected}, got {text!r}")
        return None
    return value
