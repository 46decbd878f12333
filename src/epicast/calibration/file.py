"""Calibration files: which scenario to fit, to which data, with which priors.

A calibration file names a scenario (bundled or a path relative to the file),
a CSV of observations, the targets (a data column matched to a model output
with a likelihood), the parameters to fit with their priors, the sampler
settings and the cluster profile. It is validated by :class:`CalibrationFile`
with the same one-line-per-problem messages as scenario files
(:mod:`epicast._yamlfile`), then resolved into a :class:`Calibration`.

Parameters
----------
The model parameters that can be fitted are named as in the equations of
:mod:`epicast.model`: ``beta`` (transmission rate per contact-day), ``gamma``
(recovery rate, 1 / infectious period), ``sigma`` (1 / latent period, SEIR
only) and ``rho`` (reporting fraction, notifications only). Any other name is
a likelihood parameter, and a target must use it: the ``dispersion`` of a
negative binomial or the ``sd`` of a normal likelihood.

A prior is on the parameter itself (``of: value``), on its inverse
(``of: inverse``: e.g. an exponential prior on 1/phi, as in the boarding-school
example) or on its logarithm (``of: log``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from epicast._csvfile import read_csv
from epicast._yamlfile import (
    Expected,
    PositiveFloat,
    Problems,
    StrictModel,
    bundled_names,
    bundled_or_path,
    load_yaml_model,
    not_bool,
    problem,
    read_text,
    value_problems,
)
from epicast.cluster import ClusterProfile
from epicast.errors import CalibrationError, ScenarioError
from epicast.scenario import BUNDLED_PACKAGE, Scenario, load_scenario
from epicast.severity import OUTCOMES

logger = logging.getLogger(__name__)

BUNDLED_DIR = "calibrations"
MODEL_PARAMETERS = {
    "beta": "transmission rate per contact-day",
    "gamma": "recovery rate per day (1 / infectious period)",
    "sigma": "rate of becoming infectious per day (1 / latent period; SEIR only)",
    "rho": "reporting fraction (notifications only)",
}
"""The model parameters a calibration can fit, by the names of the equations."""
CHECKPOINT_BLOCK = 100
"""Iterations per block of random numbers; checkpoints fall on whole blocks."""
_TOP_LEVEL = "a mapping of calibration fields (scenario, data, targets, parameters, sampler)"

Number = Annotated[float, Field(allow_inf_nan=False), BeforeValidator(not_bool)]
Count = Annotated[int, BeforeValidator(not_bool)]


# --- the file format -----------------------------------------------------------------------


def _unordered(lower: float, upper: float) -> Exception:
    return problem("upper", f"expected a bound above lower ({lower:g}), got {upper:g}")


def _number_or_name(value: object) -> object:
    """Read a number given as text (YAML 1.1 reads ``1e-3`` and ``.inf`` that way) as one."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


ScaleParameter = Annotated[
    PositiveFloat | StrictStr,
    BeforeValidator(_number_or_name),
    Expected("a parameter name or a number > 0"),
]


MIN_PRIOR_MASS = 1e-12
"""Least probability a truncated normal prior may keep between its bounds (7 sd into a tail):
less is a mistake, and the normalising constant would underflow."""


class PriorBase(StrictModel):
    """What every prior has: the quantity it is on."""

    of: Literal["value", "inverse", "log"] = Field(
        "value",
        description="The prior is on the parameter (value), on 1/parameter (inverse) or on "
        "log(parameter) (log).",
    )


class NormalPrior(PriorBase):
    """Normal, truncated to [lower, upper] when either bound is given."""

    distribution: Literal["normal"]
    mean: Number = Field(description="Mean before truncation.")
    sd: PositiveFloat = Field(description="Standard deviation before truncation.")
    lower: Number | None = Field(None, description="Lower truncation bound.")
    upper: Number | None = Field(None, description="Upper truncation bound.")

    @model_validator(mode="after")
    def _ordered(self) -> NormalPrior:
        if self.lower is not None and self.upper is not None and self.upper <= self.lower:
            raise _unordered(self.lower, self.upper)
        if self.mass() < MIN_PRIOR_MASS:
            raise problem(
                "lower" if self.lower is not None and self.lower > self.mean else "upper",
                f"expected bounds holding some of the normal's mass (mean {self.mean:g}, "
                f"sd {self.sd:g}), got {self.mass():.3g} between them",
            )
        return self

    def mass(self) -> float:
        """Return the probability of the untruncated normal between the bounds."""
        from scipy.special import log_ndtr

        low = -np.inf if self.lower is None else (self.lower - self.mean) / self.sd
        high = np.inf if self.upper is None else (self.upper - self.mean) / self.sd
        if low > 0:  # on the side of the median, for precision in the far tail
            low, high = -high, -low
        return float(np.exp(log_ndtr(high)) - np.exp(log_ndtr(low)))

    def support(self) -> tuple[float, float]:
        """Return the interval of the prior's quantity."""
        return (
            -np.inf if self.lower is None else self.lower,
            np.inf if self.upper is None else self.upper,
        )


class UniformPrior(PriorBase):
    """Uniform on [lower, upper]."""

    distribution: Literal["uniform"]
    lower: Number = Field(description="Lower bound.")
    upper: Number = Field(description="Upper bound.")

    @model_validator(mode="after")
    def _ordered(self) -> UniformPrior:
        if self.upper <= self.lower:
            raise _unordered(self.lower, self.upper)
        return self

    def support(self) -> tuple[float, float]:
        """Return the interval of the prior's quantity."""
        return self.lower, self.upper


class LogNormalPrior(PriorBase):
    """Log-normal: the logarithm is Normal(meanlog, sdlog)."""

    distribution: Literal["lognormal"]
    meanlog: Number = Field(description="Mean of the logarithm.")
    sdlog: PositiveFloat = Field(description="Standard deviation of the logarithm.")

    def support(self) -> tuple[float, float]:
        """Return the interval of the prior's quantity."""
        return 0.0, np.inf


class ExponentialPrior(PriorBase):
    """Exponential with the given rate (mean 1 / rate)."""

    distribution: Literal["exponential"]
    rate: PositiveFloat = Field(description="Rate (1 / mean).")

    def support(self) -> tuple[float, float]:
        """Return the interval of the prior's quantity."""
        return 0.0, np.inf


Prior = Annotated[
    NormalPrior | UniformPrior | LogNormalPrior | ExponentialPrior,
    Field(discriminator="distribution"),
]


class LikelihoodSpec(StrictModel):
    """Distribution of an observation given the model's value (its mean)."""

    family: Literal["poisson", "negative_binomial", "normal"] = Field(
        description="poisson, negative_binomial (mean mu, variance mu + mu^2 / dispersion) "
        "or normal (mean mu, standard deviation sd)."
    )
    dispersion: ScaleParameter | None = Field(
        None, description="negative_binomial only: a fitted parameter's name or a number."
    )
    sd: ScaleParameter | None = Field(
        None, description="normal only: a fitted parameter's name or a number."
    )

    @model_validator(mode="after")
    def _parameters(self) -> LikelihoodSpec:
        needs = {"negative_binomial": "dispersion", "normal": "sd"}.get(self.family)
        for name in ("dispersion", "sd"):
            given = getattr(self, name) is not None
            if name == needs and not given:
                raise problem(name, f"required for the {self.family} likelihood")
            if name != needs and given:
                raise problem(name, f"not used by the {self.family} likelihood; remove it")
        return self


class TargetSpec(StrictModel):
    """A data column matched to a model output, summed over age groups."""

    column: str = Field(description="Column of the data CSV holding the observations.")
    output: Literal["prevalence", "incidence", "notifications", "admissions", "deaths"] = Field(
        description="prevalence (people in a compartment on the day), incidence (new "
        "infections during the day), notifications (reported new infectious cases), or "
        "admissions or deaths (during the day; the scenario's severity must define them)."
    )
    compartment: Literal["S", "E", "I", "R"] | None = Field(
        None, description="prevalence only: which compartment."
    )
    age_groups: list[str] | None = Field(
        None, min_length=1, description="Age groups summed; default all."
    )
    likelihood: LikelihoodSpec = Field(description="Distribution of the observations.")

    @model_validator(mode="after")
    def _compartment(self) -> TargetSpec:
        if self.output == "prevalence" and self.compartment is None:
            raise problem("compartment", "required for output prevalence (S, E, I or R)")
        if self.output != "prevalence" and self.compartment is not None:
            raise problem("compartment", f"not used by output {self.output}; remove it")
        return self


class DataSpec(StrictModel):
    """The observations: a CSV file with one row per day."""

    csv: str = Field(description="Path of the CSV file, relative to the calibration file.")
    day: str = Field("day", description="Column holding the model day of each row.")


MAX_CHAINS = 1024
MAX_ITERATIONS = 10_000_000
"""Most iterations per chain (and warm-up): the kept draws of a chain are held in memory."""
MAX_SEED = 2**63 - 1
"""Largest seed: the output file stores it as a 64-bit integer."""
MIN_DRAWS = 4
"""Fewest draws a chain must keep: R-hat and ESS need four per chain."""


class SamplerSpec(StrictModel):
    """Adaptive Metropolis settings (see :mod:`epicast.calibration.sampler`)."""

    chains: Count = Field(4, ge=1, le=MAX_CHAINS, description="Independent chains.")
    iterations: Count = Field(
        2000, ge=MIN_DRAWS, le=MAX_ITERATIONS, description="Iterations per chain after warm-up."
    )
    warmup: Count = Field(
        1000,
        ge=CHECKPOINT_BLOCK,
        le=MAX_ITERATIONS,
        description="Iterations per chain that adapt the proposal.",
    )
    thin: Count = Field(1, ge=1, description="Keep every thin-th iteration after warm-up.")
    seed: Count = Field(ge=0, le=MAX_SEED, description="Seed of numpy.random.SeedSequence.")
    checkpoint_every: Count = Field(
        1000,
        ge=CHECKPOINT_BLOCK,
        multiple_of=CHECKPOINT_BLOCK,
        description=f"Save each chain's state every this many iterations "
        f"(a multiple of {CHECKPOINT_BLOCK}).",
    )

    @model_validator(mode="after")
    def _keeps_draws(self) -> SamplerSpec:
        most = self.iterations // MIN_DRAWS
        if self.thin > most:
            raise problem(
                "thin",
                f"expected at most iterations / {MIN_DRAWS} ({most}), so that each chain keeps "
                f"the {MIN_DRAWS} draws R-hat and ESS need, got {self.thin}",
            )
        return self


class CalibrationFile(StrictModel):
    """A calibration file: a scenario fitted to data by MCMC."""

    name: str | None = Field(None, description="Short name; defaults to the file name.")
    description: str = Field("", description="What the calibration is for.")
    scenario: str = Field(
        description="A bundled scenario name or a scenario file relative to this file."
    )
    data: DataSpec = Field(description="The observations.")
    targets: list[TargetSpec] = Field(min_length=1, description="Data columns and likelihoods.")
    parameters: dict[str, Prior] = Field(
        min_length=1, description="Parameters to fit, each with its prior."
    )
    sampler: SamplerSpec = Field(description="Sampler settings.")
    cluster: ClusterProfile = Field(
        default_factory=ClusterProfile, description="Where the chains run."
    )


# --- the resolved calibration --------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A resolved target: observations on model days and how they are distributed."""

    column: str
    output: str
    compartment: str | None
    groups: np.ndarray
    """Indices of the age groups summed, shape (K,)."""
    family: str
    dispersion: str | float | None
    sd: str | float | None
    days: np.ndarray
    """Model day of each observation, shape (n,)."""
    observed: np.ndarray
    """Observed values, shape (n,)."""


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter and its prior."""

    name: str
    prior: NormalPrior | UniformPrior | LogNormalPrior | ExponentialPrior


@dataclass(frozen=True)
class Calibration:
    """A validated calibration with its scenario and data resolved."""

    name: str
    description: str
    source: str
    source_path: str
    scenario: Scenario
    data_source: str
    data_path: str
    targets: tuple[Target, ...]
    parameters: tuple[Parameter, ...]
    sampler: SamplerSpec
    cluster: ClusterProfile

    @property
    def sha256(self) -> str:
        """SHA-256 of the calibration file's text."""
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the fitted parameters, in file order."""
        return tuple(p.name for p in self.parameters)

    def with_sampler(self, **changes: int | None) -> Calibration:
        """Return a copy with sampler settings replaced (None values are ignored)."""
        return replace(self, sampler=self._changed(self.sampler, "sampler", changes))

    def with_workers(self, workers: int | None) -> Calibration:
        """Return a copy whose cluster has ``workers`` (None: unchanged)."""
        return replace(self, cluster=self._changed(self.cluster, "cluster", {"workers": workers}))

    def _changed(self, settings: BaseModel, field: str, changes: dict) -> BaseModel:
        """Return ``settings`` with ``changes`` (None values ignored), validated like the file."""
        given = {key: value for key, value in changes.items() if value is not None}
        if not given:
            return settings
        model = type(settings)
        try:
            return model.model_validate({**settings.model_dump(), **given})
        except ValidationError as exc:
            raise CalibrationError(self.name, value_problems(exc, model, field)) from exc


def bundled_calibrations() -> list[str]:
    """Return the names of the calibrations shipped with epicast, sorted."""
    return bundled_names(BUNDLED_PACKAGE, BUNDLED_DIR)


def load_calibration(name_or_path: str | Path) -> Calibration:
    """Read, validate and resolve a calibration file.

    Parameters
    ----------
    name_or_path
        A bundled calibration name (see :func:`bundled_calibrations`) or a YAML file.

    Returns
    -------
    Calibration
        The calibration with its scenario loaded and its data read.

    Raises
    ------
    CalibrationError
        With one line per problem, each naming the file, the field and what was expected.
    ScenarioError
        When the scenario it names is invalid.
    """
    bundled = bundled_or_path(
        name_or_path, BUNDLED_PACKAGE, BUNDLED_DIR, "calibration", CalibrationError
    )
    with bundled as path:
        text = read_text(path, CalibrationError)
        spec, problems = load_yaml_model(
            text, str(path), CalibrationFile, top_level=_TOP_LEVEL, error=CalibrationError
        )
        return _resolve(spec, text, path, problems)


def _resolve(spec: CalibrationFile, text: str, path: Path, problems: Problems) -> Calibration:
    """Load the scenario and the data, and check the parts against each other."""
    scenario = _scenario(spec.scenario, path, problems)
    _check_parameters(spec, scenario, problems)
    table = _read_data(spec.data, path.parent, problems)
    targets = tuple(
        _target(index, item, spec, scenario, table, problems)
        for index, item in enumerate(spec.targets)
    )
    problems.raise_if_any()
    data_path = path.parent / spec.data.csv
    return Calibration(
        name=spec.name or path.stem,
        description=spec.description,
        source=text,
        source_path=str(path),
        scenario=scenario,
        data_source=data_path.read_text(encoding="utf-8-sig"),
        data_path=str(data_path),
        targets=targets,
        parameters=tuple(Parameter(name, prior) for name, prior in spec.parameters.items()),
        sampler=spec.sampler,
        cluster=spec.cluster,
    )


def _scenario(name: str, path: Path, problems: Problems) -> Scenario | None:
    """Load the scenario: a path relative to the calibration file, else a bundled name."""
    relative = path.parent / name
    try:
        return load_scenario(relative if relative.is_file() else name)
    except ScenarioError as exc:
        if len(exc.problems) == 1 and exc.source in (name, str(relative)):
            problems.add(["scenario"], exc.problems[0])  # not found: a problem of this file
            return None
        raise


def _check_parameters(spec: CalibrationFile, scenario: Scenario | None, problems: Problems) -> None:
    """Each parameter must exist in the model or be used by a likelihood; priors must fit."""
    used = {
        value
        for target in spec.targets
        for value in (target.likelihood.dispersion, target.likelihood.sd)
        if isinstance(value, str)
    }
    sir = scenario is not None and scenario.latent_period is None
    notifications = any(target.output == "notifications" for target in spec.targets)
    for name, prior in spec.parameters.items():
        loc = ["parameters", name]
        if name not in MODEL_PARAMETERS and name not in used:
            known = ", ".join([*MODEL_PARAMETERS, *sorted(used)])
            problems.add(loc, f"expected a model parameter or one a likelihood uses ({known})")
        elif name == "sigma" and sir:
            problems.add(loc, f"not in scenario {scenario.name}: model SIR has no latent period")
        elif name == "rho" and not notifications:
            problems.add(loc, "not used: only targets with output notifications depend on rho")
        else:
            _check_support(name, prior, loc, problems)


def _check_support(name: str, prior, loc: list[object], problems: Problems) -> None:
    """Check that the prior gives the parameter only values its domain allows."""
    low, high = prior.support()
    upper_limit = 1.0 if name == "rho" else np.inf
    if prior.of == "log":
        low, high = np.exp(low), np.exp(high)
    elif prior.of == "inverse":
        if low < 0:
            problems.add(loc, f"expected a prior on 1/{name} with lower >= 0, got lower {low:g}")
            return
        low, high = (1 / high if high > 0 else np.inf), (1 / low if low > 0 else np.inf)
    if low < 0 or high > upper_limit:
        bounds = "lower: 0" if low < 0 else f"upper: {upper_limit:g}"
        domain = "> 0" if upper_limit == np.inf else "in (0, 1]"
        reach = low if low < 0 else high
        problems.add(
            loc,
            f"expected a prior giving {name} {domain}, got one reaching {reach:g} "
            f"(add {bounds}{' to the prior on log' if prior.of == 'log' else ''})",
        )


def _read_data(
    spec: DataSpec, base: Path, problems: Problems
) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    """Read the data CSV and check that it has the day column."""
    table = read_csv(base, spec.csv, ["data", "csv"], problems)
    if table is not None and spec.day not in table[0]:
        problems.add(["data", "day"], f"expected a column of {spec.csv} ({', '.join(table[0])})")
        return None
    return table


def _target(
    index: int,
    spec: TargetSpec,
    calibration: CalibrationFile,
    scenario: Scenario | None,
    table: tuple[list[str], list[tuple[int, dict[str, str]]]] | None,
    problems: Problems,
) -> Target | None:
    """Resolve one target: its age groups, and its observations checked against the model."""
    loc = ["targets", index]
    for name in ("dispersion", "sd"):
        value = getattr(spec.likelihood, name)
        if isinstance(value, str) and value not in calibration.parameters:
            problems.add(
                [*loc, "likelihood", name],
                f"expected a number or a parameter listed under parameters, got {value!r}",
            )
    if scenario is None or table is None:
        return None
    if spec.compartment is not None and spec.compartment not in scenario.compartments:
        problems.add(
            [*loc, "compartment"],
            f"expected one of the scenario's compartments {list(scenario.compartments)}",
        )
    if scenario.immunity is not None and spec.compartment in ("E", "I", "R"):
        problems.add(
            [*loc, "compartment"],
            f"expected S: scenario {scenario.name} has vaccination or waning immunity, and "
            "prevalence targets of E, I and R are not supported for it yet (fit incidence, "
            f"notifications, admissions or deaths), got {spec.compartment}",
        )
    defined = [outcome.name for outcome in scenario.outcomes]
    if spec.output in OUTCOMES and spec.output not in defined:
        problems.add(
            [*loc, "output"],
            f"expected an outcome scenario {scenario.name} defines under severity "
            f"({', '.join(defined) or 'none'}), got {spec.output!r}",
        )
    groups = _groups(spec.age_groups, scenario, [*loc, "age_groups"], problems)
    header, rows = table
    name = calibration.data.csv
    if spec.column not in header or spec.column == calibration.data.day:
        others = ", ".join(column for column in header if column != calibration.data.day)
        problems.add([*loc, "column"], f"expected a data column of {name} ({others})")
        return None
    days, observed = _observations(spec, calibration.data, rows, scenario, loc, problems)
    return Target(
        column=spec.column,
        output=spec.output,
        compartment=spec.compartment,
        groups=groups,
        family=spec.likelihood.family,
        dispersion=spec.likelihood.dispersion,
        sd=spec.likelihood.sd,
        days=days,
        observed=observed,
    )


def _groups(
    labels: list[str] | None, scenario: Scenario, loc: list[object], problems: Problems
) -> np.ndarray:
    """Return the indices of the age groups a target sums."""
    if labels is None:
        return np.arange(len(scenario.age_groups))
    for position, label in enumerate(labels):
        if label not in scenario.age_groups:
            problems.add(
                [*loc, position], f"expected one of the age groups {list(scenario.age_groups)}"
            )
        elif label in labels[:position]:
            problems.add([*loc, position], f"expected each age group once, got {label} again")
    return np.array([scenario.age_groups.index(g) for g in labels if g in scenario.age_groups])


def _observations(
    spec: TargetSpec,
    data: DataSpec,
    rows: list[tuple[int, dict[str, str]]],
    scenario: Scenario,
    loc: list[object],
    problems: Problems,
) -> tuple[np.ndarray, np.ndarray]:
    """Read (day, value) pairs; days on the simulated span, counts for count likelihoods."""
    counts = spec.likelihood.family != "normal"
    groups = spec.age_groups or scenario.age_groups
    people = sum(scenario.population[scenario.age_groups.index(g)] for g in set(groups))
    first = scenario.t_start + (spec.output != "prevalence")  # flows start after day one
    days, values, seen = [], [], set()
    for number, row in rows:
        where = f"{data.csv} line {number}"
        day = _whole(row[data.day])
        if day is None or not first <= day <= scenario.t_end:
            problems.add(
                ["data", "day"],
                f"{where}: expected a whole day from {first} to {scenario.t_end} "
                f"(the scenario's span), got {row[data.day]!r}",
            )
            continue
        if day in seen:
            problems.add(["data", "day"], f"{where}: expected each day once, got {day} again")
        seen.add(day)
        value = _whole(row[spec.column]) if counts else _finite(row[spec.column])
        if value is None or (counts and not 0 <= value <= people):
            expected = (
                f"a count (a whole number from 0 to the {people:g} people counted)"
                if counts
                else "a finite number"
            )
            problems.add(
                [*loc, "column"],
                f"{where}, column {spec.column}: expected {expected} for the "
                f"{spec.likelihood.family} likelihood, got {row[spec.column]!r}",
            )
            continue
        days.append(day)
        values.append(value)
    return np.array(days, dtype=np.int64), np.array(values, dtype=float)


def _finite(text: str) -> float | None:
    """Return ``text`` as a finite float, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _whole(text: str) -> int | None:
    """Return ``text`` as an int if it is a whole number (``3`` or ``3.0``), or None."""
    value = _finite(text)
    return int(value) if value is not None and value == int(value) else None
