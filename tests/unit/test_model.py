"""Numerical tests of the model, each against a known answer.

Oracles, from most to least independent: the final-size relation of the SIR
and SEIR models, ``scipy.integrate.solve_ivp`` (DOP853, tight tolerances) on
the NumPy right-hand side, conservation laws, and the NumPy reference runner
(:mod:`epicast.reference`, the same scheme as the compiled kernel).
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path

import numba
import numpy as np
import pytest
import yaml
from scipy.optimize import brentq

import epicast
from epicast import reference
from epicast.kernels import (
    CUM_INFECTIONS,
    CUM_ONSETS,
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
)
from epicast.model import model_arrays
from epicast.scenario import parse_scenario
from tests.unit.oracles import daily, dop853, max_error_of_peak, parameters

BUNDLED = [
    "seir-basic",
    "seir-gbr-16age",
    "seir-gbr-16age-severity",
    "seir-gbr-16age-vaccine-oldest-first",
    "seir-gbr-16age-vaccine-transmitters-first",
    "seir-mys-16age-school-closure",
    "sir-boarding-school",
]
SCHOOL_AGES = ("5-9", "10-14", "15-19")


def bundled_yaml(name: str) -> dict:
    """The raw YAML of a bundled scenario."""
    resource = resources.files("epicast.data") / "scenarios" / f"{name}.yaml"
    return yaml.safe_load(resource.read_text(encoding="utf-8"))


def compartments_of(states: np.ndarray, scenario: epicast.Scenario) -> np.ndarray:
    """People per compartment (T, C, G) from kernel states (T, rows, G), in Trajectory order.

    With vaccination, E, I and R count the vaccinated too, and the vaccinated susceptible
    follow.
    """
    rows = [[S], [I], [R]] if scenario.latent_period is None else [[S], [E], [I], [R]]
    if scenario.immunity is not None:
        vaccinated = {E: E_V, I: I_V, R: R_V}
        rows = [[row[0], vaccinated[row[0]]] if row[0] in vaccinated else row for row in rows]
        rows += [[V_WAITING], [V], [V_WANED]]
    return np.stack([states[:, r].sum(axis=1) for r in rows], axis=1)


def susceptible(run: epicast.Trajectory) -> np.ndarray:
    """People who can be infected, vaccinated or not, (T, G)."""
    names = ("S", "V_waiting", "V", "V_waned")
    return sum(run.compartment(name) for name in names if name in run.compartments)


@pytest.fixture(scope="module", params=BUNDLED)
def bundled(request) -> epicast.Scenario:
    return epicast.load_scenario(request.param)


def homogeneous(model: str, R0: float, days: int) -> epicast.Scenario:
    """One well-mixed group of a million people with a tiny seed."""
    latent = "  latent_period: 3\n" if model == "SEIR" else ""
    text = (
        f"population: 1000000\n"
        f"disease:\n  model: {model}\n  R0: {R0}\n{latent}  infectious_period: 5\n"
        f"initial_infections: 0.001\n"
        f"time: {{start: 0, end: {days}}}\n"
    )
    return parse_scenario(text, Path(f"{model.lower()}-homogeneous.yaml"))


@pytest.mark.parametrize("model", ["SIR", "SEIR"])
def test_final_size_solves_the_final_size_relation(model):
    # z = 1 - exp(-R0 z): the share ever infected in a closed, well-mixed population
    # (Kermack & McKendrick 1927); it does not depend on the latent period.
    R0 = 2.5
    z = brentq(lambda z: z - 1 + np.exp(-R0 * z), 0.5, 1.0)
    assert z == pytest.approx(0.8926, abs=1e-4)
    run = epicast.simulate(homogeneous(model, R0, days=1000))
    susceptible = run.compartment("S")[:, 0]
    infectious = run.compartment("I")[:, 0]
    assert infectious[-1] < 1e-3  # over
    assert 1 - susceptible[-1] / 1e6 == pytest.approx(z, abs=1e-6)
    assert run.incidence[:, 0].sum() / 1e6 == pytest.approx(z, abs=1e-6)


def test_population_is_conserved_at_every_output_time(bundled):
    run = epicast.simulate(bundled)
    total = run.prevalence.sum(axis=-2)  # (T, G)
    np.testing.assert_allclose(total, np.broadcast_to(bundled.population, total.shape), rtol=1e-9)


def test_compiled_kernel_agrees_with_the_numpy_reference(bundled):
    arrays = model_arrays(bundled)
    expected = reference.integrate(arrays, *parameters(bundled))
    run = epicast.simulate(bundled)
    assert max_error_of_peak(run.prevalence, compartments_of(expected, bundled)) < 1e-10
    assert max_error_of_peak(run.incidence, daily(expected[:, CUM_INFECTIONS])) < 1e-10


def test_trajectories_match_a_tight_dop853_solution(bundled):
    expected = dop853(bundled)
    run = epicast.simulate(bundled)
    assert max_error_of_peak(run.prevalence, compartments_of(expected, bundled)) < 1e-6
    assert max_error_of_peak(run.incidence, daily(expected[:, CUM_INFECTIONS])) < 1e-6
    notified = bundled.reporting_fraction * daily(expected[:, CUM_ONSETS])
    assert max_error_of_peak(run.notifications, notified) < 1e-6


def test_outcomes_match_a_tight_dop853_solution():
    scenario = epicast.load_scenario("seir-gbr-16age-severity")
    infections = daily(dop853(scenario)[:, CUM_INFECTIONS])
    run = epicast.simulate(scenario)
    assert scenario.outcomes
    for outcome in scenario.outcomes:
        expected = reference.daily_outcomes(infections, outcome.ratio, outcome.delay)
        assert max_error_of_peak(getattr(run, outcome.name), expected) < 1e-6


def test_reproduction_number_is_the_requested_one(bundled):
    disease = bundled_yaml(bundled.name)["disease"]
    if "R0" in disease:
        expected = disease["R0"]
    else:  # one group making one contact per day: R0 = beta * D * 1
        assert bundled.contacts.tolist() == [[1.0]]
        expected = disease["transmission_rate"] * disease["infectious_period"]
    np.testing.assert_allclose(bundled.R0, expected, rtol=1e-12)


def test_epidemic_threshold_is_at_a_reproduction_number_of_one():
    # The disease-free state of the linearised SEIR equations,
    #   dE/dt = beta diag(N) C diag(1/N) I - sigma E,  dI/dt = sigma E - gamma I,
    # is neutrally stable exactly when R0 = 1 (an independent check of the
    # next-generation matrix of epicast.basic_reproduction_number).
    scenario = epicast.load_scenario("seir-gbr-16age")
    beta = scenario.transmission_rate / scenario.R0  # R0 = 1
    sigma, gamma = 1 / scenario.latent_period, 1 / scenario.infectious_period
    n = scenario.population
    infection = beta * n[:, None] * scenario.contacts / n[None, :]
    g = n.size
    jacobian = np.block([[-sigma * np.eye(g), infection], [sigma * np.eye(g), -gamma * np.eye(g)]])
    assert np.linalg.eigvals(jacobian).real.max() == pytest.approx(0.0, abs=1e-12)


def test_incidence_adds_up_to_the_people_infected(bundled):
    run = epicast.simulate(bundled)
    infectable = susceptible(run)  # no waning in the bundled scenarios: nobody comes back
    np.testing.assert_allclose(
        run.incidence.sum(axis=0), infectable[0] - infectable[-1], rtol=1e-9, atol=1e-9
    )
    assert np.all(run.incidence[0] == 0)
    # not negative, up to the integration error on days with almost no infections
    assert run.incidence.min() >= -1e-9 * run.incidence.max()


def test_notifications_are_the_reported_share_of_onsets(bundled):
    run = epicast.simulate(bundled)
    # onsets of infectiousness leave the susceptible and E (SIR: the susceptible)
    not_yet_infectious = susceptible(run)
    if bundled.latent_period is not None:
        not_yet_infectious = not_yet_infectious + run.compartment("E")
    onsets = -daily(not_yet_infectious)
    np.testing.assert_allclose(
        run.notifications, bundled.reporting_fraction * onsets, rtol=1e-6, atol=1e-6
    )
    if bundled.latent_period is None:
        np.testing.assert_array_equal(run.notifications, bundled.reporting_fraction * run.incidence)


def parameter_sets() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240601)
    scenario = epicast.load_scenario("seir-mys-16age-school-closure")
    beta = scenario.transmission_rate * rng.uniform(0.7, 1.4, 7)
    return beta, rng.uniform(3.0, 7.0, 7), rng.uniform(1.5, 4.0, 7)


def test_batch_equals_single_runs_bit_for_bit():
    scenario = epicast.load_scenario("seir-mys-16age-school-closure")
    beta, period, latent = parameter_sets()
    batch = epicast.simulate_batch(scenario, beta, period, latent)
    for b in range(beta.size):
        single = epicast.simulate_batch(
            scenario, beta[b : b + 1], period[b : b + 1], latent[b : b + 1]
        )
        np.testing.assert_array_equal(batch.prevalence[b], single.prevalence[0])
        np.testing.assert_array_equal(batch.incidence[b], single.incidence[0])
        np.testing.assert_array_equal(batch.notifications[b], single.notifications[0])
    # and the scenario's own parameters give what simulate gives
    own = dataclasses.replace(
        scenario,
        transmission_rate=float(beta[2]),
        infectious_period=float(period[2]),
        latent_period=float(latent[2]),
    )
    np.testing.assert_array_equal(epicast.simulate(own).prevalence, batch.prevalence[2])


def test_batch_results_do_not_depend_on_order_or_threads():
    scenario = epicast.load_scenario("seir-gbr-16age")
    beta, period, latent = parameter_sets()
    batch = epicast.simulate_batch(scenario, beta, period, latent)
    order = np.arange(beta.size)[::-1]
    reversed_ = epicast.simulate_batch(scenario, beta[order], period[order], latent[order])
    np.testing.assert_array_equal(reversed_.prevalence[order], batch.prevalence)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = epicast.simulate_batch(scenario, beta, period, latent)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(serial.prevalence, batch.prevalence)
    np.testing.assert_array_equal(serial.notifications, batch.notifications)


def test_school_closure_lowers_the_force_of_infection_among_school_ages():
    closed = epicast.load_scenario("seir-mys-16age-school-closure")
    (closure,) = closed.interventions
    assert (closure.start, closure.end) == (30, 90)
    open_ = dataclasses.replace(closed, interventions=())
    with_closure, without = epicast.simulate(closed), epicast.simulate(open_)
    school = np.isin(closed.age_groups, SCHOOL_AGES)

    def force(run):  # new infections per susceptible, days 0 -> 1, ..., 119 -> 120; (120, G)
        return run.incidence[1:121] / run.compartment("S")[:120]

    ratio = force(with_closure) / force(without)
    np.testing.assert_allclose(ratio[:30], 1.0, rtol=1e-6)  # the same epidemic before day 30
    # The day after schools close, contacts among 5-19 are at 30%: their force of
    # infection drops to about half, while the other groups' contacts are unchanged.
    assert np.all(ratio[30, school] < 0.65)
    assert np.all(np.abs(ratio[30, ~school] - 1) < 0.01)
    # While schools are closed the school ages gain more than any other group.
    assert np.all(ratio[30:90, school].max(axis=1) < ratio[30:90, ~school].min(axis=1))


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


RATE_OR_SPAN = re.compile(
    r"disease\.transmission_rate: expected a rate giving R0"
    r"|disease\.R0: expected an R0 giving a transmission rate"
    r"|time\.end: expected at most \d+ days"
)


@pytest.mark.parametrize("seed", range(60))
def test_any_scenario_within_the_limits_gives_finite_conserved_outputs(seed):
    """What validation accepts runs: random two-group scenarios across the whole range of
    the limits (log-uniform, seeded) give finite outputs that conserve the population."""
    rng = np.random.default_rng(seed)
    population = [_log_uniform(rng, 1, 1e10) for _ in range(2)]
    contacts = [[_log_uniform(rng, 1e-3, 1e4) for _ in range(2)] for _ in range(2)]
    rate = ("R0", _log_uniform(rng, 1e-3, 100))
    if seed % 2:  # a transmission rate whose R0 stays within the limit with these contacts
        rate = ("transmission_rate", _log_uniform(rng, 1e-6, 1e-2))
    disease = {
        rate[0]: rate[1],
        "latent_period": _log_uniform(rng, 0.01, 1e4),
        "infectious_period": _log_uniform(rng, 0.01, 10),
    }
    text = yaml.safe_dump(
        {
            "age_groups": ["a", "b"],
            "population": {"by_age": population},
            "contacts": {"matrix": contacts},
            "disease": disease,
            "initial_infections": [min(1.0, population[0]), 0.0],
            "time": {"end": int(_log_uniform(rng, 1, 36500))},
        }
    )
    try:
        scenario = parse_scenario(text, Path(f"random-{seed}.yaml"))
    except epicast.ScenarioError as exc:
        refused = exc.problems
    else:
        refused = []
    if refused:  # only combinations: R0 and rate with the contacts, or rates too fast for the span
        assert all(RATE_OR_SPAN.search(problem) for problem in refused), refused
        return
    run = epicast.simulate(scenario)
    assert np.isfinite(run.prevalence).all()
    assert np.isfinite(run.incidence).all()
    total = run.prevalence.sum(axis=-2)
    np.testing.assert_allclose(total, np.broadcast_to(scenario.population, total.shape), rtol=1e-6)


CONTACT_SERIES = Path(__file__).parent / "scenarios" / "valid" / "contact-series.yaml"
TWO_GROUPS = """\
age_groups: [young, old]
population: {by_age: [600000, 400000]}
contacts: {matrix: [[12, 3], [3, 5]]}
disease: {model: SEIR, R0: 2.5, latent_period: 3, infectious_period: 5}
initial_infections: [0, 20]
time: {end: 300}
"""


def two_groups(folder: Path, extra: str = "", series: str | None = None) -> epicast.Scenario:
    """The two-group scenario with ``extra`` YAML and, if given, a contact series CSV."""
    if series is not None:
        (folder / "series.csv").write_text(series)
    path = folder / f"two-groups-{len(list(folder.iterdir()))}.yaml"
    path.write_text(TWO_GROUPS + extra)
    return epicast.load_scenario(path)


def test_contact_series_agrees_with_the_reference_and_a_tight_dop853_solution():
    # per age group, linear between weekly days, with a school closure on top
    scenario = epicast.load_scenario(CONTACT_SERIES)
    run = epicast.simulate(scenario)
    expected = reference.integrate(model_arrays(scenario), *parameters(scenario))
    assert max_error_of_peak(run.prevalence, compartments_of(expected, scenario)) < 1e-10

    tight = dop853(scenario)
    infections = daily(tight[:, CUM_INFECTIONS])
    assert max_error_of_peak(run.prevalence, compartments_of(tight, scenario)) < 1e-6
    assert max_error_of_peak(run.incidence, infections) < 1e-6
    (admissions,) = scenario.outcomes
    expected = reference.daily_outcomes(infections, admissions.ratio, admissions.delay)
    assert max_error_of_peak(run.admissions, expected) < 1e-6
    total = run.prevalence.sum(axis=-2)
    np.testing.assert_allclose(total, np.broadcast_to(scenario.population, total.shape), rtol=1e-9)


def test_a_constant_contact_series_is_the_same_constant_intervention(tmp_path):
    series = two_groups(tmp_path, "contact_series: {csv: series.csv}\n", "day,multiplier\n0,0.6\n")
    window = two_groups(
        tmp_path, "interventions:\n  - {name: all, start: 0, end: 300, contact_scale: 0.6}\n"
    )
    first, second = epicast.simulate(series), epicast.simulate(window)
    assert max_error_of_peak(first.prevalence, second.prevalence) < 1e-9
    assert max_error_of_peak(first.incidence, second.incidence) < 1e-9


def test_a_contact_series_of_ones_changes_nothing_bit_for_bit(tmp_path):
    ones = two_groups(tmp_path, "contact_series: {csv: series.csv}\n", "day,multiplier\n0,1\n")
    plain = epicast.simulate(two_groups(tmp_path))
    run = epicast.simulate(ones)
    np.testing.assert_array_equal(run.prevalence, plain.prevalence)
    np.testing.assert_array_equal(run.incidence, plain.incidence)


def test_a_group_whose_contacts_stop_is_never_infected_while_the_other_is(tmp_path):
    # the young meet nobody from day 0: their force of infection is 0 throughout
    extra = "contact_series: {csv: series.csv, by_age: true}\n"
    scenario = two_groups(tmp_path, extra, "day,young,old\n0,0,3\n100,0,2\n")
    run = epicast.simulate(scenario)
    assert np.all(run.incidence[:, 0] == 0)
    assert run.incidence[:, 1].sum() > 1000


def test_the_multiplier_is_linear_between_the_days_of_the_series(tmp_path):
    extra = "contact_series: {csv: series.csv}\n"
    scenario = two_groups(tmp_path, extra, "day,multiplier\n10,1\n20,0.5\n40,0.9\n")
    arrays = model_arrays(scenario)
    assert arrays.segment_start.tolist() == [0, 10, 20, 40]  # steps stop at the days
    for t in (0.0, 5.0, 10.0, 12.5, 20.0, 31.0, 39.9, 40.0, 250.0):
        segment = np.searchsorted(arrays.segment_start, t, side="right") - 1
        level, slope = arrays.segment_multiplier[segment]
        value = level + slope * (t - arrays.segment_start[segment])
        expected = np.interp(t, [10, 20, 40], [1, 0.5, 0.9])  # flat before and after
        np.testing.assert_allclose(value, [expected, expected], rtol=1e-12)


SETTINGS = """\
age_groups: [young, old]
population: {by_age: [600000, 400000]}
contacts:
  settings:
    home: {matrix: [[2, 1], [1.5, 2]]}
    school: {matrix: [[10, 2], [3, 3]]}
disease: {model: SEIR, R0: 2.5, latent_period: 3, infectious_period: 5}
initial_infections: [0, 20]
time: {end: 300}
"""
"""Contacts in two settings, whose sum is [[12, 3], [4.5, 5]] exactly."""


def scenario_file(folder: Path, text: str, series: str | None = None) -> epicast.Scenario:
    """Load ``text`` saved in ``folder``, with ``series`` saved as series.csv beside it."""
    if series is not None:
        (folder / "series.csv").write_text(series)
    path = folder / f"scenario-{len(list(folder.iterdir()))}.yaml"
    path.write_text(text)
    return epicast.load_scenario(path)


def test_the_settings_add_up_to_the_contacts(tmp_path):
    settings = scenario_file(tmp_path, SETTINGS)
    single = SETTINGS.replace(
        "  settings:\n    home: {matrix: [[2, 1], [1.5, 2]]}\n"
        "    school: {matrix: [[10, 2], [3, 3]]}\n",
        "  matrix: [[12, 3], [4.5, 5]]\n",
    )
    assert "settings" not in single
    assert settings.contacts.tolist() == [[12, 3], [4.5, 5]]
    first, second = epicast.simulate(settings), epicast.simulate(scenario_file(tmp_path, single))
    np.testing.assert_array_equal(first.prevalence, second.prevalence)


def test_a_series_of_ones_by_setting_changes_nothing_bit_for_bit(tmp_path):
    extra = "contact_series: {csv: series.csv, by_setting: true}\n"
    ones = scenario_file(tmp_path, SETTINGS + extra, "day,home,school\n0,1,1\n")
    plain = epicast.simulate(scenario_file(tmp_path, SETTINGS))
    np.testing.assert_array_equal(epicast.simulate(ones).prevalence, plain.prevalence)


def test_a_constant_series_by_setting_is_that_setting_scaled(tmp_path):
    # the same transmission rate (R0 would set it from each scenario's contacts)
    base = SETTINGS.replace("R0: 2.5", "transmission_rate: 0.05")
    extra = "contact_series: {csv: series.csv, by_setting: true}\n"
    series = scenario_file(tmp_path, base + extra, "day,home,school\n0,1,0.5\n")
    halved = base.replace(
        "school: {matrix: [[10, 2], [3, 3]]}", "school: {matrix: [[5, 1], [1.5, 1.5]]}"
    )
    scaled = scenario_file(tmp_path, halved)
    assert scaled.contacts.tolist() == [[7, 2], [3, 3.5]]
    first, second = epicast.simulate(series), epicast.simulate(scaled)
    assert max_error_of_peak(first.prevalence, second.prevalence) < 1e-12


def test_a_series_by_setting_agrees_with_the_reference_and_a_tight_dop853_solution(tmp_path):
    # schools close gradually from day 30 to 60 and reopen by day 120, home contacts rise;
    # an intervention scales everyone's contacts in between
    extra = (
        "contact_series: {csv: series.csv, by_setting: true}\n"
        "interventions:\n  - {name: distancing, start: 45, end: 80, contact_scale: 0.8}\n"
    )
    series = "day,home,school\n30,1,1\n60,1.3,0.1\n90,1.3,0.1\n120,1,1\n"
    scenario = scenario_file(tmp_path, SETTINGS + extra, series)
    arrays = model_arrays(scenario)
    assert arrays.segment_contact_slope is not None
    assert arrays.segment_multiplier is None
    run = epicast.simulate(scenario)
    expected = reference.integrate(arrays, *parameters(scenario))
    assert max_error_of_peak(run.prevalence, compartments_of(expected, scenario)) < 1e-10
    tight = dop853(scenario)
    assert max_error_of_peak(run.prevalence, compartments_of(tight, scenario)) < 1e-6
    assert max_error_of_peak(run.incidence, daily(tight[:, CUM_INFECTIONS])) < 1e-6
    # the contacts on day 45, halfway from day 30 to 60, with the intervention
    start = np.searchsorted(arrays.segment_start, 45.0)
    home, school = scenario.contact_settings.values()
    np.testing.assert_allclose(arrays.segment_contacts[start], 0.8 * (1.15 * home + 0.55 * school))
