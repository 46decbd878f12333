from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import dask
import psutil
import pytest
import yaml
from distributed import Client, LocalCluster

from epicast._yamlfile import load_yaml_model
from epicast.cluster import ClusterProfile, SlurmProfile, open_client, wait_for_workers
from epicast.errors import ClusterError

# The tasks below are defined here: send them by value, workers cannot import this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _worker_facts() -> dict[str, object]:
    """What a task sees of its process: PID, numba's threads, Slurm job, the sockets
    its nanny and the nanny's processes listen on."""
    import numba

    return {
        "pid": os.getpid(),
        "listening": _listening_hosts(os.getppid()),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS"),
        "SLURM_JOB_ID": os.environ.get("SLURM_JOB_ID"),
    }


def _facts_per_worker(client: Client) -> list[dict[str, object]]:
    """Run :func:`_worker_facts` as a task on each worker."""
    workers = list(client.scheduler_info()["workers"])
    futures = [client.submit(_worker_facts, workers=[w], pure=False) for w in workers]
    return client.gather(futures)


def _listening_hosts(pid: int) -> set[str]:
    """The addresses the process ``pid`` and its children listen on."""
    process = psutil.Process(pid)
    return {
        conn.laddr.ip
        for proc in [process, *process.children(recursive=True)]
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_local_runs_tasks_in_single_threaded_worker_processes(local_client, workers):
    client = local_client(workers)

    facts = _facts_per_worker(client)

    pids = {fact["pid"] for fact in facts}
    assert len(pids) == workers
    assert os.getpid() not in pids
    assert all(n == 1 for n in client.nthreads().values())
    assert all(fact["numba_threads"] == 1 for fact in facts)
    assert all(fact["NUMBA_NUM_THREADS"] == "1" for fact in facts)
    assert all(fact["listening"] == {"127.0.0.1"} for fact in facts)


def test_local_listens_on_loopback_only_and_restores_the_environment():
    before = dict(os.environ)
    with open_client("local", ClusterProfile(workers=1)) as client:
        wait_for_workers(client, timeout=60)
        hosts = _listening_hosts(os.getpid())
    assert hosts == {"127.0.0.1"}
    assert dict(os.environ) == before


def test_tcp_connects_to_a_running_scheduler_and_leaves_it_running():
    with LocalCluster(
        n_workers=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as cluster:
        address = cluster.scheduler_address

        with open_client(address, ClusterProfile()) as client:
            assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
            assert client.cluster is None

        assert cluster.status.name == "running"
        with Client(address) as again:
            assert again.submit(sum, [3, 4], pure=False).result(timeout=30) == 7


def test_tcp_scheduler_that_cannot_be_reached_is_one_line():
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(ClusterError, match="cannot reach the Dask scheduler") as caught,
        open_client("tcp://127.0.0.1:9", ClusterProfile()),
    ):
        pass
    assert "\n" not in str(caught.value)


def test_wait_for_workers_names_the_scheduler_without_workers():
    with (
        LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1") as c,
        open_client(c.scheduler_address, ClusterProfile()) as client,
        pytest.raises(ClusterError, match=r"0 of 1 worker.*dask worker tcp://127\.0\.0\.1") as err,
    ):
        wait_for_workers(client, timeout=0.5)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("where", ["", "locale", "sge", "tcp://127.0.0.1", "http://host:8786"])
def test_unknown_where_is_a_one_line_error(where):
    with pytest.raises(ClusterError) as caught:
        open_client(where, ClusterProfile())
    message = str(caught.value)
    assert "\n" not in message
    assert "expected local, slurm or a scheduler address tcp://HOST:PORT" in message


@pytest.mark.parametrize("where", ["local", "slurm", "tcp://127.0.0.1:8786"])
def test_missing_cluster_extra_says_what_to_install(monkeypatch, where):
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)
    with pytest.raises(ClusterError, match=r"pip install 'epicast\[cluster\]'") as caught:
        open_client(where, ClusterProfile())
    assert "\n" not in str(caught.value)


# --- the profile in a calibration file ---------------------------------------------------


class _ProfileError(Exception):
    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _load(text: str) -> ClusterProfile:
    return load_yaml_model(
        text, "cluster.yaml", ClusterProfile, top_level="a cluster profile", error=_ProfileError
    )[0]


def test_profile_defaults():
    profile = _load("slurm: {}\n")
    assert profile.workers is None
    assert profile.worker_count() == os.cpu_count()
    assert profile.slurm == SlurmProfile()
    assert (profile.slurm.walltime, profile.slurm.memory) == ("00:30:00", "2GB")
    assert (profile.slurm.cores, profile.slurm.processes) == (1, 1)
    assert profile.slurm.extra_directives == []
    assert profile.slurm.python is None


def test_profile_reads_every_field():
    text = yaml.safe_dump(
        {
            "workers": 4,
            "slurm": {
                "queue": "short",
                "account": "epi",
                "walltime": "1-02:00:00",
                "memory": "500 MiB",
                "cores": 2,
                "processes": 2,
                "extra_directives": ["--qos=low"],
                "python": "/opt/venv/bin/python",
            },
        }
    )
    profile = _load(text)
    assert profile.worker_count() == 4
    assert profile.slurm.walltime == "1-02:00:00"
    assert profile.slurm.extra_directives == ["--qos=low"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("workers: 0", "line 1: workers: expected a number >= 1, got 0"),
        ("workers: true", "line 1: workers: expected a number, got true"),
        ("workers: many", "line 1: workers: expected a whole number, got 'many'"),
        (
            "slurm:\n  walltime: 1:30:00",  # YAML 1.1 reads 1:30:00 as 5400 (base 60)
            "line 2: slurm.walltime: expected a Slurm time in quotes, e.g. '00:30:00', got 5400",
        ),
        (
            "slurm:\n  walltime: half an hour",
            "line 2: slurm.walltime: expected a Slurm time like HH:MM:SS or D-HH:MM:SS, "
            "got 'half an hour'",
        ),
        (
            "slurm:\n  memory: lots",
            "line 2: slurm.memory: expected an amount of memory like 2GB or 500MiB, got 'lots'",
        ),
        ("slurm:\n  cores: 0", "line 2: slurm.cores: expected a number >= 1, got 0"),
        (
            "slurm:\n  queue: my queue",
            "line 2: slurm.queue: expected a name without spaces, got 'my queue'",
        ),
        (
            'slurm:\n  extra_directives: ["--qos=low\\nrm -rf /"]',
            "line 2: slurm.extra_directives[0]: expected one line of text, "
            "got '--qos=low\\nrm -rf /'",
        ),
        ("slurm:\n  wallclock: '1:00:00'", "line 2: slurm.wallclock: unknown field;"),
        ("slurm: local", "line 1: slurm: expected a mapping, got 'local'"),
    ],
)
def test_profile_rejects_bad_values_in_one_line(text, message):
    with pytest.raises(_ProfileError) as caught:
        _load(text)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(message)


# --- Slurm -------------------------------------------------------------------------------


def _squeue(job_ids: set[str]) -> set[str]:
    listed = subprocess.run(
        ["squeue", "-h", "-o", "%i", "-j", ",".join(sorted(job_ids))],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return set(listed.split()) & job_ids


def _wait_until_gone(job_ids: set[str], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while _squeue(job_ids) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _squeue(job_ids)


@pytest.mark.slurm
def test_slurm_runs_tasks_in_jobs_and_replaces_a_lost_job(slurm, tmp_path: Path):
    profile = ClusterProfile(
        workers=1,
        slurm=SlurmProfile(
            walltime="00:10:00",
            memory="1GB",
            extra_directives=[f"--output={tmp_path}/slurm-%j.out"],
        ),
    )
    jobs: set[str] = set()
    try:
        with (
            dask.config.set({"distributed.deploy.lost-worker-timeout": "1s"}),
            open_client("slurm", profile) as client,
        ):
            wait_for_workers(client, timeout=120)
            first = client.submit(_worker_facts, pure=False).result(timeout=120)
            jobs.add(first["SLURM_JOB_ID"])
            assert first["SLURM_JOB_ID"]
            assert first["numba_threads"] == 1
            assert first["listening"] == {"127.0.0.1"}  # the worker's nanny and worker
            assert _listening_hosts(os.getpid()) == {"127.0.0.1"}  # scheduler, dashboard

            subprocess.run(["scancel", first["SLURM_JOB_ID"]], check=True)
            # scancel only asks: on a busy machine the job's worker can still take a
            # task for a while. Once Slurm has ended the job, a task needs a new one.
            assert not _wait_until_gone({first["SLURM_JOB_ID"]}, timeout=120)
            second = client.submit(_worker_facts, pure=False).result(timeout=180)
            jobs.add(second["SLURM_JOB_ID"])

        assert second["SLURM_JOB_ID"] not in {None, first["SLURM_JOB_ID"]}
        assert not _wait_until_gone(jobs), "jobs left running after the client closed"
    finally:
        if jobs:
            subprocess.run(["scancel", *jobs], check=False)


@pytest.mark.slurm
def test_slurm_job_stuck_pending_names_squeue(slurm, tmp_path: Path):
    profile = ClusterProfile(
        workers=1,
        slurm=SlurmProfile(
            walltime="00:01:00",
            extra_directives=[f"--output={tmp_path}/slurm-%j.out", "--hold"],  # stays pending
        ),
    )
    with (
        open_client("slurm", profile) as client,
        pytest.raises(ClusterError, match=r"pending.*squeue -j \d+") as caught,
    ):
        wait_for_workers(client, timeout=3)
    assert "\n" not in str(caught.value)


@pytest.mark.slurm
@pytest.mark.parametrize(
    ("slurm_profile", "said"),
    [
        (SlurmProfile(queue="nope"), "invalid partition specified: nope"),
        (SlurmProfile(extra_directives=["--bogus-option"]), "unrecognized option"),
        (SlurmProfile(cores=4096), "Requested node configuration is not available"),
    ],
)
def test_slurm_job_that_sbatch_refuses_is_one_line(slurm, slurm_profile, said):
    profile = ClusterProfile(workers=1, slurm=slurm_profile)
    with (
        pytest.raises(ClusterError, match="sbatch refuses the worker job: .*" + said) as caught,
        open_client("slurm", profile),
    ):
        pass
    assert "\n" not in str(caught.value)
