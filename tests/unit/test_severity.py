"""Severe outcomes (hospital admissions, deaths), each against a known answer.

Oracles: the defining integral of the discretised delay (``scipy.integrate.quad``
over scipy's gamma distribution), the plain sum over days of
:func:`epicast.reference.daily_outcomes`, the final-size relation, and
conservation: every infection has its outcome once, so the outcomes of an
epidemic that is over add up to the ratio times the infections.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad
from scipy.optimize import brentq

import epicast
from epicast import reference
from epicast.scenario import parse_scenario
from epicast.severity import daily_outcomes, delay_distribution

DELAYS = [(22.9, 9.1), (0.5, 0.3), (5.0, 5.0), (10.0, 20.0), (200.0, 100.0)]
"""(mean, sd) in days: infection to death, shorter than a day, exponential, a heavy tail
(shape 1/4), and long."""


@pytest.mark.parametrize(("mean", "sd"), DELAYS)
def test_delay_shares_are_the_integrals_over_a_day_of_infection(mean, sd):
    # p_k = P(k - 1 < tau - u <= k), u uniform in [0, 1): integral_0^1 F(k + u) - F(k - 1 + u) du
    gamma = stats.gamma(a=(mean / sd) ** 2, scale=sd**2 / mean)

    def share(k: int) -> float:
        return quad(
            lambda u: gamma.cdf(k + u) - gamma.cdf(k - 1 + u), 0, 1, epsabs=1e-15, epsrel=1e-12
        )[0]

    expected = [share(k) for k in range(60)]
    assert np.abs(delay_distribution(mean, sd, 60) - expected).max() < 1e-12


@pytest.mark.parametrize(("mean", "sd"), DELAYS)
def test_every_infection_has_its_outcome_once_after_the_mean_delay_on_average(mean, sd):
    # ceil(tau - u) has the mean of tau exactly, whatever tau: the mean delay is kept
    shares = delay_distribution(mean, sd, 5000)
    assert shares.min() >= 0
    assert shares.sum() == pytest.approx(1, abs=1e-12)
    assert (np.arange(shares.size) * shares).sum() == pytest.approx(mean, rel=1e-9)


def test_outcomes_are_the_plain_sum_over_earlier_days():
    rng = np.random.default_rng(3)
    incidence = rng.uniform(0, 1000, size=(80, 3))
    ratio = np.array([0.001, 0.02, 0.3])
    delay = delay_distribution(12.0, 5.0, 80)

    result = daily_outcomes(incidence, ratio, delay)

    expected = reference.daily_outcomes(incidence, ratio, delay)
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    batch = daily_outcomes(np.stack([incidence, 2 * incidence]), ratio, delay)
    np.testing.assert_array_equal(batch[0], result)
    np.testing.assert_allclose(batch[1], 2 * result, rtol=1e-15)


def test_total_deaths_are_the_fatality_ratio_times_the_infections():
    scenario = epicast.load_scenario("seir-gbr-16age-severity")
    run = epicast.simulate(scenario)
    (deaths,) = scenario.outcomes

    assert run.admissions is None
    assert run.deaths.shape == run.incidence.shape
    np.testing.assert_allclose(
        run.deaths.sum(axis=0), deaths.ratio * run.incidence.sum(axis=0), rtol=1e-9
    )


def test_outcomes_leave_the_epidemic_bit_identical():
    plain = epicast.simulate(epicast.load_scenario("seir-gbr-16age"))
    severe = epicast.simulate(epicast.load_scenario("seir-gbr-16age-severity"))

    for name in ("prevalence", "incidence", "notifications"):
        np.testing.assert_array_equal(getattr(severe, name), getattr(plain, name))
    assert plain.deaths is None
    assert plain.admissions is None


def test_deaths_and_admissions_follow_the_final_size_of_a_homogeneous_epidemic():
    # z = 1 - exp(-R0 z) of a million people: deaths IFR z N, admissions IHR z N
    R0, ifr, ihr = 2.0, 0.004, 0.03
    text = (
        "population: 1000000\n"
        "disease: {model: SIR, R0: 2.0, infectious_period: 5}\n"
        "initial_infections: 0.001\n"
        "time: {start: 0, end: 1500}\n"
        "severity:\n"
        f"  admissions: {{ratio: {ihr}, delay: {{mean: 8, sd: 3}}}}\n"
        f"  deaths: {{ratio: [{ifr}], delay: {{mean: 20, sd: 9}}}}\n"
    )
    scenario = parse_scenario(text, Path("sir-severity.yaml"))
    z = brentq(lambda z: z - 1 + np.exp(-R0 * z), 0.5, 1.0)

    run = epicast.simulate(scenario)

    assert scenario.outputs == ("prevalence", "incidence", "notifications", "admissions", "deaths")
    assert run.deaths.sum() / 1e6 == pytest.approx(ifr * z, rel=1e-5)
    assert run.admissions.sum() / 1e6 == pytest.approx(ihr * z, rel=1e-5)
    # admissions come earlier than deaths: their peak is 12 days (the mean delays' gap) before
    gap = np.argmax(run.deaths[:, 0]) - np.argmax(run.admissions[:, 0])
    assert 10 <= gap <= 14
