"""Running a calibration: chains as tasks, on this process or a Dask cluster.

Each chain is one task (:func:`run_chain`) that needs nothing but its
:class:`ChainTask`: the compiled posterior, its settings and its own seed. It
saves its state every ``checkpoint_every`` iterations, and a task started
again (after an interruption, or by Dask after a worker was lost) resumes
from the last checkpoint, so a calibration gives bit-identical chains however
many workers run it. The caller gathers the chains and is the only one who
writes the result (:mod:`epicast.store`).

Checkpoints live in a folder named by a fingerprint of everything that
decides the chains (inputs, sampler settings, epicast version), so a changed
input never resumes from stale states. On a cluster it must be on a file
system the workers share.
"""

from __future__ import annotations

import hashlib
import logging
import platform
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TextIO

import numpy as np

from epicast._files import remove_stale_temporaries
from epicast.calibration import diagnostics
from epicast.calibration.file import Calibration
from epicast.calibration.posterior import (
    MU_FLOOR,
    SLOTS,
    Posterior,
    build_posterior,
    prior_distributions,
)
from epicast.calibration.sampler import Chain, ChainState, Settings
from epicast.cluster import is_place
from epicast.errors import ClusterError
from epicast.kernels import integrate
from epicast.model import basic_reproduction_number, per_day
from epicast.severity import OUTCOMES, daily_outcomes

logger = logging.getLogger(__name__)

PROGRESS_TOPIC = "epicast-progress"
"""Dask event topic on which workers report (chain, iterations done)."""
PROGRESS_INTERVAL = 0.25
"""Seconds between progress reports of a chain."""
IN_PROCESS = "none"
"""The ``--cluster`` value that runs the chains one after another in this process."""
AUTO = "auto"
"""The ``--cluster`` value that chooses: in process, or a local cluster when worth it."""
LOCAL_CLUSTER_SECONDS = 5.0
"""What a local Dask cluster costs, seconds: starting the scheduler and the worker
processes, their imports and loading of the compiled kernels, stopping them (measured
3-10 s on two busy cores for the bundled calibration)."""
TIMING_SECONDS = 0.05
"""Least time the in-process timing of a chain runs (or until the chain is done)."""

Report = Callable[[int, int], None]
"""Progress callback: (chain index, iterations done)."""


@dataclass(frozen=True)
class ChainTask:
    """Everything one chain needs, picklable for a Dask worker."""

    chain: int
    posterior: Posterior
    settings: Settings
    seed: np.random.SeedSequence
    priors: list
    checkpoint: str | None
    checkpoint_every: int


@dataclass(frozen=True)
class ChainResult:
    """A finished chain: its draws and how it ran."""

    chain: int
    draws: np.ndarray
    """Parameter values kept, shape (kept, D)."""
    log_densities: np.ndarray
    """Log posterior of each draw, shape (kept,)."""
    counts: np.ndarray
    """Accepted in warm-up, accepted after, log-density evaluations."""
    seconds: float
    """Wall time of the run that finished the chain (since its checkpoint if resumed)."""
    resumed_at: int
    """Iteration the finishing run started from (0: not resumed)."""


PREDICTIVE_QUANTILES = (0.05, 0.5, 0.95)
"""The quantiles of the posterior predictive a result keeps: a 90% band and its median."""


@dataclass(frozen=True)
class CalibrationResult:
    """The chains of a calibration, with their diagnostics and provenance."""

    calibration: Calibration
    names: tuple[str, ...]
    draws: np.ndarray
    """Parameter values, shape (chains, kept, D)."""
    log_densities: np.ndarray
    """Shape (chains, kept)."""
    acceptance: np.ndarray
    """Acceptance rate after warm-up per chain, shape (chains,)."""
    warmup_acceptance: np.ndarray
    evaluations: np.ndarray
    chain_seconds: np.ndarray
    seed_entropy: int
    where: str
    workers: int
    started: str
    seconds: float
    versions: dict[str, str] = field(default_factory=dict)

    @cached_property
    def summary(self) -> diagnostics.Summary:
        """Posterior summary and diagnostics of the parameters and derived quantities."""
        names, draws = self.quantities()
        return diagnostics.summarize(draws, names)

    def warnings(self) -> list[str]:
        """Convergence problems (R-hat, ESS) of the fitted parameters; empty when none."""
        fitted = len(self.names)  # the summary's first rows; each row is computed on its own
        columns = {name: values[:fitted] for name, values in self.summary.columns().items()}
        return diagnostics.problems(replace(self.summary, names=self.names, **columns))

    def quantities(self) -> tuple[tuple[str, ...], np.ndarray]:
        """Return the fitted parameters and derived quantities, draws (chains, kept, Q).

        Derived: R0 (dominant eigenvalue of the next-generation matrix) when beta
        or gamma is fitted, and the infectious (1/gamma) and latent (1/sigma)
        periods of a fitted gamma or sigma.
        """
        names, columns = list(self.names), [self.draws[..., k] for k in range(len(self.names))]
        fitted = dict(zip(self.names, columns, strict=True))
        scenario = self.calibration.scenario
        if "beta" in fitted or "gamma" in fitted:
            unit = basic_reproduction_number(scenario.contacts, scenario.population, 1.0, 1.0)
            beta = fitted.get("beta", scenario.transmission_rate)
            gamma = fitted.get("gamma", 1 / scenario.infectious_period)
            names.append("R0")
            columns.append(unit * beta / gamma * np.ones_like(columns[0]))
        for rate, period in (("gamma", "infectious_period"), ("sigma", "latent_period")):
            if rate in fitted:
                names.append(period)
                columns.append(1 / fitted[rate])
        return tuple(names), np.stack(columns, axis=-1)

    def predictive(self, samples: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
        """Draw observations from the posterior predictive distribution of each target.

        Parameters
        ----------
        samples
            Posterior draws used (spread evenly over all chains).
        seed
            Seed of the observation noise.

        Returns
        -------
        dict
            Per target column, simulated observations on the target's days, shape
            (samples, n).
        """
        flat = self.draws.reshape(-1, len(self.names))
        picked = flat[np.linspace(0, len(flat) - 1, min(samples, len(flat))).astype(int)]
        fitted = dict(zip(self.names, picked.T, strict=True))
        means = self.model_values(picked)
        rng = np.random.default_rng(seed)
        return {
            target.column: _observe(rng, target, means[target.column], fitted)
            for target in self.calibration.targets
        }

    @cached_property
    def predictive_bands(self) -> dict[str, np.ndarray]:
        """The 5%, 50% and 95% quantiles of the posterior predictive, per target.

        What the fit figure draws and the result file stores: per target column,
        shape (n, 3), one row per day of the target. The observation noise is
        seeded with the calibration's seed, so a re-run gives the same bands.
        """
        predicted = self.predictive(seed=self.seed_entropy)
        return {
            column: np.quantile(values, PREDICTIVE_QUANTILES, axis=0).T
            for column, values in predicted.items()
        }

    def model_values(self, draws: np.ndarray) -> dict[str, np.ndarray]:
        """Return each target's model values (the likelihood's mean) for parameter draws.

        The model runs once per draw in the integrator that the chains' kernel
        links, compiled already (or loaded from numba's cache), rather than in the
        parallel batch kernel, which would take seconds to compile for a figure.
        Each value is computed as the log-posterior computes it: summed over the
        target's age groups, a daily difference of the cumulative flows, times
        the reporting fraction for notifications, the earlier days' infections
        through the delay and the ratios for admissions and deaths, floored at
        ``MU_FLOOR``.

        Parameters
        ----------
        draws
            Values of the fitted parameters, shape (S, D), columns in ``names`` order.

        Returns
        -------
        dict
            Per target column, the model's values on the target's days, shape (S, n).
        """
        post = build_posterior(self.calibration)
        values = np.tile(post.base, (len(draws), 1))
        values[:, post.slot] = draws
        out = np.empty((len(draws), post.n_days + 1, *post.y0.shape))
        for k, (beta, sigma, gamma) in enumerate(values[:, :3]):
            integrate(
                post.y0,
                beta,
                sigma,
                gamma,
                post.latent,
                post.segment_start,
                post.segment_contacts,
                post.segment_multiplier,
                post.segment_contact_slope,
                post.vaccine,
                post.inv_population,
                post.t_start,
                post.n_days,
                post.first_step,
                out[k],
            )
        means = {}
        for t, target in enumerate(self.calibration.targets):
            days = target.days - self.calibration.scenario.t_start
            if target.output in OUTCOMES:  # every day's infections, through the delay
                cumulative = out[:, :, post.row[t]]
                if post.breakthrough_row >= 0:  # protected ones count in part
                    protected = out[:, :, post.breakthrough_row]
                    cumulative = cumulative - post.severe_efficacy * protected
                infections = per_day(cumulative)
                series = daily_outcomes(infections, post.groups[t], post.delay[t])[:, days]
            else:
                series = out[:, days, post.row[t]]  # (S, n, G)
                if target.output != "prevalence":
                    series = series - out[:, days - 1, post.row[t]]
            total = series[..., target.groups].sum(axis=-1)
            if target.output == "notifications":
                total = total * values[:, SLOTS["rho"], None]
            means[target.column] = np.maximum(total, MU_FLOOR)
        return means


def _observe(rng: np.random.Generator, target, mu: np.ndarray, fitted: dict) -> np.ndarray:
    """Draw observations around the model values mu (S, n) from the target's likelihood."""
    scale = target.dispersion if target.dispersion is not None else target.sd
    if isinstance(scale, str):
        scale = fitted[scale][:, None]
    if target.family == "poisson":
        return rng.poisson(mu).astype(float)
    if target.family == "negative_binomial":
        return rng.negative_binomial(scale, scale / (scale + mu)).astype(float)
    return rng.normal(mu, scale)


def chain_tasks(calibration: Calibration, checkpoints: Path | None) -> list[ChainTask]:
    """Return one task per chain, seeds spawned from the calibration's seed.

    Parameters
    ----------
    calibration
        The calibration.
    checkpoints
        Folder under which the chains save their states (a sub-folder per
        fingerprint of the inputs); None for no checkpoints.
    """
    spec = calibration.sampler
    settings = Settings(spec.warmup, spec.iterations, spec.thin)
    posterior = build_posterior(calibration)
    priors = prior_distributions(calibration)
    seeds = np.random.SeedSequence(spec.seed).spawn(spec.chains)
    folder = None if checkpoints is None else checkpoint_folder(calibration, checkpoints)
    return [
        ChainTask(
            chain=k,
            posterior=posterior,
            settings=settings,
            seed=seed,
            priors=priors,
            checkpoint=None if folder is None else str(folder / f"chain-{k}.npz"),
            checkpoint_every=spec.checkpoint_every,
        )
        for k, seed in enumerate(seeds)
    ]


def checkpoint_folder(calibration: Calibration, checkpoints: Path) -> Path:
    """Return the folder under ``checkpoints`` where this calibration's chains save states."""
    return checkpoints / fingerprint(calibration)


def discard_checkpoints(calibration: Calibration, checkpoints: Path) -> None:
    """Remove this calibration's checkpoints once its result is written.

    Only what the chains wrote goes: the calibration's own sub-folder, then
    ``checkpoints`` itself if that left it empty. Anything else in the folder
    (the user may have named one that holds other files) stays.
    """
    shutil.rmtree(checkpoint_folder(calibration, checkpoints), ignore_errors=True)
    with suppress(OSError):
        checkpoints.rmdir()


def fingerprint(calibration: Calibration) -> str:
    """Return a short hash of everything that decides the chains."""
    from epicast import __version__

    digest = hashlib.sha256()
    for part in (
        calibration.source,
        calibration.scenario.source,
        calibration.data_source,
        calibration.sampler.model_dump_json(),
        __version__,
    ):
        digest.update(hashlib.sha256(part.encode()).digest())
    return digest.hexdigest()[:16]


def run_chain(task: ChainTask, report: Report | None = None) -> ChainResult:
    """Run (or resume) one chain to the end, saving checkpoints on the way.

    Parameters
    ----------
    task
        The chain to run.
    report
        Called with (chain, iterations done) after each block.

    Returns
    -------
    ChainResult
        The chain's draws and counts.
    """
    path = None if task.checkpoint is None else Path(task.checkpoint)
    state = ChainState.load(path) if path is not None and path.exists() else None
    resumed_at = 0 if state is None else state.iteration
    if resumed_at:
        logger.info("chain %d resumes at iteration %d from %s", task.chain, resumed_at, path)
    started = time.perf_counter()
    chain = Chain(task.posterior, task.settings, task.seed, task.priors, state)
    for state in chain.blocks():
        if path is not None and (state.iteration % task.checkpoint_every == 0 or chain.done):
            state.save(path)
        if report is not None:
            report(task.chain, state.iteration)
    return ChainResult(
        chain=task.chain,
        draws=chain.state.draws,
        log_densities=chain.state.log_densities,
        counts=chain.state.counts[1:].copy(),
        seconds=time.perf_counter() - started,
        resumed_at=resumed_at,
    )


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


def calibrate(
    calibration: Calibration,
    *,
    where: str = AUTO,
    checkpoints: Path | None = None,
    progress: bool | Report = True,
) -> CalibrationResult:
    """Run every chain of a calibration and gather them.

    Parameters
    ----------
    calibration
        The calibration (see :func:`epicast.calibration.file.load_calibration`).
    where
        ``"auto"`` (this process or a local cluster, see :func:`place`),
        ``"local"`` (a Dask cluster of this machine's cores), ``"slurm"``,
        ``"tcp://HOST:PORT"`` (an existing scheduler), or ``"none"`` (one chain
        after another in this process).
    checkpoints
        Folder for the chains' checkpoints; None for none.
    progress
        True: progress per chain on standard error (a rich bar per chain on a
        terminal, otherwise a plain line per chain at each quarter of its
        iterations); False: none; or a function called with (chain, iterations
        done) as the chains run, wherever they run.

    Returns
    -------
    CalibrationResult
        Draws of every chain, diagnostics, provenance.
    """
    if where == AUTO:
        placement = place(calibration, where)
        logger.info("%s", placement.line())
        where = placement.where
    tasks = chain_tasks(calibration, checkpoints)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    try:
        with _progress(tasks, progress) as report:
            if where == IN_PROCESS:
                results, workers = [run_chain(task, report) for task in tasks], 1
            else:
                results, workers = _run_on_dask(tasks, where, calibration, report)
    finally:  # interrupted or not, the workers are gone: their temporaries are stale
        for task in tasks:
            if task.checkpoint is not None:
                remove_stale_temporaries(Path(task.checkpoint))
    return _gather(calibration, results, where, workers, started, time.perf_counter() - clock)


def _run_on_dask(
    tasks: list[ChainTask], where: str, calibration: Calibration, report: Report
) -> tuple[list[ChainResult], int]:
    """Submit the chains to a Dask cluster; return their results and the worker count."""
    from distributed import as_completed

    from epicast.cluster import open_client, wait_for_workers

    if not logger.isEnabledFor(logging.INFO):  # distributed logs at INFO from its import on
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with open_client(where, calibration.cluster) as client, _quiet_when_stopped():
        client.subscribe_topic(PROGRESS_TOPIC, lambda event: report(*event[1]))
        wait_for_workers(client)
        futures = [
            client.submit(_run_on_worker, task, pure=False, key=f"epicast-chain-{task.chain}")
            for task in tasks
        ]
        results = []
        for future in as_completed(futures):
            results.append(future.result())
            report(results[-1].chain, tasks[0].settings.total)  # events may lag the result
        workers = len(client.nthreads())
        client.unsubscribe_topic(PROGRESS_TOPIC)
    return sorted(results, key=lambda r: r.chain), workers


@contextmanager
def _quiet_when_stopped() -> Iterator[None]:
    """Silence distributed (for the rest of the process) when Ctrl-C or SIGTERM stops it.

    Inside the cluster's block, so that its shutdown is quiet: its warnings about
    the cancelled chains and the workers it kills are the expected consequence
    of stopping, not news; the command says it stopped.
    """
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SIGTERM, SystemExit
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        raise


def _run_on_worker(task: ChainTask) -> ChainResult:
    """Run a chain on a Dask worker, reporting progress as events at most every 0.25 s."""
    from distributed import get_worker

    worker, last = get_worker(), 0.0

    def report(chain: int, iteration: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL or iteration == task.settings.total:
            worker.log_event(PROGRESS_TOPIC, (chain, iteration))
            last = now

    return run_chain(task, report)


@contextmanager
def _progress(tasks: list[ChainTask], progress: bool | Report) -> Iterator[Report]:
    """Yield the report callback: the caller's, progress on standard error, or none.

    On a terminal a rich bar per chain; otherwise (a log) :func:`progress_lines`.
    """
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda chain, iteration: None
        return
    if not sys.stderr.isatty():
        yield progress_lines({t.chain: t.settings.total for t in tasks}, sys.stderr)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("chain {task.fields[chain]}", BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        ids = {t.chain: bar.add_task("", total=t.settings.total, chain=t.chain) for t in tasks}
        yield lambda chain, iteration: bar.update(ids[chain], completed=iteration)


def progress_lines(totals: dict[int, int], stream: TextIO) -> Report:
    """Return a progress callback that writes a plain line per chain at each quarter done.

    For logs: no bar, no carriage return, at most four lines per chain, e.g.
    ``chain 1: 750/3000 iterations (25%, 4 s)`` (seconds since the callback
    was made). A line comes with the first report past each quarter, so a
    chain resumed from a checkpoint starts with the quarter it resumed in.

    Parameters
    ----------
    totals
        Iterations (warm-up included) of each chain, by chain index.
    stream
        Where the lines go (flushed after each).
    """
    reached, lock, started = dict.fromkeys(totals, 0), threading.Lock(), time.monotonic()

    def report(chain: int, iteration: int) -> None:
        total = totals[chain]
        quarter = 4 * iteration // total
        with lock:  # reports of Dask workers arrive on another thread
            if quarter <= reached[chain]:
                return
            reached[chain] = quarter
            seconds = time.monotonic() - started
            stream.write(
                f"chain {chain}: {iteration}/{total} iterations "
                f"({100 * iteration // total}%, {seconds:.0f} s)\n"
            )
            stream.flush()

    return report


def _gather(
    calibration: Calibration,
    results: list[ChainResult],
    where: str,
    workers: int,
    started: str,
    seconds: float,
) -> CalibrationResult:
    """Stack the chains into a result."""
    import numba

    from epicast import __version__

    counts = np.array([r.counts for r in results])
    spec = calibration.sampler
    return CalibrationResult(
        calibration=calibration,
        names=calibration.parameter_names,
        draws=np.stack([r.draws for r in results]),
        log_densities=np.stack([r.log_densities for r in results]),
        acceptance=counts[:, 1] / spec.iterations,
        warmup_acceptance=counts[:, 0] / spec.warmup,
        evaluations=counts[:, 2],
        chain_seconds=np.array([r.seconds for r in results]),
        seed_entropy=spec.seed,
        where=where,
        workers=workers,
        started=started,
        seconds=seconds,
        versions={
            "epicast": __version__,
            "numpy": np.__version__,
            "numba": numba.__version__,
            "python": platform.python_version(),
        },
    )
