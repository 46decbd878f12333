"""Two runs of one calibration side by side: what moved beyond Monte Carlo error.

The dashboard compares each archived run with the run of the same calibration
before it (any version, in the order they finished). Per parameter and derived
quantity, from the manifests' diagnostics tables: both posterior means and 90%
intervals, their difference, and the Monte Carlo standard error of that
difference, sqrt(sd_a^2 / ess_a + sd_b^2 / ess_b) with the bulk ESS. A
quantity *moved* when the difference exceeds ``MOVED`` times that error: more
than the two runs' sampling noise explains. The posterior densities come from
the draws in each run's ``result.h5``, the fits from the posterior predictive
bands it keeps beside the observations (epicast writes them since the results
site overlays them; an older result has none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MOVED = 3.0
"""Differences beyond this many Monte Carlo standard errors count as moved."""


@dataclass(frozen=True)
class Change:
    """One quantity in two runs: means, 90% intervals, difference and its Monte Carlo error."""

    quantity: str
    mean_a: float
    mean_b: float
    interval_a: tuple[float, float]
    interval_b: tuple[float, float]
    mc_error: float | None
    """None when either run has no ESS for the quantity (derived ones may not)."""

    @property
    def difference(self) -> float:
        """Return mean_b - mean_a."""
        return self.mean_b - self.mean_a

    @property
    def moved(self) -> bool | None:
        """Return whether the difference is beyond ``MOVED`` Monte Carlo errors (None: unknown)."""
        if self.mc_error is None:
            return None
        return bool(abs(self.difference) > MOVED * self.mc_error)


def changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """Return the changes of the quantities both manifests' diagnostics tables have, in b's order.

    Parameters
    ----------
    a, b
        Manifests of the earlier and the later run.
    """
    rows_a, rows_b = _rows(a), _rows(b)
    found = []
    for quantity, later in rows_b.items():
        earlier = rows_a.get(quantity)
        if earlier is None or earlier.get("mean") is None or later.get("mean") is None:
            continue
        found.append(
            Change(
                quantity,
                earlier["mean"],
                later["mean"],
                (earlier["q05"], earlier["q95"]),
                (later["q05"], later["q95"]),
                _mc_error(earlier, later),
            )
        )
    return found


def draws(handle: Any) -> dict[str, np.ndarray]:
    """Return every parameter's draws, all chains together, from an open ``result.h5``."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in handle["parameter"][()]]
    values = handle["draws"][()]
    return {name: values[:, :, k].ravel() for k, name in enumerate(names)}


@dataclass(frozen=True)
class Fit:
    """One target of a run: the observations and the posterior predictive on their days."""

    days: np.ndarray
    observed: np.ndarray
    bands: np.ndarray
    """Shape (n, 3): the 5%, 50% and 95% quantiles of the posterior predictive."""


def fits(handle: Any) -> dict[str, Fit]:
    """Return each target's fit, by column, from an open ``result.h5`` (empty if it keeps none)."""
    if "predictive" not in handle:
        return {}
    return {
        column: Fit(*handle["observations"][column][()].T, handle["predictive"][column][()])
        for column in handle["predictive"]
    }


def _rows(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    table = manifest["diagnostics"]["table"]
    columns = table["columns"]
    return {row[0]: dict(zip(columns, row, strict=True)) for row in table["rows"]}


def _mc_error(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    parts = []
    for row in (a, b):
        sd, ess = row.get("sd"), row.get("ess_bulk")
        if sd is None or not ess:
            return None
        parts.append(sd**2 / ess)
    return math.sqrt(sum(parts))
