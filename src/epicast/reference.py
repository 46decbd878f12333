"""The model in plain NumPy: the readable oracle of the compiled kernel.

Slow and simple on purpose. The tests check that :mod:`epicast.kernels` gives
the same numbers (to 1e-10 of each compartment's peak), and that both agree
with ``scipy.integrate.solve_ivp`` using :func:`derivatives` as right-hand side.
:func:`daily_outcomes` is the plain sum over days of :mod:`epicast.severity`'s
admissions and deaths.

:func:`integrate` is the kernel's scheme written with whole arrays: the
Dormand–Prince 5(4) pair with the same step size control, the same steps cut
at the ends of contact segments, and the same dense output (the tableau and
tolerances are imported from :mod:`epicast.kernels`, so both use one copy;
the comparison with ``solve_ivp`` checks the coefficients themselves).
"""

from __future__ import annotations

import numpy as np

from epicast.kernels import (
    ATOL,
    CUM_BREAKTHROUGH,
    CUM_DOSES,
    CUM_INFECTIONS,
    CUM_ONSETS,
    DP_A,
    DP_C,
    DP_DENSE,
    DP_ERROR,
    E_V,
    FAC_MAX,
    FAC_MIN,
    I_V,
    N_STAGES,
    R_V,
    RTOL,
    SAFETY,
    V_WAITING,
    V_WANED,
    E,
    I,
    R,
    S,
    V,
)
from epicast.model import ModelArrays


def rates(
    y: np.ndarray,
    contacts: np.ndarray,
    multiplier: np.ndarray,
    inv_population: np.ndarray,
    beta: float,
    sigma: float,
    gamma: float,
    latent: bool,
    vaccine: tuple | None = None,
) -> np.ndarray:
    """Return dy/dt for a state ``y`` of shape (6, G) under contacts C (G, G), per day.

    ``multiplier`` (G,) multiplies the force of infection on each group (the
    contact series); ``beta`` is per contact-day, ``sigma`` and ``gamma`` per day.
    With ``vaccine`` (see :func:`vaccine_rates`) the state has 14 rows.
    """
    infectious = y[I] if vaccine is None else y[I] + y[I_V]
    force = beta * multiplier * (contacts @ (infectious * inv_population))
    if vaccine is not None:
        return vaccine_rates(y, force, sigma, gamma, latent, *vaccine)
    infections = force * y[S]
    onsets = sigma * y[E] if latent else infections
    recoveries = gamma * y[I]
    dy = np.empty_like(y)
    dy[S] = -infections
    dy[E] = infections - onsets
    dy[I] = onsets - recoveries
    dy[R] = recoveries
    dy[CUM_INFECTIONS] = infections
    dy[CUM_ONSETS] = onsets
    return dy


def vaccine_rates(
    y: np.ndarray,
    force: np.ndarray,
    sigma: float,
    gamma: float,
    latent: bool,
    doses: np.ndarray,
    efficacy: float,
    protection: float,
    vaccine_waning: float,
    infection_waning: float,
) -> np.ndarray:
    """Return dy/dt of a state with vaccinated rows (14, G), given the force of infection.

    ``doses`` per day per group (G,) go to the unvaccinated (S, E, I, R) in
    proportion; a dosed susceptible waits for protection (rate ``protection``,
    inf: at once), the protected are infected at ``1 - efficacy`` times the
    force; vaccine and infection immunity wane at their rates.
    """
    unvaccinated = y[S] + y[E] + y[I] + y[R]
    dosing = np.divide(doses, unvaccinated, out=np.zeros_like(doses), where=unvaccinated > 0)
    infections = force * y[S]
    breakthrough = (1 - efficacy) * force * y[V]
    vaccinated_infections = force * (y[V_WAITING] + y[V_WANED]) + breakthrough
    onsets = sigma * y[E] if latent else infections
    vaccinated_onsets = sigma * y[E_V] if latent else vaccinated_infections
    at_once = np.isinf(protection)
    protecting = dosing * y[S] if at_once else protection * y[V_WAITING]
    losing = vaccine_waning * y[V]
    dy = np.empty_like(y)
    dy[S] = infection_waning * y[R] - infections - dosing * y[S]
    dy[E] = infections - onsets - dosing * y[E]
    dy[I] = onsets - gamma * y[I] - dosing * y[I]
    dy[R] = gamma * y[I] - infection_waning * y[R] - dosing * y[R]
    dy[V_WAITING] = (0 if at_once else dosing * y[S]) - protecting - force * y[V_WAITING]
    dy[V] = protecting - breakthrough - losing
    dy[V_WANED] = losing + infection_waning * y[R_V] - force * y[V_WANED]
    dy[E_V] = vaccinated_infections - vaccinated_onsets + dosing * y[E]
    dy[I_V] = vaccinated_onsets - gamma * y[I_V] + dosing * y[I]
    dy[R_V] = gamma * y[I_V] - infection_waning * y[R_V] + dosing * y[R]
    dy[CUM_INFECTIONS] = infections + vaccinated_infections
    dy[CUM_ONSETS] = onsets + vaccinated_onsets
    dy[CUM_BREAKTHROUGH] = breakthrough
    dy[CUM_DOSES] = dosing * unvaccinated
    return dy


def derivatives(
    t: float,
    y: np.ndarray,
    arrays: ModelArrays,
    beta: float,
    sigma: float,
    gamma: float,
    segment: int | None = None,
) -> np.ndarray:
    """Return dy/dt at time ``t`` for a flat state ``y`` (the kernel's rows times G).

    ``segment`` is the contact segment in force, by default the one ``t`` falls in
    (at a segment's end, the caller integrating that segment says which).
    """
    if segment is None:
        segment = max(np.searchsorted(arrays.segment_start, t, side="right") - 1, 0)
    multiplier = np.ones(arrays.inv_population.size)
    if arrays.segment_multiplier is not None:  # a contact series
        level, slope = arrays.segment_multiplier[segment]
        multiplier = level + slope * (t - arrays.segment_start[segment])
    contacts = arrays.segment_contacts[segment]
    if arrays.segment_contact_slope is not None:  # contacts by setting, changing
        slope = arrays.segment_contact_slope[segment].T
        contacts = contacts + slope * (t - arrays.segment_start[segment])
    constants = (contacts, multiplier, arrays.inv_population, beta, sigma, gamma, arrays.latent)
    vaccine = None
    if arrays.vaccine is not None:  # the doses in force, then the constants
        vaccine = (arrays.vaccine[0][segment], *arrays.vaccine[1:])
    return rates(y.reshape(arrays.y0.shape), *constants, vaccine).reshape(-1)


def integrate(arrays: ModelArrays, beta: float, sigma: float, gamma: float) -> np.ndarray:
    """Integrate as :func:`epicast.kernels.integrate` does; return daily states (T, rows, G)."""
    t_end = arrays.t_start + arrays.n_days
    stops = [*arrays.segment_start[1:], t_end]
    out_times = arrays.t_start + np.arange(arrays.n_days + 1)
    out = np.empty((out_times.size, arrays.y0.size))
    out[0] = arrays.y0.reshape(-1)
    y, t, h = arrays.y0.reshape(-1).copy(), float(arrays.t_start), arrays.first_step
    k = np.empty((N_STAGES, y.size))
    for segment, stop in enumerate(stops):

        def f(time, state, segment=segment):
            return derivatives(time, state, arrays, beta, sigma, gamma, segment)

        k[0] = f(t, y)
        rejected = False
        while t < stop:
            to_stop = t + h >= stop
            if to_stop:
                h = stop - t
            for s in range(1, N_STAGES - 1):
                k[s] = f(t + DP_C[s] * h, y + h * (DP_A[s, :s] @ k[:s]))
            y_new = y + h * (DP_A[N_STAGES - 1] @ k[: N_STAGES - 1])  # order 5
            k[N_STAGES - 1] = f(t + h, y_new)
            scale = ATOL + RTOL * np.maximum(np.abs(y), np.abs(y_new))
            error = np.sqrt(np.mean((h * (DP_ERROR @ k) / scale) ** 2))
            if not np.isfinite(error):
                raise FloatingPointError(f"non-finite error estimate at t = {t}")
            if error > 1.0:
                h *= max(FAC_MIN, SAFETY * error**-0.2)
                rejected = True
                continue
            t_new = stop if to_stop else t + h
            for day in np.flatnonzero((out_times > t) & (out_times <= t_new)):
                out[day] = _dense_output(y, y_new, h, k, (out_times[day] - t) / h)
            growth = FAC_MAX if error == 0.0 else min(FAC_MAX, max(FAC_MIN, SAFETY * error**-0.2))
            h *= min(growth, 1.0) if rejected else growth
            rejected = False
            t, y = t_new, y_new
            k[0] = k[N_STAGES - 1]
    return out.reshape(out_times.size, *arrays.y0.shape)


def _dense_output(
    y: np.ndarray, y_new: np.ndarray, h: float, k: np.ndarray, theta: float
) -> np.ndarray:
    """Continuous extension of the step from y to y_new at t + theta * h (HNW 1993, DOPRI5)."""
    change = y_new - y
    spline = h * k[0] - change
    quartic = change - h * k[N_STAGES - 1] - spline
    quintic = h * (DP_DENSE @ k)
    return y + theta * (change + (1 - theta) * (spline + theta * (quartic + (1 - theta) * quintic)))


def daily_outcomes(incidence: np.ndarray, ratio: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """Return the outcomes of each day d, shape (T, G), as the plain sum over earlier days.

    ``ratio * sum over s <= d of delay[d - s] * incidence[s]``, with ``incidence``
    (T, G) the new infections per day and ``delay`` the shares per lag in days.
    """
    outcomes = np.zeros(incidence.shape)
    for day in range(incidence.shape[0]):
        for source in range(day + 1):
            if day - source < delay.size:
                outcomes[day] += delay[day - source] * incidence[source]
    return ratio * outcomes
