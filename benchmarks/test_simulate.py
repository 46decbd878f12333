"""Compiled runs against the NumPy reference under LSODA, one parameter set and a batch.

The issue's targets (printed at the end of the run, see conftest.py): the
compiled seir-gbr-16age run at least 60x faster than the same model's NumPy
right-hand side under ``solve_ivp(method="LSODA", rtol=1e-6)``, within 1e-6 of
each compartment's peak of a DOP853 solution; a batch of 64 parameter sets at
most 1/3 of a single run per set.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import epicast
from epicast import kernels, reference
from epicast.model import model_arrays

BATCH = 64


@pytest.fixture(scope="module")
def gbr():
    return epicast.load_scenario("seir-gbr-16age")


def parameters(scenario):
    return scenario.transmission_rate, 1 / scenario.latent_period, 1 / scenario.infectious_period


@pytest.fixture(scope="module")
def dop853(gbr):
    """Daily states (T, 6, G) of a tight DOP853 solution (no interventions in this scenario)."""
    arrays = model_arrays(gbr)
    days = arrays.t_start + np.arange(arrays.n_days + 1.0)
    solution = solve_ivp(
        reference.derivatives,
        (days[0], days[-1]),
        arrays.y0.reshape(-1),
        method="DOP853",
        rtol=1e-10,
        atol=1e-10,
        t_eval=days,
        args=(arrays, *parameters(gbr)),
    )
    assert solution.success
    return solution.y.T.reshape(days.size, 6, -1)


def error_of_peak(result, expected):
    """Largest |result - expected| relative to each compartment's and group's peak."""
    return float((np.abs(result - expected) / np.abs(expected).max(axis=0)).max())


def lsoda(scenario):
    arrays = model_arrays(scenario)
    days = arrays.t_start + np.arange(arrays.n_days + 1.0)
    return solve_ivp(
        reference.derivatives,
        (days[0], days[-1]),
        arrays.y0.reshape(-1),
        method="LSODA",
        rtol=1e-6,
        t_eval=days,
        args=(arrays, *parameters(scenario)),
    )


@pytest.mark.regression
def test_simulate_seir_basic(benchmark, rounds):
    scenario = epicast.load_scenario("seir-basic")
    benchmark.group = "single run"
    run = benchmark.pedantic(epicast.simulate, (scenario,), rounds=rounds.fast, warmup_rounds=1)
    assert run.prevalence.shape == (366, 4, 1)


@pytest.mark.regression
def test_simulate_seir_gbr_16age(benchmark, rounds, gbr, report):
    benchmark.group = "single run"
    run = benchmark.pedantic(epicast.simulate, (gbr,), rounds=rounds.fast, warmup_rounds=1)
    report["single"] = benchmark.stats.stats.min
    assert run.prevalence.shape == (366, 4, 16)


def test_accuracy_seir_gbr_16age(gbr, dop853, report):
    """The compiled run's error against DOP853, for the ratio against the reference."""
    report["error"] = error_of_peak(epicast.simulate(gbr).prevalence, dop853[:, :4])
    assert report["error"] < 1e-6


@pytest.mark.regression
def test_kernel_seir_gbr_16age(benchmark, rounds, gbr, report):
    """The compiled loop alone, as the calibration sampler calls it."""
    arrays = model_arrays(gbr)
    out = np.empty((arrays.n_days + 1, *arrays.y0.shape))
    args = (
        arrays.y0,
        *parameters(gbr),
        *arrays.kernel_args(),
        out,
    )
    benchmark.group = "single run"
    report["evaluations"] = benchmark.pedantic(
        kernels.integrate, args, rounds=rounds.fast, warmup_rounds=1
    )
    report["kernel"] = benchmark.stats.stats.min


def test_lsoda_numpy_reference_seir_gbr_16age(benchmark, rounds, gbr, dop853, report):
    benchmark.group = "single run"
    solution = benchmark.pedantic(lsoda, (gbr,), rounds=rounds.slow, warmup_rounds=1)
    assert solution.success
    report["lsoda"] = benchmark.stats.stats.min
    report["lsoda_evaluations"] = solution.nfev
    states = solution.y.T.reshape(dop853.shape)
    report["lsoda_error"] = error_of_peak(states[:, :4], dop853[:, :4])


@pytest.mark.regression
def test_batch_of_64_seir_gbr_16age(benchmark, rounds, gbr, report):
    rng = np.random.default_rng(64)
    beta = gbr.transmission_rate * rng.uniform(0.8, 1.2, BATCH)
    period = gbr.infectious_period * rng.uniform(0.8, 1.2, BATCH)
    latent = gbr.latent_period * rng.uniform(0.8, 1.2, BATCH)
    benchmark.group = "batch"
    batch = benchmark.pedantic(
        epicast.simulate_batch, (gbr, beta, period, latent), rounds=rounds.slow, warmup_rounds=1
    )
    assert batch.prevalence.shape == (BATCH, 366, 4, 16)
    report["batch"] = benchmark.stats.stats.min
    report["batch_size"] = BATCH
    report["threads"] = numba.get_num_threads()
