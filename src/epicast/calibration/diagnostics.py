"""MCMC convergence diagnostics: rank-normalised split R-hat, bulk and tail ESS.

The definitions are those of Vehtari, Gelman, Simpson, Carpenter and Bürkner
(2021), "Rank-normalization, folding, and localization: An improved R-hat for
assessing convergence of MCMC", Bayesian Analysis 16(2):667-718, as Stan,
the R package posterior and ArviZ (``rhat(method="rank")``, ``ess(method="bulk")``
and ``ess(method="tail")``) compute them:

- each chain is split in two halves (the middle draw of an odd count is dropped);
- rank normalisation replaces the pooled draws by ``Φ⁻¹((r - 3/8) / (S + 1/4))``
  of their average ranks ``r`` (Blom's offset; ``S`` draws in all);
- R-hat is the larger of the bulk R-hat (rank-normalised draws) and the tail
  R-hat (rank-normalised ``|x - median|``);
- bulk ESS is the ESS of the rank-normalised split chains, tail ESS the smaller
  ESS of the indicators ``x <= q05`` and ``x <= q95``; the ESS uses the FFT
  autocovariance and Geyer's initial monotone sequence.

Draws are arrays of shape ``(chains, draws)`` for one parameter or
``(chains, draws, parameters)`` for several. A parameter whose draws are all
equal, that has a non-finite draw, or with fewer than 4 draws per chain gets
``nan`` diagnostics (no exception): :func:`problems` says why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

MIN_DRAWS = 4
"""Fewer draws per chain than this give ``nan`` diagnostics (as in ArviZ)."""
STATISTICS = ("mean", "sd", "q05", "q50", "q95", "rhat", "ess_bulk", "ess_tail")
"""The per-parameter columns of a :class:`Summary`, in table order."""

_INVERSE_NORMAL_CDF = np.frompyfunc(NormalDist().inv_cdf, 1, 1)


def split_rhat(draws: npt.ArrayLike) -> np.ndarray:
    """Return the rank-normalised split R-hat of each parameter.

    Parameters
    ----------
    draws
        Draws of shape ``(chains, draws)`` or ``(chains, draws, parameters)``.

    Returns
    -------
    numpy.ndarray
        Shape ``()`` or ``(parameters,)``: the larger of the bulk and the tail
        (folded) R-hat; ``inf`` when every half chain is constant but they differ,
        ``nan`` when the parameter is unusable (see the module docstring).
        Unlike ArviZ, a single chain gets a value (from its two halves).
    """
    return _per_parameter(_rhat_rank, draws)


def ess_bulk(draws: npt.ArrayLike) -> np.ndarray:
    """Return the bulk effective sample size of each parameter.

    Parameters
    ----------
    draws
        Draws of shape ``(chains, draws)`` or ``(chains, draws, parameters)``.

    Returns
    -------
    numpy.ndarray
        Shape ``()`` or ``(parameters,)``: the ESS of the rank-normalised split
        chains, in draws; ``nan`` when the parameter is unusable.
    """
    return _per_parameter(_ess_bulk, draws)


def ess_tail(draws: npt.ArrayLike) -> np.ndarray:
    """Return the tail effective sample size of each parameter.

    Parameters
    ----------
    draws
        Draws of shape ``(chains, draws)`` or ``(chains, draws, parameters)``.

    Returns
    -------
    numpy.ndarray
        Shape ``()`` or ``(parameters,)``: the smaller ESS of the 5% and 95%
        quantile indicators, in draws; ``nan`` when the parameter is unusable.
    """
    return _per_parameter(_ess_tail, draws)


@dataclass(frozen=True, eq=False)
class Summary:
    """Posterior summary and convergence diagnostics, one entry per parameter.

    Every statistic is an array of shape ``(parameters,)`` in the units of the
    parameter (R-hat is unitless, the ESS counts draws).
    """

    names: tuple[str, ...]
    n_chains: int
    n_draws: int
    mean: np.ndarray
    sd: np.ndarray
    q05: np.ndarray
    q50: np.ndarray
    q95: np.ndarray
    rhat: np.ndarray
    ess_bulk: np.ndarray
    ess_tail: np.ndarray

    def columns(self) -> dict[str, np.ndarray]:
        """Return the statistics by name (:data:`STATISTICS`), e.g. to store as data sets."""
        return {name: getattr(self, name) for name in STATISTICS}

    def table(self) -> str:
        """Return a fixed-width text table: one row per parameter."""
        width = max(len("parameter"), *map(len, self.names))
        header = f"{'parameter':<{width}}" + "".join(f"{name:>11}" for name in STATISTICS)
        rows = [
            f"{name:<{width}}" + "".join(f"{value:>11.4g}" for value in values)
            for name, *values in zip(self.names, *self.columns().values(), strict=True)
        ]
        return "\n".join([header, *rows])


def summarize(draws: npt.ArrayLike, names: Sequence[str]) -> Summary:
    """Summarise the posterior draws of several parameters.

    Parameters
    ----------
    draws
        Draws of shape ``(chains, draws, parameters)``.
    names
        The parameters' names, one per entry of the last axis.

    Returns
    -------
    Summary
        Mean, standard deviation, 5%, 50% and 95% quantiles, R-hat, bulk and tail ESS.

    Raises
    ------
    ValueError
        If ``draws`` is not three-dimensional or ``names`` does not match its last axis.
    """
    array = _as_draws(draws)
    if array.ndim != 3 or array.shape[2] != len(names):
        raise ValueError(
            f"draws of shape {array.shape} do not match {len(names)} parameter names; "
            "expected (chains, draws, parameters)"
        )
    with np.errstate(invalid="ignore"):  # inf draws give a nan sd
        quantiles = np.quantile(array, (0.05, 0.5, 0.95), axis=(0, 1))
        return Summary(
            names=tuple(names),
            n_chains=array.shape[0],
            n_draws=array.shape[1],
            mean=array.mean(axis=(0, 1)),
            sd=array.std(axis=(0, 1), ddof=1),
            q05=quantiles[0],
            q50=quantiles[1],
            q95=quantiles[2],
            rhat=split_rhat(array),
            ess_bulk=ess_bulk(array),
            ess_tail=ess_tail(array),
        )


def problems(
    summary: Summary, *, max_rhat: float = 1.01, min_ess_per_chain: float = 100.0
) -> list[str]:
    """Return one warning line per convergence problem; an empty list when none.

    The thresholds are the recommendations of Vehtari et al. (2021): R-hat
    below 1.01, and bulk and tail ESS above 100 per chain (400 for 4 chains).

    Parameters
    ----------
    summary
        The result of :func:`summarize`.
    max_rhat
        Largest acceptable R-hat.
    min_ess_per_chain
        Smallest acceptable bulk and tail ESS, per chain.

    Returns
    -------
    list[str]
        Human-readable messages naming the parameter and the offending value.
    """
    if summary.n_draws < MIN_DRAWS:
        return [
            f"only {summary.n_draws} draws per chain: at least {MIN_DRAWS} are needed "
            "for R-hat and ESS"
        ]
    min_ess = min_ess_per_chain * summary.n_chains
    found = []
    for name, mean, rhat, bulk, tail in zip(
        summary.names,
        summary.mean,
        summary.rhat,
        summary.ess_bulk,
        summary.ess_tail,
        strict=True,
    ):
        found += _parameter_problems(name, mean, rhat, (bulk, tail), max_rhat, min_ess)
    return found


def _parameter_problems(
    name: str, mean: float, rhat: float, ess: tuple[float, float], max_rhat: float, min_ess: float
) -> list[str]:
    """Return the warnings about one parameter."""
    if not np.isfinite(mean):
        return [f"{name}: has non-finite draws (nan or inf); no diagnostics"]
    if np.isnan(rhat):
        return [f"{name}: did not move (every draw equals {mean:.6g}); R-hat and ESS undefined"]
    found = []
    if rhat > max_rhat:
        shown = f"{rhat:.4f}" if rhat < 1e4 else f"{rhat:.3e}"
        found.append(f"{name}: R-hat {shown} > {max_rhat}: the chains have not mixed")
    for kind, value in zip(("bulk", "tail"), ess, strict=True):
        if value < min_ess:
            found.append(f"{name}: {kind} ESS {value:.0f} < {min_ess:.0f}: too few effective draws")
    return found


def _as_draws(draws: npt.ArrayLike) -> np.ndarray:
    """Return ``draws`` as a float array of shape (chains, draws[, parameters])."""
    array = np.asarray(draws, dtype=float)
    if array.ndim not in (2, 3):
        raise ValueError(
            f"draws must have shape (chains, draws) or (chains, draws, parameters), "
            f"not {array.shape}"
        )
    return array


def _per_parameter(diagnostic: Callable[[np.ndarray], float], draws: npt.ArrayLike) -> np.ndarray:
    """Apply a diagnostic of one (chains, draws) array to each usable parameter."""
    array = _as_draws(draws)
    stacked = array.reshape(*array.shape[:2], -1)
    values = [
        diagnostic(stacked[:, :, i]) if _usable(stacked[:, :, i]) else np.nan
        for i in range(stacked.shape[2])
    ]
    return np.array(values, dtype=float).reshape(array.shape[2:])


def _usable(x: np.ndarray) -> bool:
    """Whether a (chains, draws) array has enough, finite and not all equal draws."""
    return x.shape[1] >= MIN_DRAWS and bool(np.isfinite(x).all()) and np.ptp(x) > 0


def _split_chains(x: np.ndarray) -> np.ndarray:
    """Return (2 chains, draws // 2): first halves, then last halves."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]])


def _rank_normalize(x: np.ndarray) -> np.ndarray:
    """Return the normal scores of the pooled average ranks (Blom's offset 3/8)."""
    quantiles = (_average_ranks(x.ravel()) - 0.375) / (x.size + 0.25)
    return _INVERSE_NORMAL_CDF(quantiles).astype(float).reshape(x.shape)


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Return the 1-based ranks of ``values``, ties getting their average rank."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], values.size]
    ranks = np.empty(values.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2, ends - starts)
    return ranks


def _rhat(x: np.ndarray) -> float:
    """Return the R-hat of (chains, draws): sqrt(var+ / W)."""
    n = x.shape[1]
    within = x.var(axis=1, ddof=1).mean()
    between_over_n = x.mean(axis=1).var(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):  # W = 0: inf, or nan when B = 0 too
        return float(np.sqrt(((n - 1) / n * within + between_over_n) / within))


def _rhat_rank(x: np.ndarray) -> float:
    """Return the larger of the bulk and the folded R-hat of (chains, draws)."""
    split = _split_chains(x)
    bulk = _rhat(_rank_normalize(split))
    tail = _rhat(_rank_normalize(np.abs(split - np.median(split))))
    return float(np.fmax(bulk, tail))


def _ess_bulk(x: np.ndarray) -> float:
    """Return the ESS of the rank-normalised split chains of (chains, draws)."""
    return _ess(_rank_normalize(_split_chains(x)))


def _ess_tail(x: np.ndarray) -> float:
    """Return the smaller ESS of the 5% and 95% quantile indicators of (chains, draws).

    The quantiles are of type 7 (linear). When one is an order statistic (``S - 1``
    a multiple of 20), ``np.quantile`` returns that draw exactly, as R's ``quantile``
    does for the posterior package; ArviZ's ``mquantiles`` can fall an ulp below it
    and leave that draw out of the indicator.
    """
    return min(_ess(_split_chains(x <= q)) for q in np.quantile(x, (0.05, 0.95)))


def _ess(x: np.ndarray) -> float:
    """Return the effective sample size of (chains, draws), all draws counted."""
    x = x.astype(float)
    if np.ptp(x) == 0:  # a constant indicator (tied draws): every draw counts, as in ArviZ
        return float(x.size)
    n = x.shape[1]
    autocovariance = _autocovariance(x).mean(axis=0)
    within = autocovariance[0] * n / (n - 1)
    var_plus = autocovariance[0] + x.mean(axis=1).var(ddof=1)
    rho = 1 - (within - autocovariance) / var_plus
    rho[0] = 1.0
    tau = max(_integrated_time(rho), 1 / np.log10(x.size))
    return float(x.size / tau)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Return the biased autocovariance of each chain at lags 0..draws-1, by FFT."""
    n = x.shape[1]
    spectrum = np.fft.rfft(x - x.mean(axis=1, keepdims=True), n=2 * n, axis=1)
    return np.fft.irfft(np.abs(spectrum) ** 2, n=2 * n, axis=1)[:, :n] / n


def _integrated_time(rho: np.ndarray) -> float:
    """Return ``-1 + 2 Σ ρ_t`` truncated and smoothed by Geyer's initial monotone sequence.

    The pair sums ``P_k = ρ_2k + ρ_2k+1`` are summed up to (excluding) the first
    non-positive one, or the last one Stan and ArviZ look at, made non-increasing
    by a running minimum; the even lag of that last pair is added when positive
    (or when the pair is not negative).
    """
    last = max((rho.size - 3) // 2, 0)
    pairs = rho[0 : 2 * last + 1 : 2] + rho[1 : 2 * last + 2 : 2]
    stops = np.flatnonzero(pairs <= 0)
    stop = int(stops[0]) if stops.size else last
    tail = rho[2 * stop] if pairs[stop] >= 0 else max(rho[2 * stop], 0.0)
    return -1 + 2 * float(np.minimum.accumulate(pairs[:stop]).sum()) + tail
