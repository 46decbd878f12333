"""Severe outcomes of infection: hospital admissions and deaths, by age and day.

An outcome follows a share of infections (the infection-hospitalisation or
infection-fatality ratio of each age group) after a delay drawn from a gamma
distribution. Outcomes do not feed back into transmission, so they are
computed from the daily incidence after the integration: the trajectories
are the same with or without them.

Discretising the delay
----------------------
The model counts infections per day: ``incidence[d]`` are those in the day
ending at day d, spread evenly over it. An infection at time ``d - u``
(u uniform in [0, 1)) whose delay is ``tau`` has its outcome on day ``d + k``
when ``k - 1 < tau - u <= k``, so the share of a day's infections with their
outcome k days later is::

    p_k = integral_0^1 F(k + u) - F(k - 1 + u) du = G(k + 1) - 2 G(k) + G(k - 1)

with F the gamma distribution function and G(x) = integral_0^x F, which has a
closed form (G(x) = x F_a(x) - mean F_{a+1}(x), F_a the distribution function
of shape a). The sum of p_k over all k is 1: every infection has its outcome
once. Only the lags the scenario's days can show are kept. This is the
"doubly interval-censored" discretisation of Cori et al. (2013) and
EpiNow2, here in closed form rather than by sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OUTCOMES = ("admissions", "deaths")
"""The severe outcomes a scenario can define, in output order."""


@dataclass(frozen=True)
class Outcome:
    """A resolved severe outcome of infection.

    Attributes
    ----------
    name
        ``admissions`` or ``deaths``.
    ratio
        Share of infections in each age group that lead to the outcome, shape (G,).
    delay_mean, delay_sd
        Mean and standard deviation of the gamma delay from infection, days.
    delay
        Share of a day's infections with their outcome 0, 1, 2, ... days later,
        shape (n_days + 1,) (:func:`delay_distribution`).
    """

    name: str
    ratio: np.ndarray
    delay_mean: float
    delay_sd: float
    delay: np.ndarray


def delay_distribution(mean: float, sd: float, days: int) -> np.ndarray:
    """Discretise a gamma delay into shares of a day's infections per lag.

    Parameters
    ----------
    mean, sd
        Mean and standard deviation of the delay, days (both > 0).
    days
        Number of lags to return (0 to ``days - 1``).

    Returns
    -------
    ndarray, shape (days,)
        ``p_k``, the share with their outcome k days after the day of infection
        (see the module's docstring); the rest have it later.
    """
    from scipy.special import gammainc, gammaincc

    shape = (mean / sd) ** 2

    def tail(x: np.ndarray) -> np.ndarray:
        """Integral of the survival function from x to infinity (x >= 0): G(x) - x + mean."""
        scaled = x * shape / mean
        return mean * gammaincc(shape + 1, scaled) - x * gammaincc(shape, scaled)

    lags = np.arange(days, dtype=float)
    # p_k from the tail integral: no cancellation between large numbers where p_k is small.
    shares = tail(lags + 1) - 2 * tail(lags) + tail(np.maximum(lags - 1, 0))
    # p_0 = G(1) (the formula above assumes G(x) = 0 for x < 0), in the form that stays
    # accurate when it is small
    shares[0] = gammainc(shape, shape / mean) - mean * gammainc(shape + 1, shape / mean)
    return np.maximum(shares, 0.0)


def daily_outcomes(incidence: np.ndarray, ratio: np.ndarray, delay: np.ndarray) -> np.ndarray:
    """Return the outcomes per day and age group caused by the infections of each day.

    Parameters
    ----------
    incidence
        New infections per day, shape (..., T, G).
    ratio
        Share of infections with the outcome per age group, shape (G,).
    delay
        Shares per lag in days (:func:`delay_distribution`), shape (K,).

    Returns
    -------
    ndarray, shape (..., T, G)
        ``ratio * sum_k delay[k] * incidence[d - k]`` on each day d.
    """
    outcomes = np.zeros_like(incidence)
    n_days = incidence.shape[-2]
    for lag in range(min(delay.size, n_days)):
        outcomes[..., lag:, :] += delay[lag] * incidence[..., : n_days - lag, :]
    return outcomes * ratio
