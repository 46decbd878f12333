"""Vaccination and waning immunity: the resolved rollout and its daily doses.

A rollout gives doses to the unvaccinated people of each age group, whatever
their infection status (nobody knows who had it): a dose to a susceptible
person protects after the time to protection, a dose to someone infected or
recovered is used and marks them vaccinated. Protected people are infected at
``1 - efficacy_infection`` times the rate of the others, and their infections
lead to admissions and deaths ``1 - efficacy_severe`` times as often. Vaccine
protection and infection-acquired immunity may wane (exponentially, with the
mean durations given); waned vaccinated people are susceptible again and are
not dosed again.

The doses per day and age group are fixed before the integration: either
read from a file, or a daily capacity handed out to priority tiers of age
groups in order, each group up to its uptake (the share of the group that
accepts a dose), a tier's groups in proportion to their people still to
vaccinate. The model's state then has the compartments of
:mod:`epicast.kernels` for vaccinated people, and its flows (see
:func:`epicast.kernels.integrate`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Immunity:
    """Vaccination and waning immunity of a scenario, resolved.

    Attributes
    ----------
    doses
        Doses given on each day of the time span (the day from ``t_start + d`` to
        ``t_start + d + 1``) per age group, shape (n_days, G); zeros without a rollout.
    initial_coverage
        Share of each age group protected by the vaccine at the start, shape (G,).
    efficacy_infection, efficacy_severe
        Reduction of the protected's risk of infection, and of an infection's risk of
        admission or death.
    time_to_protection
        Mean days from a dose to protection (0: at once).
    vaccine_immunity, infection_immunity
        Mean days protection from the vaccine and from an infection last, or None
        for no waning.
    """

    doses: np.ndarray
    initial_coverage: np.ndarray
    efficacy_infection: float
    efficacy_severe: float
    time_to_protection: float
    vaccine_immunity: float | None
    infection_immunity: float | None

    def kernel_args(self, segment_start: np.ndarray, t_start: float) -> tuple:
        """Return the kernel's ``vaccine`` tuple for contact segments starting at ``segment_start``.

        ``(doses per day per segment (K, G), efficacy against infection, rate of
        protection, rate of waning of vaccine and of infection immunity)``, rates per
        day (``inf`` for protection at once, 0 for no waning).
        """
        days = np.floor(segment_start - t_start).astype(np.int64)
        doses = self.doses[np.minimum(days, len(self.doses) - 1)]
        return (
            np.ascontiguousarray(doses),
            float(self.efficacy_infection),
            _rate(self.time_to_protection, at_once=np.inf),
            _rate(self.vaccine_immunity, at_once=0.0),
            _rate(self.infection_immunity, at_once=0.0),
        )

    def change_days(self, t_start: float) -> np.ndarray:
        """Return the days on which the doses per day change: the kernel's steps stop there."""
        # (a tier's share of the capacity, computed day by day, may differ in its last bits)
        changed = ~np.all(np.isclose(self.doses[1:], self.doses[:-1], rtol=1e-9, atol=0), axis=1)
        return t_start + 1.0 + np.flatnonzero(changed)


def _rate(days: float | None, at_once: float) -> float:
    """Return 1 / days, or ``at_once`` for None or 0 days."""
    return at_once if not days else 1.0 / days


def rollout(
    capacity: np.ndarray,
    tiers: list[list[int]],
    eligible: np.ndarray,
) -> np.ndarray:
    """Hand out a daily capacity to priority tiers of age groups.

    Parameters
    ----------
    capacity
        Doses available on each day, shape (n_days,).
    tiers
        Age group indices, tier by tier in order of priority.
    eligible
        People of each group who will accept a dose (uptake times the group, less
        those covered at the start), shape (G,).

    Returns
    -------
    ndarray, shape (n_days, G)
        Doses per day and group: each day's capacity goes to the first tier with
        people left to vaccinate, in proportion to its groups' people left, then
        what remains to the next tier; capacity left when every tier is done is
        not used.
    """
    left = eligible.astype(float).copy()
    doses = np.zeros((capacity.size, eligible.size))
    for day, available in enumerate(capacity):
        for tier in tiers:
            if available <= 0:
                break
            waiting = left[tier].sum()
            if waiting <= 0:
                continue
            if available >= waiting:  # the tier is done today: exactly, no rounding left over
                doses[day, tier] = left[tier]
                left[tier] = 0.0
                available -= waiting
            else:  # shares stay in proportion, so a tier's doses are the same every day
                doses[day, tier] = available * left[tier] / waiting
                left[tier] -= doses[day, tier]
                available = 0.0
    return doses
