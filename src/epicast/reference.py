"""The model equations in plain NumPy: the readable oracle of the compiled kernel.

Slow and simple on purpose. The tests check that :mod:`epicast.kernels` gives
the same numbers (to 1e-10), and that both agree with
``scipy.integrate.solve_ivp`` using :func:`derivatives` as right-hand side.
"""

from __future__ import annotations

import numpy as np

from epicast.model import ModelArrays

S, E, I, R, CUM_INFECTIONS, CUM_ONSETS = range(6)


def derivatives(
    t: float, y: np.ndarray, arrays: ModelArrays, beta: float, sigma: float, gamma: float
) -> np.ndarray:
    """Return dy/dt for a state ``y`` of shape (6 * G,) (flat, as solve_ivp passes it).

    ``beta`` is per contact-day, ``sigma`` and ``gamma`` per day.
    """
    y = y.reshape(6, -1)
    segment = np.searchsorted(arrays.segment_start, t, side="right") - 1
    contacts = arrays.segment_contacts[max(segment, 0)]
    infections = beta * (contacts @ (y[I] * arrays.inv_population)) * y[S]
    onsets = sigma * y[E] if arrays.latent else infections
    recoveries = gamma * y[I]
    dy = np.empty_like(y)
    dy[S] = -infections
    dy[E] = infections - onsets
    dy[I] = onsets - recoveries
    dy[R] = recoveries
    dy[CUM_INFECTIONS] = infections
    dy[CUM_ONSETS] = onsets
    return dy.reshape(-1)


def integrate(arrays: ModelArrays, beta: float, sigma: float, gamma: float) -> np.ndarray:
    """Integrate with classical RK4 on the kernel's step grid; return daily states (T, 6, G)."""
    h = 1.0 / arrays.steps_per_day
    y = arrays.y0.reshape(-1).copy()
    out = [y.copy()]
    for day in range(arrays.n_days):
        for step in range(arrays.steps_per_day):
            t = arrays.t_start + day + step * h
            k1 = derivatives(t, y, arrays, beta, sigma, gamma)
            k2 = derivatives(t + h / 2, y + h / 2 * k1, arrays, beta, sigma, gamma)
            k3 = derivatives(t + h / 2, y + h / 2 * k2, arrays, beta, sigma, gamma)
            k4 = derivatives(t + h, y + h * k3, arrays, beta, sigma, gamma)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y.copy())
    return np.array(out).reshape(len(out), 6, -1)
