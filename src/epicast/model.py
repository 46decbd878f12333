"""The compartmental model: from a scenario to trajectories.

For each age group i the model integrates (SEIR; SIR drops E)::

    lambda_i = beta * c_i(t) * sum_j m_ij(t) C_ij I_j / N_j      force of infection
    dS_i/dt = -lambda_i S_i
    dE_i/dt =  lambda_i S_i - sigma E_i                  sigma = 1 / latent period
    dI_i/dt =  sigma E_i - gamma I_i                     gamma = 1 / infectious period
    dR_i/dt =  gamma I_i

where C is the contact matrix, m(t) the product of the active
interventions' multipliers and c_i(t) the contact series of group i (a
multiplier from data, linear between its days; 1 without one). With
contacts by setting and a series by setting, C(t) = sum_s c_s(t) C_s instead.
Vaccination and waning immunity add compartments and flows
(:mod:`epicast.vaccination`, :func:`epicast.kernels.integrate`). Daily
incidence counts new infections (S -> E), notifications are the reporting
fraction of new infectious cases (E -> I). The compiled loop is in
:mod:`epicast.kernels`; the same equations in plain NumPy are in
:mod:`epicast.reference`. Hospital admissions and deaths follow the daily
incidence after a delay (:mod:`epicast.severity`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from epicast.severity import OUTCOMES, daily_outcomes

if TYPE_CHECKING:
    from epicast.scenario import Scenario

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelArrays:
    """Everything the integration kernel needs, as plain arrays.

    Attributes
    ----------
    y0
        Initial state, shape (N_STATE, G): S, E, I, R, cumulative infections and onsets
        (N_STATE_VACCINE rows with vaccination or waning immunity: :mod:`epicast.kernels`).
    segment_start
        Start day of each contact segment, shape (K,), sorted, first = t_start.
    segment_contacts
        Contact matrix in force during each segment (interventions applied), shape (K, G, G).
    segment_contact_slope
        With a contact series by setting, the change per day of each segment's contacts,
        by source (K, G, G): [k, j, i] is the change of C_ij; None otherwise.
    vaccine
        Vaccination and waning immunity as the kernel takes them
        (:meth:`epicast.vaccination.Immunity.kernel_args`), or None.
    segment_multiplier
        The contact series' multiplier of each group at each segment's start (row 0) and
        its change per day within the segment (row 1), shape (K, 2, G); None without a
        contact series.
    inv_population
        1 / people per age group, shape (G,).
    first_step
        First trial step of the adaptive integrator, days (the scenario's ``time.step``).
    """

    y0: np.ndarray
    latent: bool
    segment_start: np.ndarray
    segment_contacts: np.ndarray
    segment_multiplier: np.ndarray | None
    segment_contact_slope: np.ndarray | None
    vaccine: tuple | None
    inv_population: np.ndarray
    t_start: float
    n_days: int
    first_step: float

    def kernel_args(self) -> tuple:
        """Return the arguments of :func:`epicast.kernels.integrate` after the rates.

        ``integrate(y0, beta, sigma, gamma, *arrays.kernel_args(), out)``.
        """
        return (
            self.latent,
            self.segment_start,
            self.segment_contacts,
            self.segment_multiplier,
            self.segment_contact_slope,
            self.vaccine,
            self.inv_population,
            self.t_start,
            self.n_days,
            self.first_step,
        )


@dataclass(frozen=True)
class Trajectory:
    """Daily model outputs.

    Arrays may carry leading batch axes (``simulate_batch``); the last axes are:

    Attributes
    ----------
    time
        Days, shape (T,).
    prevalence
        People in each compartment, shape (..., T, C, G).
    incidence
        New infections during the day ending at ``time`` (0 on the first day), (..., T, G).
    notifications
        Reported new infectious cases during the day ending at ``time``, (..., T, G).
    admissions, deaths
        Hospital admissions and deaths during the day ending at ``time``, (..., T, G),
        or None when the scenario defines no such outcome (its ``severity``).
    doses, breakthrough
        Vaccine doses given, and infections of people protected by the vaccine, during
        the day ending at ``time``, (..., T, G), or None without vaccination.
    """

    time: np.ndarray
    age_groups: tuple[str, ...]
    compartments: tuple[str, ...]
    prevalence: np.ndarray
    incidence: np.ndarray
    notifications: np.ndarray
    admissions: np.ndarray | None = None
    deaths: np.ndarray | None = None
    doses: np.ndarray | None = None
    breakthrough: np.ndarray | None = None

    def compartment(self, name: str) -> np.ndarray:
        """Return the people in compartment ``name`` (see ``compartments``), shape (..., T, G)."""
        return self.prevalence[..., self.compartments.index(name), :]


def next_generation_matrix(
    contacts: np.ndarray, population: np.ndarray, transmission_rate: float, infectious_period: float
) -> np.ndarray:
    """Return K with K_ij = expected infections in group i caused by one case in group j.

    K_ij = beta * D * C_ij * N_i / N_j (Diekmann, Heesterbeek & Roberts 2010), with
    contacts C (G, G) per day, population N (G,), beta per contact and D in days.
    """
    return transmission_rate * infectious_period * contacts * np.outer(population, 1 / population)


def basic_reproduction_number(
    contacts: np.ndarray, population: np.ndarray, transmission_rate: float, infectious_period: float
) -> float:
    """Return R0, the dominant eigenvalue of the next-generation matrix."""
    k = next_generation_matrix(contacts, population, transmission_rate, infectious_period)
    return float(np.max(np.linalg.eigvals(k).real))


def model_arrays(scenario: Scenario) -> ModelArrays:
    """Translate a scenario into kernel inputs (contact segments, initial state)."""
    from epicast.kernels import N_STATE, N_STATE_VACCINE, I, S, V

    n_groups = len(scenario.age_groups)
    immunity = scenario.immunity
    y0 = np.zeros((N_STATE if immunity is None else N_STATE_VACCINE, n_groups))
    y0[S] = scenario.population - scenario.initial_infections
    y0[I] = scenario.initial_infections
    if immunity is not None:
        y0[V] = immunity.initial_coverage * scenario.population
        y0[S] -= y0[V]
    starts, contacts, slopes = _contact_segments(scenario)
    return ModelArrays(
        y0=y0,
        latent=scenario.latent_period is not None,
        segment_start=starts,
        segment_contacts=contacts,
        segment_multiplier=_segment_multiplier(scenario, starts),
        segment_contact_slope=slopes,
        vaccine=None if immunity is None else immunity.kernel_args(starts, scenario.t_start),
        inv_population=1.0 / scenario.population,
        t_start=float(scenario.t_start),
        n_days=scenario.t_end - scenario.t_start,
        first_step=scenario.step,
    )


def _contact_segments(scenario: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Split the time span where the right-hand side jumps or bends.

    That is at interventions' starts and ends, a contact series' days and the
    days the vaccine doses per day change. Returns the segments' starts, their
    contact matrices at their starts and, for a contact series by setting, the
    matrices' change per day by source ((K, G, G), [k, j, i] is that of C_ij;
    None otherwise), interventions applied to both.
    """
    edges = {float(scenario.t_start)}
    for item in scenario.interventions:
        edges.update(t for t in (item.start, item.end) if scenario.t_start < t < scenario.t_end)
    days = []
    if scenario.contact_series is not None:
        days.extend(scenario.contact_series.days)
    if scenario.immunity is not None:  # where the doses per day change
        days.extend(scenario.immunity.change_days(scenario.t_start))
    edges.update(float(t) for t in days if scenario.t_start < t < scenario.t_end)
    starts = np.array(sorted(edges))
    levels, slopes = _setting_levels(scenario, starts)
    matrices = np.empty((starts.size, *scenario.contacts.shape))
    for k, t in enumerate(starts):
        matrices[k] = scenario.contacts if levels is None else levels[k]
        _intervene(matrices[k], scenario, t)
        if slopes is not None:
            _intervene(slopes[k], scenario, t)
    if slopes is not None:
        slopes = np.ascontiguousarray(slopes.transpose(0, 2, 1))  # by source, as the kernel
    return starts, matrices, slopes


def _intervene(matrix: np.ndarray, scenario: Scenario, t: float) -> None:
    """Scale ``matrix`` in place by the interventions in force at ``t``, one after another."""
    for item in scenario.interventions:
        if item.start <= t < item.end:
            matrix *= item.scale


def _setting_levels(
    scenario: Scenario, starts: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return the contacts at each segment's start, and their change per day, (K, G, G).

    For a contact series by setting: the settings' matrices times their multipliers,
    linear within each segment. None for both without one.
    """
    series = scenario.contact_series
    if series is None or not series.settings:
        return None, None
    ends = np.append(starts[1:], scenario.t_end)
    levels = np.zeros((starts.size, *scenario.contacts.shape))
    slopes = np.zeros_like(levels)
    for s, name in enumerate(series.settings):
        at_start = np.interp(starts, series.days, series.multipliers[:, s])
        at_end = np.interp(ends, series.days, series.multipliers[:, s])
        matrix = scenario.contact_settings[name]
        levels += at_start[:, None, None] * matrix
        slopes += ((at_end - at_start) / (ends - starts))[:, None, None] * matrix
    return levels, slopes


def _segment_multiplier(scenario: Scenario, starts: np.ndarray) -> np.ndarray | None:
    """Return each segment's multiplier per group at its start and its change per day.

    Without a contact series there is none: None, for which numba compiles the kernel
    without the multiplier (it costs nothing, and changes no number).

    The contact series is linear between its days, which are segment starts, so
    it is linear within each segment; before its first day and after its last it
    keeps its first and last values.
    """
    series = scenario.contact_series
    if series is None or series.settings:  # by setting: the contacts follow it instead
        return None
    multiplier = np.zeros((starts.size, 2, len(scenario.age_groups)))
    ends = np.append(starts[1:], scenario.t_end)
    for g in range(multiplier.shape[2]):
        at_start = np.interp(starts, series.days, series.multipliers[:, g])
        at_end = np.interp(ends, series.days, series.multipliers[:, g])
        multiplier[:, 0, g] = at_start
        multiplier[:, 1, g] = (at_end - at_start) / (ends - starts)
    return multiplier


def simulate(scenario: Scenario) -> Trajectory:
    """Run the scenario once with the compiled kernel.

    Parameters
    ----------
    scenario
        A resolved scenario (see :func:`epicast.load_scenario`).

    Returns
    -------
    Trajectory
        Daily outputs from ``t_start`` to ``t_end``.
    """
    batch = simulate_batch(scenario)
    outcomes = {name: getattr(batch, name) for name in (*OUTCOMES, "doses", "breakthrough")}
    return Trajectory(
        time=batch.time,
        age_groups=batch.age_groups,
        compartments=batch.compartments,
        prevalence=batch.prevalence[0],
        incidence=batch.incidence[0],
        notifications=batch.notifications[0],
        **{name: None if series is None else series[0] for name, series in outcomes.items()},
    )


def simulate_batch(
    scenario: Scenario,
    transmission_rate: np.ndarray | None = None,
    infectious_period: np.ndarray | None = None,
    latent_period: np.ndarray | None = None,
) -> Trajectory:
    """Run many parameter sets of one scenario in a single compiled call.

    Parameters
    ----------
    scenario
        The scenario; its values are used for any parameter not given.
    transmission_rate, infectious_period, latent_period
        Per-set values, shape (B,) (per contact-day; days; days). Arrays given
        must have the same length; a scalar scenario value is broadcast.

    Returns
    -------
    Trajectory
        Outputs with a leading batch axis: prevalence (B, T, C, G), incidence,
        notifications and the scenario's outcomes (B, T, G).
    """
    from epicast.kernels import (
        CUM_INFECTIONS,
        CUM_ONSETS,
        I,
        R,
        S,
        daily_counts,
        integrate,
        integrate_batch,
    )

    arrays = model_arrays(scenario)
    beta, period, latent_days = np.broadcast_arrays(
        _per_set(transmission_rate, scenario.transmission_rate),
        _per_set(infectious_period, scenario.infectious_period),
        _per_set(latent_period, scenario.latent_period or np.inf),
    )
    out = np.empty((beta.size, arrays.n_days + 1, *arrays.y0.shape))
    common = arrays.kernel_args()
    if beta.size == 1:  # no threads to start (or to wait for, on a busy machine)
        integrate(arrays.y0, beta[0], 1.0 / latent_days[0], 1.0 / period[0], *common, out[0])
        daily_counts(out[0], scenario.reporting_fraction)
    else:
        import numba

        sigma, gamma = 1.0 / latent_days, 1.0 / period
        with numba.parallel_chunksize(1):  # one set at a time to whichever thread is free
            integrate_batch(
                arrays.y0,
                np.ascontiguousarray(beta),
                sigma,
                gamma,
                *common,
                scenario.reporting_fraction,
                out,
            )
    incidence = out[:, :, CUM_INFECTIONS]
    extra = {}
    severe = incidence  # the infections whose outcomes count in full
    if scenario.immunity is not None:
        extra = _vaccinated_series(out)
        severe = incidence - scenario.immunity.efficacy_severe * extra["breakthrough"]
    # S, E, I, R are the first rows of the state: a view, not a copy, for SEIR; the
    # cumulative rows now hold daily incidence and notifications (kernels.daily_counts)
    if scenario.immunity is not None:
        prevalence = _prevalence_with_vaccinated(out, arrays.latent)
    else:
        prevalence = out[:, :, S : R + 1] if arrays.latent else out[:, :, [S, I, R]]
    return Trajectory(
        time=scenario.t_start + np.arange(arrays.n_days + 1, dtype=float),
        age_groups=scenario.age_groups,
        compartments=scenario.compartments,
        prevalence=prevalence,
        incidence=incidence,
        notifications=out[:, :, CUM_ONSETS],
        **{o.name: daily_outcomes(severe, o.ratio, o.delay) for o in scenario.outcomes},
        **extra,
    )


def _vaccinated_series(out: np.ndarray) -> dict[str, np.ndarray]:
    """Return the doses and breakthrough infections per day from the cumulative rows."""
    from epicast.kernels import CUM_BREAKTHROUGH, CUM_DOSES

    rows = (("doses", CUM_DOSES), ("breakthrough", CUM_BREAKTHROUGH))
    return {name: per_day(out[:, :, row]) for name, row in rows}


def per_day(cumulative: np.ndarray) -> np.ndarray:
    """Return the counts per day of cumulative series (B, T, ...) along T, 0 on the first day."""
    daily = np.zeros_like(cumulative)
    daily[:, 1:] = np.diff(cumulative, axis=1)
    return daily


def _prevalence_with_vaccinated(out: np.ndarray, latent: bool) -> np.ndarray:
    """Return people per compartment, the vaccinated counted with their infection status.

    Compartments (:attr:`epicast.scenario.Scenario.compartments`): S, E, I and R of
    everyone (E dropped for SIR), then the vaccinated susceptible: waiting for
    protection, protected, protection waned.
    """
    from epicast.kernels import E_V, I_V, R_V, V_WAITING, V_WANED, E, I, R, S, V

    rows = [out[:, :, S], out[:, :, E] + out[:, :, E_V]] if latent else [out[:, :, S]]
    rows += [out[:, :, I] + out[:, :, I_V], out[:, :, R] + out[:, :, R_V]]
    rows += [out[:, :, V_WAITING], out[:, :, V], out[:, :, V_WANED]]
    return np.stack(rows, axis=2)


def _per_set(values: np.ndarray | None, default: float) -> np.ndarray:
    """Return per-set parameter values as a float array of shape (B,)."""
    return np.atleast_1d(np.asarray(default if values is None else values, dtype=float))
