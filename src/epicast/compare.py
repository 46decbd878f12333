"""Comparing two runs: what one scenario averts against another, and how their inputs differ.

``epicast compare A.h5 B.h5`` reads two run files, takes A as the baseline,
and counts per age group the infections, admissions and deaths of each and
those B averts (A's minus B's: negative when B has more). The inputs that
differ are found in the scenario texts both files keep, compared field by
field after reading the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from epicast.errors import EpicastError

if TYPE_CHECKING:
    from epicast.store import StoredRun

MEASURES = ("infections", "admissions", "deaths")
"""What a comparison counts, in order: ``incidence`` is the run's output of infections."""
_SERIES = {"infections": "incidence", "admissions": "admissions", "deaths": "deaths"}
_LONGEST_VALUE = 60
"""Characters of a differing input value shown before it is cut with '...'."""


class ComparisonError(EpicastError):
    """Two runs cannot be compared (different age groups, or nothing to count)."""


@dataclass(frozen=True)
class Comparison:
    """What run B averts against run A, per age group.

    Attributes
    ----------
    names
        The two scenarios' names, (A, B).
    age_groups
        Labels of the age groups, shape (G,).
    totals
        Per measure (infections, admissions, deaths) that both runs hold: the totals
        of A and B per age group, shape (2, G).
    differences
        The inputs that differ: (field path, A's value, B's value), in field order.
    """

    names: tuple[str, str]
    age_groups: tuple[str, ...]
    totals: dict[str, np.ndarray]
    differences: list[tuple[str, str, str]]

    def averted(self, measure: str) -> np.ndarray:
        """Return A's total minus B's per age group, shape (G,)."""
        baseline, other = self.totals[measure]
        return baseline - other

    def lines(self) -> list[str]:
        """Return the comparison as text: the differing inputs, then a table per age group."""
        a, b = self.names
        out = [f"{b} against {a}", "inputs that differ:"]
        width = max((len(path) for path, _, _ in self.differences), default=0)
        out += [f"  {path:<{width}}  {old}  ->  {new}" for path, old, new in self.differences]
        if not self.differences:
            out.append("  none")
        out.append(f"averted: {a}'s minus {b}'s (below zero: {b} has more), % of {a}'s")
        out.append(
            f"{'age group':<10}"
            + "".join(f"{measure + ' averted':>22}{'%':>9}" for measure in self.totals)
        )
        for index, label in enumerate([*self.age_groups, "all"]):
            cells = []
            for baseline, other in self.totals.values():
                first = baseline.sum() if label == "all" else baseline[index]
                second = other.sum() if label == "all" else other[index]
                share = f"{(first - second) / first:9.1%}" if first > 0 else f"{'-':>9}"
                cells.append(f"{first - second:>22,.0f}{share}")
            out.append(f"{label:<10}" + "".join(cells))
        return out


def compare_runs(baseline: StoredRun, other: StoredRun) -> Comparison:
    """Count what ``other`` averts against ``baseline``, and list their differing inputs.

    Parameters
    ----------
    baseline, other
        Runs read with :func:`epicast.store.read_run`.

    Returns
    -------
    Comparison
        Totals per age group of every measure both runs hold, and the inputs that
        differ.

    Raises
    ------
    ComparisonError
        When the runs have different age groups.
    """
    first, second = baseline.trajectory, other.trajectory
    if first.age_groups != second.age_groups:
        raise ComparisonError(
            f"expected runs of the same age groups, got {list(first.age_groups)} and "
            f"{list(second.age_groups)}"
        )
    totals = {}
    for measure in MEASURES:
        series = [getattr(run, _SERIES[measure]) for run in (first, second)]
        if all(values is not None and values.size for values in series):
            totals[measure] = np.stack([values.sum(axis=0) for values in series])
    if "infections" not in totals:
        raise ComparisonError(
            "expected runs with their incidence (outputs: incidence), got a run without it"
        )
    names = (str(baseline.attributes["scenario_name"]), str(other.attributes["scenario_name"]))
    differences = input_differences(baseline.attributes["scenario"], other.attributes["scenario"])
    return Comparison(names, first.age_groups, totals, differences)


def input_differences(first: str, second: str) -> list[tuple[str, str, str]]:
    """Return the fields of two scenario texts whose values differ, as (path, first, second).

    Mappings are compared key by key (a field only one has shows as ``(none)`` on
    the other side); lists and values are compared whole. The description is left
    out: it says, in words, what the fields say.
    """
    import yaml

    found: list[tuple[str, str, str]] = []
    _walk(yaml.safe_load(first) or {}, yaml.safe_load(second) or {}, "", found)
    return [item for item in found if item[0] != "description"]


def _walk(first: Any, second: Any, path: str, found: list[tuple[str, str, str]]) -> None:
    """Append the differing leaves under ``path`` to ``found``."""
    if isinstance(first, dict) and second is _MISSING:  # list the fields only one gives
        second = {}
    if isinstance(second, dict) and first is _MISSING:
        first = {}
    if isinstance(first, dict) and isinstance(second, dict):
        for key in [*first, *(k for k in second if k not in first)]:
            where = f"{path}.{key}" if path else str(key)
            _walk(first.get(key, _MISSING), second.get(key, _MISSING), where, found)
    elif first != second:
        found.append((path, _shown(first), _shown(second)))


_MISSING = object()


def _shown(value: Any) -> str:
    """Return a value as one short line of text."""
    if value is _MISSING:
        return "(none)"
    text = " ".join(str(value).split())
    return text if len(text) <= _LONGEST_VALUE else text[: _LONGEST_VALUE - 3] + "..."
