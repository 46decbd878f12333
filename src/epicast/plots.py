"""Matplotlib figures of model runs.

matplotlib is imported inside the functions: ``epicast run`` without
``--plot`` never pays for it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from epicast._files import atomic_path

if TYPE_CHECKING:
    from epicast.model import Trajectory
    from epicast.scenario import Scenario

logger = logging.getLogger(__name__)


def plot_run(
    scenario: Scenario, trajectory: Trajectory, path: str | Path, *, force: bool = False
) -> Path:
    """Save a figure of daily incidence by age group and compartment totals.

    Incidence is stacked by age group (top); people per compartment summed over
    age groups are below. Interventions are shaded on both panels.

    Parameters
    ----------
    scenario, trajectory
        The scenario that was run and its (unbatched) outputs.
    path
        Image file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    force
        Replace an existing file (written atomically either way).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, layout="constrained")
    days = trajectory.time
    colours = plt.get_cmap("viridis")(np.linspace(0, 1, len(trajectory.age_groups)))
    top.stackplot(
        days, trajectory.incidence.T, labels=trajectory.age_groups, colors=colours, linewidth=0
    )
    top.set_ylabel("new infections per day")
    top.set_title(f"{scenario.name}: incidence by age group (R0 = {scenario.R0:.2f})")
    if len(trajectory.age_groups) > 1:
        top.legend(title="age group", fontsize="small", ncols=2, loc="upper right")
    for name, series in zip(
        trajectory.compartments, trajectory.prevalence.sum(axis=2).T, strict=True
    ):
        bottom.plot(days, series, label=name)
    bottom.set_xlabel("day")
    bottom.set_ylabel("people")
    bottom.legend(loc="center right")
    for item in scenario.interventions:
        for axis in (top, bottom):
            axis.axvspan(item.start, item.end, color="grey", alpha=0.2, linewidth=0)
        top.annotate(
            item.name,
            (item.start, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            fontsize="small",
        )
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    logger.info("wrote %s", path)
    return Path(path)
