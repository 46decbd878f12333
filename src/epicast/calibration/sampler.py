"""Adaptive Metropolis chains, compiled whole with the model and the likelihood.

Algorithm
---------
Random-walk Metropolis in the unconstrained space of :mod:`epicast.calibration.posterior`
with the proposal z' = z + lambda L e, e ~ N(0, I), where L L^T is the
empirical covariance of the chain (Haario, Saksman & Tamminen 2001, "An
adaptive Metropolis algorithm", Bernoulli 7(2):223-242) and log lambda follows
the Robbins-Monro recursion log lambda += (alpha - 0.234) / n^0.6 towards the
optimal acceptance rate of random-walk proposals (Andrieu & Thoms 2008, "A
tutorial on adaptive MCMC", Statistics and Computing 18:343-373, Algorithm 4;
Roberts, Gelman & Gilks 1997). The covariance is estimated in warm-up windows
ending at 1/8, 1/4, 1/2 and 7/8 of the warm-up, each restarting the estimate
(and lambda at 2.38 / sqrt(D)) so that the transient of the start is
forgotten; the last eighth adapts lambda only.

After warm-up nothing adapts any more. Each iteration then proposes, with
probability ``P_INDEPENDENT``, an independence proposal from a multivariate t
(``T_DOF`` degrees of freedom) centred on the last window's mean with its
covariance scaled by ``T_SCALE``, and otherwise the random walk above. Both
are Metropolis-Hastings kernels that leave the posterior invariant, so their
mixture does too (Tierney 1994, "Markov chains for exploring posterior
distributions", Annals of Statistics 22(4):1701-1728, sections 2.3.3 and 2.4);
the t's heavy tails keep the weights pi/q bounded, which makes the
independence kernel uniformly ergodic (Mengersen & Tweedie 1996). Where the
posterior is close to a Gaussian in the unconstrained space the independence
proposals are accepted most of the time and give nearly independent draws:
that is the sampler's speed (see the benchmarks).

Reproducibility
---------------
A chain draws its random numbers in blocks of ``BLOCK`` iterations (the
normals e, log-uniforms, the kernel choices, chi-squares for the t) from a
PCG64 generator seeded by its own ``numpy.random.SeedSequence`` (spawned
from the calibration's seed). Its whole state, the generator's included, is
a :class:`ChainState` that can be saved after any block, so a chain resumed
from a checkpoint continues with exactly the numbers it would have drawn:
results are bit-identical whatever
the number of workers and whatever interruptions.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from numba import njit

from epicast._files import atomic_path
from epicast._jit import OPTIONS
from epicast.calibration.posterior import Posterior, log_density, parameter_values, unconstrain
from epicast.errors import EpicastError

logger = logging.getLogger(__name__)

BLOCK = 100
"""Iterations per block of random numbers (checkpoints fall between blocks)."""
TARGET_ACCEPTANCE = 0.234
"""Acceptance rate the step scale adapts to (Roberts, Gelman & Gilks 1997)."""
INITIAL_SD = 0.1
"""Initial proposal standard deviation in the unconstrained space."""
WINDOW_ENDS = (1 / 8, 1 / 4, 1 / 2, 7 / 8)
"""Ends of the covariance estimation windows, as fractions of the warm-up."""
P_INDEPENDENT = 0.75
"""Probability of an independence proposal after warm-up (else a random-walk one)."""
T_DOF = 5.0
"""Degrees of freedom of the independence proposal."""
T_SCALE = 1.25
"""Scale of the independence proposal relative to the warm-up's covariance estimate."""
MAX_INITIAL_DRAWS = 1000
# Compile time: the kernels copy arrays element by element, never ``a[:] = b``,
# whose shape check compiles numba's string formatting (seconds on a new machine).


@dataclass(frozen=True)
class Settings:
    """How long a chain runs and what it keeps (see :class:`~.file.SamplerSpec`)."""

    warmup: int
    iterations: int
    thin: int

    @property
    def total(self) -> int:
        """Iterations in all, warm-up included."""
        return self.warmup + self.iterations

    @property
    def kept(self) -> int:
        """Draws kept after warm-up and thinning."""
        return -(-self.iterations // self.thin)

    def window_ends(self) -> np.ndarray:
        """Return the iterations after which the proposal covariance is re-estimated."""
        return np.array(sorted({int(self.warmup * f) for f in WINDOW_ENDS}), dtype=np.int64)


@dataclass
class ChainState:
    """Everything a chain needs to continue: position, adaptation, draws so far, generator.

    Attributes
    ----------
    iteration
        Iterations done (a multiple of ``BLOCK`` until the end).
    z
        Current point, unconstrained space, shape (D,).
    log_density
        Log posterior at ``z``.
    log_scale
        log lambda, the proposal scale.
    chol
        Cholesky factor L of the proposal covariance, shape (D, D).
    center
        Mean of the last window: the centre of the independence proposal, (D,).
    mean, m2
        Running mean and sum of squared deviations of the current window, (D,), (D, D).
    counts
        Iterations in the current window, accepted in warm-up, accepted after
        warm-up, log-density evaluations.
    draws
        Parameter values kept, shape (kept, D); rows beyond those done are 0.
    log_densities
        Log posterior of each kept draw, shape (kept,).
    rng
        The state of the PCG64 generator (``bit_generator.state``).
    """

    iteration: int
    z: np.ndarray
    log_density: float
    log_scale: float
    chol: np.ndarray
    center: np.ndarray
    mean: np.ndarray
    m2: np.ndarray
    counts: np.ndarray
    draws: np.ndarray
    log_densities: np.ndarray
    rng: dict

    def save(self, path: Path) -> None:
        """Write the state to ``path`` (.npz) atomically: a reader sees the old or the new one.

        Its folder is created by the first checkpoint, so that a calibration that
        fails before any leaves no folder behind.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rng"}
        with atomic_path(path, force=True) as temporary, temporary.open("wb") as handle:
            np.savez(handle, rng=json.dumps(self.rng), **arrays)

    @classmethod
    def load(cls, path: Path) -> ChainState:
        """Read a state written by :meth:`save`."""
        with np.load(path) as saved:
            values = {name: saved[name] for name in saved.files}
        values["rng"] = json.loads(str(values["rng"]))
        values["iteration"] = int(values["iteration"])
        values["log_density"] = float(values["log_density"])
        values["log_scale"] = float(values["log_scale"])
        return cls(**values)


class Chain:
    """One adaptive Metropolis chain on a compiled posterior.

    Parameters
    ----------
    posterior
        From :func:`epicast.calibration.posterior.build_posterior`.
    settings
        Warm-up, iterations and thinning.
    seed
        This chain's seed sequence (one of ``SeedSequence(seed).spawn(chains)``).
    initial
        Frozen scipy.stats distributions of the priors' quantities, to draw the start from.
    state
        A saved state to resume from; None starts from a prior draw.
    """

    def __init__(
        self,
        posterior: Posterior,
        settings: Settings,
        seed: np.random.SeedSequence,
        initial: list,
        state: ChainState | None = None,
    ) -> None:
        self.posterior = posterior
        self.settings = settings
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._values = np.empty_like(posterior.base)
        self._out = np.empty((posterior.n_days + 1, *posterior.y0.shape))
        self._proposal = np.empty(posterior.dimension)
        self._window_ends = settings.window_ends()
        if state is None:
            state = self._start(initial)
        self.rng.bit_generator.state = state.rng
        self.state = state

    @property
    def done(self) -> bool:
        """True when every iteration has run."""
        return self.state.iteration >= self.settings.total

    def blocks(self) -> Iterator[ChainState]:
        """Run the chain block by block, yielding the state after each (to save or report)."""
        while not self.done:
            self.advance()
            yield self.state

    def advance(self) -> None:
        """Run the next block of ``BLOCK`` iterations (fewer at the very end)."""
        d = self.posterior.dimension
        eps = self.rng.standard_normal((BLOCK, d))
        log_u = np.log(self.rng.random(BLOCK))
        choice = self.rng.random(BLOCK)
        chi2 = self.rng.chisquare(T_DOF, BLOCK)
        count = min(BLOCK, self.settings.total - self.state.iteration)
        self._run(eps[:count], log_u[:count], choice[:count], chi2[:count])
        self.state.rng = self.rng.bit_generator.state

    def seconds_per_iteration(self, least: float) -> float:
        """Time iterations in batches of 1, 2, 4, ... for ``least`` seconds; return their mean.

        Stops early at the chain's end. For estimates only: a batch is not a whole
        block of random numbers, so the chain no longer follows its seed afterwards.
        """
        d = self.posterior.dimension
        batch, done, elapsed = 1, 0, 0.0
        while elapsed < least and not self.done:
            count = min(batch, self.settings.total - self.state.iteration)
            eps = self.rng.standard_normal((count, d))
            log_u = np.log(self.rng.random(count))
            choice, chi2 = self.rng.random(count), self.rng.chisquare(T_DOF, count)
            started = time.perf_counter()
            self._run(eps, log_u, choice, chi2)
            elapsed += time.perf_counter() - started
            done, batch = done + count, 2 * batch
        return elapsed / done

    def _run(self, eps: np.ndarray, log_u: np.ndarray, choice: np.ndarray, chi2: np.ndarray):
        """Run len(log_u) iterations of the compiled kernel on the state."""
        state = self.state
        count = log_u.size
        scalars = np.array([state.log_density, state.log_scale])
        _run_block(
            self.posterior,
            state.z,
            scalars,
            state.chol,
            state.center,
            state.mean,
            state.m2,
            state.counts,
            eps,
            log_u,
            choice,
            chi2,
            state.iteration,
            self.settings.warmup,
            self.settings.thin,
            self._window_ends,
            state.draws,
            state.log_densities,
            self._values,
            self._out,
            self._proposal,
        )
        state.log_density, state.log_scale = float(scalars[0]), float(scalars[1])
        state.iteration += count

    def _start(self, initial: list) -> ChainState:
        """Draw a starting point from the prior with a finite log posterior.

        Each point is evaluated by the chain's kernel with no iteration (log density
        NaN: not known yet), so that ``epicast calibrate`` compiles one function with
        the model in it, not two.
        """
        d = self.posterior.dimension
        no_draws = np.empty((0, d)), np.empty(0), np.empty(0), np.empty(0)
        for _ in range(MAX_INITIAL_DRAWS):
            u = np.array([prior.rvs(random_state=self.rng) for prior in initial], dtype=float)
            self.state = self._initial_state(unconstrain(self.posterior, u))
            self._run(*no_draws)
            if np.isfinite(self.state.log_density):
                return self.state
        raise EpicastError(
            f"none of {MAX_INITIAL_DRAWS} starting points drawn from the priors gives a "
            "finite log posterior; check the priors and the data"
        )

    def _initial_state(self, z: np.ndarray) -> ChainState:
        """Return the state of a chain starting at z, its log density not yet known."""
        d = self.posterior.dimension
        return ChainState(
            iteration=0,
            z=z,
            log_density=np.nan,
            log_scale=math.log(2.38 / math.sqrt(d)),
            chol=np.eye(d) * INITIAL_SD,
            center=z.copy(),
            mean=np.zeros(d),
            m2=np.zeros((d, d)),
            counts=np.zeros(4, dtype=np.int64),
            draws=np.zeros((self.settings.kept, d)),
            log_densities=np.zeros(self.settings.kept),
            rng=self.rng.bit_generator.state,
        )


@njit(**OPTIONS)
def _run_block(
    post,
    z,
    scalars,
    chol,
    center,
    mean,
    m2,
    counts,
    eps,
    log_u,
    choice,
    chi2,
    first,
    warmup,
    thin,
    window_ends,
    draws,
    log_densities,
    values,
    out,
    proposal,
):
    """Run len(log_u) iterations from iteration ``first``, updating the state in place.

    ``scalars`` holds [log density at z, log proposal scale]; a NaN log density is
    computed first (then -inf where it has no finite value). ``counts`` holds
    [iterations in the current window, accepted in warm-up, accepted after, evaluations].
    """
    d = z.size
    lp, log_scale = scalars[0], scalars[1]
    log_q = _log_t_density(z, center, chol, proposal)
    # j = -1 evaluates z itself when its log density is not known: log_density is
    # called from one place only (numba inlines it, model call and all, at each).
    for j in range(-1 if np.isnan(lp) else 0, log_u.size):
        i = first + j
        independent = j >= 0 and i >= warmup and choice[j] < P_INDEPENDENT
        if j < 0:
            for a in range(d):
                proposal[a] = z[a]
        else:
            if independent:
                spread = T_SCALE * math.sqrt(T_DOF / chi2[j])
                origin = center
            else:
                spread = math.exp(log_scale)
                origin = z
            for a in range(d):
                step = 0.0
                for b in range(a + 1):
                    step += chol[a, b] * eps[j, b]
                proposal[a] = origin[a] + spread * step
        lp_new = log_density(proposal, post, values, out)
        if j < 0:
            lp = lp_new
            continue
        counts[3] += 1
        log_ratio = lp_new - lp
        if independent:
            log_q_new = _log_t_density(proposal, center, chol, values)
            log_ratio += log_q - log_q_new
        log_alpha = min(0.0, log_ratio) if np.isfinite(lp_new) else -np.inf
        if log_u[j] < log_alpha:
            for a in range(d):  # element loops, not z[:] = ...: see _OPTIONS
                z[a] = proposal[a]
            lp = lp_new
            counts[1 if i < warmup else 2] += 1
            log_q = log_q_new if independent else _log_t_density(z, center, chol, proposal)
        if i < warmup:
            counts[0] += 1
            n = counts[0]
            log_scale += (math.exp(log_alpha) - TARGET_ACCEPTANCE) / n**0.6
            _welford(z, mean, m2, n, proposal)  # the proposal is done with: a work array
            if _window_ends_at(i + 1, window_ends) and n > d + 1:
                if _cholesky(m2, n - 1, chol):
                    log_scale = math.log(2.38 / math.sqrt(d))
                    for a in range(d):
                        center[a] = mean[a]
                    log_q = _log_t_density(z, center, chol, proposal)
                counts[0] = 0
                for a in range(d):
                    mean[a] = 0.0
                    for b in range(d):
                        m2[a, b] = 0.0
        else:
            k = i - warmup
            if k % thin == 0:
                parameter_values(z, post, values)
                for a in range(d):
                    draws[k // thin, a] = values[post.slot[a]]
                log_densities[k // thin] = lp
    scalars[0], scalars[1] = lp, log_scale


@njit(**OPTIONS)
def _log_t_density(x, center, chol, work):
    """Log density, up to a constant, of x under the independence proposal (a multivariate t)."""
    d = x.size
    quadratic = 0.0
    for a in range(d):  # forward substitution: work = L^-1 (x - center) / T_SCALE
        total = (x[a] - center[a]) / T_SCALE
        for b in range(a):
            total -= chol[a, b] * work[b]
        work[a] = total / chol[a, a]
        quadratic += work[a] * work[a]
    return -0.5 * (T_DOF + d) * math.log1p(quadratic / T_DOF)


@njit(inline="always", **OPTIONS)
def _window_ends_at(iteration, window_ends):
    for end in window_ends:  # noqa: SIM110 - numba compiles loops, not generators
        if end == iteration:
            return True
    return False


@njit(inline="always", **OPTIONS)
def _welford(z, mean, m2, n, delta):
    """Add z as the n-th point of the running mean and co-moment (Welford 1962).

    ``delta`` (D,) is a work array.
    """
    d = z.size
    for a in range(d):
        delta[a] = z[a] - mean[a]
        mean[a] += delta[a] / n
    for a in range(d):
        for b in range(d):
            m2[a, b] += delta[a] * (z[b] - mean[b])


@njit(**OPTIONS)
def _cholesky(m2, n, chol):
    """Write the lower Cholesky factor of m2 / n into ``chol``; False (unchanged) if not PD.

    ``m2`` (D, D) is a sum of squared deviations over n + 1 points, so m2 / n is
    their sample covariance. Written out because numba's ``np.linalg`` needs
    SciPy's LAPACK at run time, and D is a handful of parameters.
    """
    d = m2.shape[0]
    result = np.zeros((d, d))
    for a in range(d):
        for b in range(a + 1):
            total = m2[a, b] / n
            for k in range(b):
                total -= result[a, k] * result[b, k]
            if a == b:
                if total <= 0.0:
                    return False
                result[a, a] = math.sqrt(total)
            else:
                result[a, b] = total / result[b, b]
    for a in range(d):
        for b in range(d):
            chol[a, b] = result[a, b]
    return True
