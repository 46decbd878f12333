"""Writing and reading a run's HDF5 file (epicast.store), as users of the outputs feel it."""

from __future__ import annotations

import numpy as np
import pytest

import epicast
from epicast.store import read_run, write_run

pytestmark = pytest.mark.regression


@pytest.fixture(scope="module")
def gbr_run():
    scenario = epicast.load_scenario("seir-gbr-16age")
    return scenario, epicast.simulate(scenario)


def test_write_run_seir_gbr_16age(benchmark, rounds, gbr_run, tmp_path):
    scenario, trajectory = gbr_run
    path = tmp_path / "run.h5"
    benchmark.group = "outputs"
    benchmark.pedantic(
        write_run,
        (path, scenario, trajectory),
        {"force": True},
        rounds=rounds.slow,
        warmup_rounds=1,
    )
    assert path.stat().st_size > trajectory.prevalence.nbytes


def test_read_run_seir_gbr_16age(benchmark, rounds, gbr_run, tmp_path):
    scenario, trajectory = gbr_run
    path = write_run(tmp_path / "run.h5", scenario, trajectory)
    benchmark.group = "outputs"
    stored = benchmark.pedantic(read_run, (path,), rounds=rounds.slow, warmup_rounds=1)
    np.testing.assert_array_equal(stored.trajectory.prevalence, trajectory.prevalence)
