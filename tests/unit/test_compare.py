"""Comparing two runs: what is averted per age group, and which inputs differ."""

from __future__ import annotations

import numpy as np
import pytest

import epicast
from epicast.cli import main
from epicast.compare import ComparisonError, compare_runs, input_differences
from epicast.store import read_run, write_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, object]:
    """Run files of the UK epidemic without a vaccine and with the oldest-first rollout."""
    folder = tmp_path_factory.mktemp("runs")
    paths = {}
    for name in ("seir-gbr-16age-severity", "seir-gbr-16age-vaccine-oldest-first"):
        scenario = epicast.load_scenario(name)
        paths[name] = write_run(folder / f"{name}.h5", scenario, epicast.simulate(scenario))
    return paths


def test_what_the_rollout_averts_is_the_difference_of_the_totals(runs):
    baseline = read_run(runs["seir-gbr-16age-severity"])
    rollout = read_run(runs["seir-gbr-16age-vaccine-oldest-first"])
    comparison = compare_runs(baseline, rollout)

    assert list(comparison.totals) == ["infections", "deaths"]  # neither has admissions
    for measure, series in (("infections", "incidence"), ("deaths", "deaths")):
        expected = getattr(baseline.trajectory, series).sum(axis=0) - getattr(
            rollout.trajectory, series
        ).sum(axis=0)
        np.testing.assert_allclose(comparison.averted(measure), expected, rtol=1e-12)
    assert comparison.averted("deaths").sum() > 100_000  # the old are protected
    assert comparison.averted("deaths")[:4].sum() == pytest.approx(0, abs=50)  # children: none
    paths = [path for path, _, _ in comparison.differences]
    assert paths[0] == "name"
    assert "vaccination.priority" in paths
    assert "vaccination.efficacy.severe" in paths
    assert "description" not in paths


def test_a_run_against_itself_averts_nothing(runs):
    run = read_run(runs["seir-gbr-16age-severity"])
    comparison = compare_runs(run, run)
    assert comparison.differences == []
    assert all(not comparison.averted(measure).any() for measure in comparison.totals)
    assert "  none" in comparison.lines()


def test_runs_of_other_age_groups_are_not_compared(tmp_path, runs):
    basic = epicast.load_scenario("seir-basic")
    other = write_run(tmp_path / "basic.h5", basic, epicast.simulate(basic))
    with pytest.raises(ComparisonError, match="expected runs of the same age groups"):
        compare_runs(read_run(runs["seir-gbr-16age-severity"]), read_run(other))


def test_input_differences_name_each_field_that_differs():
    first = "name: a\ndisease: {R0: 2, infectious_period: 5}\ntime: {end: 100}\n"
    second = "name: a\ndisease: {R0: 3, infectious_period: 5}\nvaccination: {uptake: 0.9}\n"
    assert input_differences(first, second) == [
        ("disease.R0", "2", "3"),
        ("time.end", "100", "(none)"),
        ("vaccination.uptake", "(none)", "0.9"),
    ]


def test_compare_prints_the_table_and_plots(tmp_path, runs, capsys):
    figure = tmp_path / "averted.png"
    baseline, rollout = runs.values()
    assert main(["compare", str(baseline), str(rollout), "--plot", str(figure)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "seir-gbr-16age-vaccine-oldest-first against seir-gbr-16age-severity"
    assert out[-2].startswith("all ")  # the last row, then the figure's line
    assert out[-1] == f"wrote {figure}"
    assert figure.stat().st_size > 10_000


def test_compare_errors_are_one_line(tmp_path, runs, capsys):
    baseline = runs["seir-gbr-16age-severity"]
    assert main(["compare", str(baseline), str(tmp_path / "missing.h5")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"epicast: error: {tmp_path / 'missing.h5'}: cannot open as HDF5")
    assert main(["compare", str(baseline), str(baseline), "--plot", str(tmp_path / "x.gif")]) == 2
    assert "x.gif" in capsys.readouterr().err
