"""Oracles shared by the numerical tests: tight DOP853 solutions and error measures."""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

import epicast
from epicast import reference
from epicast.model import model_arrays


def parameters(scenario: epicast.Scenario) -> tuple[float, float, float]:
    """Return (beta, sigma, gamma) of a scenario (sigma = 0 for SIR)."""
    sigma = 0.0 if scenario.latent_period is None else 1 / scenario.latent_period
    return scenario.transmission_rate, sigma, 1 / scenario.infectious_period


def max_error_of_peak(result: np.ndarray, expected: np.ndarray) -> float:
    """Largest |result - expected| relative to each series' peak |expected| over time (axis 0)."""
    peak = np.abs(expected).max(axis=0)
    nonzero = peak > 0
    assert np.all(np.abs(result)[:, ~nonzero] == 0)
    return float((np.abs(result - expected)[:, nonzero] / peak[nonzero]).max())


def daily(cumulative: np.ndarray) -> np.ndarray:
    """Counts per day of a cumulative series (T, ...), 0 on the first day."""
    return np.concatenate([np.zeros_like(cumulative[:1]), np.diff(cumulative, axis=0)])


_DOP853: dict[str, np.ndarray] = {}


def dop853(scenario: epicast.Scenario) -> np.ndarray:
    """Daily states (T, rows, G) from solve_ivp DOP853, rtol = atol = 1e-10.

    Restarted at each segment's start: an intervention's start or end and a change of
    the vaccine doses per day, where the right-hand side jumps, or a day of a contact
    series, where its slope changes.
    """
    if scenario.name not in _DOP853:
        arrays = model_arrays(scenario)
        t_end = arrays.t_start + arrays.n_days
        days = arrays.t_start + np.arange(arrays.n_days + 1.0)
        out = np.empty((days.size, arrays.y0.size))
        y = arrays.y0.reshape(-1)
        out[0] = y
        stops = [*arrays.segment_start[1:], t_end]
        for segment, (lo, hi) in enumerate(zip(arrays.segment_start, stops, strict=True)):
            solution = solve_ivp(
                reference.derivatives,
                (lo, hi),
                y,
                method="DOP853",
                rtol=1e-10,
                atol=1e-10,
                args=(arrays, *parameters(scenario), segment),
                dense_output=True,
            )
            assert solution.success
            inside = (days > lo) & (days <= hi)
            out[inside] = solution.sol(days[inside]).T
            y = solution.y[:, -1]
        _DOP853[scenario.name] = out.reshape(days.size, *arrays.y0.shape)
    return _DOP853[scenario.name]
