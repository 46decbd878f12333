"""Calibrations on real Dask clusters: same chains on any number of workers, through faults.

Each test compares with the chains of an in-process run: bit-identical, not close.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from epicast.calibration import placement
from epicast.calibration.file import load_calibration
from epicast.calibration.placement import AUTO, place
from epicast.calibration.run import calibrate
from epicast.cluster import ClusterProfile
from epicast.store import read_calibration


@pytest.fixture(scope="module")
def short():
    """The bundled calibration, shortened: 4 chains of 1000 + 4000 iterations."""
    return load_calibration("sir-boarding-school").with_sampler(
        warmup=1000, iterations=4000, checkpoint_every=1000
    )


@pytest.fixture(scope="module")
def long():
    """Long enough chains (1 s or so each) to be interrupted half-way."""
    return load_calibration("sir-boarding-school").with_sampler(
        warmup=1000, iterations=60000, checkpoint_every=1000
    )


@pytest.fixture(scope="module")
def reference(short):
    return calibrate(short, progress=False)


@pytest.fixture(scope="module")
def long_reference(long):
    return calibrate(long, progress=False)


def assert_same_chains(result, expected) -> None:
    np.testing.assert_array_equal(result.draws, expected.draws)
    np.testing.assert_array_equal(result.log_densities, expected.log_densities)
    np.testing.assert_array_equal(result.acceptance, expected.acceptance)


@pytest.mark.parametrize("workers", [1, 2])
def test_local_cluster_gives_the_in_process_chains(short, reference, local_client, workers):
    result = calibrate(short, executor=local_client(workers), progress=False)
    assert result.workers == workers
    assert_same_chains(result, reference)


def test_command_runs_on_a_local_cluster_when_asked(short, reference, tmp_path):
    """``python -m epicast calibrate --cluster local`` (spawned worker processes)."""
    command = [sys.executable, "-m", "epicast", "calibrate", "sir-boarding-school", "--quiet"]
    command += ["--cluster", "local", "--workers", "2"]
    command += ["--iterations", "4000", "-o", "cal.h5"]  # the `short` settings
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("cluster: a local Dask cluster of 2 worker(s) (asked for)\n")
    assert "on 2 worker(s) (local)" in done.stdout.splitlines()[0]
    stored = read_calibration(tmp_path / "cal.h5").arrays
    np.testing.assert_array_equal(stored["draws"], reference.draws)


def test_command_by_default_runs_short_chains_in_process(short, reference, tmp_path):
    """The default (auto): a second of sampling is not worth a cluster, and one line says so."""
    command = [sys.executable, "-m", "epicast", "calibrate", "sir-boarding-school", "--quiet"]
    command += ["--workers", "2", "--iterations", "4000", "-o", "cal.h5"]  # the `short` settings
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("cluster: in process (estimated ")
    assert "on 1 worker(s) (none)" in done.stdout.splitlines()[0]
    stored = read_calibration(tmp_path / "cal.h5").arrays
    np.testing.assert_array_equal(stored["draws"], reference.draws)


def test_auto_starts_a_local_cluster_when_it_is_worth_it(
    short, reference, local_client, monkeypatch
):
    """The policy of auto, with a cluster that costs nothing to start: the chains go to it."""
    monkeypatch.setattr(placement, "LOCAL_CLUSTER_SECONDS", 0.0)
    calibration = replace(short, cluster=ClusterProfile(workers=2))
    assert place(calibration, AUTO).where == "local"
    result = calibrate(calibration, executor=local_client(2), progress=False)
    assert (result.where, result.workers) == ("local", 2)
    assert_same_chains(result, reference)


def test_progress_reaches_the_caller_from_the_workers(short, local_client):
    """Workers report (chain, iterations) as Dask events; each chain's last is its total."""
    seen: dict[int, list[int]] = {}
    calibrate(
        short,
        executor=local_client(2),
        progress=lambda c, i: seen.setdefault(c, []).append(i),
    )
    total = short.sampler.warmup + short.sampler.iterations
    assert sorted(seen) == [0, 1, 2, 3]
    assert all(reports[-1] == total for reports in seen.values())
    assert all(reports[0] < total for reports in seen.values())  # sent by the workers, on the way


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def in_thread(function, *args, **kwargs):
    """Start function in a thread; return a callable that joins it and returns its result."""
    outcome = {}

    def target():
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def join(timeout: float = 300.0):
        thread.join(timeout)
        assert not thread.is_alive(), "calibration did not finish"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return join


def checkpoints_in(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/chain-*.npz"))


def test_killed_worker_gives_the_same_chains(long, long_reference, local_client, tmp_path):
    client = local_client(2)
    finish = in_thread(
        calibrate,
        long,
        executor=client,
        checkpoints=tmp_path,
        progress=False,
    )
    wait_for(lambda: checkpoints_in(tmp_path), what="a first checkpoint")
    busy = [worker for worker, keys in client.processing().items() if keys]
    pids = client.run(os.getpid, workers=busy[:1])
    (pid,) = pids.values()
    os.kill(pid, signal.SIGKILL)
    result = finish()
    assert_same_chains(result, long_reference)
    assert pid not in client.run(os.getpid).values()  # the worker was really lost


def test_interrupted_command_resumes_with_the_same_chains(long, long_reference, tmp_path):
    command = [sys.executable, "-m", "epicast", "calibrate", "sir-boarding-school"]
    command += ["--cluster", "none", "--quiet", "-o", "cal.h5", "--checkpoints", "states"]
    command += ["--iterations", "60000"]  # the `long` fixture's settings
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: len(checkpoints_in(tmp_path / "states")) >= 2,
            what="chain 0 done and chain 1 started",
        )
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (tmp_path / "cal.h5").exists()
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    stored = read_calibration(tmp_path / "cal.h5").arrays
    np.testing.assert_array_equal(stored["draws"], long_reference.draws)
    np.testing.assert_array_equal(stored["log_posterior"], long_reference.log_densities)


def on_slurm(long, folder: Path) -> Path:
    """Write the bundled calibration, one Slurm worker job at a time, into ``folder``."""
    bundled = Path(long.source_path)
    text = bundled.read_text().replace("../", f"{bundled.parent.parent}/")
    text += (
        "cluster:\n  workers: 1\n  slurm:\n    walltime: '00:10:00'\n    memory: 1GB\n"
        f"    extra_directives: ['--output={folder}/%j.out']\n"
    )
    (folder / "slurm.yaml").write_text(text)
    return folder / "slurm.yaml"


STOPS = [
    pytest.param("none", signal.SIGINT, "epicast: interrupted", 130, id="in-process-ctrl-c"),
    pytest.param("local", signal.SIGINT, "epicast: interrupted", 130, id="local-ctrl-c"),
    pytest.param("local", signal.SIGTERM, "epicast: terminated", 143, id="local-sigterm"),
]


def stop_half_way(calibration: str, where: str, stop: int, folder: Path) -> tuple[int, str]:
    """Start the command, send ``stop`` once a checkpoint exists; return its status and stderr."""
    command = [sys.executable, "-m", "epicast", "calibrate", calibration, "--cluster", where]
    command += ["--quiet", "-o", "cal.h5", "--checkpoints", "states", "--iterations", "60000"]
    process = subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for(lambda: checkpoints_in(folder / "states"), timeout=120, what="a checkpoint")
        process.send_signal(stop)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    return process.returncode, err


def assert_stopped_cleanly(code: int, err: str, expected: tuple[int, str], folder: Path) -> None:
    """One line after where it ran, the exit status, no traceback, checkpoints kept, no
    temporary and no output file."""
    assert code == expected[0], err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("cluster: ")
    assert lines[1] == expected[1]
    assert checkpoints_in(folder / "states")
    assert not (folder / "cal.h5").exists()
    assert list(folder.rglob("*.tmp")) == []


@pytest.mark.parametrize(("where", "stop", "said", "code"), STOPS)
def test_ctrl_c_or_sigterm_ends_in_one_line_and_keeps_the_checkpoints(
    tmp_path, where, stop, said, code
):
    """Stopped half-way, the command says so in one line and the same command resumes."""
    status, err = stop_half_way("sir-boarding-school", where, stop, tmp_path)
    assert_stopped_cleanly(status, err, (code, said), tmp_path)


@pytest.mark.slurm
def test_sigterm_on_slurm_ends_in_one_line_and_keeps_the_checkpoints(slurm, long, tmp_path):
    """As a batch system stops the command: its worker jobs are cancelled with it."""
    status, err = stop_half_way(str(on_slurm(long, tmp_path)), "slurm", signal.SIGTERM, tmp_path)
    assert_stopped_cleanly(status, err, (143, "epicast: terminated"), tmp_path)

    def no_jobs_left() -> bool:
        queue = ["squeue", "-h", "-o", "%i"]
        return not subprocess.run(queue, capture_output=True, text=True, check=True).stdout.split()

    wait_for(no_jobs_left, timeout=60, what="the worker jobs cancelled")


@pytest.mark.slurm
def test_cancelled_slurm_job_gives_the_same_chains(slurm, long, long_reference, tmp_path):
    """The command on Slurm (one worker job at a time): scancel the job, adapt replaces it."""
    on_slurm(long, tmp_path)
    command = [sys.executable, "-m", "epicast", "calibrate", "slurm.yaml", "--cluster", "slurm"]
    command += ["--quiet", "-o", "cal.h5", "--checkpoints", "states", "--iterations", "60000"]
    environment = {**os.environ, "DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT": "1s"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        wait_for(lambda: checkpoints_in(tmp_path / "states"), timeout=120, what="a checkpoint")
        jobs = subprocess.run(
            ["squeue", "-h", "-o", "%i", "-t", "RUNNING"], capture_output=True, text=True
        ).stdout.split()
        assert jobs, "no running Slurm job"
        subprocess.run(["scancel", *jobs], check=True)
        _, err = process.communicate(timeout=300)
    finally:
        process.kill()
    assert process.returncode == 0, err.decode()
    assert len(list(tmp_path.glob("*.out"))) >= 2, "no job replaced the cancelled one"
    stored = read_calibration(tmp_path / "cal.h5").arrays
    np.testing.assert_array_equal(stored["draws"], long_reference.draws)
