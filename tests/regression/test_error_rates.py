"""A reduced run of the error-rate experiment: a 10% slowdown is caught, A/A stays quiet.

The full experiment (tests/regression/experiment.py, documented in
docs/benchmarks.md) runs 20 or more trials of every comparison; here two
trials of fewer rounds, which still must call the 10% slower 16-age model run
slower and the unchanged wheel against itself the same.
"""

from __future__ import annotations

import pytest

from ci.config import load_config
from tests.regression import experiment, variants

TRIALS = 2
ROUNDS = 6


@pytest.fixture(scope="module")
def pythons(variant_envs):
    """Two environments of the unchanged wheel and one of the 10% slower copy."""
    return {name: variant_envs.python(name) for name in ("base-a", "base-b", "slow10")}


def test_a_10_percent_slowdown_is_caught_and_a_a_stays_quiet(pythons, tmp_path):
    settings = load_config(variants.ROOT).bench.model_copy(update={"rounds": ROUNDS})
    for number in range(TRIALS):
        result = experiment.trial(pythons, settings, tmp_path)
        assert not experiment.alarm(result["base-b"]), (number, result["base-b"])
        assert experiment.detected(result["slow10"]), (number, result["slow10"])
        [target] = [c for c in result["slow10"] if c.name.endswith(experiment.TARGET)]
        assert 1.05 < target.ratio < 1.15, target
