"""Scenario files: the YAML format, its validation, and the resolved scenario.

A scenario file describes one epidemic to simulate. It is validated by the
pydantic model :class:`ScenarioFile` (the JSON Schema of ``epicast schema``),
then resolved into a :class:`Scenario`: plain NumPy arrays with CSV files read
and the transmission rate derived from R0. Every problem is reported as one
line naming the file, the line, the field path and what was expected.

Only this module knows YAML and pydantic.
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from epicast.errors import ScenarioError
from epicast.model import basic_reproduction_number

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "epicast.data"
BUNDLED_DIR = "scenarios"

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegativeFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    """Base of the file models: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvTable(_Strict):
    """A table read from a CSV file, with an optional row filter."""

    csv: str = Field(description="Path of the CSV file, relative to the scenario file.")
    column: str | None = Field(
        None, description="Column holding the values (population tables only)."
    )
    where: dict[str, str] = Field(
        default_factory=dict,
        description="Keep only rows whose columns equal these values, e.g. {iso3: GBR}.",
    )
    scale: PositiveFloat = Field(1.0, description="Multiply every value by this factor.")


class PopulationSpec(_Strict):
    """Population size: exactly one of ``total``, ``by_age`` or ``table``."""

    total: PositiveFloat | None = Field(
        None, description="Total population; only with a single age group."
    )
    by_age: list[NonNegativeFloat] | None = Field(
        None, description="People in each age group, in the order of age_groups."
    )
    table: CsvTable | None = Field(
        None, description="People in each age group read from a CSV file (column age_group)."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PopulationSpec:
        given = [name for name in ("total", "by_age", "table") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of total, by_age, table (got {given or 'none'})")
        return self


class ContactsSpec(_Strict):
    """Contact matrix: exactly one of ``matrix`` or ``csv``.

    Entry (i, j) is the mean number of daily contacts that a person in age
    group i has with people in age group j.
    """

    matrix: list[list[NonNegativeFloat]] | None = Field(
        None, description="The matrix inline, one list per row."
    )
    csv: str | None = Field(
        None,
        description="CSV file relative to the scenario: header 'age_group,<groups...>', "
        "then one row per age group.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> ContactsSpec:
        if (self.matrix is None) == (self.csv is None):
            raise ValueError("give exactly one of matrix, csv")
        return self


class DiseaseSpec(_Strict):
    """Natural history and transmissibility of the disease."""

    model: Literal["SEIR", "SIR"] = Field("SEIR", description="Compartment structure.")
    R0: PositiveFloat | None = Field(
        None,
        description="Basic reproduction number: the dominant eigenvalue of the next-generation "
        "matrix. Give R0 or transmission_rate.",
    )
    transmission_rate: PositiveFloat | None = Field(
        None, description="Probability of transmission per contact (per day of contact)."
    )
    latent_period: PositiveFloat | None = Field(
        None, description="Mean latent period in days (SEIR only)."
    )
    infectious_period: PositiveFloat = Field(description="Mean infectious period in days.")

    @model_validator(mode="after")
    def _consistent(self) -> DiseaseSpec:
        if (self.R0 is None) == (self.transmission_rate is None):
            raise ValueError("give exactly one of R0, transmission_rate")
        if self.model == "SEIR" and self.latent_period is None:
            raise ValueError("an SEIR model needs latent_period")
        if self.model == "SIR" and self.latent_period is not None:
            raise ValueError("an SIR model has no latent_period; remove it or use model: SEIR")
        return self


class InterventionSpec(_Strict):
    """A time window during which contacts among some age groups are scaled."""

    name: str = Field(description="What the intervention is, e.g. 'school closure'.")
    start: NonNegativeFloat = Field(description="First day of the intervention.")
    end: PositiveFloat = Field(description="Day the intervention ends (exclusive).")
    contact_scale: NonNegativeFloat = Field(
        description="Factor applied to contacts between the targeted age groups "
        "(0 removes them, 1 changes nothing)."
    )
    age_groups: list[str] | Literal["all"] = Field(
        "all", description="Age groups whose contacts with each other are scaled."
    )

    @model_validator(mode="after")
    def _ordered(self) -> InterventionSpec:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end:g}) must be after start ({self.start:g})")
        return self


class TimeSpec(_Strict):
    """Simulated period and integration step, in days; outputs are daily."""

    start: int = Field(0, ge=0, description="First day.")
    end: int = Field(gt=0, description="Last day (outputs are given for start..end).")
    step: PositiveFloat = Field(
        0.25, le=1, description="Integration step in days; 1/step must be a whole number."
    )

    @model_validator(mode="after")
    def _consistent(self) -> TimeSpec:
        if self.end <= self.start:
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        steps = round(1 / self.step)
        if abs(steps * self.step - 1) > 1e-9:
            raise ValueError(f"step {self.step:g} does not divide one day; use e.g. 1, 0.5, 0.25")
        return self


Output = Literal["prevalence", "incidence", "notifications"]


class ScenarioFile(_Strict):
    """A scenario file: one epidemic to simulate."""

    name: str | None = Field(None, description="Short name; defaults to the file name.")
    description: str = Field("", description="What the scenario is for.")
    age_groups: list[str] | None = Field(
        None,
        min_length=1,
        description="Age group labels; default: the contact CSV header, else one group 'all'.",
    )
    population: PopulationSpec
    contacts: ContactsSpec | None = Field(
        None, description="Contact matrix; default 1 contact per day for a single group."
    )
    disease: DiseaseSpec
    initial_infections: PositiveFloat | list[NonNegativeFloat] = Field(
        description="Infectious people at the start: a total (spread in proportion to the "
        "population) or one number per age group."
    )
    interventions: list[InterventionSpec] = Field(default_factory=list)
    time: TimeSpec
    reporting_fraction: float = Field(
        1.0, gt=0, le=1, description="Share of new infectious cases that are notified."
    )
    outputs: list[Output] = Field(
        default_factory=lambda: ["prevalence", "incidence", "notifications"],
        description="Which time series the output file holds.",
    )


@dataclass(frozen=True)
class Intervention:
    """A resolved intervention: contacts are multiplied by ``scale`` in [start, end)."""

    name: str
    start: float
    end: float
    scale: np.ndarray  # (G, G) multiplier of the contact matrix


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, resolved into the arrays the model needs.

    Attributes
    ----------
    population
        People per age group, shape (G,).
    contacts
        Daily contacts of a person in group i with people in group j, shape (G, G).
    transmission_rate
        Probability of transmission per contact-day.
    latent_period
        Mean latent period in days, or ``None`` for an SIR model.
    initial_infections
        Infectious people at ``t_start`` per age group, shape (G,).
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

    @property
    def compartments(self) -> tuple[str, ...]:
        """Compartment labels in model order."""
        return ("S", "I", "R") if self.latent_period is None else ("S", "E", "I", "R")

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
    """Return the names of the scenarios shipped with epicast, sorted."""
    folder = resources.files(BUNDLED_PACKAGE) / BUNDLED_DIR
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def schema() -> dict[str, Any]:
    """Return the JSON Schema of scenario files (for editors and documentation)."""
    return ScenarioFile.model_json_schema()


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read, validate and resolve a scenario.

    Parameters
    ----------
    name_or_path
        A bundled scenario name (see :func:`bundled_scenarios`) or a YAML file path.

    Raises
    ------
    ScenarioError
        With one message per problem, each naming the field and what was expected.
    """
    with _scenario_file(name_or_path) as path:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ScenarioError(str(name_or_path), [f"cannot read the file: {exc}"]) from exc
        return parse_scenario(text, path)


def parse_scenario(text: str, path: Path) -> Scenario:
    """Validate scenario ``text`` read from ``path`` (relative CSV paths start there)."""
    source = str(path)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise ScenarioError(
            source, [f"{where}invalid YAML: {getattr(exc, 'problem', exc)}"]
        ) from exc
    if not isinstance(raw, dict):
        raise ScenarioError(source, ["expected a mapping of scenario fields at the top level"])
    try:
        spec = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(source, _describe(exc, text)) from exc
    return _resolve(spec, text, path)


@contextmanager
def _scenario_file(name_or_path: str | Path) -> Iterator[Path]:
    """Yield a file system path for a bundled name or a given path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ScenarioError(str(path), ["no such file"])
        yield path
        return
    if str(name_or_path) not in bundled_scenarios():
        known = ", ".join(bundled_scenarios())
        raise ScenarioError(
            str(name_or_path), [f"neither a file nor a bundled scenario (bundled: {known})"]
        )
    resource = resources.files(BUNDLED_PACKAGE) / BUNDLED_DIR / f"{name_or_path}.yaml"
    with resources.as_file(resource.parent) as folder:
        yield folder / resource.name


def _describe(exc: ValidationError, text: str) -> list[str]:
    """Turn pydantic errors into 'line N: field.path: expected ...' messages."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = [part for part in error["loc"] if not _is_union_tag(part)]
        field = _format_loc(loc) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see `epicast schema`)"
        elif error["type"] not in ("missing",) and not isinstance(error["input"], dict | list):
            message += f" (got {error['input']!r})"
        line = _line_of(text, loc)
        problems.append(f"{f'line {line}: ' if line else ''}{field}: {message}")
    return problems


def _is_union_tag(part: object) -> bool:
    """Pydantic adds the union member ('float', 'list[...]') to error locations."""
    return isinstance(part, str) and (part in ("float", "int", "str") or "[" in part)


def _format_loc(loc: list[object]) -> str:
    """Format a location like ('contacts', 'matrix', 2) as 'contacts.matrix[2]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out


def _line_of(text: str, loc: list[object]) -> int | None:
    """Return the 1-based line of the YAML node at ``loc`` (or its nearest parent)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
            if child is None:  # an unknown key: point at the key itself
                child = next((k for k, _ in node.value if k.value == part), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            child = node.value[part]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1 if node is not None else None


class _Problems:
    """Collects resolution problems so that all of them are reported at once."""

    def __init__(self, source: str, text: str) -> None:
        self.source, self.text, self.items = source, text, []

    def add(self, loc: list[object], message: str) -> None:
        line = _line_of(self.text, loc)
        self.items.append(f"{f'line {line}: ' if line else ''}{_format_loc(loc)}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioError(self.source, self.items)


def _resolve(spec: ScenarioFile, text: str, path: Path) -> Scenario:
    """Read CSV files and check the parts against each other."""
    problems = _Problems(str(path), text)
    base = path.parent
    contacts, contact_groups = _read_contacts(spec.contacts, base, problems)
    age_groups = spec.age_groups or contact_groups or ["all"]
    n = len(age_groups)
    if len(set(age_groups)) != n:
        problems.add(["age_groups"], "age group labels must be unique")
    if contacts is None:
        contacts = np.ones((1, 1))
        if n != 1 and spec.contacts is None:
            problems.add(["contacts"], f"required with {n} age groups")
    elif contacts.shape != (n, n):
        problems.add(
            ["contacts"],
            f"expected a {n}x{n} matrix for {n} age groups, got {contacts.shape[0]}x{contacts.shape[1]}",
        )
    population = _read_population(spec.population, age_groups, base, problems)
    initial = _initial_infections(spec.initial_infections, population, n, problems)
    interventions = tuple(
        _resolve_intervention(i, item, age_groups, problems)
        for i, item in enumerate(spec.interventions)
    )
    problems.raise_if_any()

    disease = spec.disease
    if disease.R0 is not None:
        unit_r0 = basic_reproduction_number(contacts, population, 1.0, disease.infectious_period)
        if unit_r0 <= 0:
            problems.add(["contacts"], "the contact matrix has no positive eigenvalue")
            problems.raise_if_any()
        beta = disease.R0 / unit_r0
    else:
        beta = disease.transmission_rate
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
        outputs=tuple(dict.fromkeys(spec.outputs)),
    )


def _read_csv(base: Path, name: str, loc: list[object], problems: _Problems) -> list[dict] | None:
    """Read a CSV file relative to ``base`` into a list of rows, or record a problem."""
    path = base / name
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        problems.add(loc, f"cannot read CSV file {path}: {exc.strerror or exc}")
        return None
    if not rows:
        problems.add(loc, f"CSV file {path} has no data rows")
        return None
    return rows


def _read_contacts(
    spec: ContactsSpec | None, base: Path, problems: _Problems
) -> tuple[np.ndarray | None, list[str] | None]:
    """Return the contact matrix and, for a CSV, the age groups of its header."""
    if spec is None:
        return None, None
    if spec.matrix is not None:
        widths = {len(row) for row in spec.matrix}
        if len(widths) != 1:
            problems.add(["contacts", "matrix"], "rows must all have the same length")
            return None, None
        return np.array(spec.matrix, dtype=float), None
    rows = _read_csv(base, spec.csv, ["contacts", "csv"], problems)
    if rows is None:
        return None, None
    groups = [row.get("age_group") for row in rows]
    header = [key for key in rows[0] if key != "age_group"]
    if None in groups or groups != header:
        problems.add(
            ["contacts", "csv"],
            f"{spec.csv}: expected a header 'age_group,<groups>' and one row per group in the same order",
        )
        return None, None
    try:
        matrix = np.array([[float(row[g]) for g in header] for row in rows])
    except (TypeError, ValueError):
        problems.add(["contacts", "csv"], f"{spec.csv}: every entry must be a number")
        return None, None
    if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
        problems.add(["contacts", "csv"], f"{spec.csv}: entries must be finite and >= 0")
        return None, None
    return matrix, groups


def _read_population(
    spec: PopulationSpec, age_groups: list[str], base: Path, problems: _Problems
) -> np.ndarray:
    """Return people per age group, shape (G,)."""
    n = len(age_groups)
    if spec.total is not None:
        if n != 1:
            problems.add(
                ["population", "total"],
                f"a total needs a single age group; give by_age or table for {n} groups",
            )
        return np.full(n, spec.total / n)
    if spec.by_age is not None:
        values = np.array(spec.by_age, dtype=float)
    else:
        values = _population_table(spec.table, age_groups, base, problems)
    if values.shape != (n,):
        problems.add(["population"], f"expected {n} values (one per age group), got {values.size}")
        return np.ones(n)
    if np.any(values <= 0):
        problems.add(["population"], "every age group needs a positive population")
    return values


def _population_table(
    table: CsvTable, age_groups: list[str], base: Path, problems: _Problems
) -> np.ndarray:
    """Read people per age group from a long CSV table (column ``age_group``)."""
    loc = ["population", "table"]
    rows = _read_csv(base, table.csv, [*loc, "csv"], problems)
    if rows is None:
        return np.array([])
    if table.column is None or table.column not in rows[0]:
        problems.add([*loc, "column"], f"name the value column, one of {sorted(rows[0])}")
        return np.array([])
    unknown = sorted(set(table.where) - set(rows[0]))
    if unknown:
        problems.add([*loc, "where"], f"no such column {unknown} in {table.csv}")
        return np.array([])
    kept = {
        r["age_group"]: r[table.column]
        for r in rows
        if all(r[k] == v for k, v in table.where.items())
    }
    missing = [g for g in age_groups if g not in kept]
    if missing:
        problems.add([*loc, "where"], f"no rows for age groups {missing} in {table.csv}")
        return np.array([])
    try:
        return np.array([float(kept[g]) for g in age_groups]) * table.scale
    except ValueError:
        problems.add([*loc, "column"], f"{table.column}: every value must be a number")
        return np.array([])


def _initial_infections(
    spec: float | list[float], population: np.ndarray, n: int, problems: _Problems
) -> np.ndarray:
    """Spread a total over the age groups, or check a per-group list."""
    if isinstance(spec, list):
        values = np.array(spec, dtype=float)
        if values.shape != (n,):
            problems.add(
                ["initial_infections"],
                f"expected {n} values (one per age group), got {values.size}",
            )
            return np.zeros(n)
    else:
        values = spec * population / population.sum()
    if population.shape == values.shape and np.any(values > population):
        problems.add(["initial_infections"], "cannot exceed the population of an age group")
    if values.sum() <= 0:
        problems.add(["initial_infections"], "at least one infection is needed")
    return values


def _resolve_intervention(
    index: int, spec: InterventionSpec, age_groups: list[str], problems: _Problems
) -> Intervention:
    """Build the contact multiplier of one intervention."""
    n = len(age_groups)
    targets = age_groups if spec.age_groups == "all" else spec.age_groups
    unknown = [g for g in targets if g not in age_groups]
    if unknown:
        problems.add(
            ["interventions", index, "age_groups"],
            f"unknown age groups {unknown}; known: {age_groups}",
        )
    mask = np.array([g in targets for g in age_groups])
    scale = np.ones((n, n))
    scale[np.ix_(mask, mask)] = spec.contact_scale
    return Intervention(spec.name, spec.start, spec.end, scale)
