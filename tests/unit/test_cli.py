"""The command line: exit codes and one-line errors without tracebacks."""

from __future__ import annotations

import pytest

from epicast.cli import build_parser, main


def test_unknown_scenario_is_one_line_exit_2(epicast_cli):
    result = epicast_cli("run", "no-such-scenario")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("epicast: error: no-such-scenario: neither a file nor")
    assert "Traceback" not in result.stderr


def test_invalid_file_reports_every_problem(epicast_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text(
        "population: {total: -5}\ndisease: {R0: 2, infectious_period: 5, latent_period: 2}\n"
        "initial_infections: 1\ntime: {end: 10}\nunknown_key: 1\n"
    )
    result = epicast_cli("validate", "bad.yaml")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("epicast: error: bad.yaml: line 1: population.total: ")
    assert lines[1] == (
        "epicast: error: bad.yaml: line 5: unknown_key: unknown field; expected one of: "
        "name, description, age_groups, population, contacts, disease, initial_infections, "
        "interventions, time, reporting_fraction, outputs"
    )


def test_outputs_are_checked_before_running(epicast_cli, tmp_path):
    (tmp_path / "fig.png").write_bytes(b"old")
    result = epicast_cli("run", "seir-basic", "-o", "new.h5", "--plot", "fig.png")
    assert result.returncode == 2
    assert "fig.png: file exists" in result.stderr
    assert not (tmp_path / "new.h5").exists()


def test_output_in_missing_folder(epicast_cli):
    result = epicast_cli("run", "seir-basic", "-o", "missing/out.h5")
    assert result.returncode == 2
    assert result.stderr == "epicast: error: missing/out.h5: folder missing does not exist\n"


def test_run_summary_line(capsys):
    assert main(["run", "seir-basic"]) == 0
    assert capsys.readouterr().out == (
        "seir-basic: R0 2.50, peak of 143,747 infectious on day 80, 89.3% infected by day 365\n"
    )


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert "required: scenario" in capsys.readouterr().err


def test_every_command_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert sorted(commands) == ["run", "scenarios", "schema", "validate"]
    assert all(sub.description for sub in commands.values())
