"""The command line: exit codes and one-line errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

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
        "interventions, contact_series, time, reporting_fraction, severity, vaccination, outputs"
    )


def test_outputs_are_checked_before_running(epicast_cli, tmp_path):
    (tmp_path / "fig.png").write_bytes(b"old")
    result = epicast_cli("run", "seir-basic", "-o", "new.h5", "--plot", "fig.png")
    assert result.returncode == 2
    assert "fig.png: file exists" in result.stderr
    assert not (tmp_path / "new.h5").exists()


@pytest.mark.parametrize("figure", ["fig.xyz", "fig", "fig.h5"])
def test_a_figure_format_epicast_cannot_write_is_refused_before_running(
    epicast_cli, tmp_path, figure
):
    result = epicast_cli("run", "seir-basic", "-o", "new.h5", "--plot", figure)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines() == [
        f"epicast: error: {figure}: a figure must end in .png, .svg, .pdf, "
        f"not {Path(figure).suffix or 'no suffix'}"
    ]
    assert not (tmp_path / "new.h5").exists()


def test_calibration_figures_are_checked_before_sampling(epicast_cli, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fit.png").write_bytes(b"old")
    args = ("calibrate", "sir-boarding-school", "--cluster", "none", "--quiet")
    not_a_folder = epicast_cli(*args, "--plots", "file")
    assert not_a_folder.stderr == "epicast: error: file: exists and is not a folder\n"
    taken = epicast_cli(*args, "--plots", "figures", "-o", "chains.h5")
    assert taken.returncode == 2
    assert (
        taken.stderr
        == "epicast: error: figures/fit.png: file exists; use --force to overwrite it\n"
    )
    assert not (tmp_path / "chains.h5").exists()


def test_output_in_missing_folder(epicast_cli):
    result = epicast_cli("run", "seir-basic", "-o", "missing/out.h5")
    assert result.returncode == 2
    assert result.stderr == "epicast: error: missing/out.h5: folder missing does not exist\n"


def test_run_summary_line(capsys):
    assert main(["run", "seir-basic"]) == 0
    assert capsys.readouterr().out == (
        "seir-basic: R0 2.50, peak of 143,747 infectious on day 80, 89.3% infected by day 365\n"
    )


def test_run_summary_line_counts_deaths(capsys):
    assert main(["run", "seir-gbr-16age-severity"]) == 0
    assert capsys.readouterr().out == (
        "seir-gbr-16age-severity: R0 2.50, peak of 7,856,199 infectious on day 95, "
        "79.5% infected, 204,536 deaths by day 365\n"
    )


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert "required: scenario" in capsys.readouterr().err


def test_every_command_has_help():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert sorted(commands) == [
        "calibrate",
        "calibrations",
        "compare",
        "run",
        "scenarios",
        "schema",
        "summary",
        "validate",
    ]
    assert all(sub.description for sub in commands.values())


def test_a_checkpoint_folder_holding_other_files_keeps_them(tmp_path, monkeypatch, capsys):
    """Once the result is written, only the chains' own states are removed: naming the
    current folder (or any folder of one's own) for --checkpoints loses nothing."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cases.csv").write_text("day,cases\n")
    argv = ["calibrate", "sir-boarding-school", "--cluster", "none", "--quiet"]
    argv += ["--chains", "2", "--iterations", "100", "-o", "cal.h5", "--checkpoints", "."]
    assert main(argv) == 0, capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "cal.h5",
        "cases.csv",
        "data",
        "notes.txt",
    ]


def test_calibrate_writes_chains_plots_and_a_summary(epicast_cli, tmp_path):
    args = ("calibrate", "sir-boarding-school", "--cluster", "none", "--quiet")
    short = ("--chains", "2", "--iterations", "400", "--seed", "3")
    result = epicast_cli(*args, *short, "-o", "cal.h5", "--plots", "figures")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sir-boarding-school: 2 chains x 400 draws on 1 worker(s) (none)")
    assert lines[1].split() == [
        "parameter",
        "mean",
        "sd",
        "q05",
        "q50",
        "q95",
        "rhat",
        "ess_bulk",
        "ess_tail",
    ]
    assert [line.split()[0] for line in lines[2:7]] == [
        "beta",
        "gamma",
        "phi",
        "R0",
        "infectious_period",
    ]
    assert "wrote cal.h5" in lines
    for name in ("traces.png", "posterior.png", "fit.png"):
        assert (tmp_path / "figures" / name).stat().st_size > 10_000
    assert not (tmp_path / "cal.h5.checkpoints").exists()  # removed once the file is written

    summary = epicast_cli("summary", "cal.h5")
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.splitlines()[1:7] == lines[1:7]  # the table, read from the file
    again = epicast_cli(*args, *short, "-o", "cal.h5")
    assert again.returncode == 2
    assert again.stderr == "epicast: error: cal.h5: file exists; use --force to overwrite it\n"


def test_calibrate_bad_file_is_one_line(epicast_cli, tmp_path):
    (tmp_path / "bad.yaml").write_text("scenario: sir-boarding-school\n")
    result = epicast_cli("calibrate", "bad.yaml", "--cluster", "none")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "epicast: error: bad.yaml: data: required field is missing (the observations)",
        "epicast: error: bad.yaml: targets: required field is missing "
        "(data columns and likelihoods)",
        "epicast: error: bad.yaml: parameters: required field is missing "
        "(parameters to fit, each with its prior)",
        "epicast: error: bad.yaml: sampler: required field is missing (sampler settings)",
    ]


def test_unknown_cluster_is_one_line(epicast_cli):
    result = epicast_cli("calibrate", "sir-boarding-school", "--cluster", "moon")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "moon" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option", ["--chains=0", "--iterations=-3", "--workers=two", "--seed=-1"])
def test_calibrate_options_are_checked(capsys, option):
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", "sir-boarding-school", option])
    assert exit_info.value.code == 2
    assert "expected a whole number >= " in capsys.readouterr().err


def test_calibrations_lists_the_bundled_one(epicast_cli):
    result = epicast_cli("calibrations")
    assert result.returncode == 0
    assert result.stdout.startswith("sir-boarding-school ")


# Bad input on the command line: each is exit 2, one or two lines naming the value, no
# traceback, and nothing written (the files named here are made by `_bad_files`).
BAD_COMMANDS = [
    (["summary", "missing.h5"], "missing.h5"),
    (["summary", "folder.h5"], "folder.h5"),
    (["summary", "garbage.h5"], "garbage.h5: cannot open as HDF5"),
    (["summary", "empty.h5"], "empty.h5: cannot open as HDF5"),
    (["summary", "foreign.h5"], "foreign.h5: not an epicast file"),
    (["run", "list.yaml"], "list.yaml: expected a mapping of scenario fields"),
    (["run", "empty.yaml"], "empty.yaml: the file is empty"),
    (["run", "binary.yaml"], "binary.yaml: line 1: cannot read the file: expected UTF-8"),
    (["run", "."], ".: expected a scenario YAML file, got a directory"),
    (["run", "seir-basic", "-o", "file/out.h5"], "folder file does not exist"),
    (["run", "seir-basic", "--plot", "run.gif"], "run.gif: a figure must end in"),
    (["run", "seir-basic", "-o", "/proc/run.h5"], "/proc/run.h5: cannot write in /proc"),
    (["run", "seir-basic", "--plot", "/sys/run.png"], "/sys/run.png: cannot write in /sys"),
    (["run"], "the following arguments are required: scenario"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["calibrate", "sir-boarding-school", "--chains", "0"], "expected a whole number >= 1"),
    (["calibrate", "sir-boarding-school", "--seed", "x"], "expected a whole number >= 0"),
    (
        ["calibrate", "sir-boarding-school", "--chains", "100000000"],
        "sampler.chains: expected a number <= 1024, got 100000000",
    ),
    (
        ["calibrate", "sir-boarding-school", "--iterations", "99999999999999"],
        "sampler.iterations: expected a number <= 10000000, got 99999999999999",
    ),
    (
        ["calibrate", "sir-boarding-school", "--workers", "5000"],
        "cluster.workers: expected a number <= 1024, got 5000",
    ),
    (["calibrate", "sir-boarding-school", "--cluster", "moon"], "cluster 'moon'"),
    (["calibrate", "sir-boarding-school", "--checkpoints", "file"], "file: exists and is not a"),
    (["calibrate", "sir-boarding-school", "--plots", "file"], "file: exists and is not a"),
    (["run", "seir-basic", "-o", "run.csv"], "run.csv: an HDF5 output file must end in .h5"),
    (["run", "/dev/zero"], "/dev/zero: expected a regular file, got a device"),
    (
        ["calibrate", "sir-boarding-school", "--seed", str(10**30)],
        "sampler.seed: expected a number <= 9223372036854775807",
    ),
    (
        ["calibrate", "sir-boarding-school", "--iterations", "3"],
        "sampler.iterations: expected a number >= 4, got 3",
    ),
    (["calibrate", "sir-boarding-school", "-o", "chains"], "chains: an HDF5 output file must"),
    (
        ["calibrate", "sir-boarding-school", "--checkpoints", "file/x"],
        "file/x: cannot create the folder: ",
    ),
    (
        ["calibrate", "sir-boarding-school", "--checkpoints", "/proc/epicast/x"],
        "/proc/epicast/x: cannot create the folder in /proc",
    ),
    (["calibrate", "sir-boarding-school", "--plots", "/sys/x/y"], "/sys/x/y: cannot create"),
    (["calibrate", "list.yaml"], "list.yaml: expected a mapping of calibration fields"),
    (["calibrate", "nope"], "nope: neither a file nor a bundled calibration"),
    (["run", ""], "argument scenario: expected a name or a path, got ''"),
    (["validate", "seir-basic", " "], "argument FILE: expected a name or a path, got ' '"),
    (["run", "seir-basic", "-o", ""], "argument -o/--output: expected a name or a path"),
    (["calibrate", "sir-boarding-school", "--checkpoints", ""], "argument --checkpoints: exp"),
    (["calibrate", "sir-boarding-school", "--plots", ""], "argument --plots: expected a name"),
    (["summary", ""], "argument file: expected a name or a path, got ''"),
]


def _bad_files(folder: Path) -> None:
    import h5py

    (folder / "folder.h5").mkdir()
    (folder / "garbage.h5").write_bytes(b"not hdf5 at all")
    (folder / "empty.h5").write_bytes(b"")
    with h5py.File(folder / "foreign.h5", "w") as handle:
        handle["x"] = [1, 2, 3]
    (folder / "file").write_text("a file, not a folder")
    (folder / "list.yaml").write_text("- 1\n- 2\n")
    (folder / "empty.yaml").write_text("")
    (folder / "binary.yaml").write_bytes(b"\x00\xff\xfe")


@pytest.mark.parametrize(
    ("argv", "named"), BAD_COMMANDS, ids=[" ".join(argv)[:50] for argv, _ in BAD_COMMANDS]
)
def test_bad_command_line_input_is_one_or_two_lines_and_writes_nothing(
    tmp_path, monkeypatch, capsys, argv, named
):
    monkeypatch.chdir(tmp_path)
    _bad_files(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert 1 <= len(err.splitlines()) <= 2, err
    assert named in err.splitlines()[0]
    assert "Traceback" not in err
    assert sorted(tmp_path.rglob("*")) == before
