"""Calibration files: the bundled one, and one exact message per kind of mistake.

Each case edits one line of a valid calibration (or its data CSV) and checks
the exact line the CLI would print for it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from epicast.calibration.file import bundled_calibrations, load_calibration
from epicast.errors import CalibrationError

VALID = """\
scenario: sir-boarding-school
data:
  csv: data.csv
targets:
  - column: in_bed
    output: prevalence
    compartment: I
    likelihood:
      family: negative_binomial
      dispersion: phi
parameters:
  beta: {distribution: normal, mean: 2, sd: 1, lower: 0}
  gamma: {distribution: normal, mean: 0.4, sd: 0.5, lower: 0}
  phi: {distribution: exponential, rate: 5, of: inverse}
sampler:
  chains: 2
  warmup: 200
  iterations: 200
  seed: 1
  checkpoint_every: 100
"""
DATA = "date,day,in_bed\n1978-01-22,1,3\n1978-01-23,2,8\n1978-01-24,3,26\n"
COUNT = "(a whole number from 0 to the 763 people counted)"

# case -> (replace in the YAML or in the CSV, by, the line(s) reported after "FILE: ")
CASES = {
    "deaths the scenario does not define": (
        "    output: prevalence\n    compartment: I\n",
        "    output: deaths\n",
        "line 6: targets[0].output: expected an outcome scenario sir-boarding-school defines "
        "under severity (none), got 'deaths'",
    ),
    "missing column": (
        "column: in_bed",
        "column: in_beds",
        "line 5: targets[0].column: expected a data column of data.csv (date, in_bed)",
    ),
    "negative count": (
        "1978-01-23,2,8",
        "1978-01-23,2,-8",
        "line 5: targets[0].column: data.csv line 3, column in_bed: expected a count "
        f"{COUNT} for the negative_binomial likelihood, got '-8'",
    ),
    "non-integer count": (
        "1978-01-23,2,8",
        "1978-01-23,2,8.5",
        "line 5: targets[0].column: data.csv line 3, column in_bed: expected a count "
        f"{COUNT} for the negative_binomial likelihood, got '8.5'",
    ),
    "NaN count": (
        "1978-01-23,2,8",
        "1978-01-23,2,nan",
        "line 5: targets[0].column: data.csv line 3, column in_bed: expected a count "
        f"{COUNT} for the negative_binomial likelihood, got 'nan'",
    ),
    "row of the wrong length": (
        "1978-01-23,2,8",
        "1978-01-23,2",
        "line 3: data.csv: data.csv line 3: expected 3 values as in the header, got 2",
    ),
    "day outside the scenario": (
        "1978-01-24,3,26",
        "1978-01-24,30,26",
        "line 2: data.day: data.csv line 4: expected a whole day from 0 to 14 "
        "(the scenario's span), got '30'",
    ),
    "day given twice": (
        "1978-01-24,3,26",
        "1978-01-24,2,26",
        "line 2: data.day: data.csv line 4: expected each day once, got 2 again",
    ),
    "prior bounds reversed": (
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 0}",
        "beta: {distribution: uniform, lower: 3, upper: 1}",
        "line 12: parameters.beta.uniform.upper: expected a bound above lower (3), got 1",
    ),
    "prior reaching negative values": (
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 0}",
        "beta: {distribution: normal, mean: 2, sd: 1}",
        "line 12: parameters.beta: expected a prior giving beta > 0, got one reaching -inf "
        "(add lower: 0)",
    ),
    "unknown prior": (
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 0}",
        "beta: {distribution: gamma, shape: 2, rate: 1}",
        "line 12: parameters.beta: expected distribution to be one of 'normal', 'uniform', "
        "'lognormal', 'exponential', got 'gamma'",
    ),
    "unknown likelihood": (
        "family: negative_binomial",
        "family: binomial",
        "line 9: targets[0].likelihood.family: expected 'poisson', 'negative_binomial' or "
        "'normal', got 'binomial'",
    ),
    "parameter not in the scenario": (
        "  phi: {distribution: exponential, rate: 5, of: inverse}",
        "  phi: {distribution: exponential, rate: 5, of: inverse}\n"
        "  sigma: {distribution: exponential, rate: 1}",
        "line 15: parameters.sigma: not in scenario sir-boarding-school: "
        "model SIR has no latent period",
    ),
    "unknown parameter": (
        "  phi: {distribution: exponential, rate: 5, of: inverse}",
        "  phi: {distribution: exponential, rate: 5, of: inverse}\n"
        "  delta: {distribution: exponential, rate: 1}",
        "line 15: parameters.delta: expected a model parameter or one a likelihood uses "
        "(beta, gamma, sigma, rho, phi)",
    ),
    "dispersion missing": (
        "      dispersion: phi\n",
        "",
        "line 8: targets[0].likelihood.dispersion: required for the negative_binomial likelihood",
    ),
    "dispersion not a parameter": (
        "dispersion: phi",
        "dispersion: psi",
        [
            "line 10: targets[0].likelihood.dispersion: expected a number or a parameter listed "
            "under parameters, got 'psi'",
            "line 14: parameters.phi: expected a model parameter or one a likelihood uses "
            "(beta, gamma, sigma, rho, psi)",
        ],
    ),
    "prior without distribution": (
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 0}",
        "beta: {mean: 2, sd: 1, lower: 0}",
        "line 12: parameters.beta: required field distribution is missing",
    ),
    "compartment not in the model": (
        "compartment: I",
        "compartment: E",
        "line 7: targets[0].compartment: expected one of the scenario's compartments "
        "['S', 'I', 'R']",
    ),
    "checkpoint not on a block": (
        "checkpoint_every: 100",
        "checkpoint_every: 150",
        "line 20: sampler.checkpoint_every: expected a multiple of 100, got 150",
    ),
    "scenario not found": (
        "scenario: sir-boarding-school",
        "scenario: sir-boarding",
        "line 1: scenario: neither a file nor a bundled scenario; expected a .yaml path or one "
        "of: seir-basic, seir-gbr-16age, seir-gbr-16age-severity, "
        "seir-gbr-16age-vaccine-oldest-first, seir-gbr-16age-vaccine-transmitters-first, "
        "seir-mys-16age-school-closure, sir-boarding-school",
    ),
    "count above the population": (
        "1978-01-23,2,8",
        "1978-01-23,2,764",
        "line 5: targets[0].column: data.csv line 3, column in_bed: expected a count "
        f"{COUNT} for the negative_binomial likelihood, got '764'",
    ),
    "count beyond any population": (
        "1978-01-23,2,8",
        "1978-01-23,2,1e300",
        "line 5: targets[0].column: data.csv line 3, column in_bed: expected a count "
        f"{COUNT} for the negative_binomial likelihood, got '1e300'",
    ),
    "dispersion zero": (
        "dispersion: phi",
        "dispersion: 0",
        "line 10: targets[0].likelihood.dispersion: expected a number > 0, got 0",
    ),
    "dispersion infinite (YAML text)": (
        "dispersion: phi",
        "dispersion: .inf",
        "line 10: targets[0].likelihood.dispersion: expected a finite number, got inf",
    ),
    "normal sd negative (YAML text)": (
        "      family: negative_binomial\n      dispersion: phi",
        "      family: normal\n      sd: -1e-3",
        "line 10: targets[0].likelihood.sd: expected a number > 0, got -0.001",
    ),
    "normal prior without mass between its bounds": (
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 0}",
        "beta: {distribution: normal, mean: 2, sd: 1, lower: 100}",
        "line 12: parameters.beta.normal.lower: expected bounds holding some of the normal's "
        "mass (mean 2, sd 1), got 0 between them",
    ),
    "thin keeping too few draws": (
        "seed: 1",
        "seed: 1\n  thin: 100",
        "line 20: sampler.thin: expected at most iterations / 4 (50), so that each chain keeps "
        "the 4 draws R-hat and ESS need, got 100",
    ),
    "seed beyond 64 bits": (
        "seed: 1",
        "seed: 100000000000000000000000000000",
        "line 19: sampler.seed: expected a number <= 9223372036854775807, "
        "got 100000000000000000000000000000",
    ),
    "age group given twice": (
        "compartment: I",
        "compartment: I\n    age_groups: [all, all]",
        "line 8: targets[0].age_groups[1]: expected each age group once, got all again",
    ),
    "the day column as a target": (
        "column: in_bed",
        "column: day",
        "line 5: targets[0].column: expected a data column of data.csv (date, in_bed)",
    ),
    "a column named twice": (
        "date,day,in_bed",
        "date,in_bed,in_bed",
        "line 3: data.csv: data.csv line 1: expected each column once, got 'in_bed' twice",
    ),
    "data from a device": (
        "csv: data.csv",
        "csv: /dev/zero",
        "line 3: data.csv: cannot read /dev/zero (looked for /dev/zero): expected a regular "
        "file, got a device, pipe or socket",
    ),
    "data a folder": (
        "csv: data.csv",
        "csv: .",
        "line 3: data.csv: cannot read . (looked for {folder}): expected a file, got a directory",
    ),
    "scenario a device": (
        "scenario: sir-boarding-school",
        "scenario: /dev/zero",
        "line 1: scenario: expected a regular file, got a device, pipe or socket",
    ),
    "data file missing": (
        "csv: data.csv",
        "csv: cases.csv",
        "line 3: data.csv: cannot read cases.csv (looked for {folder}/cases.csv): "
        "No such file or directory",
    ),
}


def write_case(folder: Path, old: str, new: str) -> Path:
    """Write the valid calibration and data with one edit; return the calibration's path."""
    yaml_text, data = VALID, DATA
    if old in yaml_text:
        yaml_text = yaml_text.replace(old, new)
    else:
        assert old in data, old
        data = data.replace(old, new)
    (folder / "data.csv").write_text(data)
    path = folder / "calibration.yaml"
    path.write_text(yaml_text)
    return path


def test_valid_file_loads(tmp_path: Path):
    calibration = load_calibration(write_case(tmp_path, "", ""))
    assert calibration.parameter_names == ("beta", "gamma", "phi")
    (target,) = calibration.targets
    assert target.days.tolist() == [1, 2, 3]
    assert target.observed.tolist() == [3.0, 8.0, 26.0]


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_mistake_gives_its_line(tmp_path: Path, case: str):
    old, new, expected = CASES[case]
    path = write_case(tmp_path, old, new)
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path)
    lines = [expected] if isinstance(expected, str) else expected
    assert caught.value.lines() == [f"{path}: {line.format(folder=tmp_path)}" for line in lines]


def test_bundled_calibration():
    assert bundled_calibrations() == ["sir-boarding-school"]
    calibration = load_calibration("sir-boarding-school")
    assert calibration.scenario.name == "sir-boarding-school"
    assert calibration.scenario.population.sum() == 763
    assert calibration.sampler.chains == 4
    (target,) = calibration.targets
    assert (target.column, target.family, target.dispersion) == (
        "in_bed",
        "negative_binomial",
        "phi",
    )
    assert target.days.tolist() == list(range(1, 15))
    assert target.observed.max() == 298


def test_sampler_overrides_are_validated():
    calibration = load_calibration("sir-boarding-school").with_sampler(chains=8, seed=None)
    assert calibration.sampler.chains == 8
    assert calibration.sampler.seed == 1978


def test_data_too_large_to_read_is_refused_before_reading(tmp_path: Path):
    path = write_case(tmp_path, "", "")
    with (tmp_path / "data.csv").open("wb") as handle:
        handle.truncate(65 * 2**20)  # sparse: no space taken
    with pytest.raises(CalibrationError) as caught:
        load_calibration(path)
    assert caught.value.lines() == [
        f"{path}: line 3: data.csv: cannot read data.csv (looked for {tmp_path}/data.csv): "
        "expected at most 64 MiB, got 65 MiB"
    ]
