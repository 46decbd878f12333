"""pipeline.toml: the repository's file is valid, and a wrong field is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.archive import Archive
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
    '[approval]\nrequire_signed_tags = "false"\n': "approval.require_signed_tags: Input should be",
    '[bench]\nrounds = "8"\n': "bench.rounds: Input should be a valid integer",
    "[bench]\nkernel_calls = { chain = 0 }\n": (
        "bench.kernel_calls: Value error, expected at least 1 call per kernel, got chain = 0"
    ),
    '[bench]\ngate = ["instructions"]\n': (
        'bench: Value error, gate = ["instructions"] needs kernels to count in kernel_calls'
    ),
    '[bench]\ngate = ["time"]\n': "bench.gate.0: Input should be 'times' or 'instructions'",
    '[indexes]\nunstable = "ci/x"\ntesting = "ci/x"\nstable = "ci/x"\n': (
        "indexes: Value error, expected three different indexes"
    ),
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


@pytest.mark.parametrize("kind", ["folder", "binary"])
def test_a_config_that_is_no_text_file_is_one_line(tmp_path, monkeypatch, kind):
    path = tmp_path / "pipeline.toml"
    if kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"\x00\xff\xfe binary")
    monkeypatch.setenv("CI_CONFIG", str(path))
    with pytest.raises(CIError, match=f"^{path}: (cannot read|not a UTF-8 text file)"):
        load_config(tmp_path)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("nosuch://bucket/x", "Protocol not known"), ("s3://bucket/x", "backend is not installed")],
)
def test_an_archive_url_fsspec_cannot_open_is_one_line(tmp_path, url, expected):
    with pytest.raises(CIError, match=expected):
        Archive(url, tmp_path)
