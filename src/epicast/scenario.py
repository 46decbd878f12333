"""Scenario files: the YAML format, its validation, and the resolved scenario.

A scenario file describes one epidemic to simulate. It is validated by the
pydantic model :class:`ScenarioFile` (its JSON Schema is :func:`schema`), then
resolved into a :class:`Scenario`: plain NumPy arrays with CSV files read and
the transmission rate derived from R0. Every problem is reported as one line
``line N: field.path: expected X, got Y`` (the line is left out when there is
none to point at), and all problems found are reported together: the YAML and
pydantic side of that is :mod:`epicast._yamlfile`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator, Field, field_validator, model_validator

from epicast._csvfile import read_csv, read_number
from epicast._yamlfile import (
    Expected,
    Fraction,
    NonNegativeFloat,
    PositiveFloat,
    Problems,
    StrictModel,
    bundled_names,
    bundled_or_path,
    exactly_one,
    load_yaml_model,
    not_bool,
    problem,
    read_text,
)
from epicast.errors import ScenarioError
from epicast.kernels import MAX_STEPS
from epicast.model import basic_reproduction_number
from epicast.severity import OUTCOMES, Outcome, delay_distribution
from epicast.vaccination import Immunity, rollout

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "epicast.data"
BUNDLED_DIR = "scenarios"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_TOP_LEVEL = "a mapping of scenario fields (population, disease, initial_infections, time, ...)"

MAX_RATE = 100.0
"""Largest R0 and transmission rate accepted: far beyond any disease (measles' R0 is
12-18), and below where the epidemic is over within hours of model time."""
MIN_PERIOD = 0.01
"""Shortest latent or infectious period accepted, in days (about 15 minutes): shorter ones
make the equations too stiff for the integrator."""
MAX_PEOPLE = 1e10
"""Largest number of people in one age group (more than live on Earth)."""
MAX_CONTACTS = 1e4
"""Largest number of daily contacts between two age groups, and largest contact scale."""
STABLE_STEP = 3.3
"""The longest stable step of the integrator, times the fastest decay rate."""
STEP_MARGIN = 0.5
"""Share of the integrator's step limit a scenario may plan for (rejected steps, transients)."""
MAX_DAYS = 36500
"""Last day accepted (100 years): the daily outputs of the whole period are held in memory."""
MAX_UPTAKE = 0.99
"""Largest share of an age group that takes a dose: some always stay unvaccinated (the
rate at which the last ones are dosed would otherwise grow without bound)."""
MAX_DELAY = 365.0
"""Longest mean, and largest standard deviation, of a delay from infection to an outcome, days."""

# Constraints come before the validator, or they are missing from the JSON Schema.
Day = Annotated[int, Field(ge=0, le=MAX_DAYS), BeforeValidator(not_bool)]
Rate = Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False), BeforeValidator(not_bool)]
Period = Annotated[float, Field(ge=MIN_PERIOD, allow_inf_nan=False), BeforeValidator(not_bool)]
People = Annotated[
    float, Field(gt=0, le=MAX_PEOPLE, allow_inf_nan=False), BeforeValidator(not_bool)
]
Count = Annotated[float, Field(ge=0, le=MAX_PEOPLE, allow_inf_nan=False), BeforeValidator(not_bool)]
Contacts = Annotated[
    float, Field(ge=0, le=MAX_CONTACTS, allow_inf_nan=False), BeforeValidator(not_bool)
]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False), BeforeValidator(not_bool)]
Uptake = Annotated[
    float, Field(ge=0, le=MAX_UPTAKE, allow_inf_nan=False), BeforeValidator(not_bool)
]
Duration = Annotated[
    float, Field(ge=1, le=MAX_DAYS, allow_inf_nan=False), BeforeValidator(not_bool)
]
DelayDays = Annotated[
    float, Field(ge=MIN_PERIOD, le=MAX_DELAY, allow_inf_nan=False), BeforeValidator(not_bool)
]


class CsvTable(StrictModel):
    """A long table read from a CSV file: one row per age group after filtering."""

    csv: str = Field(description="Path of the CSV file, relative to the scenario file.")
    column: str = Field(description="Column holding the values; the age_group column labels rows.")
    where: dict[str, str] = Field(
        default_factory=dict,
        description="Keep only rows whose columns equal these values, e.g. {iso3: GBR}.",
    )
    scale: PositiveFloat = Field(1.0, description="Multiply every value by this factor.")


class PopulationSpec(StrictModel):
    """Population size: exactly one of ``total``, ``by_age`` or ``table``."""

    total: People | None = Field(
        None, description="Total population; only with a single age group."
    )
    by_age: list[People] | None = Field(
        None, description="People in each age group, in the order of age_groups."
    )
    table: CsvTable | None = Field(
        None, description="People in each age group read from a CSV file (column age_group)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> PopulationSpec:
        exactly_one(self, ("total", "by_age", "table"))
        return self


class ContactMatrixSpec(StrictModel):
    """Contact matrix: exactly one of ``matrix`` or ``csv``.

    Entry (i, j) is the mean number of daily contacts that a person in age
    group i has with people in age group j.
    """

    matrix: list[list[Contacts]] | None = Field(
        None, min_length=1, description="The matrix inline, one list per row."
    )
    csv: str | None = Field(
        None,
        description="CSV file relative to the scenario: header 'age_group,<groups...>', "
        "then one row per age group in the same order.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ContactMatrixSpec:
        exactly_one(self, ("matrix", "csv"))
        return self


class ContactsSpec(ContactMatrixSpec):
    """Contacts: one matrix (``matrix`` or ``csv``), or one per setting (``settings``).

    The matrices of the settings (home, school, work, ...) add up to the contacts;
    a contact series can then follow each setting apart.
    """

    settings: dict[str, ContactMatrixSpec] | None = Field(
        None,
        min_length=1,
        description="A contact matrix per setting, by name (e.g. home, school, work, other): "
        "each a matrix or a csv; the contacts are their sum.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> ContactsSpec:
        exactly_one(self, ("matrix", "csv", "settings"))
        return self


class DiseaseSpec(StrictModel):
    """Natural history and transmissibility of the disease."""

    model: Literal["SEIR", "SIR"] = Field("SEIR", description="Compartment structure.")
    R0: Rate | None = Field(
        None,
        description="Basic reproduction number: the dominant eigenvalue of the next-generation "
        "matrix. Give R0 or transmission_rate.",
    )
    transmission_rate: Rate | None = Field(
        None, description="Probability of transmission per contact (per day of contact)."
    )
    latent_period: Period | None = Field(
        None, description="Mean latent period in days (SEIR only)."
    )
    infectious_period: Period = Field(description="Mean infectious period in days.")
    immunity_duration: Duration | None = Field(
        None,
        description="Mean days immunity from an infection lasts before the recovered are "
        "susceptible again; none: it lasts.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> DiseaseSpec:
        exactly_one(self, ("R0", "transmission_rate"))
        if self.model == "SEIR" and self.latent_period is None:
            raise problem(
                "latent_period",
                "required field is missing for model SEIR (the default): the mean latent "
                "period in days; give it, or set model: SIR",
            )
        if self.model == "SIR" and self.latent_period is not None:
            raise problem("latent_period", "not used by model SIR; remove it, or set model: SEIR")
        return self


class InterventionSpec(StrictModel):
    """A time window during which contacts among some age groups are scaled."""

    name: str = Field(description="What the intervention is, e.g. 'school closure'.")
    start: NonNegativeFloat = Field(description="First day of the intervention.")
    end: PositiveFloat = Field(description="Day the intervention ends (exclusive).")
    contact_scale: Contacts = Field(
        description="Factor applied to contacts between the targeted age groups "
        "(0 removes them, 1 changes nothing)."
    )
    age_groups: Annotated[
        Annotated[list[str], Field(min_length=1)] | Literal["all"],
        Expected("'all' or a list of age group labels"),
    ] = Field("all", description="Age groups whose contacts with each other are scaled, or 'all'.")

    @model_validator(mode="after")
    def _ordered(self) -> InterventionSpec:
        if self.end <= self.start:
            raise problem("end", f"expected a day after start ({self.start:g}), got {self.end:g}")
        return self


class ContactSeriesSpec(StrictModel):
    """Contacts that follow data: a multiplier of transmission per day, from a CSV file.

    Between the days of the file the multiplier is linear; before the first day
    and after the last it keeps the first and last values. It multiplies the
    force of infection on each age group, on top of the interventions.
    """

    csv: str = Field(
        description="CSV file relative to the scenario: a column of days and the multipliers."
    )
    day: str = Field("day", description="Column holding the days, in increasing order.")
    column: str = Field(
        "multiplier", description="Column holding the multiplier of every age group."
    )
    by_age: bool = Field(
        False,
        description="Read one multiplier column per age group instead, each named by the "
        "group's label (column is then not used).",
    )
    by_setting: bool = Field(
        False,
        description="Read one multiplier column per contact setting instead, each named by "
        "the setting (contacts.settings; column is then not used).",
    )

    @model_validator(mode="after")
    def _one_layout(self) -> ContactSeriesSpec:
        if self.by_age and self.by_setting:
            raise problem("by_setting", "expected by_age or by_setting, got both")
        layout, each = ("by_age", "age group") if self.by_age else ("by_setting", "setting")
        if (self.by_age or self.by_setting) and "column" in self.model_fields_set:
            raise problem("column", f"not used with {layout} (one column per {each}); remove it")
        return self


class CapacitySpec(StrictModel):
    """Doses available per day from a day on (until the next entry's day)."""

    model_config = StrictModel.model_config | {"populate_by_name": True}

    start: Day = Field(alias="from", description="First day of this capacity.")
    doses: Count = Field(description="Doses per day.")


class ScheduleSpec(StrictModel):
    """Doses per day and age group read from a CSV file."""

    csv: str = Field(
        description="CSV file relative to the scenario: a column of days and one column of "
        "doses per age group, named by its label; days not listed get none."
    )
    day: str = Field("day", description="Column holding the days.")


class EfficacySpec(StrictModel):
    """What protection by the vaccine does."""

    infection: Ratio = Field(description="Reduction of the risk of infection (0 to 1).")
    severe: Ratio = Field(
        0.0, description="Reduction of an infection's risk of admission and death (0 to 1)."
    )


AgeShares = Annotated[
    Ratio | list[Ratio], Expected("a number in [0, 1] or a list of one per age group")
]
AgeUptakes = Annotated[
    Uptake | list[Uptake],
    Expected(f"a number in [0, {MAX_UPTAKE}] or a list of one per age group"),
]


class VaccinationSpec(StrictModel):
    """A vaccine rollout: doses by capacity and priority, or by a schedule file."""

    doses_per_day: list[CapacitySpec] | None = Field(
        None,
        min_length=1,
        description="Daily capacity from given days on, handed out by priority: "
        "[{from: 30, doses: 200000}, ...]; no doses before the first day.",
    )
    priority: (
        list[Annotated[str | list[str], Expected("an age group or a list of age groups")]] | None
    ) = Field(
        None,
        min_length=1,
        description="Age groups in order of priority (with doses_per_day); a list in it is "
        "one tier, whose groups share the doses in proportion to their people left.",
    )
    schedule: ScheduleSpec | None = Field(
        None, description="Doses per day and age group from a CSV file, instead."
    )
    uptake: AgeUptakes = Field(
        0.9,
        description=f"Share of each age group that takes a dose (at most {MAX_UPTAKE}); the "
        "priority rollout moves to the next groups when it is reached.",
    )
    initial_coverage: AgeShares = Field(
        0.0, description="Share of each age group protected by the vaccine at the start."
    )
    efficacy: EfficacySpec = Field(description="What protection does.")
    time_to_protection: NonNegativeFloat = Field(
        14.0, le=MAX_DELAY, description="Mean days from a dose to protection (0: at once)."
    )
    immunity_duration: Duration | None = Field(
        None, description="Mean days protection lasts; none: it lasts."
    )

    @model_validator(mode="after")
    def _one_plan(self) -> VaccinationSpec:
        if self.doses_per_day is not None and self.schedule is not None:
            raise problem(None, "expected doses_per_day or schedule, got both")
        if self.doses_per_day is not None and self.priority is None:
            raise problem(
                "priority",
                "required with doses_per_day: the age groups in the order they get doses",
            )
        if self.priority is not None and self.doses_per_day is None:
            raise problem("doses_per_day", "required with priority: the doses to hand out per day")
        return self


class TimeSpec(StrictModel):
    """Simulated period and integration step, in days; outputs are daily."""

    start: Day = Field(0, description="First day.")
    end: Day = Field(description="Last day (outputs are given for start..end).")
    step: Fraction = Field(
        0.25,
        description="First trial step of the adaptive integrator in days (it then follows "
        "the error tolerance); 1/step must be a whole number.",
    )

    @field_validator("step")
    @classmethod
    def _divides_a_day(cls, step: float) -> float:
        if abs(round(1 / step) * step - 1) > 1e-9:
            raise problem(None, f"expected 1/n of a day (e.g. 1, 0.5, 0.25, 0.1), got {step:g}")
        return step

    @model_validator(mode="after")
    def _ordered(self) -> TimeSpec:
        if self.end <= self.start:
            raise problem("end", f"expected a day after start ({self.start}), got {self.end}")
        return self


class DelaySpec(StrictModel):
    """Delay from infection to an outcome: a gamma distribution, in days."""

    distribution: Literal["gamma"] = Field("gamma", description="The delay's distribution.")
    mean: DelayDays = Field(description="Mean delay from infection, days.")
    sd: DelayDays = Field(description="Standard deviation of the delay, days.")


class OutcomeSpec(StrictModel):
    """A severe outcome of infection: the share of infections that lead to it, and when."""

    ratio: Annotated[
        Ratio | list[Ratio] | CsvTable,
        Expected(
            "a number in [0, 1] (every age group), a list of one per age group, "
            "or a table {csv, column, where, scale}"
        ),
    ] = Field(
        description="Share of infections with this outcome: one number for every age group, "
        "one per age group, or read from a CSV table (column age_group)."
    )
    delay: DelaySpec = Field(description="Delay from infection to the outcome.")


class SeveritySpec(StrictModel):
    """Severe outcomes by age: hospital admissions, deaths, or both."""

    admissions: OutcomeSpec | None = Field(
        None,
        description="Hospital admissions: ratio is the infection-hospitalisation ratio, "
        "delay the time from infection to admission.",
    )
    deaths: OutcomeSpec | None = Field(
        None,
        description="Deaths: ratio is the infection-fatality ratio, delay the time from "
        "infection to death.",
    )

    @model_validator(mode="after")
    def _something(self) -> SeveritySpec:
        if self.admissions is None and self.deaths is None:
            raise problem(None, "expected admissions, deaths or both, got neither")
        return self


Output = Literal[
    "prevalence", "incidence", "notifications", "admissions", "deaths", "doses", "breakthrough"
]
VACCINATION_OUTPUTS = ("doses", "breakthrough")
DEFAULT_OUTPUTS = ("prevalence", "incidence", "notifications")
"""What a scenario's output file holds when it lists no outputs (and the outcomes it defines)."""


class ScenarioFile(StrictModel):
    """A scenario file: one epidemic to simulate."""

    name: str | None = Field(None, description="Short name; defaults to the file name.")
    description: str = Field("", description="What the scenario is for.")
    age_groups: list[str] | None = Field(
        None,
        min_length=1,
        description="Age group labels; default: the contact CSV header, else one group 'all'.",
    )
    population: Annotated[
        People | PopulationSpec,
        Expected("a number > 0 (the total) or a mapping with one of total, by_age, table"),
    ] = Field(
        description="People: a bare number is the total (the same as {total: N}); or a "
        "mapping with one of total, by_age, table."
    )
    contacts: ContactsSpec | None = Field(
        None, description="Contact matrix; default 1 contact per day for a single group."
    )
    disease: DiseaseSpec = Field(description="Disease parameters.")
    initial_infections: Annotated[
        People | list[Count],
        Expected("a number > 0 (a total) or a list of numbers >= 0 (one per age group)"),
    ] = Field(
        description="Infectious people at the start: a total (spread in proportion to the "
        "population) or one number per age group."
    )
    interventions: list[InterventionSpec] = Field(
        default_factory=list, description="Time windows that scale contacts."
    )
    contact_series: ContactSeriesSpec | None = Field(
        None,
        description="A multiplier of transmission per day from data (e.g. a mobility index), "
        "for every age group or one per age group.",
    )
    time: TimeSpec = Field(description="Simulated period and integration step.")
    reporting_fraction: Fraction = Field(
        1.0, description="Share of new infectious cases that are notified."
    )
    severity: SeveritySpec | None = Field(
        None, description="Hospital admissions and deaths by age group, following infections."
    )
    vaccination: VaccinationSpec | None = Field(
        None, description="A vaccine rollout and what protection does."
    )
    outputs: list[Output] = Field(
        default_factory=lambda: list(DEFAULT_OUTPUTS),
        min_length=1,
        description="Which time series the output file holds; default: prevalence, incidence, "
        "notifications and the outcomes under severity.",
    )

    @field_validator("population", mode="after")
    @classmethod
    def _bare_total(cls, value: float | PopulationSpec) -> PopulationSpec:
        return value if isinstance(value, PopulationSpec) else PopulationSpec(total=value)


@dataclass(frozen=True)
class Intervention:
    """A resolved intervention: contacts are multiplied by ``scale`` in [start, end)."""

    name: str
    start: float
    end: float
    scale: np.ndarray  # (G, G) multiplier of the contact matrix


@dataclass(frozen=True)
class ContactSeries:
    """A resolved contact series: multipliers of transmission from data.

    On ``days``, linearly in between: without ``settings``, the force of
    infection on group g is multiplied by ``multipliers[:, g]``; with them, the
    contacts of setting s by ``multipliers[:, s]``.
    """

    days: np.ndarray  # (n,), increasing
    multipliers: np.ndarray  # (n, G), or (n, S) by setting
    settings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, resolved into the arrays the model needs.

    Attributes
    ----------
    population
        People per age group, shape (G,).
    contacts
        Daily contacts of a person in group i with people in group j, shape (G, G).
    contact_settings
        The contacts by setting, by name, when the file gives them (they add up to
        ``contacts``); empty otherwise.
    transmission_rate
        Probability of transmission per contact-day.
    latent_period
        Mean latent period in days, or ``None`` for an SIR model.
    initial_infections
        Infectious people at ``t_start`` per age group, shape (G,).
    outcomes
        Severe outcomes of infection (admissions, deaths) the scenario defines.
    contact_series
        Multipliers of transmission from data, or None.
    immunity
        Vaccination and waning immunity, or None for neither.
    """

    name: str
    description: str
    source: str
    source_path: str
    age_groups: tuple[str, ...]
    population: np.ndarray
    contacts: np.ndarray
    transmission_rate: float
    latent_period: float | None
    infectious_period: float
    initial_infections: np.ndarray
    interventions: tuple[Intervention, ...]
    t_start: int
    t_end: int
    step: float
    reporting_fraction: float
    outputs: tuple[str, ...]
    outcomes: tuple[Outcome, ...] = ()
    contact_series: ContactSeries | None = None
    immunity: Immunity | None = None
    contact_settings: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def compartments(self) -> tuple[str, ...]:
        """Compartment labels in model order.

        With vaccination or waning immunity, S, E, I and R count everyone with that
        infection status, and the vaccinated susceptible follow: waiting for
        protection, protected, protection waned.
        """
        infection = ("S", "I", "R") if self.latent_period is None else ("S", "E", "I", "R")
        vaccinated = ("V_waiting", "V", "V_waned") if self.immunity is not None else ()
        return infection + vaccinated

    @property
    def sha256(self) -> str:
        """SHA-256 of the scenario file's text (provenance of outputs)."""
        return hashlib.sha256(self.source.encode()).hexdigest()

    @property
    def R0(self) -> float:
        """Basic reproduction number: dominant eigenvalue of the next-generation matrix."""
        return basic_reproduction_number(
            self.contacts, self.population, self.transmission_rate, self.infectious_period
        )


def bundled_scenarios() -> list[str]:
    """Return the names of the scenarios shipped with epicast.

    Returns
    -------
    list of str
        The names, sorted, as accepted by :func:`load_scenario`.
    """
    return bundled_names(BUNDLED_PACKAGE, BUNDLED_DIR)


def schema() -> dict[str, Any]:
    """Return the JSON Schema of scenario files, for editors and documentation.

    Returns
    -------
    dict
        A JSON Schema (draft 2020-12) document, ready for ``json.dumps``.
    """
    return {"$schema": JSON_SCHEMA_DIALECT, **ScenarioFile.model_json_schema()}


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario.

    Parameters
    ----------
    name_or_path
        A bundled scenario name (see :func:`bundled_scenarios`) or a YAML file path.

    Returns
    -------
    Scenario
        The scenario with CSV files read and the transmission rate resolved.

    Raises
    ------
    ScenarioError
        With one message per problem, each naming the field and what was expected.
    """
    with bundled_or_path(
        name_or_path, BUNDLED_PACKAGE, BUNDLED_DIR, "scenario", ScenarioError
    ) as path:
        text = read_text(path, ScenarioError)
        logger.debug("loading scenario %s", path)
        return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    """Validate and resolve the text of a scenario file.

    Parameters
    ----------
    text
        The YAML text.
    path
        The file it was read from: it names the scenario in messages, and
        relative CSV paths start from its folder.

    Returns
    -------
    Scenario
        The resolved scenario.

    Raises
    ------
    ScenarioError
        With one message per problem found.
    """
    spec, problems = load_yaml_model(
        text, str(path), ScenarioFile, top_level=_TOP_LEVEL, error=ScenarioError
    )
    return _resolve(spec, text, path, problems)  # also raises for duplicate keys


# --- resolution: CSV files and checks across fields --------------------------------------


def _resolve(spec: ScenarioFile, text: str, path: Path, problems: Problems) -> Scenario:
    """Read CSV files and check the parts against each other."""
    base = path.parent
    settings, contact_groups = _read_settings(spec.contacts, base, problems)
    contacts = None if settings is None else sum(settings.values())
    age_groups = spec.age_groups or contact_groups or ["all"]
    n = len(age_groups)
    for index, label in enumerate(age_groups):
        if label in age_groups[:index]:
            problems.add(["age_groups", index], f"expected unique labels, got {label!r} again")
    if spec.age_groups and contact_groups and spec.age_groups != contact_groups:
        loc, name = contact_groups_source(spec.contacts)
        problems.add(
            loc,
            f"expected the header of {name} to list age_groups {spec.age_groups}, "
            f"got {contact_groups}",
        )
    if contacts is None:
        contacts = np.ones((1, 1))
        if n != 1 and spec.contacts is None:
            problems.add(["contacts"], f"required with {n} age groups (a {n}x{n} matrix)")
    else:
        for loc, matrix in _inline_matrices(spec.contacts, settings):
            if matrix.shape != (n, n):
                problems.add(
                    [*loc, "matrix"],
                    f"expected a {n}x{n} matrix (one row and column per age group"
                    f"{_groups_note(spec)}), got {matrix.shape[0]}x{matrix.shape[1]}",
                )
    population = _read_population(spec, age_groups, base, problems)
    initial = _initial_infections(spec, age_groups, population, problems)
    interventions = tuple(
        _resolve_intervention(i, item, age_groups, problems)
        for i, item in enumerate(spec.interventions)
    )
    outcomes = _resolve_severity(spec, age_groups, base, problems)
    series = _read_contact_series(
        spec.contact_series, age_groups, list(settings or ()), base, problems
    )
    immunity = _resolve_immunity(spec, age_groups, population, initial, base, problems)
    outputs = _outputs(spec, outcomes, problems)
    problems.raise_if_any()

    disease = spec.disease
    if disease.R0 is not None:
        unit_r0 = basic_reproduction_number(contacts, population, 1.0, disease.infectious_period)
        if unit_r0 <= 0:
            problems.add(
                ["contacts"], "expected a contact matrix with a positive eigenvalue, got none"
            )
            problems.raise_if_any()
        beta = disease.R0 / unit_r0
        if beta > MAX_RATE:
            problems.add(
                ["disease", "R0"],
                f"expected an R0 giving a transmission rate <= {MAX_RATE:g} per contact with "
                f"these contacts and infectious period, got {disease.R0:g} (rate {beta:.3g})",
            )
            problems.raise_if_any()
    else:
        beta = disease.transmission_rate
        r0 = basic_reproduction_number(contacts, population, beta, disease.infectious_period)
        if r0 > MAX_RATE:
            problems.add(
                ["disease", "transmission_rate"],
                f"expected a rate giving R0 <= {MAX_RATE:g} with these contacts and "
                f"infectious period, got {beta:g} (R0 {r0:.3g})",
            )
            problems.raise_if_any()
    fastest = _fastest_infection(beta, contacts, interventions, series, settings)
    _check_steps(spec, fastest, problems)
    problems.raise_if_any()
    return Scenario(
        name=spec.name or path.name.removesuffix(".yaml").removesuffix(".yml"),
        description=spec.description,
        source=text,
        source_path=str(path),
        age_groups=tuple(age_groups),
        population=population,
        contacts=contacts,
        transmission_rate=float(beta),
        latent_period=disease.latent_period,
        infectious_period=disease.infectious_period,
        initial_infections=initial,
        interventions=interventions,
        t_start=spec.time.start,
        t_end=spec.time.end,
        step=spec.time.step,
        reporting_fraction=spec.reporting_fraction,
        outputs=outputs,
        outcomes=outcomes,
        contact_series=series,
        immunity=immunity,
        contact_settings=settings if spec.contacts and spec.contacts.settings else {},
    )


def _fastest_infection(
    beta: float,
    contacts: np.ndarray,
    interventions: tuple[Intervention, ...],
    series: ContactSeries | None,
    settings: dict[str, np.ndarray],
) -> float:
    """Return the fastest rate, per day, at which a susceptible person can be infected.

    That is when everyone they meet is infectious, with every intervention that
    raises contacts in force and the contact series at its highest: an upper
    bound of the force of infection.
    """
    most = contacts.copy()
    if series is not None and series.settings:  # each setting at its highest
        most = sum(
            series.multipliers[:, s].max() * settings[name]
            for s, name in enumerate(series.settings)
        )
    for intervention in interventions:
        most *= np.maximum(intervention.scale, 1.0)
    rates = most.sum(axis=1)
    if series is not None and not series.settings:
        rates = rates * series.multipliers.max(axis=0)
    return float(beta * rates.max())


def _check_steps(spec: ScenarioFile, infection: float, problems: Problems) -> None:
    """Refuse a time span that the fastest rate would need too many integration steps for.

    An explicit Runge-Kutta step is stable only while the step times the fastest
    decay rate stays below about 3.3 (Dormand-Prince 5(4)), so a period of
    0.01 days over 36 500 days would need a million steps; beyond
    :data:`epicast.kernels.MAX_STEPS` the integrator gives up. The fastest rate
    is that of the shortest period, or of infection (``infection`` per day).
    """
    disease = spec.disease
    periods = [p for p in (disease.latent_period, disease.infectious_period) if p is not None]
    shortest = min(periods)
    what = f"periods as short as {shortest:g} days"
    if infection * shortest > 1:
        shortest, what = 1 / infection, f"infection as fast as {infection:.3g} per day"
    span = spec.time.end - spec.time.start
    most = int(MAX_STEPS * STABLE_STEP * STEP_MARGIN * shortest)
    if span > most:
        problems.add(
            ["time", "end"],
            f"expected at most {most} days after start for {what} "
            f"(more would need over {MAX_STEPS} integration steps), got {spec.time.end}",
        )


def _groups_note(spec: ScenarioFile) -> str:
    """Explain where the age groups come from when the file does not list them."""
    return "" if spec.age_groups else "; without age_groups there is one group 'all'"


def _read_settings(
    spec: ContactsSpec | None, base: Path, problems: Problems
) -> tuple[dict[str, np.ndarray] | None, list[str] | None]:
    """Return the contact matrices by setting, and the age groups of the CSV headers.

    A single matrix is the setting ``""``; the matrices are None if one failed.
    """
    if spec is None:
        return None, None
    sources = (
        {"": (["contacts"], spec)}
        if spec.settings is None
        else {name: (["contacts", "settings", name], item) for name, item in spec.settings.items()}
    )
    matrices, groups = {}, None
    for name, (loc, source) in sources.items():
        matrix, header = _read_contacts(source, loc, base, problems)
        if header is not None and groups is not None and header != groups:
            problems.add(
                [*loc, "csv"],
                f"expected the age groups of the other settings {groups}, got {header}",
            )
        groups = groups or header
        matrices[name] = matrix
    if any(matrix is None for matrix in matrices.values()):
        return None, groups
    if len({matrix.shape for matrix in matrices.values()}) > 1:
        sizes = ", ".join(f"{m.shape[0]}x{m.shape[1]} ({name})" for name, m in matrices.items())
        problems.add(["contacts", "settings"], f"expected matrices of one size, got {sizes}")
        return None, groups
    return matrices, groups


def contact_groups_source(spec: ContactsSpec) -> tuple[list[object], str]:
    """Return where the age groups of the contacts' CSV header come from: (location, file)."""
    if spec.settings is None:
        return ["contacts", "csv"], spec.csv
    name, item = next((n, i) for n, i in spec.settings.items() if i.csv is not None)
    return ["contacts", "settings", name, "csv"], item.csv


def _inline_matrices(
    spec: ContactsSpec, settings: dict[str, np.ndarray]
) -> list[tuple[list[object], np.ndarray]]:
    """Return (location, matrix) of each matrix given inline (a CSV's size is its header's)."""
    if spec.settings is None:
        return [(["contacts"], settings[""])] if spec.matrix is not None else []
    return [
        (["contacts", "settings", name], settings[name])
        for name, item in spec.settings.items()
        if item.matrix is not None
    ]


def _read_contacts(
    spec: ContactMatrixSpec, loc: list[object], base: Path, problems: Problems
) -> tuple[np.ndarray | None, list[str] | None]:
    """Return one contact matrix and, for a CSV, the age groups of its header."""
    if spec.matrix is not None:
        size, ok = len(spec.matrix), True
        for index, row in enumerate(spec.matrix):
            if len(row) != size:
                problems.add(
                    [*loc, "matrix", index],
                    f"expected {size} values (a square matrix of {size} rows), got {len(row)}",
                )
                ok = False
        return (np.array(spec.matrix, dtype=float), None) if ok else (None, None)
    loc = [*loc, "csv"]
    table = read_csv(base, spec.csv, loc, problems)
    if table is None:
        return None, None
    header, rows = table
    groups = header[1:]
    labels = [row[header[0]] for _, row in rows]
    if header[0] != "age_group":
        problems.add(loc, f"{spec.csv}: expected first column age_group, got {header[0]!r}")
        return None, None
    if labels != groups:
        problems.add(
            loc,
            f"{spec.csv}: expected one row per header column in the same order {groups}, "
            f"got rows {labels}",
        )
        return None, None
    matrix = [
        [read_number(row[g], spec.csv, n, g, loc, problems, MAX_CONTACTS) for g in groups]
        for n, row in rows
    ]
    if any(value is None for row in matrix for value in row):
        return None, None
    return np.array(matrix, dtype=float), groups


def _read_population(
    scenario: ScenarioFile, age_groups: list[str], base: Path, problems: Problems
) -> np.ndarray | None:
    """Return people per age group, shape (G,), or None if that failed."""
    spec, n = scenario.population, len(age_groups)
    if spec.total is not None:
        if n != 1:
            problems.add(
                ["population"],
                f"expected by_age or table for {n} age groups, got a total "
                "(a total is only for a single age group)",
            )
            return None
        return np.array([spec.total])
    if spec.by_age is not None:
        if len(spec.by_age) != n:
            problems.add(
                ["population", "by_age"],
                f"expected {n} values (one per age group{_groups_note(scenario)}), "
                f"got {len(spec.by_age)}",
            )
            return None
        return np.array(spec.by_age, dtype=float)
    return _population_table(spec.table, age_groups, base, problems)


def _population_table(
    table: CsvTable, age_groups: list[str], base: Path, problems: Problems
) -> np.ndarray | None:
    """Read people per age group from a long CSV table (column ``age_group``)."""
    loc = ["population", "table"]
    values = _age_table(table, age_groups, base, loc, problems, MAX_PEOPLE)
    if values is None:
        return None
    if np.any(values == 0):
        empty = [g for g, value in zip(age_groups, values, strict=True) if value == 0]
        problems.add([*loc, "column"], f"expected people in every age group, got 0 for {empty}")
        return None
    if values.max() * table.scale > MAX_PEOPLE:
        most = f"at most {MAX_PEOPLE:g} people in every age group"
        problems.add([*loc, "scale"], f"expected a scale leaving {most}, got {table.scale:g}")
        return None
    return values * table.scale


def _age_table(
    table: CsvTable,
    age_groups: list[str],
    base: Path,
    loc: list[object],
    problems: Problems,
    maximum: float,
) -> np.ndarray | None:
    """Read one number in [0, maximum] per age group from a long CSV table, unscaled."""
    read = read_csv(base, table.csv, [*loc, "csv"], problems)
    if read is None:
        return None
    header, rows = read
    columns = f"columns of {table.csv} ({', '.join(header)})"
    checks = [("csv", ["age_group"]), ("column", [table.column]), ("where", list(table.where))]
    for field, names in checks:
        unknown = ", ".join(name for name in names if name not in header)
        if unknown:
            problems.add([*loc, field], f"expected {columns}, got {unknown}")
            return None
    kept: dict[str, list[tuple[int, str]]] = {}
    for number, row in rows:
        if all(row[k] == v for k, v in table.where.items()):
            kept.setdefault(row["age_group"], []).append((number, row[table.column]))
    missing = [g for g in age_groups if g not in kept]
    doubled = [g for g in age_groups if len(kept.get(g, ())) > 1]
    if missing or doubled:
        got = f"no row for {missing}" if missing else f"several rows for {doubled}"
        problems.add([*loc, "where"], f"expected one row per age group in {table.csv}, got {got}")
        return None
    values = [
        read_number(
            kept[g][0][1],
            table.csv,
            kept[g][0][0],
            table.column,
            [*loc, "column"],
            problems,
            maximum,
        )
        for g in age_groups
    ]
    if any(value is None for value in values):
        return None
    return np.array(values, dtype=float)


def _initial_infections(
    spec: ScenarioFile, age_groups: list[str], population: np.ndarray | None, problems: Problems
) -> np.ndarray:
    """Spread a total over the age groups, or check a per-group list."""
    n, loc = len(age_groups), ["initial_infections"]
    if isinstance(spec.initial_infections, list):
        values = np.array(spec.initial_infections, dtype=float)
        if values.shape != (n,):
            problems.add(
                loc,
                f"expected {n} values (one per age group{_groups_note(spec)}), got {values.size}",
            )
            return np.zeros(n)
        if values.sum() <= 0:
            problems.add(loc, "expected at least one infection, got 0 in every age group")
        if population is not None:
            for index in np.flatnonzero(values > population):
                problems.add(
                    [*loc, int(index)],
                    f"expected at most the population of age group {age_groups[index]!r} "
                    f"({population[index]:g}), got {values[index]:g}",
                )
        return values
    if population is None:
        return np.zeros(n)
    if spec.initial_infections > population.sum():
        problems.add(
            loc,
            f"expected at most the population ({population.sum():g}), "
            f"got {spec.initial_infections:g}",
        )
    return spec.initial_infections * population / population.sum()


def _resolve_intervention(
    index: int, spec: InterventionSpec, age_groups: list[str], problems: Problems
) -> Intervention:
    """Build the contact multiplier of one intervention."""
    n = len(age_groups)
    targets = age_groups if spec.age_groups == "all" else spec.age_groups
    for position, label in enumerate(targets):
        if label not in age_groups:
            problems.add(
                ["interventions", index, "age_groups", position],
                f"expected one of the age groups {age_groups}, got {label!r}",
            )
    mask = np.array([g in targets for g in age_groups])
    scale = np.ones((n, n))
    scale[np.ix_(mask, mask)] = spec.contact_scale
    return Intervention(spec.name, spec.start, spec.end, scale)


def _resolve_severity(
    spec: ScenarioFile, age_groups: list[str], base: Path, problems: Problems
) -> tuple[Outcome, ...]:
    """Resolve the severe outcomes: ratios per age group and the discretised delays."""
    if spec.severity is None:
        return ()
    outcomes = []
    for name in OUTCOMES:
        outcome: OutcomeSpec | None = getattr(spec.severity, name)
        if outcome is None:
            continue
        ratio = _age_ratio(outcome.ratio, age_groups, base, ["severity", name, "ratio"], problems)
        delay = outcome.delay
        days = spec.time.end - spec.time.start + 1
        shares = delay_distribution(delay.mean, delay.sd, days)
        if ratio is not None:
            outcomes.append(Outcome(name, ratio, delay.mean, delay.sd, shares))
    return tuple(outcomes)


def _age_ratio(
    value: float | list[float] | CsvTable,
    age_groups: list[str],
    base: Path,
    loc: list[object],
    problems: Problems,
) -> np.ndarray | None:
    """Return a share per age group, shape (G,), from a number, a list or a CSV table."""
    n = len(age_groups)
    if isinstance(value, CsvTable):
        values = _age_table(value, age_groups, base, loc, problems, 1.0 / value.scale)
        return None if values is None else np.minimum(values * value.scale, 1.0)
    if isinstance(value, list):
        if len(value) != n:
            problems.add(loc, f"expected {n} values (one per age group), got {len(value)}")
            return None
        return np.array(value, dtype=float)
    return np.full(n, float(value))


def _outputs(
    spec: ScenarioFile, outcomes: tuple[Outcome, ...], problems: Problems
) -> tuple[str, ...]:
    """Return the outputs to write: those listed, or the defaults and the defined outcomes."""
    defined = [outcome.name for outcome in outcomes]
    vaccinated = list(VACCINATION_OUTPUTS) if spec.vaccination is not None else []
    if "outputs" not in spec.model_fields_set:
        return (*DEFAULT_OUTPUTS, *defined, *vaccinated)
    for index, name in enumerate(spec.outputs):
        if name in OUTCOMES and getattr(spec.severity, name, None) is None:
            problems.add(
                ["outputs", index], f"expected severity.{name} for output {name!r}, got none"
            )
        if name in VACCINATION_OUTPUTS and spec.vaccination is None:
            problems.add(["outputs", index], f"expected vaccination for output {name!r}, got none")
    return tuple(dict.fromkeys(spec.outputs))


def _read_contact_series(
    spec: ContactSeriesSpec | None,
    age_groups: list[str],
    settings: list[str],
    base: Path,
    problems: Problems,
) -> ContactSeries | None:
    """Read the days and multipliers of a contact series; None if there is none or it failed."""
    if spec is None:
        return None
    if spec.by_setting and settings in ([], [""]):
        problems.add(
            ["contact_series", "by_setting"],
            "expected contacts by setting (contacts.settings) for a series by setting, got "
            "one contact matrix",
        )
        return None
    loc = ["contact_series", "csv"]
    table = read_csv(base, spec.csv, loc, problems)
    if table is None:
        return None
    header, rows = table
    columns = list(age_groups) if spec.by_age else settings if spec.by_setting else [spec.column]
    missing = [name for name in (spec.day, *columns) if name not in header]
    if missing:
        problems.add(
            loc,
            f"{spec.csv}: expected columns {', '.join([spec.day, *columns])}, "
            f"got no {', '.join(missing)} (columns: {', '.join(header)})",
        )
        return None
    days = [
        read_number(row[spec.day], spec.csv, n, spec.day, loc, problems, MAX_DAYS)
        for n, row in rows
    ]
    values = [
        [read_number(row[c], spec.csv, n, c, loc, problems, MAX_CONTACTS) for c in columns]
        for n, row in rows
    ]
    if None in days or any(None in row for row in values):
        return None
    for (number, _), before, day in zip(rows[1:], days[:-1], days[1:], strict=True):
        if day <= before:
            problems.add(
                loc,
                f"{spec.csv} line {number}, column {spec.day}: expected a day after "
                f"{before:g}, got {day:g}",
            )
            return None
    multipliers = np.array(values, dtype=float)
    if spec.by_setting:
        return ContactSeries(np.array(days, dtype=float), multipliers, tuple(settings))
    if not spec.by_age:
        multipliers = np.repeat(multipliers, len(age_groups), axis=1)
    return ContactSeries(np.array(days, dtype=float), multipliers)


def _resolve_immunity(
    spec: ScenarioFile,
    age_groups: list[str],
    population: np.ndarray | None,
    initial: np.ndarray,
    base: Path,
    problems: Problems,
) -> Immunity | None:
    """Resolve vaccination and waning immunity: shares per age group and the daily doses."""
    vaccination = spec.vaccination
    if vaccination is None and spec.disease.immunity_duration is None:
        return None
    n, n_days = len(age_groups), spec.time.end - spec.time.start
    if vaccination is None:
        return Immunity(
            np.zeros((n_days, n)), np.zeros(n), 0.0, 0.0, 0.0, None, spec.disease.immunity_duration
        )
    loc = ["vaccination"]
    uptake = _age_ratio(vaccination.uptake, age_groups, base, [*loc, "uptake"], problems)
    coverage = _age_ratio(
        vaccination.initial_coverage, age_groups, base, [*loc, "initial_coverage"], problems
    )
    if population is None or uptake is None or coverage is None:
        return None
    room = population - initial
    for g in np.flatnonzero(coverage * population > room):
        problems.add(
            [*loc, "initial_coverage"],
            f"expected at most the people of age group {age_groups[g]!r} not infected at the "
            f"start ({room[g]:g}), got {coverage[g] * population[g]:g} covered",
        )
    eligible = np.maximum(uptake - coverage, 0.0) * population
    if vaccination.schedule is not None:
        doses = _read_schedule(vaccination.schedule, spec, age_groups, eligible, base, problems)
    elif vaccination.doses_per_day is not None:
        tiers = _priority_tiers(vaccination.priority, age_groups, [*loc, "priority"], problems)
        capacity = np.zeros(n_days)
        for step in sorted(vaccination.doses_per_day, key=lambda item: item.start):
            capacity[max(step.start - spec.time.start, 0) :] = step.doses
        doses = rollout(capacity, tiers, eligible)
    else:
        doses = np.zeros((n_days, n))
    if doses is None:
        return None
    return Immunity(
        doses=doses,
        initial_coverage=coverage,
        efficacy_infection=vaccination.efficacy.infection,
        efficacy_severe=vaccination.efficacy.severe,
        time_to_protection=vaccination.time_to_protection,
        vaccine_immunity=vaccination.immunity_duration,
        infection_immunity=spec.disease.immunity_duration,
    )


def _priority_tiers(
    priority: list[str | list[str]], age_groups: list[str], loc: list[object], problems: Problems
) -> list[list[int]]:
    """Return the priority tiers as lists of age group indices; each group at most once."""
    tiers, seen = [], set()
    for index, entry in enumerate(priority):
        labels = [entry] if isinstance(entry, str) else entry
        tier = []
        for label in labels:
            if label not in age_groups:
                problems.add(
                    [*loc, index], f"expected one of the age groups {age_groups}, got {label!r}"
                )
            elif label in seen:
                problems.add([*loc, index], f"expected each age group once, got {label!r} again")
            else:
                seen.add(label)
                tier.append(age_groups.index(label))
        tiers.append(tier)
    return tiers


def _read_schedule(
    spec: ScheduleSpec,
    scenario: ScenarioFile,
    age_groups: list[str],
    eligible: np.ndarray,
    base: Path,
    problems: Problems,
) -> np.ndarray | None:
    """Read doses per day and age group; check the days and that no group gets too many."""
    loc = ["vaccination", "schedule", "csv"]
    table = read_csv(base, spec.csv, loc, problems)
    if table is None:
        return None
    header, rows = table
    missing = [name for name in (spec.day, *age_groups) if name not in header]
    if missing:
        problems.add(
            loc,
            f"{spec.csv}: expected a column {spec.day} and one per age group, "
            f"got no {', '.join(missing)} (columns: {', '.join(header)})",
        )
        return None
    start, end = scenario.time.start, scenario.time.end
    doses = np.zeros((end - start, len(age_groups)))
    for number, row in rows:
        day = read_number(row[spec.day], spec.csv, number, spec.day, loc, problems, MAX_DAYS)
        if day is None:
            continue
        if day != int(day) or not start <= day < end:
            problems.add(
                loc,
                f"{spec.csv} line {number}, column {spec.day}: expected a whole day from "
                f"{start} to {end - 1}, got {row[spec.day]!r}",
            )
            continue
        for g, label in enumerate(age_groups):
            value = read_number(row[label], spec.csv, number, label, loc, problems, MAX_PEOPLE)
            if value is not None:
                doses[int(day) - start, g] += value
    for g in np.flatnonzero(doses.sum(axis=0) > eligible * (1 + 1e-9)):
        problems.add(
            loc,
            f"{spec.csv}: expected at most {eligible[g]:,.0f} doses for age group "
            f"{age_groups[g]!r} (its uptake, less its initial coverage), "
            f"got {doses[:, g].sum():,.0f}",
        )
    return doses
