"""Where a calibration's chains run: the policy of ``--cluster auto``, and explicit choices."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from epicast.calibration import placement as driver
from epicast.calibration.file import load_calibration
from epicast.calibration.placement import AUTO, decide, estimate_seconds, place
from epicast.calibration.run import calibrate, chain_tasks
from epicast.cluster import ClusterProfile
from epicast.errors import ClusterError


@pytest.fixture(scope="module")
def short():
    return load_calibration("sir-boarding-school").with_sampler(
        chains=3, warmup=300, iterations=300
    )


@pytest.mark.parametrize(
    ("seconds", "chains", "workers", "where"),
    [
        (0.6, 4, 2, "none"),  # the bundled calibration: far less than a cluster's start
        (9.9, 4, 2, "none"),  # 5 + 9.9 / 2 > 9.9
        (10.1, 4, 2, "local"),  # 5 + 10.1 / 2 < 10.1
        (7.0, 4, 4, "local"),  # 5 + 7 / 4 < 7
        (7.0, 2, 4, "none"),  # two chains: two workers at most
        (1000.0, 1, 4, "none"),  # a single chain is no faster on a cluster
        (1000.0, 4, 1, "none"),  # neither are chains one after another on one worker
    ],
)
def test_a_cluster_is_chosen_when_it_finishes_sooner(seconds, chains, workers, where):
    placement = decide(seconds, chains, workers, cluster_seconds=5.0)
    assert placement.where == where
    line = placement.line()
    assert line.startswith("cluster: ")
    assert "\n" not in line
    assert f"estimated {seconds:.1f} s of sampling" in line


def test_the_line_says_the_choice_and_why():
    assert decide(0.6, 4, 2, cluster_seconds=5.0).line() == (
        "cluster: in process (estimated 0.6 s of sampling; a local cluster costs ~5 s to start)"
    )
    assert decide(60.0, 4, 2, cluster_seconds=5.0).line() == (
        "cluster: a local Dask cluster of 2 workers (estimated 60.0 s of sampling in process, "
        "~35 s on the cluster with its start)"
    )


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("none", "in process (asked for)"),
        ("local", "a local Dask cluster of 3 worker(s) (asked for)"),
        ("slurm", "Dask workers in Slurm jobs, at most 3 (asked for)"),
        ("tcp://127.0.0.1:8786", "the Dask scheduler at tcp://127.0.0.1:8786 (asked for)"),
    ],
)
def test_an_explicit_place_is_kept(short, where, reason):
    placement = place(replace(short, cluster=ClusterProfile(workers=3)), where)
    assert (placement.where, placement.reason) == (where, reason)


def test_an_unknown_place_is_one_error_naming_it(short):
    with pytest.raises(ClusterError) as raised:
        place(short, "moon")
    (line,) = raised.value.lines()
    assert "moon" in line
    assert "auto, none, local, slurm" in line


def test_auto_times_the_sampler_and_decides_on_the_estimate(short, monkeypatch):
    seconds = estimate_seconds(chain_tasks(short, None))
    assert 0 < seconds < np.inf
    assert place(short, AUTO).where == "none"  # well under a second: not worth a cluster
    monkeypatch.setattr(driver, "LOCAL_CLUSTER_SECONDS", 0.0)  # a cluster for nothing
    with_two = replace(short, cluster=ClusterProfile(workers=2))
    assert place(with_two, AUTO).where == "local"
    with_one = replace(short, cluster=ClusterProfile(workers=1))
    assert place(with_one, AUTO).where == "none"


def test_auto_in_process_gives_the_same_chains(short):
    """The timing runs a chain of its own: the calibration's chains are not changed by it."""
    asked = calibrate(short, progress=False)
    assert place(short, AUTO).where == "none"
    chosen = calibrate(short, progress=False)
    assert chosen.where == "none"
    np.testing.assert_array_equal(chosen.draws, asked.draws)
    np.testing.assert_array_equal(chosen.log_densities, asked.log_densities)
