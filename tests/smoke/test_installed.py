"""Smoke tests: the installed wheel runs every bundled scenario end to end."""

from __future__ import annotations

import json
from importlib import metadata, resources
from pathlib import Path

import pytest

import epicast
from epicast.store import read_run

PACKAGE_DATA = [
    line
    for line in (Path(__file__).parents[1] / "package-data.txt").read_text().splitlines()
    if line and not line.startswith("#")
]
SCENARIOS = sorted(
    Path(name).stem for name in PACKAGE_DATA if name.startswith("epicast/data/scenarios/")
)


def test_package_comes_from_the_installed_wheel():
    assert "site-packages" in Path(epicast.__file__).parts
    assert epicast.__version__ == metadata.version("epicast")


def test_wheel_carries_every_data_file_and_scenario():
    installed = {str(path) for path in metadata.files("epicast")}
    assert sorted(set(PACKAGE_DATA) - installed) == []


def test_bundled_scenarios_are_listed(epicast_cli):
    result = epicast_cli("scenarios")
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == SCENARIOS


@pytest.mark.parametrize("name", SCENARIOS)
def test_run_writes_outputs_and_plot(epicast_cli, tmp_path, name):
    result = epicast_cli("run", name, "-o", "out.h5", "--plot", "out.png")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{name}: R0 ")
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = read_run(tmp_path / "out.h5")
    scenario = epicast.load_scenario(name)
    assert run.attributes["scenario_sha256"] == scenario.sha256
    assert run.trajectory.prevalence.shape == (
        scenario.t_end - scenario.t_start + 1,
        len(scenario.compartments),
        len(scenario.age_groups),
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_bundled_yaml_validates_by_name_and_by_path(epicast_cli, name):
    resource = resources.files("epicast.data") / "scenarios" / f"{name}.yaml"
    with resources.as_file(resource) as path:
        result = epicast_cli("validate", name, path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid (") == 2


def test_second_run_refuses_to_overwrite(epicast_cli, tmp_path):
    assert epicast_cli("run", "seir-basic", "-o", "out.h5").returncode == 0
    before = (tmp_path / "out.h5").read_bytes()
    result = epicast_cli("run", "seir-basic", "-o", "out.h5")
    assert result.returncode == 2
    assert result.stderr == "epicast: error: out.h5: file exists; use --force to overwrite it\n"
    assert (tmp_path / "out.h5").read_bytes() == before
    assert epicast_cli("run", "seir-basic", "-o", "out.h5", "--force").returncode == 0


def test_version_and_schema(epicast_cli):
    version = epicast_cli("--version")
    assert version.stdout.strip() == f"epicast {metadata.version('epicast')}"
    schema = json.loads(epicast_cli("schema").stdout)
    assert {"population", "disease", "time"} <= set(schema["required"])
