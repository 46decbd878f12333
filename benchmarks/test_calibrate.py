"""Calibration speed: effective draws per second against emcee, and scaling over workers.

Targets (issue 3), printed at the end of the run (see conftest.py): on the
bundled boarding-school calibration, at least 20 times emcee's minimum bulk ESS
per second of wall time on one core (emcee: 32 walkers on the same compiled
log-posterior), with R-hat <= 1.01; and 8 chains on 2 local workers at least
1.8 times as fast as on 1 worker.
"""

from __future__ import annotations

from dataclasses import replace

import emcee
import numpy as np
import pytest

from epicast import load_calibration
from epicast.cluster import ClusterProfile, open_client, wait_for_workers

try:
    from epicast.calibration.posterior import (
        LogDensity,
        build_posterior,
        prior_distributions,
        unconstrain,
    )
    from epicast.calibration.run import calibrate, chain_tasks, run_chain
except ImportError:  # the baseline of `ci bench`: releases before the calibration subpackage
    from epicast.calibrate import calibrate, chain_tasks, run_chain
    from epicast.posterior import LogDensity, build_posterior, prior_distributions, unconstrain

WALKERS = 32


@pytest.fixture(scope="module")
def boarding():
    return load_calibration("sir-boarding-school")


@pytest.mark.regression
def test_log_density_boarding_school(benchmark, rounds, boarding):
    """One evaluation of the compiled log-posterior (model run and likelihood)."""
    density = LogDensity(build_posterior(boarding))
    point = unconstrain(density.posterior, [p.mean() for p in prior_distributions(boarding)])
    benchmark.group = "calibration"
    value = benchmark.pedantic(density, (point,), rounds=rounds.fast, warmup_rounds=1)
    assert np.isfinite(value)


@pytest.mark.regression
def test_one_chain_boarding_school(benchmark, rounds, boarding):
    """One compiled chain of 1000 warm-up and 2000 iterations, without checkpoints."""
    (task,) = chain_tasks(boarding.with_sampler(chains=1), checkpoints=None)
    benchmark.group = "calibration"
    result = benchmark.pedantic(run_chain, (task,), rounds=rounds.slow, warmup_rounds=1)
    assert result.draws.shape[0] == task.settings.kept


def test_epicast_ess_per_second(benchmark, boarding, quick, report):
    """All four chains, warm-up included, one after another on this core."""
    benchmark.group = "calibration"
    result = benchmark.pedantic(
        calibrate,
        (boarding,),
        {"progress": False},
        rounds=1 if quick else 3,
        warmup_rounds=1,
    )
    summary = result.summary
    assert summary.rhat[: len(result.names)].max() <= 1.01
    report["epicast_ess"] = float(summary.ess_bulk[: len(result.names)].min())
    report["epicast_seconds"] = benchmark.stats.stats.min
    report["epicast_rhat"] = float(summary.rhat.max())


def run_emcee(boarding, steps: int, seed: int = 1):
    density = LogDensity(build_posterior(boarding))
    rng = np.random.default_rng(seed)
    priors = prior_distributions(boarding)
    start = [
        unconstrain(density.posterior, [p.rvs(random_state=rng) for p in priors])
        for _ in range(WALKERS)
    ]
    sampler = emcee.EnsembleSampler(WALKERS, len(priors), density)
    sampler.run_mcmc(np.array(start), steps, progress=False)
    return sampler


def test_emcee_ess_per_second(benchmark, boarding, quick, report):
    """emcee's stretch move on the same log-posterior; ESS from its own autocorrelation time."""
    steps = 2000 if quick else 4000
    burn = steps // 4
    benchmark.group = "calibration"
    sampler = benchmark.pedantic(
        run_emcee, (boarding, steps), rounds=1 if quick else 3, warmup_rounds=1
    )
    tau = emcee.autocorr.integrated_time(sampler.get_chain(discard=burn), quiet=True)
    report["emcee_ess"] = float(WALKERS * (steps - burn) / tau.max())
    report["emcee_seconds"] = benchmark.stats.stats.min
    report["emcee_tau"] = float(tau.max())


@pytest.mark.parametrize("workers", [1, 2])
def test_eight_chains_on_local_workers(benchmark, boarding, quick, report, workers):
    """The same 8 chains on 1 and 2 worker processes of a running local cluster."""
    calibration = boarding.with_sampler(chains=8, iterations=10000 if quick else 50000)
    profile = ClusterProfile(workers=workers)
    with open_client("local", profile) as client:
        wait_for_workers(client, timeout=60, n_workers=workers)
        benchmark.group = "chains on workers"
        result = benchmark.pedantic(
            calibrate,
            (replace(calibration, cluster=profile),),
            {"executor": client, "progress": False},
            rounds=1 if quick else 3,
            warmup_rounds=1,
        )
    assert result.workers == workers
    report[f"workers_{workers}"] = benchmark.stats.stats.min
