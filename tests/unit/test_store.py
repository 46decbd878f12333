"""The HDF5 run format: round trip, provenance, atomic and no-clobber writes."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys

import h5py
import numpy as np
import pytest

import epicast
from epicast.errors import EpicastError, OutputExistsError
from epicast.store import StoreError, read_run, write_run


@pytest.fixture(scope="module")
def school_closure():
    scenario = epicast.load_scenario("seir-mys-16age-school-closure")
    return scenario, epicast.simulate(scenario)


def test_round_trip_returns_the_same_arrays(tmp_path, school_closure):
    scenario, trajectory = school_closure
    run = read_run(write_run(tmp_path / "run.h5", scenario, trajectory))
    for name in ("time", "prevalence", "incidence", "notifications"):
        np.testing.assert_array_equal(getattr(run.trajectory, name), getattr(trajectory, name))
    assert run.trajectory.age_groups == scenario.age_groups
    assert run.trajectory.compartments == ("S", "E", "I", "R")


def test_round_trip_of_deaths_by_age(tmp_path):
    scenario = epicast.load_scenario("seir-gbr-16age-severity")
    trajectory = epicast.simulate(scenario)
    path = write_run(tmp_path / "run.h5", scenario, trajectory)
    run = read_run(path)
    np.testing.assert_array_equal(run.trajectory.deaths, trajectory.deaths)
    assert run.trajectory.admissions.size == 0  # not defined by the scenario: not written
    with h5py.File(path) as handle:
        assert [handle["deaths"].dims[axis].label for axis in range(2)] == ["time", "age_group"]
        assert "admissions" not in handle


def test_provenance_attributes(tmp_path, school_closure):
    scenario, trajectory = school_closure
    attributes = read_run(write_run(tmp_path / "run.h5", scenario, trajectory)).attributes
    assert attributes["epicast_version"] == epicast.__version__
    assert attributes["scenario"] == scenario.source
    assert attributes["scenario_sha256"] == hashlib.sha256(scenario.source.encode()).hexdigest()
    assert attributes["created"].endswith("+00:00")
    assert attributes["R0"] == pytest.approx(2.5)


def test_datasets_are_labelled_with_dimension_scales(tmp_path, school_closure):
    scenario, trajectory = school_closure
    with h5py.File(write_run(tmp_path / "run.h5", scenario, trajectory)) as handle:
        dims = handle["prevalence"].dims
        assert [dims[axis].label for axis in range(3)] == ["time", "compartment", "age_group"]
        assert list(dims[2][0].asstr()[()]) == list(scenario.age_groups)
        assert handle["time"].attrs["units"] == "day"


def test_only_requested_outputs_are_written(tmp_path):
    scenario = epicast.load_scenario("seir-basic")
    scenario = type(scenario)(**{**scenario.__dict__, "outputs": ("incidence",)})
    path = write_run(tmp_path / "run.h5", scenario, epicast.simulate(scenario))
    with h5py.File(path) as handle:
        assert "incidence" in handle
        assert "prevalence" not in handle
        assert "notifications" not in handle


def test_existing_file_is_not_overwritten_without_force(tmp_path, school_closure):
    scenario, trajectory = school_closure
    path = tmp_path / "run.h5"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="use --force"):
        write_run(path, scenario, trajectory)
    assert path.read_bytes() == b"precious"
    write_run(path, scenario, trajectory, force=True)
    assert read_run(path).attributes["scenario_name"] == scenario.name


def test_failed_write_leaves_nothing_behind(tmp_path, school_closure):
    scenario, trajectory = school_closure
    broken = type(trajectory)(**{**trajectory.__dict__, "incidence": object()})
    with pytest.raises(TypeError):
        write_run(tmp_path / "run.h5", scenario, broken)
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_a_user_error(tmp_path, school_closure):
    scenario, trajectory = school_closure
    with pytest.raises(EpicastError, match="does not exist"):
        write_run(tmp_path / "nowhere" / "run.h5", scenario, trajectory)


def test_corrupted_dataset_is_detected(tmp_path, school_closure):
    scenario, trajectory = school_closure
    path = write_run(tmp_path / "run.h5", scenario, trajectory)
    with h5py.File(path, "a") as handle:
        handle["incidence"][5, 3] += 1.0
    with pytest.raises(StoreError, match="/incidence does not match its sha256"):
        read_run(path)


@pytest.mark.parametrize("content", [b"", b"not hdf5 at all"])
def test_non_hdf5_file_is_a_clear_error(tmp_path, content):
    path = tmp_path / "run.h5"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="cannot open as HDF5"):
        read_run(path)


def test_foreign_hdf5_file_is_a_clear_error(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = [1, 2, 3]
    with pytest.raises(StoreError, match="not an epicast file"):
        read_run(path)


def test_a_killed_writers_temporary_is_removed_by_the_next_writer(tmp_path, school_closure):
    """A SIGKILLed writer leaves its hidden temporary; the next write of the file removes it,
    and only it: a running writer's, or one of another host, cannot be proved stale."""
    out = tmp_path / "run.h5"
    script = (
        "import os, signal, sys\n"
        "from epicast._files import atomic_path\n"
        "with atomic_path(sys.argv[1], force=False) as tmp:\n"
        "    tmp.write_bytes(bytes(10**6))\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(out)])
    assert writer.wait(timeout=120) == -signal.SIGKILL
    (left,) = tmp_path.glob(".run.h5.*.tmp")
    assert f"-{writer.pid}-" in left.name
    running = tmp_path / f".run.h5.{socket.gethostname()}-{os.getpid()}-0000.tmp"
    elsewhere = tmp_path / f".run.h5.another-host-{writer.pid}-0000.tmp"
    running.touch()
    elsewhere.touch()

    write_run(out, *school_closure)

    assert out.exists()
    assert not left.exists()
    assert sorted(tmp_path.glob(".run.h5.*.tmp")) == sorted([running, elsewhere])
