"""The log-posterior of a calibration, compiled with numba: priors, model, likelihoods.

:func:`build_posterior` packs a :class:`~epicast.calibration.file.Calibration` into
a :class:`Posterior` of plain arrays and codes, so that :func:`log_density`
runs without Python: the sampler (:mod:`epicast.calibration.sampler`) calls it in its
compiled loop, and :class:`LogDensity` wraps it for Python callers (tests,
emcee in the benchmarks).

Parametrisation
---------------
Each fitted parameter's prior is on a quantity u (the parameter, its inverse
or its logarithm, see :mod:`epicast.calibration.file`). The sampler moves in an
unconstrained space z: u = z on the real line, u = lower + exp(z) or
u = upper - exp(z) on a half-line, and u = lower + (upper - lower) /
(1 + exp(-z)) on an interval. The density in z includes the Jacobian
log|du/dz|, so that draws of u follow the posterior whatever the transform.

Likelihoods (y observed, mu the model's value, floored at ``MU_FLOOR``)
------------------------------------------------------------------------
- Poisson: y log mu - mu - log y!
- negative binomial (NB2, Stan's ``neg_binomial_2``): mean mu, variance
  mu + mu^2 / phi.
- normal: mean mu, standard deviation sd.

Admissions and deaths
---------------------
The model value of an admissions or deaths target on day d is the sum over
lags k of the delay's share ``delay[k]`` times the infections of day d - k in
the target's age groups, each weighted by the group's ratio
(:mod:`epicast.severity`): the output :func:`epicast.simulate` gives, summed
over the groups.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from epicast._jit import OPTIONS
from epicast.calibration.file import Calibration
from epicast.kernels import CUM_BREAKTHROUGH, CUM_INFECTIONS, CUM_ONSETS, integrate
from epicast.model import model_arrays

SLOTS = {"beta": 0, "sigma": 1, "gamma": 2, "rho": 3}
"""Where each model parameter sits in the value vector; likelihood parameters follow."""
PRIORS = {"normal": 0, "uniform": 1, "lognormal": 2, "exponential": 3}
TRANSFORMS = {"value": 0, "inverse": 1, "log": 2}
FAMILIES = {"poisson": 0, "negative_binomial": 1, "normal": 2}
OUTPUTS = {"prevalence": 0, "incidence": 1, "notifications": 2, "admissions": 3, "deaths": 4}
COMPARTMENT_ROWS = {"S": 0, "E": 1, "I": 2, "R": 3}
MU_FLOOR = 1e-8
"""Smallest model value a likelihood sees (the integrator may return -1e-12 for 0)."""
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# Compile time: the sampler's kernel (epicast.calibration.sampler) is the only compiled function of
# `epicast calibrate` that runs the model. numba inlines log_density into it
# (inline="always" copies the IR), so that the model, linked into every compiled
# caller and optimised again there, is optimised twice (on its own, in the kernel),
# not three times. Called from Python, log_density compiles on its own as usual.


class Posterior(NamedTuple):
    """A calibration's log-posterior as arrays (a numba-compatible named tuple).

    The model fields are those of :class:`epicast.model.ModelArrays`. ``base``
    holds every value the model and likelihoods read, fitted ones overwritten
    in each evaluation: beta, sigma, gamma, rho, then likelihood parameters.
    Per fitted parameter (D): value ``slot``, ``prior`` code, prior arguments
    ``a`` and ``b``, the support ``lower``/``upper`` of the prior's quantity,
    ``transform`` code (value, inverse, log) and the log normaliser of a
    truncated normal. Per target (T): ``output`` code, state ``row``, ``groups``
    (T, G): the weight of each age group in the sum (1 for a group summed, the
    ratio for admissions and deaths, 0 for a group left out), ``delay`` (T, K)
    of admissions and deaths (zeros for other targets), likelihood ``family``
    and ``scale_slot`` (dispersion or sd). With vaccination, the breakthrough
    infections (``breakthrough_row``, -1 without) count ``1 - severe_efficacy``
    times in admissions and deaths.
    Per observation (N): its ``target``, ``day`` index, ``value`` and log(y!).
    """

    y0: np.ndarray
    latent: bool
    segment_start: np.ndarray
    segment_contacts: np.ndarray
    segment_multiplier: np.ndarray | None
    segment_contact_slope: np.ndarray | None
    vaccine: tuple | None
    inv_population: np.ndarray
    t_start: float
    n_days: int
    first_step: float
    base: np.ndarray
    slot: np.ndarray
    prior: np.ndarray
    a: np.ndarray
    b: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    transform: np.ndarray
    log_norm: np.ndarray
    output: np.ndarray
    row: np.ndarray
    groups: np.ndarray
    delay: np.ndarray
    breakthrough_row: int
    severe_efficacy: float
    family: np.ndarray
    scale_slot: np.ndarray
    obs_target: np.ndarray
    obs_day: np.ndarray
    obs_value: np.ndarray
    obs_log_factorial: np.ndarray

    @property
    def dimension(self) -> int:
        """Number of fitted parameters."""
        return self.slot.size


def build_posterior(calibration: Calibration) -> Posterior:
    """Pack a calibration into the arrays of its compiled log-posterior.

    Parameters
    ----------
    calibration
        A loaded calibration (see :func:`epicast.calibration.file.load_calibration`).

    Returns
    -------
    Posterior
        Arrays and codes for :func:`log_density`.
    """
    from scipy.special import gammaln

    scenario = calibration.scenario
    arrays = model_arrays(scenario)
    latent = scenario.latent_period or np.inf
    values = [scenario.transmission_rate, 1 / latent, 1 / scenario.infectious_period]
    values.append(scenario.reporting_fraction)
    slots = dict(SLOTS)
    for target in calibration.targets:
        for scale in (target.dispersion, target.sd):
            if scale is not None and _slot_key(scale) not in slots:
                slots[_slot_key(scale)] = len(values)
                values.append(np.nan if isinstance(scale, str) else float(scale))
    columns = _parameter_columns(calibration, slots)
    n_groups = len(scenario.age_groups)
    outcomes = {outcome.name: outcome for outcome in scenario.outcomes}
    lags = max((outcome.delay.size for outcome in scenario.outcomes), default=1)
    groups = np.zeros((len(calibration.targets), n_groups))
    delay = np.zeros((len(calibration.targets), lags))
    for index, target in enumerate(calibration.targets):
        if target.output in outcomes:
            outcome = outcomes[target.output]
            groups[index, target.groups] = outcome.ratio[target.groups]
            delay[index, : outcome.delay.size] = outcome.delay
        else:
            groups[index, target.groups] = 1.0
    observed = np.concatenate([t.observed for t in calibration.targets])
    return Posterior(
        y0=arrays.y0,
        latent=arrays.latent,
        segment_start=arrays.segment_start,
        segment_contacts=arrays.segment_contacts,
        segment_multiplier=arrays.segment_multiplier,
        segment_contact_slope=arrays.segment_contact_slope,
        vaccine=arrays.vaccine,
        inv_population=arrays.inv_population,
        t_start=arrays.t_start,
        n_days=arrays.n_days,
        first_step=arrays.first_step,
        base=np.array(values, dtype=float),
        **columns,
        output=np.array([OUTPUTS[t.output] for t in calibration.targets]),
        row=np.array([_state_row(t.output, t.compartment) for t in calibration.targets]),
        groups=groups,
        delay=delay,
        breakthrough_row=-1 if scenario.immunity is None else CUM_BREAKTHROUGH,
        severe_efficacy=0.0 if scenario.immunity is None else scenario.immunity.efficacy_severe,
        family=np.array([FAMILIES[t.family] for t in calibration.targets]),
        scale_slot=np.array([_scale_slot(t, slots) for t in calibration.targets]),
        obs_target=np.concatenate(
            [np.full(t.days.size, i) for i, t in enumerate(calibration.targets)]
        ),
        obs_day=np.concatenate([t.days - scenario.t_start for t in calibration.targets]),
        obs_value=observed,
        obs_log_factorial=gammaln(observed + 1),
    )


def _slot_key(scale: str | float) -> str:
    """Return the key of a likelihood parameter: its name, or its fixed value as text."""
    return scale if isinstance(scale, str) else f"={scale!r}"


def _scale_slot(target, slots: dict[str, int]) -> int:
    scale = target.dispersion if target.dispersion is not None else target.sd
    return -1 if scale is None else slots[_slot_key(scale)]


def _state_row(output: str, compartment: str | None) -> int:
    """Return the state row an output reads (a compartment, or a cumulative flow)."""
    if output == "prevalence":
        return COMPARTMENT_ROWS[compartment]
    return CUM_ONSETS if output == "notifications" else CUM_INFECTIONS


def _parameter_columns(calibration: Calibration, slots: dict[str, int]) -> dict:
    """Per fitted parameter: slot, prior code and arguments, support, transform."""
    rows = []
    for parameter in calibration.parameters:
        prior = parameter.prior
        lower, upper = prior.support()
        a, b, log_norm = {
            "normal": lambda p: (p.mean, p.sd, -np.log(p.mass())),
            "uniform": lambda p: (p.lower, p.upper, 0.0),
            "lognormal": lambda p: (p.meanlog, p.sdlog, 0.0),
            "exponential": lambda p: (p.rate, 0.0, 0.0),
        }[prior.distribution](prior)
        code, transform = PRIORS[prior.distribution], TRANSFORMS[prior.of]
        rows.append((slots[parameter.name], code, a, b, lower, upper, transform, log_norm))
    names = ("slot", "prior", "a", "b", "lower", "upper", "transform", "log_norm")
    types = (np.int64, np.int64, float, float, float, float, np.int64, float)
    return {
        name: np.array([row[k] for row in rows], dtype=kind)
        for k, (name, kind) in enumerate(zip(names, types, strict=True))
    }


# --- compiled parts --------------------------------------------------------------------------


@njit(inline="always", **OPTIONS)
def _constrain(z, lower, upper):
    """Return (u, log|du/dz|) for the unconstrained value z and the support (lower, upper)."""
    if np.isfinite(lower) and np.isfinite(upper):
        if z >= 0:
            e = math.exp(-z)
            s = 1.0 / (1.0 + e)
            log_s, log_1ms = -math.log1p(e), -z - math.log1p(e)
        else:
            e = math.exp(z)
            s = e / (1.0 + e)
            log_s, log_1ms = z - math.log1p(e), -math.log1p(e)
        return lower + (upper - lower) * s, math.log(upper - lower) + log_s + log_1ms
    if np.isfinite(lower):
        return lower + math.exp(z), z
    if np.isfinite(upper):
        return upper - math.exp(z), z
    return z, 0.0


@njit(inline="always", **OPTIONS)
def _log_prior(u, kind, a, b, log_norm):
    """Log density of the prior's quantity u (normal, uniform, log-normal, exponential)."""
    if kind == 0:
        r = (u - a) / b
        return -0.5 * r * r - math.log(b) - _HALF_LOG_2PI + log_norm
    if kind == 1:
        return -math.log(b - a)
    if kind == 2:
        if u <= 0:
            return -np.inf
        r = (math.log(u) - a) / b
        return -0.5 * r * r - math.log(b) - _HALF_LOG_2PI - math.log(u)
    return math.log(a) - a * u


@njit(**OPTIONS)
def parameter_values(z, post, values):
    """Write the model and likelihood values for the unconstrained point z into ``values``.

    Returns the log prior density of z (Jacobian included).
    """
    for k in range(values.size):  # not values[:] = ...: its shape check compiles str machinery
        values[k] = post.base[k]
    log_prior = 0.0
    for k in range(z.size):
        u, log_jacobian = _constrain(z[k], post.lower[k], post.upper[k])
        log_prior += log_jacobian + _log_prior(
            u, post.prior[k], post.a[k], post.b[k], post.log_norm[k]
        )
        if post.transform[k] == 0:
            values[post.slot[k]] = u
        elif post.transform[k] == 1:
            values[post.slot[k]] = 1.0 / u
        else:
            values[post.slot[k]] = math.exp(u)
    return log_prior


@njit(inline="always", **OPTIONS)
def _model_value(out, output, row, groups, delay, post, t, day, rho):
    """Return the model's value of one output on one day, summed over target t's age groups.

    ``groups`` and ``delay`` are the (T, ...) arrays themselves, not their row t:
    a row view costs about a second of compiling the sampler's kernel.
    """
    total = 0.0
    if output >= 3:  # admissions, deaths: earlier days' infections, weighted by the ratios
        protected = post.breakthrough_row
        for k in range(min(delay.shape[1], day)):
            for g in range(groups.shape[1]):
                if groups[t, g] != 0.0:
                    infections = out[day - k, row, g] - out[day - k - 1, row, g]
                    if protected >= 0:
                        breakthrough = out[day - k, protected, g] - out[day - k - 1, protected, g]
                        infections -= post.severe_efficacy * breakthrough
                    total += delay[t, k] * groups[t, g] * infections
        return max(total, MU_FLOOR)
    for g in range(groups.shape[1]):
        if groups[t, g] != 0.0:
            if output == 0:
                total += out[day, row, g]
            else:
                total += out[day, row, g] - out[day - 1, row, g]
    if output == 2:
        total *= rho
    return max(total, MU_FLOOR)


@njit(inline="always", **OPTIONS)
def _log_likelihood(y, log_factorial, mu, family, scale):
    """Log probability of observing y given the model's value mu."""
    if family == 0:
        return y * math.log(mu) - mu - log_factorial
    if family == 1:
        phi = scale
        return (
            math.lgamma(y + phi)
            - math.lgamma(phi)
            - log_factorial
            - phi * math.log1p(mu / phi)
            + y * (math.log(mu) - math.log(mu + phi))
        )
    r = (y - mu) / scale
    return -0.5 * r * r - math.log(scale) - _HALF_LOG_2PI


@njit(inline="always", **OPTIONS)
def log_density(z, post, values, out):
    """Log posterior density at the unconstrained point z (up to a constant: the evidence).

    ``values`` (len(post.base)) and ``out`` (n_days + 1, N_STATE, G) are work arrays.
    Returns -inf where the prior or the model gives no finite value.
    """
    lp = parameter_values(z, post, values)
    if not np.isfinite(lp):
        return -np.inf
    integrate(
        post.y0,
        values[0],
        values[1],
        values[2],
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
        out,
    )
    for n in range(post.obs_value.size):
        t = post.obs_target[n]
        day, rho = post.obs_day[n], values[3]
        mu = _model_value(
            out, post.output[t], post.row[t], post.groups, post.delay, post, t, day, rho
        )
        scale = values[post.scale_slot[t]] if post.scale_slot[t] >= 0 else 0.0
        lp += _log_likelihood(
            post.obs_value[n], post.obs_log_factorial[n], mu, post.family[t], scale
        )
    return lp if np.isfinite(lp) else -np.inf


# --- Python side ------------------------------------------------------------------------------


class LogDensity:
    """The compiled log-posterior as a Python callable of the unconstrained point.

    Parameters
    ----------
    posterior
        From :func:`build_posterior`.
    """

    def __init__(self, posterior: Posterior) -> None:
        self.posterior = posterior
        self._values = np.empty_like(posterior.base)
        self._out = np.empty((posterior.n_days + 1, *posterior.y0.shape))

    def __call__(self, z: np.ndarray) -> float:
        """Return the log density at z, shape (D,)."""
        return log_density(np.asarray(z, dtype=float), self.posterior, self._values, self._out)

    def parameters(self, z: np.ndarray) -> np.ndarray:
        """Return the fitted parameters' values at z, shape (D,)."""
        parameter_values(np.asarray(z, dtype=float), self.posterior, self._values)
        return self._values[self.posterior.slot].copy()


def unconstrain(posterior: Posterior, u: np.ndarray) -> np.ndarray:
    """Return z for values u of the priors' quantities (the inverse of the transforms)."""
    u = np.asarray(u, dtype=float)
    lower, upper = posterior.lower, posterior.upper
    z = u.copy()
    both = np.isfinite(lower) & np.isfinite(upper)
    only_lower = np.isfinite(lower) & ~both
    only_upper = np.isfinite(upper) & ~both
    s = (u[both] - lower[both]) / (upper[both] - lower[both])
    z[both] = np.log(s) - np.log1p(-s)
    z[only_lower] = np.log(u[only_lower] - lower[only_lower])
    z[only_upper] = np.log(upper[only_upper] - u[only_upper])
    return z


def prior_distributions(calibration: Calibration) -> list:
    """Return a frozen scipy.stats distribution of each prior's quantity u, in parameter order."""
    from scipy import stats

    frozen = []
    for parameter in calibration.parameters:
        p = parameter.prior
        if p.distribution == "normal":
            low, high = (np.array(p.support()) - p.mean) / p.sd
            frozen.append(stats.truncnorm(low, high, p.mean, p.sd))
        elif p.distribution == "uniform":
            frozen.append(stats.uniform(p.lower, p.upper - p.lower))
        elif p.distribution == "lognormal":
            frozen.append(stats.lognorm(p.sdlog, scale=np.exp(p.meanlog)))
        else:
            frozen.append(stats.expon(scale=1 / p.rate))
    return frozen
