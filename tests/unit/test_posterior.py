"""The compiled log-posterior against scipy: priors, transforms, likelihoods, the whole sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import epicast
from epicast.calibration import posterior
from epicast.calibration.file import load_calibration
from epicast.calibration.posterior import (
    LogDensity,
    build_posterior,
    prior_distributions,
    unconstrain,
)


@pytest.fixture(scope="module")
def boarding():
    return load_calibration("sir-boarding-school")


@pytest.mark.parametrize(
    ("kind", "a", "b", "log_norm", "frozen"),
    [
        (0, 2.0, 1.0, 0.0, stats.norm(2, 1)),
        (1, -1.0, 3.0, 0.0, stats.uniform(-1, 4)),
        (2, 0.3, 0.7, 0.0, stats.lognorm(0.7, scale=np.exp(0.3))),
        (3, 5.0, 0.0, 0.0, stats.expon(scale=1 / 5)),
    ],
)
def test_log_prior_matches_scipy(kind, a, b, log_norm, frozen):
    for u in (0.05, 0.4, 1.3, 2.9):
        assert posterior._log_prior(u, kind, a, b, log_norm) == pytest.approx(
            frozen.logpdf(u), rel=1e-12
        )


def test_truncated_normal_prior_is_normalised(boarding):
    packed = build_posterior(boarding)
    beta = stats.truncnorm(-2, np.inf, 2, 1)  # Normal(2, 1) truncated at 0
    k = boarding.parameter_names.index("beta")
    value = posterior._log_prior(1.7, packed.prior[k], packed.a[k], packed.b[k], packed.log_norm[k])
    assert value == pytest.approx(beta.logpdf(1.7), rel=1e-12)


@pytest.mark.parametrize("support", [(-np.inf, np.inf), (0.0, np.inf), (-np.inf, 2.0), (1.0, 4.0)])
def test_transform_jacobian_is_the_derivative(support):
    lower, upper = support
    for z in (-2.0, -0.3, 0.0, 0.8, 2.5):
        u, log_jacobian = posterior._constrain(z, lower, upper)
        h = 1e-6
        above, below = (
            posterior._constrain(z + h, lower, upper),
            posterior._constrain(z - h, lower, upper),
        )
        derivative = (above[0] - below[0]) / (2 * h)
        assert np.log(abs(derivative)) == pytest.approx(log_jacobian, abs=1e-7)
        assert lower < u < upper


@pytest.mark.parametrize("y", [0.0, 3.0, 298.0])
@pytest.mark.parametrize("mu", [0.5, 40.0, 300.0])
def test_likelihoods_match_scipy(y, mu):
    log_factorial = math.lgamma(y + 1)
    phi, sd = 7.5, 12.0
    assert posterior._log_likelihood(y, log_factorial, mu, 0, 0.0) == pytest.approx(
        stats.poisson.logpmf(y, mu), rel=1e-10
    )
    assert posterior._log_likelihood(y, log_factorial, mu, 1, phi) == pytest.approx(
        stats.nbinom.logpmf(y, phi, phi / (phi + mu)), rel=1e-10
    )
    assert posterior._log_likelihood(y, log_factorial, mu, 2, sd) == pytest.approx(
        stats.norm.logpdf(y, mu, sd), rel=1e-10
    )


def test_log_density_is_prior_plus_likelihood_plus_jacobian(boarding):
    """The whole compiled sum against an independent computation with epicast.simulate and scipy."""
    packed = build_posterior(boarding)
    density = LogDensity(packed)
    beta, gamma, phi = 1.7, 0.5, 9.0
    z = unconstrain(packed, np.array([beta, gamma, 1 / phi]))
    assert density.parameters(z) == pytest.approx([beta, gamma, phi], rel=1e-12)

    scenario = boarding.scenario
    run = epicast.simulate_batch(scenario, transmission_rate=[beta], infectious_period=[1 / gamma])
    (target,) = boarding.targets
    mu = run.compartment("I")[0, target.days - scenario.t_start, 0]
    likelihood = stats.nbinom.logpmf(target.observed, phi, phi / (phi + mu)).sum()
    b, g, p = prior_distributions(boarding)
    prior = b.logpdf(beta) + g.logpdf(gamma) + p.logpdf(1 / phi)
    jacobian = np.log(beta) + np.log(gamma) + np.log(1 / phi)  # u = exp(z) on (0, inf)
    assert density(z) == pytest.approx(prior + likelihood + jacobian, rel=1e-9)


def test_log_density_of_cases_and_deaths_is_the_sum_of_both_likelihoods(cases_and_deaths):
    """Two targets with their own likelihoods, deaths through the delay, against scipy."""
    packed = build_posterior(cases_and_deaths)
    beta, phi = 0.047, 30.0
    z = unconstrain(packed, np.array([beta, phi]))

    scenario = cases_and_deaths.scenario
    run = epicast.simulate_batch(scenario, transmission_rate=[beta])
    cases, deaths = cases_and_deaths.targets
    mu_cases = run.incidence[0, cases.days - scenario.t_start, 0]
    mu_deaths = run.deaths[0, deaths.days - scenario.t_start].sum(axis=-1)
    likelihood = stats.poisson.logpmf(cases.observed, mu_cases).sum()
    likelihood += stats.nbinom.logpmf(deaths.observed, phi, phi / (phi + mu_deaths)).sum()
    b, p = prior_distributions(cases_and_deaths)
    prior = b.logpdf(beta) + p.logpdf(phi)
    jacobian = np.log(beta) + np.log(phi)
    assert LogDensity(packed)(z) == pytest.approx(prior + likelihood + jacobian, rel=1e-9)


def test_deaths_of_a_vaccinated_population_count_breakthrough_infections_in_part(tmp_path):
    """The compiled model value of a deaths target equals simulate's deaths (efficacy applied)."""
    (tmp_path / "vaccinated.yaml").write_text(
        "age_groups: [young, old]\n"
        "population: {by_age: [80000, 20000]}\n"
        "contacts: {matrix: [[10, 2], [2, 4]]}\n"
        "disease: {model: SIR, transmission_rate: 0.05, infectious_period: 4}\n"
        "initial_infections: 10\n"
        "time: {end: 150}\n"
        "vaccination:\n"
        "  doses_per_day: [{from: 0, doses: 1500}]\n"
        "  priority: [old, young]\n"
        "  efficacy: {infection: 0.5, severe: 0.8}\n"
        "severity:\n"
        "  deaths: {ratio: [0.0005, 0.02], delay: {mean: 14, sd: 6}}\n"
    )
    rows = "".join(f"{d},{d % 7}\n" for d in range(1, 151))
    (tmp_path / "data.csv").write_text("day,deaths\n" + rows)
    (tmp_path / "fit.yaml").write_text(
        "scenario: vaccinated.yaml\n"
        "data: {csv: data.csv}\n"
        "targets: [{column: deaths, output: deaths, likelihood: {family: poisson}}]\n"
        "parameters: {beta: {distribution: lognormal, meanlog: -3, sdlog: 0.5}}\n"
        "sampler: {chains: 1, warmup: 100, iterations: 100, seed: 1}\n"
    )
    calibration = load_calibration(tmp_path / "fit.yaml")
    packed = build_posterior(calibration)
    beta = 0.048
    scenario = calibration.scenario
    run = epicast.simulate_batch(scenario, transmission_rate=[beta])
    assert run.breakthrough.sum() > 100
    (target,) = calibration.targets
    mu = run.deaths[0, target.days - scenario.t_start].sum(axis=-1)
    likelihood = stats.poisson.logpmf(target.observed, mu).sum()
    (prior,) = prior_distributions(calibration)
    expected = prior.logpdf(beta) + likelihood + np.log(beta)
    density = LogDensity(packed)(unconstrain(packed, np.array([beta])))
    assert density == pytest.approx(expected, rel=1e-9)


def test_log_density_outside_the_support_is_minus_infinity(boarding):
    density = LogDensity(build_posterior(boarding))
    assert density(np.array([800.0, 0.0, 0.0])) == -np.inf  # beta = e^800 overflows
