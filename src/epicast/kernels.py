"""Numba-compiled kernels: the whole integration loop of the SEIR equations.

Everything here takes plain arrays, so other compiled code (the calibration
sampler) can call it without returning to Python. The equations are those of
:mod:`epicast.reference`, the readable oracle the tests compare with.

State layout
------------
One parameter set's state has shape (N_STATE, G): S, E, I, R and two
cumulative flows, infections (S -> E) and onsets of infectiousness (E -> I),
from which daily incidence and notifications are differenced. For an SIR model
``latent`` is False, E stays 0 and infection leads straight to I.

The force of infection is accumulated column by column of the contact matrix
(an axpy over age groups), so the loops vectorise without reordering any sum:
results are bit-identical whatever the SIMD width of the machine.

Numba caches the compiled code on disk (``cache=True``): next to this file
when site-packages is writable, otherwise in the user's cache directory
(numba's own fallback; ``NUMBA_CACHE_DIR`` overrides both).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

S, E, I, R, CUM_INFECTIONS, CUM_ONSETS = range(6)
N_STATE = 6


@njit(cache=True)
def segment_at(t: float, segment_start: np.ndarray) -> int:
    """Index of the contact segment in force at time ``t`` (segments sorted by start)."""
    k = 0
    while k + 1 < segment_start.size and segment_start[k + 1] <= t:
        k += 1
    return k


@njit(cache=True)
def derivatives(
    y, t, beta, sigma, gamma, latent, segment_start, contacts_by_source, inv_population, dy, force
):
    """Write dy/dt of the state ``y`` (N_STATE, G) at time ``t`` into ``dy``.

    ``beta`` is per contact-day, ``sigma`` and ``gamma`` per day.
    ``contacts_by_source[k, j, i]`` is C_ij of segment k (the transpose, so the
    inner loop runs over contiguous memory); ``force`` is scratch of shape (G,).
    """
    contacts = contacts_by_source[segment_at(t, segment_start)]
    n_groups = y.shape[1]
    force[:] = 0.0
    for j in range(n_groups):
        infectious_share = y[I, j] * inv_population[j]
        for i in range(n_groups):
            force[i] += contacts[j, i] * infectious_share
    for i in range(n_groups):
        infections = beta * force[i] * y[S, i]
        onsets = sigma * y[E, i] if latent else infections
        recoveries = gamma * y[I, i]
        dy[S, i] = -infections
        dy[E, i] = infections - onsets
        dy[I, i] = onsets - recoveries
        dy[R, i] = recoveries
        dy[CUM_INFECTIONS, i] = infections
        dy[CUM_ONSETS, i] = onsets


@njit(cache=True)
def _step_to(stage, y, h, slope):
    """Set ``stage = y + h * slope`` in place (no temporary arrays in the hot loop)."""
    for v in range(N_STATE):
        for i in range(y.shape[1]):
            stage[v, i] = y[v, i] + h * slope[v, i]


@njit(cache=True)
def integrate(
    y0,
    beta,
    sigma,
    gamma,
    latent,
    segment_start,
    segment_contacts,
    inv_population,
    t_start,
    n_days,
    steps_per_day,
    out,
):
    """Integrate one parameter set with classical RK4, writing daily states.

    ``y0`` has shape (N_STATE, G); ``segment_contacts`` (K, G, G) holds C of each
    segment; ``out`` has shape (n_days + 1, N_STATE, G) and receives the state at
    t_start, t_start + 1, ..., t_start + n_days. Fixed steps of 1/steps_per_day
    days keep results bit-reproducible. Returns ``out``.
    """
    by_source = np.ascontiguousarray(segment_contacts.transpose(0, 2, 1))
    h = 1.0 / steps_per_day
    y = y0.copy()
    stage = np.empty_like(y)
    k1, k2, k3, k4 = np.empty_like(y), np.empty_like(y), np.empty_like(y), np.empty_like(y)
    force = np.empty(y.shape[1])
    out[0] = y
    for day in range(n_days):
        for step in range(steps_per_day):
            t = t_start + day + step * h
            derivatives(
                y,
                t,
                beta,
                sigma,
                gamma,
                latent,
                segment_start,
                by_source,
                inv_population,
                k1,
                force,
            )
            _step_to(stage, y, 0.5 * h, k1)
            derivatives(
                stage,
                t + 0.5 * h,
                beta,
                sigma,
                gamma,
                latent,
                segment_start,
                by_source,
                inv_population,
                k2,
                force,
            )
            _step_to(stage, y, 0.5 * h, k2)
            derivatives(
                stage,
                t + 0.5 * h,
                beta,
                sigma,
                gamma,
                latent,
                segment_start,
                by_source,
                inv_population,
                k3,
                force,
            )
            _step_to(stage, y, h, k3)
            derivatives(
                stage,
                t + h,
                beta,
                sigma,
                gamma,
                latent,
                segment_start,
                by_source,
                inv_population,
                k4,
                force,
            )
            for v in range(N_STATE):
                for i in range(y.shape[1]):
                    y[v, i] += (h / 6.0) * (k1[v, i] + 2.0 * k2[v, i] + 2.0 * k3[v, i] + k4[v, i])
        out[day + 1] = y
    return out


@njit(cache=True, parallel=True)
def integrate_batch(
    y0,
    beta,
    sigma,
    gamma,
    latent,
    segment_start,
    segment_contacts,
    inv_population,
    t_start,
    n_days,
    steps_per_day,
    out,
):
    """Run :func:`integrate` for B parameter sets in parallel threads.

    ``beta``, ``sigma``, ``gamma`` have shape (B,); ``out`` has shape
    (B, n_days + 1, N_STATE, G). Each set is computed exactly as by a single
    run, so results do not depend on the number of threads. Returns ``out``.
    """
    for b in prange(beta.size):
        integrate(
            y0,
            beta[b],
            sigma[b],
            gamma[b],
            latent,
            segment_start,
            segment_contacts,
            inv_population,
            t_start,
            n_days,
            steps_per_day,
            out[b],
        )
    return out
