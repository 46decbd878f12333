"""The compiled kernels: the integrator's tableau, and the contract other compiled code uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numba import njit

import epicast
from epicast import kernels, reference
from epicast.model import model_arrays
from epicast.scenario import parse_scenario


def test_dormand_prince_weights_satisfy_the_order_conditions():
    # Butcher's conditions for the quadrature part of an order-5 method,
    # sum_i b_i c_i^(q-1) = 1/q (q = 1..5), with c_i = sum_j a_ij; and for the
    # embedded order-4 weights b - e (HNW 1993, II.2).
    a = kernels.DP_A
    c = a.sum(axis=1)
    b = np.append(a[-1], 0.0)  # the 7th stage (at the step's end) enters only the error estimate
    for q in range(1, 6):
        assert b @ c ** (q - 1) == pytest.approx(1 / q, abs=1e-14)
    b4 = b - kernels.DP_ERROR
    for q in range(1, 5):
        assert b4 @ c ** (q - 1) == pytest.approx(1 / q, abs=1e-14)
    assert b4 @ c**4 != pytest.approx(1 / 5, abs=1e-6)  # really of order 4
    np.testing.assert_allclose(c[:6], [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1], atol=1e-15)
    np.testing.assert_allclose(kernels.DP_C, c, atol=1e-15)  # the nodes the kernel uses


@njit
def sampler_step(
    y0, beta, sigma, gamma, starts, contacts, multiplier, inv_population, t0, n_days, h0, out
):
    """A jitted caller, like the calibration sampler."""
    return kernels.integrate(
        y0,
        beta,
        sigma,
        gamma,
        True,
        starts,
        contacts,
        multiplier,
        None,
        None,
        inv_population,
        t0,
        n_days,
        h0,
        out,
    )


def call_from_compiled_code(scenario: epicast.Scenario, beta: float) -> tuple[int, np.ndarray]:
    """Integrate an SEIR scenario through :func:`sampler_step`."""
    arrays = model_arrays(scenario)
    out = np.empty((arrays.n_days + 1, *arrays.y0.shape))
    evaluations = sampler_step(
        arrays.y0,
        beta,
        1 / scenario.latent_period,
        1 / scenario.infectious_period,
        arrays.segment_start,
        arrays.segment_contacts,
        arrays.segment_multiplier,
        arrays.inv_population,
        arrays.t_start,
        arrays.n_days,
        arrays.first_step,
        out,
    )
    return evaluations, out


def test_integrate_is_callable_from_compiled_code():
    scenario = epicast.load_scenario("seir-gbr-16age")
    evaluations, out = call_from_compiled_code(scenario, scenario.transmission_rate)
    run = epicast.simulate(scenario)
    np.testing.assert_array_equal(out[:, : kernels.R + 1], run.prevalence)
    # about 1300 right-hand sides for a year (the fixed-step RK4 it replaced used 5840)
    assert 1000 < evaluations < 1700


def test_non_finite_rates_give_nan_outputs_instead_of_hanging():
    scenario = epicast.load_scenario("seir-gbr-16age")
    evaluations, out = call_from_compiled_code(scenario, np.nan)
    assert evaluations < 100
    np.testing.assert_array_equal(out[0], model_arrays(scenario).y0)
    assert np.isnan(out[1:]).all()


def test_any_number_of_age_groups_matches_the_reference():
    # 6 groups: the force of infection takes 4 source groups at a time, then the rest
    rng = np.random.default_rng(6)
    contacts = np.round(rng.uniform(0.2, 3.0, (6, 6)), 3).tolist()
    population = np.round(rng.uniform(1e5, 1e6, 6)).tolist()
    text = (
        f"age_groups: [a, b, c, d, e, f]\n"
        f"population: {{by_age: {population}}}\n"
        f"contacts: {{matrix: {contacts}}}\n"
        f"disease: {{model: SEIR, R0: 1.8, latent_period: 2, infectious_period: 4}}\n"
        f"initial_infections: 10\n"
        f"interventions: [{{name: half, start: 20.5, end: 50, contact_scale: 0.5, "
        f"age_groups: [b, c]}}]\n"
        f"time: {{start: 3, end: 120, step: 0.5}}\n"
    )
    scenario = parse_scenario(text, Path("six-groups.yaml"))
    arrays = model_arrays(scenario)
    expected = reference.integrate(
        arrays,
        scenario.transmission_rate,
        1 / scenario.latent_period,
        1 / scenario.infectious_period,
    )
    run = epicast.simulate(scenario)
    error = np.abs(run.prevalence - expected[:, :4]) / np.abs(expected[:, :4]).max(axis=0)
    assert error.max() < 1e-10


def test_daily_counts_difference_the_cumulative_rows_in_place():
    cumulative = np.array([[0.0, 1.0], [3.0, 4.0], [10.0, 4.0]])  # (T, G) by day
    out = np.full((3, kernels.N_STATE, 2), 7.0)
    out[:, kernels.CUM_INFECTIONS] = cumulative
    out[:, kernels.CUM_ONSETS] = 2 * cumulative
    kernels.daily_counts(out, 0.25)
    np.testing.assert_array_equal(out[:, kernels.CUM_INFECTIONS], [[0, 0], [3, 3], [7, 0]])
    np.testing.assert_array_equal(out[:, kernels.CUM_ONSETS], [[0, 0], [1.5, 1.5], [3.5, 0]])
    assert (out[:, : kernels.R + 1] == 7.0).all()  # the compartments are left alone
