"""Where the chains of a calibration run: in this process, or on a Dask cluster.

The policy of ``epicast calibrate --cluster``: as asked, or (``auto``) where the
chains finish sooner, estimated by timing the first iterations of one chain in
this process. The command opens the chosen cluster (:mod:`epicast.cluster`)
and passes its client to :func:`~epicast.calibration.run.calibrate`, which
itself never chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from epicast.calibration.file import Calibration
from epicast.calibration.run import IN_PROCESS, ChainTask, chain_tasks
from epicast.calibration.sampler import Chain
from epicast.cluster import is_place
from epicast.errors import ClusterError

AUTO = "auto"
"""The ``--cluster`` value that chooses: in process, or a local cluster when worth it."""
LOCAL_CLUSTER_SECONDS = 5.0
"""What a local Dask cluster costs, seconds: starting the scheduler and the worker
processes, their imports and loading of the compiled kernels, stopping them (measured
3-10 s on two busy cores for the bundled calibration)."""
TIMING_SECONDS = 0.05
"""Least time the in-process timing of a chain runs (or until the chain is done)."""


@dataclass(frozen=True)
class Placement:
    """Where the chains of a calibration run, and why."""

    where: str
    """``"none"`` (in this process), ``"local"``, ``"slurm"`` or ``"tcp://HOST:PORT"``."""
    reason: str

    def line(self) -> str:
        """Return the choice in one line, e.g. ``cluster: in process (estimated ...)``."""
        return f"cluster: {self.reason}"


def place(calibration: Calibration, where: str = AUTO) -> Placement:
    """Decide where the chains run: as asked, or (``"auto"``) where they finish sooner.

    For ``"auto"`` the first iterations of one chain run in this process (compiling
    the sampler first, which a cluster's workers then load from numba's cache) to
    estimate the seconds of all chains in process; :func:`decide` weighs them
    against the cost of a local cluster.

    Parameters
    ----------
    calibration
        The calibration.
    where
        ``"auto"``, ``"none"``, ``"local"``, ``"slurm"`` or ``"tcp://HOST:PORT"``.

    Raises
    ------
    ClusterError
        ``where`` is none of these.
    """
    workers = calibration.cluster.worker_count()
    if where == AUTO:
        tasks = chain_tasks(calibration, None)
        return decide(estimate_seconds(tasks), len(tasks), workers)
    if where == IN_PROCESS:
        return Placement(where, "in process (asked for)")
    if where == "local":
        return Placement(where, f"a local Dask cluster of {workers} worker(s) (asked for)")
    if where == "slurm":
        return Placement(where, f"Dask workers in Slurm jobs, at most {workers} (asked for)")
    if is_place(where):
        return Placement(where, f"the Dask scheduler at {where} (asked for)")
    expected = "expected auto, none, local, slurm or a scheduler address tcp://HOST:PORT"
    raise ClusterError(where, expected)


def decide(
    seconds: float, chains: int, workers: int, cluster_seconds: float | None = None
) -> Placement:
    """Choose between this process and a local cluster for chains of ``seconds`` in all.

    In process the chains run one after another: ``seconds``. On a local cluster of
    ``workers`` processes, k = min(chains, workers) run at once: about
    ``cluster_seconds + seconds / k``. The cluster is chosen when that is less.

    Parameters
    ----------
    seconds
        Estimated wall time of all chains in this process (see :func:`estimate_seconds`).
    chains, workers
        Number of chains, and of local worker processes a cluster would start.
    cluster_seconds
        Cost of starting and stopping the cluster; default ``LOCAL_CLUSTER_SECONDS``.
    """
    start = LOCAL_CLUSTER_SECONDS if cluster_seconds is None else cluster_seconds
    parallel = min(chains, workers)
    estimate = f"estimated {seconds:.1f} s of sampling"
    if parallel > 1 and start + seconds / parallel < seconds:
        return Placement(
            "local",
            f"a local Dask cluster of {parallel} workers ({estimate} in process, "
            f"~{start + seconds / parallel:.0f} s on the cluster with its start)",
        )
    if parallel == 1:
        why = "a single chain" if chains == 1 else "one worker would run them no sooner"
        return Placement(IN_PROCESS, f"in process ({estimate}; {why})")
    return Placement(
        IN_PROCESS,
        f"in process ({estimate}; a local cluster costs ~{start:.0f} s to start)",
    )


def estimate_seconds(tasks: list[ChainTask]) -> float:
    """Estimate the wall time of all chains in this process from the first of them.

    Compiles the sampler, then times iterations of a copy of the first chain from
    its start (1, 2, 4, ... at a time, ``TIMING_SECONDS`` or so, or to its end;
    see :meth:`Chain.seconds_per_iteration`) and scales them to every chain's
    iterations. The chains themselves are not touched.
    """
    task = tasks[0]
    chain = Chain(task.posterior, task.settings, task.seed, task.priors)  # compiles
    return chain.seconds_per_iteration(TIMING_SECONDS) * task.settings.total * len(tasks)
