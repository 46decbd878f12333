"""Running a calibration: chains as tasks, in this process or on an executor.

Each chain is one task (:func:`run_chain`) that needs nothing but its
:class:`ChainTask`: the compiled posterior, its settings and its own seed. It
saves its state every ``checkpoint_every`` iterations, and a task started
again (after an interruption, or by Dask after a worker was lost) resumes
from the last checkpoint, so a calibration gives bit-identical chains however
many workers run it. :func:`calibrate` runs the tasks on what it is given (this
process, a Dask client, a process pool: the caller chooses, see
:mod:`epicast.calibration.placement`), gathers the chains and is the only one
that makes the result; :mod:`epicast.store` writes it.

Checkpoints live in a folder named by a fingerprint of everything that
decides the chains (inputs, sampler settings, epicast version), so a changed
input never resumes from stale states. On a cluster it must be on a file
system the workers share.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO

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
from epicast.kernels import integrate
from epicast.model import basic_reproduction_number, per_day
from epicast.severity import OUTCOMES, daily_outcomes

if TYPE_CHECKING:
    from distributed import Client

logger = logging.getLogger(__name__)

IN_PROCESS = "none"
"""Where the chains of a calibration without an executor ran: in this process."""

PROGRESS_TOPIC = "epicast-progress"
"""Dask event topic on which workers report (chain, iterations done)."""
PROGRESS_INTERVAL = 0.25
"""Seconds between progress reports of a chain."""

Report = Callable[[int, int], None]
"""Progress callback: (chain index, iterations done)."""


@dataclass(frozen=True)
class ChainTask:
    """Everything one chain needs, picklable for a worker process."""

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
    process: int
    """Id of the process that finished the chain."""


PREDICTIVE_QUANTILES = (0.05, 0.5, 0.95)
"""The quantiles of the posterior predictive a result keeps: a 90% band and its median."""


@dataclass(frozen=True)
class CalibrationResult:
    """The chains of a calibration, with their diagnostics and provenance.

    What :func:`calibrate` returns and :func:`epicast.write_calibration` stores:
    the draws of every chain, how the chains ran (acceptance, evaluations,
    seconds, where and on how many workers), and, computed when first asked
    for, the posterior :attr:`summary` with its convergence :meth:`warnings`,
    derived quantities (R0, periods) and the posterior predictive.
    """

    calibration: Calibration
    """The calibration that was run."""
    names: tuple[str, ...]
    """The fitted parameters, in the order of the draws' last axis."""
    draws: np.ndarray
    """Parameter values, shape (chains, kept, D)."""
    log_densities: np.ndarray
    """Log posterior of each draw, shape (chains, kept)."""
    acceptance: np.ndarray
    """Acceptance rate after warm-up per chain, shape (chains,)."""
    warmup_acceptance: np.ndarray
    """Acceptance rate in warm-up per chain, shape (chains,)."""
    evaluations: np.ndarray
    """Log-density evaluations per chain, shape (chains,)."""
    chain_seconds: np.ndarray
    """Wall time of each chain's finishing run, seconds, shape (chains,)."""
    seed_entropy: int
    """The calibration's seed, from which every chain's seed is spawned."""
    where: str
    """Where the chains ran: ``"none"`` (in process), ``"local"``, ``"slurm"``, a
    scheduler's address, or the type of the executor."""
    workers: int
    """The Dask cluster's workers, or the processes that ran chains."""
    started: str
    """When the calibration started, UTC, ISO 8601."""
    seconds: float
    """Wall time of the whole calibration, seconds."""
    versions: dict[str, str] = field(default_factory=dict)
    """Versions of epicast, numpy, numba and Python that ran it."""

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
        process=os.getpid(),
    )


class Pool(Protocol):
    """Anything that maps a function over tasks elsewhere and returns the results in order.

    A :class:`concurrent.futures.ProcessPoolExecutor`, a
    :class:`multiprocessing.pool.Pool`, mpi4py's ``MPIPoolExecutor``: the
    ``pool`` of emcee.
    """

    def map(self, fn: Callable[[ChainTask], ChainResult], tasks: Iterable[ChainTask], /) -> Any:
        """Call ``fn`` on each task; the results, in the tasks' order."""


def calibrate(
    calibration: Calibration,
    *,
    executor: Pool | Client | None = None,
    checkpoints: str | Path | None = None,
    progress: bool | Report = True,
) -> CalibrationResult:
    """Run every chain of a calibration, on an executor or in this process, and gather them.

    Each chain is a task on its own, seeded from the calibration's seed, so the
    chains are bit-identical whatever runs them: this process, a process pool,
    or a Dask cluster of any size. Where they run is the caller's choice (the
    ``epicast calibrate --cluster`` option opens a Dask cluster for it); this
    function never starts one.

    Parameters
    ----------
    calibration
        The calibration (see :func:`epicast.load_calibration`).
    executor
        What runs the chains: None, one after another in this process; a
        :class:`distributed.Client`, one task per chain on its cluster, which
        resubmits the chain of a lost worker (it resumes from its checkpoint);
        or any other object with a ``map`` (see :class:`Pool`), e.g. a
        :class:`concurrent.futures.ProcessPoolExecutor`, which gets
        :func:`run_chain` and the tasks.
    checkpoints
        Folder for the chains' checkpoints; None for none. On a cluster it must
        be on a file system the workers share. A calibration given the same
        folder again resumes its chains from their last checkpoints.
    progress
        True: progress per chain on standard error (a rich bar per chain on a
        terminal, otherwise a plain line per chain at each quarter of its
        iterations); False: none; or a function called with (chain, iterations
        done). In this process and on Dask (the workers send events) it is
        called as the chains run; with another executor, once per finished chain.

    Returns
    -------
    CalibrationResult
        Draws of every chain, diagnostics, provenance.
    """
    checkpoints = None if checkpoints is None else Path(checkpoints)
    tasks = chain_tasks(calibration, checkpoints)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    clock = time.perf_counter()
    try:
        with _progress(tasks, progress) as report:
            results = _run(tasks, executor, report)
    finally:  # interrupted or not: the temporaries of workers gone meanwhile are stale
        if checkpoints is not None:
            remove_half_written_checkpoints(calibration, checkpoints)
    where, workers = _where(executor, results)
    return _gather(calibration, results, where, workers, started, time.perf_counter() - clock)


def remove_half_written_checkpoints(calibration: Calibration, checkpoints: Path) -> None:
    """Remove the half-written checkpoints left by workers that are gone.

    A worker stopped while saving leaves a temporary file beside the chain's
    checkpoint. :func:`calibrate` removes those of workers gone by its end;
    whoever closes the executor (its workers then gone) calls this again.
    """
    folder = checkpoint_folder(calibration, checkpoints)
    for chain in range(calibration.sampler.chains):
        remove_stale_temporaries(folder / f"chain-{chain}.npz")


def _run(
    tasks: list[ChainTask], executor: Pool | Client | None, report: Report
) -> list[ChainResult]:
    """Run the chains on the executor; return their results in chain order."""
    if executor is None:
        return [run_chain(task, report) for task in tasks]
    if _is_dask_client(executor):
        return _run_on_dask(tasks, executor, report)
    results = []
    for result in executor.map(run_chain, tasks):
        report(result.chain, tasks[result.chain].settings.total)
        results.append(result)
    return results


def _is_dask_client(executor: object) -> bool:
    """Whether ``executor`` is a Dask client (without importing distributed if it is not)."""
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(executor, distributed.Client)


def _where(executor: Pool | Client | None, results: list[ChainResult]) -> tuple[str, int]:
    """Return where the chains ran and on how many workers, as the result records them.

    In process: ``"none"``. On Dask: ``"local"``, ``"slurm"`` or the scheduler's
    address, and the cluster's workers. Otherwise: the executor's type, and the
    processes that ran chains.
    """
    if executor is None:
        return IN_PROCESS, 1
    if _is_dask_client(executor):
        from epicast.cluster import place_of

        return place_of(executor), len(executor.nthreads())
    return type(executor).__name__, len({result.process for result in results})


def _run_on_dask(tasks: list[ChainTask], client: Client, report: Report) -> list[ChainResult]:
    """Submit the chains to a Dask cluster; return their results in chain order.

    The tasks' keys name the chains and this call, so that calibrations sharing a
    client never share a key.
    """
    from distributed import as_completed

    call = secrets.token_hex(4)
    client.subscribe_topic(PROGRESS_TOPIC, lambda event: report(*event[1]))
    try:
        futures = [
            client.submit(
                _run_on_worker, task, pure=False, key=f"epicast-chain-{task.chain}-{call}"
            )
            for task in tasks
        ]
        results = []
        for future in as_completed(futures):
            results.append(future.result())
            report(results[-1].chain, tasks[0].settings.total)  # events may lag the result
    finally:
        client.unsubscribe_topic(PROGRESS_TOPIC)
    return sorted(results, key=lambda r: r.chain)


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
