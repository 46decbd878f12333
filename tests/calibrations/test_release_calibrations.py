"""Calibrations of a tagged release: run from the published wheel, archived once, verifiable,
reproducible, resumable after a SIGKILL, and the same on Slurm, where several run at once as
separate jobs.

All real: a clone of this repository tagged and released by ``ci pipeline``
(conftest.py), the wheel installed from its devpi-server into new
environments, ``epicast calibrate`` on a local Dask cluster or the
single-node Slurm of scripts/slurm.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci import results
from tests.calibrations.conftest import CALIBRATION, CONFIG, ITERATIONS, ROOT, TAG, Clone
from tests.sampling import sample_slurm_jobs

BUNDLED = ROOT / "src" / "epicast" / "data" / "calibrations" / f"{CALIBRATION}.yaml"


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def test_a_tagged_release_runs_its_calibration_and_archives_it(released: Clone):
    [folder] = released.calibrations()
    assert f"calibrate: {CALIBRATION} archived: {folder}" in released.pipeline_output
    manifest = manifest_of(folder)
    commit = subprocess.run(
        ["git", "-C", str(released.path), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    record = json.loads((released.archive / "release.json").read_text(encoding="utf-8"))
    [wheel] = [f for f in record["files"] if f["filename"].endswith(".whl")]
    assert (manifest["version"], manifest["tag"], manifest["commit"]) == (TAG, TAG, commit)
    assert folder.name.endswith(f"-{commit[:12]}")
    assert manifest["wheel"]["sha256"] == wheel["sha256"]
    assert manifest["inputs"]["calibration"] == hashlib.sha256(BUNDLED.read_bytes()).hexdigest()
    assert manifest["seed"] == 1978
    assert manifest["sampler"]["iterations"] == ITERATIONS
    assert manifest["cluster"] == {"profile": "local", "where": "local", "workers": 2}
    assert manifest["environment"]["python"] == "3.11"
    assert {"numpy", "numba", "dask", "dask-jobqueue"} <= set(manifest["environment"]["packages"])
    assert manifest["command"] == [
        "epicast",
        "calibrate",
        CALIBRATION,
        f"--iterations={ITERATIONS}",
    ]
    diagnostics = manifest["diagnostics"]
    assert diagnostics["max_rhat"] < 1.05
    assert diagnostics["min_ess_bulk"] > 100
    assert 0.1 < diagnostics["acceptance"][0] <= diagnostics["acceptance"][1] < 0.9
    assert diagnostics["table"]["columns"][:3] == ["quantity", "mean", "sd"]
    assert {"beta", "gamma", "phi", "R0"} <= {row[0] for row in diagnostics["table"]["rows"]}
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    assert {"result.h5", "calibrate.log", "plots/traces.png", "plots/fit.png"} <= set(files)
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest


def test_a_second_run_archives_nothing_new(released: Clone):
    before = released.calibrations()
    result = released.ci("calibrate", TAG)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"calibrate: {CALIBRATION} is already archived: {before[0]}\n"
    assert released.calibrations() == before


def test_archive_verify_passes_and_names_a_corrupted_file(released: Clone, tmp_path):
    result = released.ci("archive", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("archive verify: 1 of 1 folder(s) intact (")
    [folder] = released.calibrations()
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    traces = copy / "plots" / "traces.png"
    data = bytearray(traces.read_bytes())
    data[len(data) // 2] ^= 0xFF
    traces.write_bytes(bytes(data))
    (copy / "calibrate.log").unlink()
    result = released.ci("archive", "verify", str(copy))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"MISMATCH {copy}/calibrate.log: missing"
    assert lines[1].startswith(f"MISMATCH {copy}/plots/traces.png: sha256 ")
    assert lines[2] == f"archive verify: 0 of 1 folder(s) intact (5 file(s) checked) under {copy}"


def test_reproduce_rebuilds_the_environment_and_finds_identical_results(released: Clone):
    [folder] = released.calibrations()
    result = released.ci("reproduce", str(folder))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"reproduce: epicast {TAG} (wheel ")
    assert lines[-1] == (
        "reproduce: identical: every dataset equals the archived one bit for bit "
        "(wall times not compared: chain_seconds)"
    )


def test_a_killed_calibration_resumes_and_archives_one_equal_result(released: Clone, tmp_path):
    """SIGKILL ``ci calibrate`` once a chain has saved a checkpoint, then run it again."""
    archive = tmp_path / "archive"
    shutil.copytree(released.archive.parent.parent, archive, ignore=_calibrations)
    env = released.config("killed", CONFIG + f'\n[archive]\nurl = "{archive}"\n')
    work = released.path / ".state" / "calibrate" / "epicast" / TAG / CALIBRATION
    command = [sys.executable, "-m", "ci", "calibrate", TAG]
    process = subprocess.Popen(
        command, cwd=released.path, env={**released.env, **env}, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 600
        while not list(work.glob("checkpoints/*/chain-*.npz")) and process.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
            time.sleep(0.05)
        assert process.poll() is None, "ci calibrate ended before any checkpoint"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    assert released.calibrations(archive / "epicast" / TAG) == []
    assert (work / "pid").exists()  # the run was under way
    scratch = released.path / ".state" / "scratch" / "calibrate"
    assert [p.name for p in scratch.iterdir()] == [str(process.pid)]  # its environment, left

    result = released.ci("calibrate", TAG, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    [folder] = released.calibrations(archive / "epicast" / TAG)
    assert not work.exists()  # checkpoints and the working folder are gone once archived
    assert list(scratch.iterdir()) == []  # the killed run's environment too
    [uninterrupted] = released.calibrations()
    differences, _ = results.compare(uninterrupted / "result.h5", folder / "result.h5")
    assert differences == []


BROKEN = """\
scenario: sir-boarding-school
data: {csv: boarding_school_influenza_1978.csv}
targets:
  - {column: in_bed, output: prevalence, compartment: I, likelihood: {family: poisson}}
parameters:  # no starting point drawn from these priors gives a finite posterior
  beta: {distribution: uniform, lower: 0, upper: 1.0e+300}
  gamma: {distribution: uniform, lower: 0, upper: 1.0e+300}
sampler: {chains: 2, warmup: 100, iterations: 100, seed: 1}
"""


def test_calibrations_on_demand_run_in_parallel_archived_with_who_and_why(
    released: Clone, tmp_path
):
    """Two calibrations asked at once, with overrides and a note; the one that fails loses
    nothing of the other, which is archived with who asked, why, and what they changed."""
    archive = tmp_path / "archive"
    shutil.copytree(released.archive.parent.parent, archive, ignore=_calibrations)
    env = released.config("demand", CONFIG + f'\n[archive]\nurl = "{archive}"\n')
    mine = released.path / "demand"
    mine.mkdir(exist_ok=True)
    (mine / "broken.yaml").write_text(BROKEN)
    data = ROOT / "src" / "epicast" / "data" / "boarding_school_influenza_1978.csv"
    shutil.copy(data, mine)
    result = released.ci(
        "calibrate",
        TAG,
        *("--calibration", CALIBRATION, "--calibration", "demand/broken.yaml"),
        *("--iterations", "200", "--seed", "11", "--workers", "1"),
        *("--note", "does a second seed agree?"),
        env={**env, "CI_ACTOR": "modeller-bob"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    folders = released.calibrations(archive / "epicast" / TAG)
    assert len(folders) == 1, output
    folder = folders[0]
    lines = result.stdout.splitlines()
    assert lines[0] == f"calibrate: {CALIBRATION} archived: {folder}"
    assert lines[1].startswith("calibrate: broken failed: `epicast calibrate ")
    assert result.stderr.splitlines()[-2:] == [
        "ci: error: 1 calibration(s) failed: broken; the others are archived",
        "ci: tip: each failure's log is printed above; a re-run resumes the failed ones",
    ]
    manifest = manifest_of(folder)
    assert manifest["requested"] == {
        "by": "modeller-bob",
        "note": "does a second seed agree?",
        "overrides": {"iterations": 200, "workers": 1, "seed": 11},
        "on_demand": True,
    }
    assert (manifest["seed"], manifest["sampler"]["iterations"]) == (11, 200)
    assert manifest["command"] == [
        "epicast",
        "calibrate",
        CALIBRATION,
        "--iterations=200",
        "--seed=11",
    ]
    assert not (archive / "epicast" / TAG / "calibrations" / "broken").exists()


def _calibrations(folder: str, names: list[str]) -> list[str]:
    return ["calibrations"] if "calibrations" in names else []


@pytest.mark.slurm
def test_the_slurm_profile_gives_the_same_result(released: Clone, slurm, tmp_path):
    """Two calibrations asked at once run as two Slurm jobs at the same time (one worker
    each), and each is archived in its own folder; the bundled one equals the local run's
    result and reproduces on Slurm."""
    archive = tmp_path / "archive"
    shutil.copytree(released.archive.parent.parent, archive, ignore=_calibrations)
    text = CONFIG.replace('cluster = "local"', 'cluster = "slurm"')
    env = released.config("slurm", text + f'\n[archive]\nurl = "{archive}"\n')
    env["SLURM_CONF"] = slurm  # set for this session after the clone's environment was taken
    mine = released.path / "demand"
    mine.mkdir(exist_ok=True)
    second = BUNDLED.read_text(encoding="utf-8").replace("seed: 1978", "seed: 1979")
    (mine / "second.yaml").write_text(second.replace("csv: ../", "csv: "), encoding="utf-8")
    shutil.copy(ROOT / "src" / "epicast" / "data" / "boarding_school_influenza_1978.csv", mine)
    with sample_slurm_jobs() as samples:
        result = released.ci(
            "calibrate",
            TAG,
            *("--calibration", CALIBRATION, "--calibration", "demand/second.yaml"),
            *("--workers", "1"),
            env=env,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    # A job works in the folder its calibration's sbatch ran in: jobs of other sessions left out.
    runs = released.path / ".state" / "calibrate" / "epicast" / TAG
    both = {str(runs / CALIBRATION), str(runs / "second")}
    running = [{w for state, w in jobs.values() if state == "RUNNING"} for jobs in samples]
    seen = {(job, *info) for jobs in samples for job, info in jobs.items()}
    assert any(both <= folders for folders in running), seen  # a job of each, at the same time
    [folder] = released.calibrations(archive / "epicast" / TAG)
    [other] = [m.parent for m in archive.glob(f"epicast/{TAG}/calibrations/second/*/manifest.json")]
    for archived in (folder, other):
        cluster = manifest_of(archived)["cluster"]
        assert (cluster["profile"], cluster["where"], cluster["workers"]) == ("slurm", "slurm", 1)
        verified = released.ci("archive", "verify", str(archived))
        assert verified.returncode == 0, verified.stdout
    assert manifest_of(other)["seed"] == 1979
    reproduced = released.ci("reproduce", str(folder), "--cluster", "slurm", env=env)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert reproduced.stdout.splitlines()[-1].startswith("reproduce: identical")
    [local] = released.calibrations()
    assert results.compare(local / "result.h5", folder / "result.h5")[0] == []
