"""pipeline.toml: the repository's file is valid, and a wrong field is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.config import load_config
from ci.errors import CIError

ROOT = Path(__file__).resolve().parents[2]


def test_the_repository_configuration_is_valid():
    config = load_config(ROOT)
    assert config.calibrate.calibrations == ["sir-boarding-school"]
    assert config.calibrate.cluster == "local"
    assert config.bench.kernels == "benchmarks/kernels.py"


CLUSTER = "expected local, slurm, none or tcp://HOST:PORT, got 'slrum'"
WRONG_FIELDS = {
    '[calibrate]\ncluster = "slrum"\n': f"calibrate.cluster: Value error, {CLUSTER}",
    "[calibrate]\nworkers = 0\n": "calibrate.workers: Input should be greater than or equal to 1",
    '[calibrate]\npython = "3"\n': "calibrate.python: Value error, expected versions like",
    "[calibrate]\nchain = 4\n": "calibrate.chain: Extra inputs are not permitted",
    "[bench]\ninstruction_effect = 1.5\n": "bench.instruction_effect: Input should be less than 1",
}


@pytest.mark.parametrize(("text", "expected"), WRONG_FIELDS.items())
def test_a_wrong_field_is_named_with_what_was_expected(tmp_path, monkeypatch, text, expected):
    path = tmp_path / "pipeline.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("CI_CONFIG", str(path))
    with pytest.raises(CIError) as raised:
        load_config(tmp_path)
    assert raised.value.message.startswith(f"{path}: {expected}")
    assert "\n" not in raised.value.message
