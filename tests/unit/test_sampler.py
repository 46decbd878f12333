"""The sampler: bit-identical chains, resume from checkpoints, recovery of known parameters."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import epicast
from epicast.calibration.file import load_calibration
from epicast.calibration.posterior import MU_FLOOR
from epicast.calibration.run import calibrate, chain_tasks, run_chain
from epicast.calibration.sampler import Chain, ChainState
from epicast.store import read_calibration, write_calibration

SEIR = """\
scenario: seir-gbr-16age
data: {csv: data.csv}
targets:
  - column: cases
    output: notifications
    age_groups: [5-9, 10-14]
    likelihood: {family: poisson}
  - column: infections
    output: incidence
    likelihood: {family: normal, sd: 50}
  - column: sick
    output: prevalence
    compartment: I
    likelihood: {family: negative_binomial, dispersion: phi}
parameters:
  beta: {distribution: lognormal, meanlog: -3.5, sdlog: 0.5}
  sigma: {distribution: normal, mean: 0.3, sd: 0.1, lower: 0}
  rho: {distribution: uniform, lower: 0.1, upper: 0.9}
  phi: {distribution: exponential, rate: 0.1}
sampler: {chains: 1, warmup: 100, iterations: 100, seed: 4}
"""


@pytest.fixture(scope="module")
def boarding():
    return load_calibration("sir-boarding-school")


def test_chains_are_reproducible_and_independent(boarding):
    short = boarding.with_sampler(chains=3, warmup=300, iterations=300)
    first = calibrate(short, progress=False)
    again = calibrate(short, progress=False)
    np.testing.assert_array_equal(first.draws, again.draws)
    np.testing.assert_array_equal(first.log_densities, again.log_densities)
    assert not np.array_equal(first.draws[0], first.draws[1])  # each chain its own stream
    other_seed = calibrate(short.with_sampler(seed=7), progress=False)
    assert not np.array_equal(first.draws, other_seed.draws)


def test_a_process_pool_gives_the_in_process_chains(boarding, tmp_path: Path):
    """Chains as tasks on two worker processes: the same chains, and checkpoints to resume."""
    short = boarding.with_sampler(chains=3, warmup=300, iterations=300, checkpoint_every=200)
    in_process = calibrate(short, progress=False)
    reports = []
    spawn = multiprocessing.get_context("spawn")  # fork is unsafe in a process with threads
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        pooled = calibrate(
            short, executor=pool, checkpoints=tmp_path, progress=lambda *r: reports.append(r)
        )
    for result in (pooled, calibrate(short, checkpoints=tmp_path, progress=False)):
        np.testing.assert_array_equal(result.draws, in_process.draws)
        np.testing.assert_array_equal(result.log_densities, in_process.log_densities)
        np.testing.assert_array_equal(result.acceptance, in_process.acceptance)
    assert reports == [(0, 600), (1, 600), (2, 600)]  # once per finished chain
    assert pooled.where == "ProcessPoolExecutor"
    assert 1 <= pooled.workers <= 2
    assert len(list(tmp_path.glob("*/chain-*.npz"))) == 3  # the second run resumed from them


def test_resumed_chain_is_bit_identical(boarding, tmp_path: Path):
    short = boarding.with_sampler(chains=1, warmup=400, iterations=600, checkpoint_every=200)
    (task,) = chain_tasks(short, None)
    uninterrupted = run_chain(task)

    (task,) = chain_tasks(short, tmp_path)
    chain = Chain(task.posterior, task.settings, task.seed, task.priors)
    for state in chain.blocks():  # interrupted after 5 blocks, in warm-up
        if state.iteration == 500:
            state.save(Path(task.checkpoint))
            break
    resumed = run_chain(task)
    assert resumed.resumed_at == 500
    np.testing.assert_array_equal(resumed.draws, uninterrupted.draws)
    np.testing.assert_array_equal(resumed.log_densities, uninterrupted.log_densities)
    np.testing.assert_array_equal(resumed.counts, uninterrupted.counts)


def test_checkpoint_round_trip(boarding, tmp_path: Path):
    (task,) = chain_tasks(boarding.with_sampler(chains=1), None)
    chain = Chain(task.posterior, task.settings, task.seed, task.priors)
    chain.advance()
    chain.state.save(tmp_path / "state.npz")
    loaded = ChainState.load(tmp_path / "state.npz")
    assert loaded.rng == chain.state.rng
    assert loaded.iteration == chain.state.iteration == 100
    np.testing.assert_array_equal(loaded.chol, chain.state.chol)


def test_checkpoints_are_keyed_by_the_inputs(boarding, tmp_path: Path):
    (one,) = chain_tasks(boarding.with_sampler(chains=1), tmp_path)
    (other,) = chain_tasks(boarding.with_sampler(chains=1, seed=2), tmp_path)
    assert Path(one.checkpoint).parent != Path(other.checkpoint).parent


def test_boarding_school_posterior_matches_the_published_one(boarding):
    """Grinsztajn et al. (2021), Stan, same model and priors: beta 1.73, gamma 0.54, R0 3.2."""
    result = calibrate(boarding, progress=False)
    summary = result.summary
    stats = dict(zip(summary.names, summary.mean, strict=True))
    assert stats["beta"] == pytest.approx(1.73, abs=0.02)
    assert stats["gamma"] == pytest.approx(0.54, abs=0.02)
    assert stats["R0"] == pytest.approx(3.2, abs=0.1)
    assert stats["infectious_period"] == pytest.approx(1.85, abs=0.05)
    assert summary.rhat.max() < 1.01
    assert summary.ess_bulk.min() > 400
    assert result.warnings() == []
    assert (result.acceptance > 0.3).all()
    assert (result.acceptance < 0.8).all()


def test_recovers_known_parameters_from_simulated_data(boarding, tmp_path: Path):
    """90% intervals from data simulated with known values cover them (9 or 10 times in 10).

    Over 40 simulated data sets the coverage measured 0.95 for each parameter.
    """
    truth = {"beta": 1.9, "gamma": 0.45, "phi": 25.0}
    run = epicast.simulate_batch(
        boarding.scenario, transmission_rate=[truth["beta"]], infectious_period=[1 / truth["gamma"]]
    )
    mu = run.compartment("I")[0, 1:, 0]
    source = Path(boarding.source_path).read_text()
    covered = dict.fromkeys(truth, 0)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        counts = rng.negative_binomial(truth["phi"], truth["phi"] / (truth["phi"] + mu))
        data = tmp_path / "simulated.csv"
        data.write_text("day,in_bed\n" + "".join(f"{d},{c}\n" for d, c in enumerate(counts, 1)))
        path = tmp_path / "simulated.yaml"
        path.write_text(source.replace("../boarding_school_influenza_1978.csv", str(data)))
        summary = calibrate(load_calibration(path), progress=False).summary
        for name, value in truth.items():
            k = summary.names.index(name)
            covered[name] += bool(summary.q05[k] < value < summary.q95[k])
    assert min(covered.values()) >= 9, covered


def test_non_converged_chains_warn_without_failing(boarding):
    result = calibrate(boarding.with_sampler(warmup=100, iterations=20), progress=False)
    assert result.warnings()  # far too short to converge
    assert any("ESS" in line or "R-hat" in line for line in result.warnings())


def test_with_sampler_keeps_everything_else(boarding):
    changed = boarding.with_sampler(chains=2)
    assert replace(changed, sampler=boarding.sampler) == boarding


def test_predictive_model_values_match_simulate_batch(tmp_path: Path):
    """Each output (notifications of two age groups, incidence, prevalence) against a batch."""
    days = np.arange(10, 21)
    rows = "".join(f"{d},{d},{10 * d},{5 * d}\n" for d in days)
    (tmp_path / "data.csv").write_text("day,cases,infections,sick\n" + rows)
    (tmp_path / "seir.yaml").write_text(SEIR)
    calibration = load_calibration(tmp_path / "seir.yaml")
    result = calibrate(calibration, progress=False)
    draws = result.draws[0, ::10]
    means = result.model_values(draws)

    beta, sigma, rho, _ = draws.T
    scenario = calibration.scenario
    runs = epicast.simulate_batch(scenario, transmission_rate=beta, latent_period=1 / sigma)
    index = days - scenario.t_start
    reported = runs.notifications[:, index][..., [1, 2]].sum(axis=-1)
    expected = {
        "cases": reported / scenario.reporting_fraction * rho[:, None],
        "infections": runs.incidence[:, index].sum(axis=-1),
        "sick": runs.compartment("I")[:, index].sum(axis=-1),
    }
    for column, values in expected.items():
        assert means[column].shape == (len(draws), days.size)
        np.testing.assert_allclose(means[column], np.maximum(values, MU_FLOOR), rtol=1e-9)


def test_cases_and_deaths_together_recover_the_transmission_rate(cases_and_deaths):
    """Deaths as a target beside cases; the model values the fit shows are simulate's deaths."""
    truth = cases_and_deaths.scenario.transmission_rate  # the data were simulated with it
    result = calibrate(cases_and_deaths, progress=False)
    summary = result.summary
    k = summary.names.index("beta")
    assert summary.q05[k] < truth < summary.q95[k]
    assert summary.q95[k] - summary.q05[k] < 0.01 * truth  # 1,000s of cases: a sharp fit

    draws = result.draws[0, ::30]
    means = result.model_values(draws)
    scenario = cases_and_deaths.scenario
    runs = epicast.simulate_batch(scenario, transmission_rate=draws[:, 0])
    _, deaths = cases_and_deaths.targets
    expected = runs.deaths[:, deaths.days - scenario.t_start].sum(axis=-1)
    np.testing.assert_allclose(means["deaths"], np.maximum(expected, MU_FLOOR), rtol=1e-9)


def test_the_fit_is_kept_as_predictive_bands_that_cover_the_data(boarding, tmp_path: Path):
    """The result file keeps the 90% posterior predictive band and median of each target
    (what the fit figure draws, and the results site overlays): ordered, covering most
    days of the 1978 outbreak, and the same when computed again."""
    result = calibrate(boarding, progress=False)
    [target] = boarding.targets
    bands = result.predictive_bands[target.column]
    assert bands.shape == (target.days.size, 3)
    assert (np.diff(bands, axis=1) >= 0).all()
    covered = (bands[:, 0] <= target.observed) & (target.observed <= bands[:, 2])
    assert covered.sum() >= 0.8 * target.days.size, bands
    write_calibration(tmp_path / "cal.h5", result)
    stored = read_calibration(tmp_path / "cal.h5").arrays
    np.testing.assert_array_equal(stored[f"predictive/{target.column}"], bands)
    again = replace(result, calibration=boarding)  # a new object: nothing cached
    np.testing.assert_array_equal(again.predictive_bands[target.column], bands)
