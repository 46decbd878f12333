"""Scenario files: validation messages, bundled scenarios, CSV paths, JSON Schema.

Each file under ``scenarios/bad/`` holds one mistake (its first line says which);
the test checks the exact lines the CLI would print for it.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from epicast.errors import EpicastError, ScenarioError
from epicast.scenario import bundled_scenarios, load_scenario, schema

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
BAD = SCENARIOS / "bad"
VALID = SCENARIOS / "valid"
BUNDLED = [
    "seir-basic",
    "seir-gbr-16age",
    "seir-gbr-16age-severity",
    "seir-gbr-16age-vaccine-oldest-first",
    "seir-gbr-16age-vaccine-transmitters-first",
    "seir-mys-16age-school-closure",
    "sir-boarding-school",
]
TOP_LEVEL = "a mapping of scenario fields (population, disease, initial_infections, time, ...)"
FIELDS = (
    "name, description, age_groups, population, contacts, disease, initial_infections, "
    "interventions, contact_series, time, reporting_fraction, severity, vaccination, outputs"
)

# file in scenarios/bad -> the problems reported, in order ({scenarios} is SCENARIOS)
EXPECTED = {
    "bad_indentation.yaml": ["line 6: invalid YAML: mapping values are not allowed here"],
    "bad_yaml.yaml": [
        "line 3: invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence on line 2)"
    ],
    "bare_population_string.yaml": [
        "line 2: population: expected a number > 0 (the total) or a mapping with one of "
        "total, by_age, table, got 'a thousand'"
    ],
    "boolean_number.yaml": ["line 7: disease.infectious_period: expected a number, got true"],
    "by_age_wrong_length.yaml": [
        "line 4: population.by_age: expected 2 values (one per age group), got 3"
    ],
    "csv_groups_differ.yaml": [
        "line 6: contacts.csv: expected the header of ../contacts_2x2.csv to list age_groups "
        "['children', 'adults'], got ['young', 'old']"
    ],
    "csv_not_number.yaml": [
        "line 6: contacts.csv: ../contacts_not_number.csv line 2, column old: "
        "expected a number >= 0 and <= 10000, got 'lots'"
    ],
    "csv_rows_out_of_order.yaml": [
        "line 6: contacts.csv: ../contacts_rows_out_of_order.csv: expected one row per header "
        "column in the same order ['young', 'old'], got rows ['old', 'young']"
    ],
    "csv_short_row.yaml": [
        "line 6: contacts.csv: ../contacts_short_row.csv line 2: "
        "expected 3 values as in the header, got 2"
    ],
    "duplicate_key.yaml": ["line 11: time: duplicate key (first given on line 9); give it once"],
    "empty.yaml": [f"the file is empty; expected {TOP_LEVEL}"],
    "initial_infections_negative.yaml": [
        "line 8: initial_infections: expected a number > 0, got -5"
    ],
    "initial_infections_string.yaml": [
        "line 8: initial_infections: expected a number > 0 (a total) or a list of numbers >= 0 "
        "(one per age group), got 'ten'"
    ],
    "initial_infections_wrong_length.yaml": [
        "line 11: initial_infections: expected 2 values (one per age group), got 3"
    ],
    "intervention_end_before_start.yaml": [
        "line 14: interventions[0].end: expected a day after start (30), got 20"
    ],
    "intervention_misnamed_key.yaml": [
        "line 15: interventions[0].scale: unknown field; did you mean contact_scale?"
    ],
    "intervention_groups_string.yaml": [
        "line 19: interventions[0].age_groups: "
        "expected 'all' or a list of age group labels, got 'young'"
    ],
    "missing_csv.yaml": [
        "line 6: contacts.csv: cannot read ../no_such_contacts.csv "
        "(looked for {scenarios}/no_such_contacts.csv): No such file or directory"
    ],
    "missing_field.yaml": [
        "line 4: disease.infectious_period: required field is missing "
        "(mean infectious period in days)"
    ],
    "missing_section.yaml": [
        "time: required field is missing (simulated period and integration step)"
    ],
    "negative_population.yaml": ["line 3: population.total: expected a number > 0, got -1000"],
    "non_square_matrix.yaml": [
        "line 8: contacts.matrix[1]: expected 2 values (a square matrix of 2 rows), got 1"
    ],
    "not_a_mapping.yaml": [f"expected {TOP_LEVEL}, got a list"],
    "only_comments.yaml": [f"the file is empty; expected {TOP_LEVEL}"],
    "population_two_sources.yaml": [
        "line 2: population: expected exactly one of total, by_age, table, got total and by_age"
    ],
    "r0_and_transmission_rate.yaml": [
        "line 4: disease: expected exactly one of R0, transmission_rate, "
        "got R0 and transmission_rate"
    ],
    "reporting_fraction_above_one.yaml": [
        "line 11: reporting_fraction: expected a number <= 1, got 1.5"
    ],
    "seir_without_latent_period.yaml": [
        "line 4: disease.latent_period: required field is missing for model SEIR (the default): "
        "the mean latent period in days; give it, or set model: SIR"
    ],
    "several_problems.yaml": [
        "line 5: disease.R0: expected a number > 0, got -1",
        "line 7: disease.infectious_perod: unknown field; did you mean infectious_period?",
        "line 11: time.step: expected a number <= 1, got 2",
        "line 12: reporting_fraction: expected a number > 0, got 0",
    ],
    "sir_with_latent_period.yaml": [
        "line 7: disease.latent_period: not used by model SIR; remove it, or set model: SEIR"
    ],
    "step_not_dividing_day.yaml": [
        "line 11: time.step: expected 1/n of a day (e.g. 1, 0.5, 0.25, 0.1), got 0.3"
    ],
    "table_unknown_column.yaml": [
        "line 6: population.table.column: "
        "expected columns of ../population_2.csv (country, age_group, people), got population"
    ],
    "table_without_filter.yaml": [
        "line 4: population.table.where: expected one row per age group in "
        "../population_2.csv, got several rows for ['young', 'old']"
    ],
    "time_end_before_start.yaml": ["line 11: time.end: expected a day after start (50), got 10"],
    "time_fractional_day.yaml": ["line 10: time.end: expected a whole number, got 100.5"],
    "too_many_infections.yaml": [
        "line 8: initial_infections: expected at most the population (1000), got 5000"
    ],
    "too_many_infections_in_group.yaml": [
        "line 11: initial_infections[1]: "
        "expected at most the population of age group 'old' (400), got 500"
    ],
    "total_with_age_groups.yaml": [
        "line 3: population: expected by_age or table for 2 age groups, got a total "
        "(a total is only for a single age group)"
    ],
    "typo_key.yaml": [
        "line 7: disease.infectious_perod: unknown field; did you mean infectious_period?"
    ],
    "unknown_intervention_group.yaml": [
        "line 19: interventions[0].age_groups[1]: "
        "expected one of the age groups ['young', 'old'], got 'kids'"
    ],
    "unknown_key.yaml": [f"line 11: colour: unknown field; expected one of: {FIELDS}"],
    "unknown_model.yaml": ["line 5: disease.model: expected 'SEIR' or 'SIR', got 'SEIRS'"],
    "unknown_output.yaml": [
        "line 11: outputs[1]: expected 'prevalence', 'incidence', 'notifications', 'admissions', "
        "'deaths', 'doses' or 'breakthrough', got 'hospitalisations'"
    ],
    "output_without_severity.yaml": [
        "line 14: outputs[1]: expected severity.deaths for output 'deaths', got none"
    ],
    "series_day_twice.yaml": [
        "line 14: contact_series.csv: ../series_repeated_day.csv line 4, column day: "
        "expected a day after 20, got 20"
    ],
    "series_missing_column.yaml": [
        "line 14: contact_series.csv: ../series_other_column.csv: expected columns day, "
        "multiplier, got no multiplier (columns: day, mobility)"
    ],
    "series_negative.yaml": [
        "line 14: contact_series.csv: ../series_negative.csv line 3, column multiplier: "
        "expected a number >= 0 and <= 10000, got '-0.5'"
    ],
    "series_by_age_with_column.yaml": [
        "line 14: contact_series.column: not used with by_age (one column per age group); remove it"
    ],
    "vaccination_unknown_group.yaml": [
        "line 16: vaccination.priority[1]: expected one of the age groups ['young', 'old'], "
        "got 'kids'"
    ],
    "vaccination_uptake_too_high.yaml": [
        "line 17: vaccination.uptake: expected a number <= 0.99, got 1.0"
    ],
    "vaccination_without_priority.yaml": [
        "line 14: vaccination.priority: required with doses_per_day: the age groups in the "
        "order they get doses"
    ],
    "vaccination_two_plans.yaml": [
        "line 14: vaccination: expected doses_per_day or schedule, got both"
    ],
    "vaccination_schedule_too_many.yaml": [
        "line 15: vaccination.schedule.csv: ../doses_too_many.csv: expected at most 360 doses "
        "for age group 'old' (its uptake, less its initial coverage), got 400"
    ],
    "output_doses_without_vaccination.yaml": [
        "line 14: outputs[1]: expected vaccination for output 'doses', got none"
    ],
    "series_by_setting_without_settings.yaml": [
        "line 14: contact_series.by_setting: expected contacts by setting (contacts.settings) "
        "for a series by setting, got one contact matrix"
    ],
    "series_by_age_and_by_setting.yaml": [
        "line 14: contact_series.by_setting: expected by_age or by_setting, got both"
    ],
    "settings_wrong_size.yaml": [
        "line 6: contacts.settings: expected matrices of one size, got 2x2 (home), 3x3 (school)"
    ],
    "severity_empty.yaml": ["line 14: severity: expected admissions, deaths or both, got neither"],
    "severity_out_of_range.yaml": [
        "line 16: severity.deaths.ratio[1]: expected a number <= 1, got 1.5",
        "line 17: severity.deaths.delay.mean: expected a number >= 0.01, got 0",
    ],
    "severity_ratio_wrong_length.yaml": [
        "line 16: severity.admissions.ratio: expected 2 values (one per age group), got 3"
    ],
    "severity_csv_above_one.yaml": [
        "line 16: severity.deaths.ratio.column: ../ifr_percent.csv line 3, column ifr: "
        "expected a number >= 0 and <= 100, got '120'"
    ],
    "wrong_size_matrix.yaml": [
        "line 6: contacts.matrix: expected a 3x3 matrix (one row and column per age group), got 2x2"
    ],
    "wrong_type.yaml": ["line 5: disease.R0: expected a number, got 'high'"],
}


def problems_of(path: Path | str) -> ScenarioError:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value


def test_every_bad_fixture_has_an_expected_message():
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_scenario_gives_one_exact_line_per_problem(name):
    path = BAD / name
    expected = [line.format(scenarios=SCENARIOS) for line in EXPECTED[name]]

    error = problems_of(path)

    assert error.problems == expected
    assert error.lines() == [f"{path}: {line}" for line in expected]
    assert isinstance(error, EpicastError)
    assert str(error) == "\n".join(error.lines())


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_scenario_validates(name):
    scenario = load_scenario(name)

    groups = len(scenario.age_groups)
    assert scenario.name == name
    assert scenario.population.shape == (groups,)
    assert np.all(scenario.population > 0)
    assert scenario.contacts.shape == (groups, groups)
    assert scenario.initial_infections.shape == (groups,)
    assert 0 < scenario.initial_infections.sum() <= scenario.population.sum()
    assert scenario.t_end > scenario.t_start
    assert round(1 / scenario.step) * scenario.step == pytest.approx(1)


def test_bundled_scenarios_lists_the_seven_shipped_names():
    assert bundled_scenarios() == BUNDLED


def test_r0_of_bundled_scenarios_is_the_one_in_the_file():
    reproduction_numbers = [load_scenario(name).R0 for name in BUNDLED[1:6]]

    assert reproduction_numbers == pytest.approx([2.5] * 5)


def test_unknown_bundled_name_lists_the_known_ones():
    error = problems_of("seir-basci")

    assert error.lines() == [
        "seir-basci: neither a file nor a bundled scenario; expected a .yaml path "
        "or one of: " + ", ".join(BUNDLED)
    ]


def test_missing_yaml_file(tmp_path):
    path = tmp_path / "nowhere.yaml"

    assert problems_of(path).lines() == [f"{path}: no such file"]


def test_directory_instead_of_file(tmp_path):
    assert problems_of(tmp_path).lines() == [
        f"{tmp_path}: expected a scenario YAML file, got a directory"
    ]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: Path("/dev/zero"), "expected a regular file, got a device, pipe or socket"),
        (lambda tmp: _sparse(tmp / "huge.yaml", 65 * 2**20), "expected at most 64 MiB, got 65 MiB"),
    ],
    ids=["device", "too large"],
)
def test_files_never_read_whole_are_refused_before_reading(tmp_path, make, reason):
    path = make(tmp_path)

    assert problems_of(path).lines() == [f"{path}: {reason}"]


def _sparse(path: Path, size: int) -> Path:
    """Create a file of ``size`` bytes that takes no space on disk."""
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# Latin-1, not UTF-8\nname: café\n".encode("latin-1"))

    assert problems_of(path).lines() == [
        f"{path}: line 2: cannot read the file: expected UTF-8 text, got byte 0xe9"
    ]


def test_bare_number_population_is_the_total():
    scenario = load_scenario(VALID / "bare-population.yaml")

    assert scenario.population.tolist() == [500.0]
    assert scenario.compartments == ("S", "I", "R")
    assert scenario.transmission_rate == 0.8


def test_inline_matrix_and_per_group_population():
    scenario = load_scenario(VALID / "inline-matrix.yaml")

    assert scenario.age_groups == ("children", "adults")
    assert scenario.contacts.tolist() == [[4.0, 2.0], [0.5, 3.0]]
    assert scenario.initial_infections.tolist() == [2.0, 8.0]  # 10 spread as the population
    assert (scenario.t_start, scenario.t_end, scenario.step) == (5, 50, 1.0)


def test_csv_tables_and_interventions_resolve():
    scenario = load_scenario(VALID / "two-groups.yaml")

    assert scenario.population.tolist() == [600.0, 400.0]
    assert scenario.contacts.tolist() == [[3.0, 1.0], [1.0, 2.0]]
    reproduction_number = scenario.R0
    assert reproduction_number == pytest.approx(2.0)
    assert scenario.outputs == ("incidence", "notifications")
    (closure,) = scenario.interventions
    assert (closure.name, closure.start, closure.end) == ("school closure", 10, 20)
    assert closure.scale.tolist() == [[0.5, 1.0], [1.0, 1.0]]


def test_relative_csv_paths_resolve_against_the_scenario_folder(tmp_path, monkeypatch):
    data = resources.files("epicast.data")
    (tmp_path / "scenarios").mkdir()
    for name in ("population_by_age_2020.csv", "contact_matrix_all_MYS.csv"):
        (tmp_path / name).write_bytes((data / name).read_bytes())
    source = data / "scenarios" / "seir-mys-16age-school-closure.yaml"
    copy = tmp_path / "scenarios" / "copy.yaml"
    copy.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(HERE)  # not the scenario's folder

    scenario = load_scenario(copy)

    original = load_scenario("seir-mys-16age-school-closure")
    assert scenario.source_path == str(copy)
    np.testing.assert_array_equal(scenario.population, original.population)
    np.testing.assert_array_equal(scenario.contacts, original.contacts)


def test_relative_csv_path_missing_next_to_the_copy(tmp_path):
    shutil.copy(VALID / "two-groups.yaml", tmp_path / "two-groups.yaml")

    error = problems_of(tmp_path / "two-groups.yaml")

    assert error.problems == [
        "line 5: population.table.csv: cannot read ../population_2.csv "
        f"(looked for {tmp_path.parent.resolve()}/population_2.csv): No such file or directory",
        "line 9: contacts.csv: cannot read ../contacts_2x2.csv "
        f"(looked for {tmp_path.parent.resolve()}/contacts_2x2.csv): No such file or directory",
    ]


def test_csv_with_byte_order_mark_is_read(tmp_path):
    (tmp_path / "scenario").mkdir()
    shutil.copy(VALID / "two-groups.yaml", tmp_path / "scenario" / "two-groups.yaml")
    shutil.copy(SCENARIOS / "population_2.csv", tmp_path / "population_2.csv")
    text = (SCENARIOS / "contacts_2x2.csv").read_text(encoding="utf-8")
    (tmp_path / "contacts_2x2.csv").write_text("\ufeff" + text, encoding="utf-8")

    scenario = load_scenario(tmp_path / "scenario" / "two-groups.yaml")

    assert scenario.age_groups == ("young", "old")


JSON_SCHEMA_KEYWORDS = {
    "$schema", "$defs", "$ref", "title", "description", "type", "properties", "required",
    "additionalProperties", "items", "anyOf", "enum", "const", "default", "minimum",
    "maximum", "exclusiveMinimum", "minItems", "minProperties",
}  # fmt: skip


def _keywords(node: object, found: set[str]) -> None:
    """Collect the keywords used in a schema (not the property or definition names)."""
    if isinstance(node, dict):
        for key, value in node.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    _keywords(sub, found)
            elif key != "default":
                _keywords(value, found)
    elif isinstance(node, list):
        for item in node:
            _keywords(item, found)


def test_schema_is_json_schema_of_the_file_format():
    document = schema()

    assert json.loads(json.dumps(document)) == document
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["type"] == "object"
    assert document["additionalProperties"] is False
    assert list(document["properties"]) == FIELDS.split(", ")
    assert document["required"] == ["population", "disease", "initial_infections", "time"]
    refs = set()
    used: set[str] = set()
    _keywords(document, used)
    assert used <= JSON_SCHEMA_KEYWORDS  # e.g. no pydantic-only "gt" where "exclusiveMinimum"
    for text in json.dumps(document).split('"$ref": "')[1:]:
        refs.add(text.split('"')[0])
    assert refs == {f"#/$defs/{name}" for name in document["$defs"]}
    population = document["properties"]["population"]["anyOf"]
    assert {"exclusiveMinimum": 0, "maximum": 1e10, "type": "number"} in population


def test_schema_validates_the_bundled_scenarios_if_jsonschema_is_installed():
    jsonschema = pytest.importorskip("jsonschema")
    yaml = pytest.importorskip("yaml")
    jsonschema.Draft202012Validator.check_schema(schema())
    folder = resources.files("epicast.data") / "scenarios"
    files = [folder / f"{name}.yaml" for name in BUNDLED] + sorted(VALID.glob("*.yaml"))
    for file in files:
        jsonschema.validate(yaml.safe_load(file.read_text(encoding="utf-8")), schema())


BASIC = (SCENARIOS.parent.parent.parent / "src/epicast/data/scenarios/seir-basic.yaml").read_text()
TWO_GROUPS = """\
age_groups: [young, old]
population: {by_age: [600, 400]}
contacts:
  matrix: [[3, 1], [1, 2]]
disease: {R0: 2, latent_period: 2, infectious_period: 4}
initial_infections: [1, 0]
interventions:
  - {name: closure, start: 10, end: 20, contact_scale: 0.5, age_groups: [young]}
time: {end: 100}
"""
# (scenario text, value replaced, replacement) -> the one problem reported: numbers that
# would overflow, make the equations too stiff or hold gigabytes, refused with the limit.
# (YAML 1.1 reads 1e308 as the text '1e308', which is converted; the message quotes it.)
ABSURD = [
    (BASIC, "R0: 2.5", "R0: 1e308", "disease.R0: expected a number <= 100, got '1e308'"),
    (BASIC, "R0: 2.5", "R0: 1.0e30", "disease.R0: expected a number <= 100, got '1.0e30'"),
    (BASIC, "R0: 2.5", "R0: .inf", "disease.R0: expected a finite number, got inf"),
    (BASIC, "R0: 2.5", "R0: .nan", "disease.R0: expected a finite number, got nan"),
    (
        BASIC,
        "R0: 2.5",
        "transmission_rate: 1e3",
        "disease.transmission_rate: expected a number <= 100, got '1e3'",
    ),
    (
        BASIC,
        "infectious_period: 5",
        "infectious_period: 1e-300",
        "disease.infectious_period: expected a number >= 0.01, got '1e-300'",
    ),
    (
        BASIC,
        "latent_period: 3",
        "latent_period: 0.001",
        "disease.latent_period: expected a number >= 0.01, got 0.001",
    ),
    (
        BASIC,
        "total: 1000000",
        "total: 1e308",
        "population.total: expected a number <= 1e+10, got '1e308'",
    ),
    (
        BASIC,
        "initial_infections: 10",
        "initial_infections: 1e308",
        "initial_infections: expected a number <= 1e+10, got '1e308'",
    ),
    (BASIC, "end: 365", "end: 1000000000", "time.end: expected a number <= 36500, got 1000000000"),
    (BASIC, "end: 365", "end: 36501", "time.end: expected a number <= 36500, got 36501"),
    (
        BASIC.replace("end: 365", "end: 2000").replace("R0: 2.5", "R0: 0.5"),
        "infectious_period: 5",
        "infectious_period: 0.01",
        "time.end: expected at most 1650 days after start for periods as short as 0.01 days "
        "(more would need over 100000 integration steps), got 2000",
    ),
    (  # found by hypothesis: R0 from almost no contacts, a transmission rate of 5e6
        TWO_GROUPS,
        "[[3, 1], [1, 2]]",
        "[[1.0e-7, 0], [1, 0]]",
        "disease.R0: expected an R0 giving a transmission rate <= 100 per contact with these "
        "contacts and infectious period, got 2 (rate 5e+06)",
    ),
    (  # found by hypothesis: the rate overflowed computing R0 for the summary
        BASIC.replace("population:", "contacts: {matrix: [[2.2e-308]]}\npopulation:"),
        "R0: 2.5",
        "R0: 4",
        "disease.R0: expected an R0 giving a transmission rate <= 100 per contact with these "
        "contacts and infectious period, got 4 (rate 3.64e+307)",
    ),
    (  # a fast infection rather than a short period limits the time span
        TWO_GROUPS.replace("time: {end: 100}", "time: {end: 3000}"),
        "R0: 2, latent_period: 2, infectious_period: 4",
        "transmission_rate: 20, latent_period: 2, infectious_period: 0.1",
        "time.end: expected at most 2062 days after start for infection as fast as 80 per day "
        "(more would need over 100000 integration steps), got 3000",
    ),
    (
        TWO_GROUPS,
        "R0: 2",
        "transmission_rate: 100",
        "disease.transmission_rate: expected a rate giving R0 <= 100 with these contacts and "
        "infectious period, got 100 (R0 1.45e+03)",
    ),
    (
        TWO_GROUPS,
        "by_age: [600, 400]",
        "by_age: [600, 1e11]",
        "population.by_age[1]: expected a number <= 1e+10, got '1e11'",
    ),
    (
        TWO_GROUPS,
        "[[3, 1], [1, 2]]",
        "[[3, 1], [1e300, 2]]",
        "contacts.matrix[1][0]: expected a number <= 10000, got '1e300'",
    ),
    (
        TWO_GROUPS,
        "contact_scale: 0.5",
        "contact_scale: 1e300",
        "interventions[0].contact_scale: expected a number <= 10000, got '1e300'",
    ),
    (
        TWO_GROUPS,
        "initial_infections: [1, 0]",
        "initial_infections: [1e300, 0]",
        "initial_infections[0]: expected a number <= 1e+10, got '1e300'",
    ),
]


@pytest.mark.parametrize(("text", "old", "new", "expected"), ABSURD)
def test_absurd_numbers_are_refused_at_validation_with_the_limit(
    tmp_path, text, old, new, expected
):
    assert old in text
    path = tmp_path / "absurd.yaml"
    path.write_text(text.replace(old, new))
    (problem,) = problems_of(path).problems
    assert problem.split(": ", 1)[1] == expected


def test_absurd_numbers_in_csv_files_are_refused_with_the_limit(tmp_path):
    (tmp_path / "contacts.csv").write_text("age_group,young,old\nyoung,3,1\nold,1e300,2\n")
    (tmp_path / "people.csv").write_text("age_group,people\nyoung,600\nold,400\n")
    scenario = TWO_GROUPS.replace("matrix: [[3, 1], [1, 2]]", "csv: contacts.csv").replace(
        "{by_age: [600, 400]}", "{table: {csv: people.csv, column: people, scale: 1e300}}"
    )
    (tmp_path / "absurd.yaml").write_text(scenario)
    assert [p.split(": ", 1)[1] for p in problems_of(tmp_path / "absurd.yaml").problems] == [
        "population.table.scale: expected a scale leaving at most 1e+10 people in every age "
        "group, got 1e+300",
        "contacts.csv: contacts.csv line 3, column young: expected a number >= 0 and <= 10000, "
        "got '1e300'",
    ]
