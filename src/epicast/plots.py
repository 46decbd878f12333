"""Matplotlib figures of model runs and calibrations.

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
    from epicast.calibration.run import CalibrationResult
    from epicast.compare import Comparison
    from epicast.model import Trajectory
    from epicast.scenario import Scenario

logger = logging.getLogger(__name__)

CALIBRATION_FIGURES = ("traces.png", "posterior.png", "fit.png")
"""The files :func:`plot_calibration` writes, in its folder."""


def plot_run(
    scenario: Scenario, trajectory: Trajectory, path: str | Path, *, force: bool = False
) -> Path:
    """Save a figure of daily incidence by age group and compartment totals.

    Incidence is stacked by age group (top); people per compartment summed over
    age groups are below, and, when the scenario defines severe outcomes, the
    daily admissions and deaths summed over age groups below that.
    Interventions are shaded on every panel.

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

    rows = 3 if scenario.outcomes else 2
    fig, axes = plt.subplots(
        rows, 1, figsize=(9, 3.5 * rows), sharex=True, layout="constrained", squeeze=True
    )
    top, bottom = axes[0], axes[1]
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
    bottom.set_ylabel("people")
    bottom.legend(loc="center right")
    if scenario.outcomes:
        for outcome in scenario.outcomes:
            series = getattr(trajectory, outcome.name).sum(axis=1)
            axes[2].plot(days, series, label=f"{outcome.name} ({series.sum():,.0f})")
        axes[2].set_ylabel("per day")
        axes[2].legend(loc="upper right")
    axes[-1].set_xlabel("day")
    for item in scenario.interventions:
        for axis in axes:
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


def plot_comparison(comparison: Comparison, path: str | Path, *, force: bool = False) -> Path:
    """Save a figure of what one run averts against another, per age group.

    One panel per measure both runs hold (infections, admissions, deaths): the
    number averted in each age group (below zero where the second run has more),
    with the total and its share of the baseline's in the title.

    Parameters
    ----------
    comparison
        From :func:`epicast.compare.compare_runs`.
    path
        Image file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``).
    force
        Replace an existing file (written atomically either way).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = list(comparison.totals)
    fig, axes = plt.subplots(
        len(measures), 1, figsize=(9, 2.8 * len(measures)), sharex=True, layout="constrained"
    )
    axes = np.atleast_1d(axes)
    groups = np.arange(len(comparison.age_groups))
    baseline, other = comparison.names
    for axis, measure in zip(axes, measures, strict=True):
        averted = comparison.averted(measure)
        total = comparison.totals[measure][0].sum()
        colours = np.where(averted >= 0, "tab:green", "tab:red")
        axis.bar(groups, averted, color=colours)
        axis.axhline(0, color="black", linewidth=0.8)
        share = f" ({averted.sum() / total:.1%} of {baseline}'s)" if total > 0 else ""
        axis.set_title(f"{measure} averted: {averted.sum():,.0f}{share}", fontsize="medium")
        axis.set_ylabel(measure)
    axes[-1].set_xticks(groups, comparison.age_groups, rotation=45)
    axes[-1].set_xlabel("age group")
    fig.suptitle(f"{other} against {baseline}")
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, dpi=120, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    logger.info("wrote %s", path)
    return Path(path)


def plot_calibration(
    result: CalibrationResult, folder: str | Path, *, force: bool = False
) -> list[Path]:
    """Save the figures of a calibration: traces, posterior, fit against the data.

    ``traces.png`` shows each parameter's chains; ``posterior.png`` the marginal
    densities (diagonal) and pairs of parameters and derived quantities;
    ``fit.png`` each target's data with the posterior predictive median and 90% band.

    Parameters
    ----------
    result
        From :func:`epicast.calibration.run.calibrate`.
    folder
        Folder for the figures (created if missing).
    force
        Replace existing figures.

    Returns
    -------
    list of Path
        The files written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    drawn = (_traces(plt, result), _pairs(plt, result), _fit(plt, result))
    figures = dict(zip(CALIBRATION_FIGURES, drawn, strict=True))
    written = []
    for name, fig in figures.items():
        with atomic_path(folder / name, force=force) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
        written.append(folder / name)
    return written


def _traces(plt, result: CalibrationResult):
    """One panel per parameter, one line per chain."""
    n = len(result.names)
    fig, axes = plt.subplots(n, 1, figsize=(9, 1.8 * n + 0.6), sharex=True, layout="constrained")
    for axis, k in zip(np.atleast_1d(axes), range(n), strict=True):
        for chain, draws in enumerate(result.draws[..., k]):
            axis.plot(draws, linewidth=0.4, alpha=0.8, label=f"chain {chain}")
        axis.set_ylabel(result.names[k])
    np.atleast_1d(axes)[-1].set_xlabel("draw (after warm-up)")
    fig.suptitle(f"{result.calibration.name}: traces")
    return fig


def _pairs(plt, result: CalibrationResult):
    """Marginal histograms on the diagonal, scatter plots of pairs below it."""
    names, draws = result.quantities()
    flat = draws.reshape(-1, len(names))
    n = len(names)
    fig, axes = plt.subplots(n, n, figsize=(2.2 * n, 2.2 * n), layout="constrained", squeeze=False)
    for row in range(n):
        for col in range(n):
            axis = axes[row, col]
            if col > row:
                axis.set_axis_off()
            elif col == row:
                axis.hist(flat[:, col], bins=40, density=True, color="C0", alpha=0.7)
            else:
                axis.scatter(flat[::4, col], flat[::4, row], s=1, alpha=0.2, color="C0")
            if row == n - 1:
                axis.set_xlabel(names[col])
            if col == 0 and row > 0:
                axis.set_ylabel(names[row])
    fig.suptitle(f"{result.calibration.name}: posterior")
    return fig


def _fit(plt, result: CalibrationResult):
    """Each target's observations against the posterior predictive band."""
    targets = result.calibration.targets
    fig, axes = plt.subplots(len(targets), 1, figsize=(8, 3.5 * len(targets)), squeeze=False)
    for axis, target in zip(axes[:, 0], targets, strict=True):
        low, median, high = result.predictive_bands[target.column].T
        axis.fill_between(target.days, low, high, alpha=0.3, label="90% predictive interval")
        axis.plot(target.days, median, label="predictive median")
        axis.plot(target.days, target.observed, "o", color="black", label="data")
        axis.set_ylabel(target.column)
        axis.set_xlabel("day")
        axis.legend(fontsize="small")
    fig.suptitle(f"{result.calibration.name}: fit to the data")
    fig.set_layout_engine("constrained")
    return fig
