"""Vaccination and waning immunity, each against a known answer.

Oracles: the final-size relation of an epidemic in a partly immunised
population, conservation of people and of doses, the plain-NumPy reference
runner, a tight ``scipy.integrate.solve_ivp`` (DOP853) solution, and
hand-computed rollouts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import brentq

import epicast
from epicast import reference
from epicast.calibration.file import load_calibration
from epicast.errors import CalibrationError
from epicast.kernels import (
    CUM_BREAKTHROUGH,
    CUM_DOSES,
    CUM_INFECTIONS,
    E_V,
    I_V,
    R_V,
    V_WAITING,
    V_WANED,
    E,
    I,
    R,
    S,
    V,
    integrate,
)
from epicast.model import model_arrays
from epicast.scenario import parse_scenario
from epicast.vaccination import rollout
from tests.unit.oracles import daily, dop853, max_error_of_peak

MOBILITY = Path(__file__).parent / "scenarios" / "mobility.csv"
EVERYTHING = """\
age_groups: [young, adult, old]
population: {by_age: [300000, 500000, 200000]}
contacts: {matrix: [[10, 4, 1], [3, 7, 2], [1, 3, 3]]}
disease: {model: SEIR, R0: 2.5, latent_period: 3, infectious_period: 5, immunity_duration: 200}
initial_infections: 30
interventions:
  - {name: distancing, start: 50, end: 90, contact_scale: 0.7}
contact_series: {csv: MOBILITY_CSV}
time: {end: 300}
vaccination:
  doses_per_day: [{from: 10, doses: 5000}, {from: 60, doses: 12000}]
  priority: [old, [adult, young]]
  uptake: [0.6, 0.8, 0.9]
  initial_coverage: [0, 0, 0.1]
  efficacy: {infection: 0.6, severe: 0.9}
  time_to_protection: 14
  immunity_duration: 180
severity:
  admissions: {ratio: [0.001, 0.01, 0.1], delay: {mean: 9, sd: 4}}
  deaths: {ratio: [0.0001, 0.002, 0.03], delay: {mean: 20, sd: 8}}
""".replace("MOBILITY_CSV", str(MOBILITY))
"""Every feature on: a rollout by priority tiers, waning of both immunities, an
intervention, a contact series, admissions and deaths."""


def scenario_of(text: str, name: str = "vaccination") -> epicast.Scenario:
    return parse_scenario(text, Path(f"{name}.yaml"))


def test_final_size_in_a_partly_immunised_population():
    # z = (1 - p)(1 - exp(-R0 z)): a share p protected from the start, perfectly, for ever
    p, R0 = 0.3, 2.5
    text = (
        "population: 1000000\n"
        f"disease: {{model: SIR, R0: {R0}, infectious_period: 5}}\n"
        "initial_infections: 0.001\n"
        "time: {start: 0, end: 1500}\n"
        f"vaccination: {{initial_coverage: {p}, efficacy: {{infection: 1}}}}\n"
    )
    z = brentq(lambda z: z - (1 - p) * (1 - np.exp(-R0 * z)), 0.1, 1.0)
    run = epicast.simulate(scenario_of(text))
    assert run.incidence.sum() / 1e6 == pytest.approx(z, abs=1e-6)
    assert run.compartment("V")[-1, 0] == pytest.approx(p * 1e6, rel=1e-12)
    assert run.breakthrough.sum() == 0
    assert run.doses.sum() == 0


def test_people_are_conserved_with_every_feature_on():
    scenario = scenario_of(EVERYTHING)
    run = epicast.simulate(scenario)
    total = run.prevalence.sum(axis=-2)
    np.testing.assert_allclose(total, np.broadcast_to(scenario.population, total.shape), rtol=1e-9)
    assert scenario.compartments == ("S", "E", "I", "R", "V_waiting", "V", "V_waned")
    assert run.prevalence.min() > -1e-6


def test_the_doses_given_are_the_scheduled_ones_up_to_each_uptake():
    scenario = scenario_of(EVERYTHING)
    run = epicast.simulate(scenario)
    eligible = (np.array([0.6, 0.8, 0.9]) - [0, 0, 0.1]) * scenario.population
    np.testing.assert_allclose(scenario.immunity.doses.sum(axis=0), eligible, rtol=1e-12)
    np.testing.assert_allclose(run.doses.sum(axis=0), eligible, rtol=1e-9)
    # each day's doses, as the schedule gives them (the run's day d counts the day before it)
    np.testing.assert_allclose(run.doses[1:], scenario.immunity.doses, rtol=1e-7, atol=1e-6)


def test_the_kernel_agrees_with_the_reference_and_a_tight_dop853_solution():
    scenario = scenario_of(EVERYTHING)
    arrays = model_arrays(scenario)
    beta, sigma, gamma = scenario.transmission_rate, 1 / 3, 1 / 5
    run = epicast.simulate(scenario)
    expected = reference.integrate(arrays, beta, sigma, gamma)
    rows = [S, E, I, R, V_WAITING, V, V_WANED, E_V, I_V, R_V, CUM_INFECTIONS, CUM_BREAKTHROUGH]
    out = np.empty((arrays.n_days + 1, *arrays.y0.shape))
    integrate(arrays.y0, beta, sigma, gamma, *arrays.kernel_args(), out)
    assert max_error_of_peak(out[:, rows], expected[:, rows]) < 1e-10

    tight = dop853(scenario)
    assert max_error_of_peak(out[:, [*rows, CUM_DOSES]], tight[:, [*rows, CUM_DOSES]]) < 1e-6
    infections = daily(tight[:, CUM_INFECTIONS])
    breakthrough = daily(tight[:, CUM_BREAKTHROUGH])
    severe = infections - 0.9 * breakthrough
    for outcome in scenario.outcomes:  # admissions, deaths
        expected = reference.daily_outcomes(severe, outcome.ratio, outcome.delay)
        assert max_error_of_peak(getattr(run, outcome.name), expected) < 1e-6


def test_deaths_count_protected_infections_at_one_minus_the_efficacy():
    # no waning, contacts back to normal, a long span: the epidemic ends, and every
    # infection's death is counted once
    text = (
        EVERYTHING.replace(", immunity_duration: 200", "")
        .replace("  immunity_duration: 180\n", "")
        .replace(f"contact_series: {{csv: {MOBILITY}}}\n", "")
        .replace("end: 300", "end: 700")
    )
    assert "contact_series" not in text
    scenario = scenario_of(text)
    run = epicast.simulate(scenario)
    deaths = scenario.outcomes[1]
    assert run.breakthrough.sum() > 1000
    severe = run.incidence.sum(axis=0) - 0.9 * run.breakthrough.sum(axis=0)
    np.testing.assert_allclose(run.deaths.sum(axis=0), deaths.ratio * severe, rtol=1e-9)


def test_a_batch_equals_single_runs():
    scenario = scenario_of(EVERYTHING)
    beta = scenario.transmission_rate * np.array([0.9, 1.0, 1.1])
    batch = epicast.simulate_batch(scenario, transmission_rate=beta)
    for b, value in enumerate(beta):
        single = epicast.simulate_batch(scenario, transmission_rate=[value])
        np.testing.assert_array_equal(batch.prevalence[b], single.prevalence[0])
        np.testing.assert_array_equal(batch.deaths[b], single.deaths[0])


def test_rollout_fills_tiers_in_order_up_to_the_uptake():
    capacity = np.array([50.0, 50.0, 50.0, 50.0, 50.0])
    eligible = np.array([60.0, 40.0, 100.0])  # groups 0, 1, 2
    doses = rollout(capacity, [[2], [0, 1]], eligible)
    # group 2 first: 50, then 50 (done on day 2 with 50 left); then groups 0 and 1 share
    # in proportion to their people left (60:40), until both are done
    expected = np.array([[0, 0, 50], [0, 0, 50], [30, 20, 0], [30, 20, 0], [0, 0, 0]], dtype=float)
    np.testing.assert_allclose(doses, expected, rtol=1e-12)


def test_a_tier_that_runs_out_passes_the_rest_of_the_day_on():
    doses = rollout(np.array([100.0, 100.0]), [[0], [1]], np.array([30.0, 500.0]))
    np.testing.assert_allclose(doses, [[30, 70], [0, 100]], rtol=1e-12)


def test_a_schedule_file_gives_its_doses(tmp_path):
    (tmp_path / "doses.csv").write_text("day,young,old\n5,100,300\n6,100,300\n20,50,0\n")
    text = (
        "age_groups: [young, old]\n"
        "population: {by_age: [10000, 5000]}\n"
        "contacts: {matrix: [[6, 2], [2, 3]]}\n"
        "disease: {model: SIR, R0: 1.8, infectious_period: 5}\n"
        "initial_infections: 5\n"
        "time: {end: 60}\n"
        "vaccination: {schedule: {csv: doses.csv}, efficacy: {infection: 0.5}, "
        "time_to_protection: 0}\n"
    )
    path = tmp_path / "scheduled.yaml"
    path.write_text(text)
    scenario = epicast.load_scenario(path)
    run = epicast.simulate(scenario)
    np.testing.assert_allclose(run.doses[[6, 7, 21]], [[100, 300], [100, 300], [50, 0]], rtol=1e-7)
    np.testing.assert_allclose(run.doses.sum(axis=0), [250, 600], rtol=1e-9)
    # protection at once: the protected are the doses given to susceptibles
    assert run.compartment("V_waiting").max() == 0


def test_a_prevalence_target_of_infectious_people_is_refused_with_vaccination(tmp_path):
    (tmp_path / "vaccinated.yaml").write_text(EVERYTHING)
    (tmp_path / "data.csv").write_text("day,sick\n1,3\n2,5\n")
    (tmp_path / "fit.yaml").write_text(
        "scenario: vaccinated.yaml\n"
        "data: {csv: data.csv}\n"
        "targets: [{column: sick, output: prevalence, compartment: I, "
        "likelihood: {family: poisson}}]\n"
        "parameters: {beta: {distribution: lognormal, meanlog: -3, sdlog: 0.5}}\n"
        "sampler: {chains: 1, warmup: 100, iterations: 100, seed: 1}\n"
    )
    with pytest.raises(CalibrationError) as caught:
        load_calibration(tmp_path / "fit.yaml")
    assert caught.value.problems == [
        "line 3: targets[0].compartment: expected S: scenario vaccinated has vaccination or "
        "waning immunity, and prevalence targets of E, I and R are not supported for it yet "
        "(fit incidence, notifications, admissions or deaths), got I"
    ]
