"""Names that would become paths, refused before anything is written (in process).

Every command that takes a version, suite, Python, project or baseline gets
traversal attempts and impossible names; each must exit 2 with one error and
one tip line naming the value, no traceback, and leave every file as it was
(no archive folder, record or evidence outside its version). Nothing here needs
a devpi-server: the names are checked before the command contacts one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ci.cli import main

DEMO = Path(__file__).parent / "packages" / "release-demo"
REPORT = {
    "schema_version": 1,
    "project": "ci-release-demo",
    "version": "1.0.0",
    "commit": "0" * 40,
    "tags": [],
    "files": [],
}
"""A (fake) build report: its files are never read, the names are refused first."""
BAD = ["..", "../../0.1.0/tests/smoke", "/etc/passwd", "a\x00b", "1" * 300, "1.0.0/../.."]
COMMANDS = [
    ("verify", "--suite", "{}"),
    ("verify", "--python", "{}"),
    ("verify", "{}"),
    ("pipeline", "--suite", "{}"),
    ("pipeline", "--python", "{}"),
    ("promote", "{}", "--to", "testing"),
    ("promote", "1.0.0", "--to", "stable", "--project", "{}"),
    ("approve", "{}"),
    ("approve", "1.0.0", "--project", "{}"),
    ("bench", "{}"),
    ("bench", "1.0.0", "--baseline", "{}"),
    ("calibrate", "{}"),
    ("calibrate", "1.0.0", "--project", "{}"),
    ("calibrate", "1.0.0", "--calibration", "{}"),
    ("status", "{}"),
]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release demo as a git checkout with a (fake) build report, released nowhere."""
    repo = tmp_path_factory.mktemp("names") / "repo"
    shutil.copytree(DEMO, repo)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "dist").mkdir()
    (repo / "dist" / "build-report.json").write_text(json.dumps(REPORT))
    return repo


def run_in(folder: Path, state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run ci in ``folder`` with its state in ``state``, on no server or configuration of ours."""
    for variable in ("DEVPI_URL", "CI_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CI_STATE_DIR", str(state))
    monkeypatch.chdir(folder)


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", BAD, ids=["dotdot", "traversal", "absolute", "nul", "long", "mix"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(a for a in c if a != "{}"))
def test_a_name_that_would_be_a_path_is_refused_first(
    checkout: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: tuple[str, ...],
    name: str,
):
    run_in(checkout, tmp_path / "state", monkeypatch)
    before = _files(checkout)

    code = main([part.replace("{}", name) for part in command])

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert (code, out) == (2, "")
    assert len(lines) == 2, err
    assert lines[0].startswith("ci: error: ")
    assert lines[1].startswith("ci: tip: ")
    assert repr(name) in lines[0]
    assert _files(checkout) == before
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["promote"], "the following arguments are required: version, --to"),
        (["bogus"], "argument COMMAND: invalid choice: 'bogus'"),
        (["promote", "1.0.0", "--to", "prod"], "argument --to: invalid choice: 'prod'"),
        (["bench", "--rounds", "many"], "argument --rounds: invalid int value: 'many'"),
    ],
)
def test_a_usage_error_is_an_error_and_a_tip(capsys: pytest.CaptureFixture[str], argv, error):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    lines = capsys.readouterr().err.splitlines()
    assert exited.value.code == 2
    assert len(lines) == 2
    assert lines[0].startswith(f"ci: error: {error}")
    assert lines[1].startswith("ci: tip: see `python -m ci")


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (["--seed", "x"], "argument --seed: expected a whole number from 0 to 2^63-1, got 'x'"),
        (["--seed", str(2**63)], "argument --seed: expected a whole number from 0 to 2^63-1"),
        (["--chains", "0"], "argument --chains: expected a whole number >= 1, got '0'"),
        (["--workers", "-2"], "argument --workers: expected a whole number >= 1, got '-2'"),
        (["--note", "two\nlines"], "argument --note: expected one line of at most 500 characters"),
        (["--note", "x" * 501], "argument --note: expected one line of at most 500 characters"),
        (["--cluster", "moon"], "--cluster: Value error, expected local, slurm, none or tcp://"),
        (["--calibration", "../outside.yaml"], "calibration '../outside.yaml': not a file of the"),
        (["--calibration", "missing.yaml"], "calibration 'missing.yaml': not a file of the"),
    ],
    ids=["seed", "seed-64", "chains", "workers", "lines", "long", "cluster", "outside", "missing"],
)
def test_a_bad_calibrate_option_is_refused_before_anything_runs(
    checkout: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    error: str,
):
    """On-demand calibrations: each option is checked before devpi or the cluster is asked."""
    run_in(checkout, tmp_path / "state", monkeypatch)
    (checkout.parent / "outside.yaml").write_text("scenario: seir-basic\n")  # exists, outside
    before = _files(checkout)
    try:
        code = main(["calibrate", "1.0.0", *options])
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert (code, out) == (2, "")
    assert len(lines) == 2, err
    assert error in lines[0], err
    assert "Traceback" not in err
    assert _files(checkout) == before


@pytest.mark.parametrize("command", [["verify"], ["bench"], ["calibrate"], ["calibrate", "1.0"]])
def test_without_a_build_report_a_stage_says_how_to_make_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
):
    (tmp_path / ".git").mkdir()
    run_in(tmp_path, tmp_path / "state", monkeypatch)
    assert main(command) == 2
    assert capsys.readouterr().err.splitlines() == [
        "ci: error: no build report dist/build-report.json",
        "ci: tip: run `python -m ci build` first",
    ]


@pytest.mark.parametrize(
    ("change", "wrong"),
    [
        ({"commit": None}, "commit"),
        ({"tags": "v1.0.0"}, "tags"),
        ({"files": [{"filename": "../../outside.whl", "sha256": "0" * 64}]}, "files"),
        ({"files": ["ci_release_demo-1.0.0-py3-none-any.whl"]}, "files"),
        ({"docs": {"filename": "/etc/passwd", "sha256": "0" * 64}}, "files"),
    ],
    ids=["no-commit", "tags-text", "traversal", "entry-text", "docs-absolute"],
)
@pytest.mark.parametrize("command", [["publish"], ["verify"]])
def test_a_build_report_of_another_shape_is_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    change: dict,
    wrong: str,
    command: list[str],
):
    """Stages upload and install the files a build report names: one edited by hand, or
    naming a file outside dist/, is refused before anything is read or sent."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "dist").mkdir()
    report = {k: v for k, v in {**REPORT, **change}.items() if v is not None}
    (tmp_path / "dist" / "build-report.json").write_text(json.dumps(report))
    run_in(tmp_path, tmp_path / "state", monkeypatch)
    assert main(command) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ci: error: dist/build-report.json is not a build report of `ci build`: {wrong} "
        "missing or malformed",
        "ci: tip: run `python -m ci build` again",
    ]
    assert not (tmp_path / "state").exists()
