"""Where independent work runs: a local Dask cluster, Slurm, or an existing scheduler.

A calibration file's ``cluster`` section is a :class:`ClusterProfile`;
:func:`open_client` turns it and a place (``local``, ``slurm`` or
``tcp://HOST:PORT``) into a :class:`distributed.Client` to submit chains to, and
:func:`wait_for_workers` waits for the first worker with an error that says why
none came (a Slurm job stuck pending, a scheduler without workers).

Every scheduler, worker and dashboard started here listens on 127.0.0.1 only,
and every worker runs numba single-threaded (``NUMBA_NUM_THREADS=1``): the
parallelism is one task per worker process. Dask, distributed and dask-jobqueue
are imported only when a client is opened (``pip install 'epicast[cluster]'``),
so that ``import epicast`` and the CLI do not need them.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from epicast._yamlfile import StrictModel, not_bool, problem
from epicast.errors import ClusterError

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_WORKERS = 1024
"""Most local worker processes, or Slurm jobs at once, a calibration may ask for."""
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "DASK_LOGGING__DISTRIBUTED": "critical"}
"""Environment of every worker process, from its start: one task per process, each numba
single-threaded; distributed in the workers quiet (a chain's own errors reach the command as
exceptions; the workers' warnings and errors when the command stops them, cancelled chains
and a scheduler gone, would bury the command's one line)."""

_ACCEPTED = "expected local, slurm or a scheduler address tcp://HOST:PORT"
_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}")
# Slurm's time formats: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS
_SLURM_TIME = re.compile(r"\d+(:\d\d){0,2}|\d+-\d\d?(:\d\d){0,2}")
_BYTES = re.compile(r"\d+(\.\d+)?\s*([kKmMgGtTpP]i?)?[bB]?")


def _slurm_time(value: object) -> object:
    """Accept a Slurm time limit given as text, e.g. ``"00:30:00"``."""
    if not isinstance(value, str):
        # YAML reads an unquoted 00:30:00 as the number 1800 (seconds, base 60)
        raise problem(None, f"expected a Slurm time in quotes, e.g. '00:30:00', got {value!r}")
    if not _SLURM_TIME.fullmatch(value):
        raise problem(None, f"expected a Slurm time like HH:MM:SS or D-HH:MM:SS, got {value!r}")
    return value


def _memory(value: str) -> str:
    """Accept an amount of memory as Dask reads it, e.g. ``"2GB"`` or ``"500 MiB"``."""
    if not _BYTES.fullmatch(value.strip()):
        raise problem(None, f"expected an amount of memory like 2GB or 500MiB, got {value!r}")
    return value


def _word(value: str) -> str:
    """Accept a name without spaces, written as it is into a job script."""
    if not value or any(char.isspace() for char in value):
        raise problem(None, f"expected a name without spaces, got {value!r}")
    return value


def _line(value: str) -> str:
    """Accept one line of text, written as it is into a job script."""
    if "\n" in value or "\r" in value:
        raise problem(None, f"expected one line of text, got {value!r}")
    return value


PositiveInt = Annotated[int, Field(ge=1), BeforeValidator(not_bool)]
Word = Annotated[str, AfterValidator(_word)]
Line = Annotated[str, AfterValidator(_line)]


class SlurmProfile(StrictModel):
    """The Slurm jobs that run Dask workers (one job: ``processes`` workers)."""

    queue: Word | None = Field(None, description="Slurm partition of the jobs (None: default).")
    account: Word | None = Field(None, description="Slurm account charged (None: default).")
    walltime: Annotated[str, BeforeValidator(_slurm_time)] = Field(
        "00:30:00", description="Time limit of each job, quoted: 'HH:MM:SS' or 'D-HH:MM:SS'."
    )
    memory: Annotated[str, AfterValidator(_memory)] = Field(
        "2GB", description="Memory of each job, shared by its workers, e.g. 2GB."
    )
    cores: PositiveInt = Field(1, description="Cores of each job, shared by its workers.")
    processes: PositiveInt = Field(1, description="Worker processes in each job.")
    extra_directives: list[Line] = Field(
        default_factory=list,
        description="More #SBATCH options for each job, e.g. '--qos=short'.",
    )
    python: Line | None = Field(
        None, description="Python of the workers (None: the one running epicast)."
    )


class ClusterProfile(StrictModel):
    """Where and how wide calibrations run: local worker processes or Slurm jobs."""

    workers: PositiveInt | None = Field(
        None,
        le=MAX_WORKERS,
        description=(
            "Local worker processes, or the most Slurm jobs at once (None: the number of CPUs)."
        ),
    )
    slurm: SlurmProfile = Field(
        default_factory=SlurmProfile, description="The Slurm jobs, for cluster slurm."
    )

    def worker_count(self) -> int:
        """Return ``workers``, or the number of CPUs of this machine when it is None."""
        return self.workers or os.cpu_count() or 1


def open_client(where: str, profile: ClusterProfile) -> AbstractContextManager[Client]:
    """Return a context manager that opens a Dask client on a cluster, and closes both.

    Parameters
    ----------
    where
        ``"local"``: ``profile.worker_count()`` single-threaded worker processes on
        this machine. ``"slurm"``: workers in Slurm jobs (``profile.slurm``), at
        least one job and at most ``profile.worker_count()``, a lost job being
        replaced. ``"tcp://HOST:PORT"``: the scheduler already running there,
        left running on exit.
    profile
        The cluster section of a calibration file.

    Returns
    -------
    contextlib.AbstractContextManager
        Entering it starts the cluster (not waiting for workers: see
        :func:`wait_for_workers`) and gives the client.

    Raises
    ------
    ClusterError
        ``where`` is none of the above, the cluster extra is not installed, or
        the scheduler at ``tcp://HOST:PORT`` cannot be reached (on entering).
    """
    if where == "local":
        _require(where, "distributed")
        return _local_client(profile)
    if where == "slurm":
        _require(where, "distributed", "dask_jobqueue")
        return _slurm_client(profile)
    if _TCP.fullmatch(where):
        _require(where, "distributed")
        return _remote_client(where)
    raise ClusterError(where, _ACCEPTED)


def is_place(where: str) -> bool:
    """Return whether :func:`open_client` accepts ``where`` (local, slurm, tcp://HOST:PORT)."""
    return where in ("local", "slurm") or _TCP.fullmatch(where) is not None


def place_of(client: Client) -> str:
    """Return where the client's workers are: ``local``, ``slurm`` or the scheduler's address."""
    cluster = client.cluster
    if cluster is None:
        return client.scheduler.address
    return "slurm" if hasattr(cluster, "job_script") else "local"


def wait_for_workers(client: Client, timeout: float = 300.0, n_workers: int = 1) -> None:
    """Wait until ``n_workers`` workers have joined the client's scheduler.

    Parameters
    ----------
    client
        A client from :func:`open_client`.
    timeout
        Seconds to wait.
    n_workers
        How many workers to wait for.

    Raises
    ------
    ClusterError
        Fewer workers than ``n_workers`` after ``timeout`` seconds; the message
        says where to look (``squeue`` for Slurm jobs still pending).
    """
    try:
        client.wait_for_workers(n_workers, timeout=timeout)
    except TimeoutError as exc:
        where, hint = _no_worker_hint(client)
        have = len(client.nthreads())
        reason = f"{have} of {n_workers} worker(s) after {timeout:g} s; {hint}"
        raise ClusterError(where, reason) from exc


def _require(where: str, *modules: str) -> None:
    """Import ``modules`` or raise one line telling how to install them."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            reason = f"needs {exc.name or module}, not installed; pip install 'epicast[cluster]'"
            raise ClusterError(where, reason) from exc


@contextmanager
def _local_client(profile: ClusterProfile) -> Iterator[Client]:
    """Open a client on a new cluster of local worker processes."""
    import dask
    from distributed import Client, LocalCluster

    workers = profile.worker_count()
    spawn = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENV.items()}
    with (
        _environ_restored(),
        dask.config.set(spawn),  # set before the worker process starts, so before its imports
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host=HOST,
            dashboard_address=f"{HOST}:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        logger.info("local Dask cluster at %s with %d workers", cluster.scheduler_address, workers)
        yield client


@contextmanager
def _environ_restored() -> Iterator[None]:
    """Undo the changes made to ``os.environ`` inside the block.

    A nanny sets ``distributed.nanny.pre-spawn-environ`` (OMP_NUM_THREADS=1...)
    in its own process, here the caller's, before it starts its worker.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        for name, value in saved.items():
            if os.environ.get(name) != value:
                os.environ[name] = value


@contextmanager
def _slurm_client(profile: ClusterProfile) -> Iterator[Client]:
    """Open a client on a Dask cluster whose workers run in Slurm jobs."""
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    jobs: list[str] = []
    try:
        with SLURMCluster(**_slurm_options(profile)) as cluster:
            script = cluster.job_script()
            address = cluster.scheduler_address
            logger.info("Slurm Dask cluster at %s; job script:\n%s", address, script)
            _check_job_script(script)
            cluster.adapt(minimum_jobs=1, maximum_jobs=profile.worker_count())
            with Client(cluster) as client:
                try:
                    yield client
                finally:
                    jobs = [job.job_id for job in cluster.workers.values() if job.job_id]
    finally:
        _wait_until_ended(jobs)


def _wait_until_ended(jobs: list[str], timeout: float = 60.0) -> None:
    """Wait until Slurm no longer lists ``jobs`` (cancelled ones complete a moment later).

    Their worker processes are then gone, so what they left (a checkpoint being
    written) can be proved stale and removed.
    """
    deadline = time.monotonic() + timeout
    while jobs and time.monotonic() < deadline:
        queue = ["squeue", "-h", "-o", "%i", "-j", ",".join(jobs)]
        listed = subprocess.run(queue, capture_output=True, text=True, check=False)
        if listed.returncode or not listed.stdout.split():
            return
        time.sleep(0.2)


def _check_job_script(script: str) -> None:
    """Raise unless ``sbatch --test-only`` accepts the worker job script.

    dask-jobqueue submits jobs in the background, where a refused job is only
    logged (and retried every second): ask Slurm once, before that.
    """
    command = ["sbatch", "--test-only"]
    try:
        answer = subprocess.run(
            command, input=script, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError as exc:
        raise ClusterError("slurm", "sbatch not found: run on a Slurm login node") from exc
    except subprocess.TimeoutExpired as exc:
        reason = "sbatch --test-only did not answer in 60 s; is slurmctld up? (try sinfo)"
        raise ClusterError("slurm", reason) from exc
    if answer.returncode != 0:
        said = "; ".join(line.strip() for line in answer.stderr.splitlines() if line.strip())
        raise ClusterError("slurm", f"sbatch refuses the worker job: {said}")


def _slurm_options(profile: ClusterProfile) -> dict[str, Any]:
    """Return the keyword arguments of ``SLURMCluster`` for ``profile``."""
    slurm = profile.slurm
    exports = [f"export {name}={value}" for name, value in WORKER_ENV.items()]
    return {
        "queue": slurm.queue,
        "account": slurm.account,
        "walltime": slurm.walltime,
        "memory": slurm.memory,
        "cores": slurm.cores,
        "processes": slurm.processes,
        "job_extra_directives": list(slurm.extra_directives),
        "python": slurm.python or sys.executable,
        "interface": "lo",
        "scheduler_options": {"dashboard_address": f"{HOST}:0"},
        "worker_extra_args": ["--dashboard-address", f"{HOST}:0"],
        "job_script_prologue": exports,
    }


@contextmanager
def _remote_client(address: str) -> Iterator[Client]:
    """Connect to the scheduler at ``address``; closing the client leaves it running."""
    from distributed import Client

    try:
        client = Client(address)
    except OSError as exc:
        raise ClusterError(address, f"cannot reach the Dask scheduler: {exc}") from exc
    with client:
        logger.info("connected to the Dask scheduler at %s", address)
        yield client


def _no_worker_hint(client: Client) -> tuple[str, str]:
    """Return where the client's workers come from, and where to look when none came."""
    where = place_of(client)
    if where == "local":
        return where, "the worker processes did not start: see the log of distributed"
    if where == "slurm":
        jobs = [str(job.job_id) for job in client.cluster.workers.values() if job.job_id]
        if not jobs:
            return "slurm", "no Slurm job was accepted: see the sbatch errors logged above"
        listed = ",".join(jobs)
        return "slurm", f"the job may be pending: see its state and reason with squeue -j {listed}"
    return where, "start workers with: dask worker " + where
