"""The on-demand calibration forms: every field reaches `ci calibrate` as the right option.

The scripts of .buildkite/calibrate.yml and .github/workflows/calibrate.yml run
here for real, in bash, with the form's values where the CI system would put
them: a stub `buildkite-agent` answers `meta-data get` (Buildkite), or the
`FORM_*` variables are set (GitHub). A stub `python` records the command line
it gets (the CI systems themselves cannot run here: that part is mocked), which
ci's own parser then reads; a bad value is refused by ci in one line.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ci.cli import build_parser, main
from tests.workflows.pipelines import ROOT, load_yaml

BUILDKITE_FORM = ROOT / ".buildkite" / "calibrate.yml"
GITHUB_FORM = ROOT / ".github" / "workflows" / "calibrate.yml"
OPTIONAL = ("chains", "iterations", "seed", "workers", "cluster", "note")
"""Fields that become the `ci calibrate` option of their own name when not empty."""
FILLED = {
    "version": "1.3.0.dev4",
    "calibration": "file",
    "calibration-file": "studies/wave 2.yaml",
    "chains": "8",
    "iterations": "4000",
    "seed": "7",
    "workers": "16",
    "cluster": "slurm",
    "note": "does the second wave move beta? (and $HOME stays text)",
}
EXPECTED = [
    "calibrate",
    "1.3.0.dev4",
    *("--project", "epicast", "--calibration", "studies/wave 2.yaml"),
    *("--chains", "8", "--iterations", "4000", "--seed", "7", "--workers", "16"),
    *("--cluster", "slurm", "--note", "does the second wave move beta? (and $HOME stays text)"),
]


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run(script: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """Run a form's script in bash with stubs first on PATH; return what `python` got."""
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    record = tmp_path / "argv.json"
    _stub(
        stubs,
        "python",
        f'"{sys.executable}" -c "import json, sys; '
        f"json.dump(sys.argv[1:], open('{record}', 'w'))\" \"$@\"",
    )
    values = tmp_path / "values.json"
    _stub(
        stubs,
        "buildkite-agent",
        f'"{sys.executable}" -c "import json, sys; '
        f"print(json.load(open('{values}')).get(sys.argv[3], ''))\" \"$@\"",
    )
    values.write_text(json.dumps(env.pop("_META", {})))
    environment = {**os.environ, **env, "PATH": f"{stubs}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-e", "-c", script], env=environment, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())
    assert argv[:2] == ["-m", "ci"]
    return argv[2:]


def _buildkite_script() -> str:
    [step] = [s for s in load_yaml(BUILDKITE_FORM)["steps"] if s.get("key") == "calibrate"]
    return step["commands"][-1].replace("$$", "$")  # Buildkite's escape, undone at upload


def _github_step() -> dict:
    steps = load_yaml(GITHUB_FORM)["jobs"]["calibrate"]["steps"]
    [step] = [s for s in steps if "ci calibrate" in s.get("run", "")]
    return step


def test_the_buildkite_form_has_a_field_per_option_of_ci_calibrate():
    [form] = [s for s in load_yaml(BUILDKITE_FORM)["steps"] if "input" in s]
    fields = {f["key"]: f for f in form["fields"]}
    assert list(fields) == ["version", "calibration", "calibration-file", *OPTIONAL]
    calibrations = [o["value"] for o in fields["calibration"]["options"]]
    assert calibrations == ["sir-boarding-school", "file"]
    assert [o["value"] for o in fields["cluster"]["options"]] == ["slurm", "local"]
    assert f"for name in {' '.join(OPTIONAL)}; do" in _buildkite_script()


def test_the_github_form_has_an_input_per_option_of_ci_calibrate():
    inputs = load_yaml(GITHUB_FORM)["on"]["workflow_dispatch"]["inputs"]
    assert list(inputs) == ["version", "calibration", "calibration_file", *OPTIONAL]
    assert inputs["calibration"]["options"] == ["sir-boarding-school", "file"]
    assert inputs["cluster"]["options"] == ["slurm", "local"]
    step = _github_step()
    for name in OPTIONAL:
        assert step["env"][f"FORM_{name.upper()}"] == f"${{{{ inputs.{name} }}}}"
    assert "${{" not in step["run"]  # values pass through the environment only


def test_every_buildkite_field_reaches_ci_calibrate_with_its_option(tmp_path: Path):
    argv = _run(_buildkite_script(), {"_META": FILLED}, tmp_path)
    assert argv == EXPECTED
    parsed = build_parser().parse_args(argv)
    assert (parsed.chains, parsed.seed, parsed.calibration) == (8, 7, ["studies/wave 2.yaml"])


def test_every_github_input_reaches_ci_calibrate_with_its_option(tmp_path: Path):
    step = _github_step()
    env = {
        "VERSION": FILLED["version"],
        "CALIBRATION": FILLED["calibration"],
        "CALIBRATION_FILE": FILLED["calibration-file"],
        **{f"FORM_{name.upper()}": FILLED[name] for name in OPTIONAL},
    }
    assert _run(step["run"], env, tmp_path) == EXPECTED


def test_empty_fields_are_left_to_the_calibration_file(tmp_path: Path):
    meta = {"version": "1.2.0", "calibration": "sir-boarding-school", "cluster": "local"}
    argv = _run(_buildkite_script(), {"_META": meta}, tmp_path)
    assert argv == [
        "calibrate",
        "1.2.0",
        *("--project", "epicast", "--calibration", "sir-boarding-school", "--cluster", "local"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("chains", "eight", "argument --chains: expected a whole number >= 1, got 'eight'"),
        ("seed", "-1", "argument --seed: expected a whole number from 0 to 2^63-1, got '-1'"),
        ("version", "latest", "'latest' is not a PEP 440 version"),
        ("note", "a\tb", "argument --note: expected one line of at most 500 characters"),
    ],
)
def test_a_bad_field_is_refused_by_ci_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str, error: str
):
    argv = _run(_buildkite_script(), {"_META": {**FILLED, field: value}}, tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert len(lines) == 2, lines
    assert error in lines[0]
