"""Fixtures of the unit tests: a calibration to cases and deaths, with simulated data."""

from __future__ import annotations

import numpy as np
import pytest

import epicast
from epicast.calibration.file import Calibration, load_calibration

TWO_AGES = """\
age_groups: [young, old]
population: {by_age: [80000, 20000]}
contacts: {matrix: [[10, 2], [2, 4]]}
disease: {model: SIR, transmission_rate: 0.05, infectious_period: 4}
initial_infections: 10
time: {end: 150}
severity:
  deaths:
    ratio: [0.0005, 0.02]
    delay: {mean: 14, sd: 6}
"""
CASES_AND_DEATHS = """\
scenario: two-ages.yaml
data: {csv: data.csv}
targets:
  - column: cases
    output: incidence
    age_groups: [young]
    likelihood: {family: poisson}
  - column: deaths
    output: deaths
    likelihood: {family: negative_binomial, dispersion: phi}
parameters:
  beta: {distribution: lognormal, meanlog: -3, sdlog: 0.5}
  phi: {distribution: exponential, rate: 0.1}
sampler: {chains: 2, warmup: 300, iterations: 300, seed: 11}
"""


@pytest.fixture(scope="module")
def cases_and_deaths(tmp_path_factory) -> Calibration:
    """A two-age SIR fitted to the daily cases of the young and the deaths of both.

    The data are drawn from the model with the scenario's transmission rate:
    Poisson cases, and deaths that are Poisson too (a negative binomial with a
    large dispersion).
    """
    folder = tmp_path_factory.mktemp("cases-and-deaths")
    (folder / "two-ages.yaml").write_text(TWO_AGES)
    run = epicast.simulate(epicast.load_scenario(folder / "two-ages.yaml"))
    rng = np.random.default_rng(5)
    cases = rng.poisson(run.incidence[1:, 0])
    deaths = rng.poisson(run.deaths[1:].sum(axis=1))
    rows = "".join(f"{d},{c},{k}\n" for d, (c, k) in enumerate(zip(cases, deaths, strict=True), 1))
    (folder / "data.csv").write_text("day,cases,deaths\n" + rows)
    (folder / "fit.yaml").write_text(CASES_AND_DEATHS)
    return load_calibration(folder / "fit.yaml")
