"""Every `python -m ci ...` the pipeline files run exists, with those options.

The commands are read out of the YAML (Buildkite step commands, GitHub ``run:``
steps; a Buildkite matrix once per combination) and parsed by ci's own
argparse parser, so a renamed command or option fails here, not in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.workflows.pipelines import (
    BUILDKITE,
    ENTRY_WORKFLOWS,
    ROOT,
    WORKFLOWS,
    Invocation,
    buildkite_graph,
    ci_commands,
    github_graph,
    parse,
    replace_once,
)


def invocations(root: Path) -> list[Invocation]:
    found = buildkite_graph(root / BUILDKITE).invocations()
    for workflow in ENTRY_WORKFLOWS:
        found += github_graph(root, workflow).invocations()
    return found


def rejected(root: Path) -> list[str]:
    return [str(i) for i in invocations(root) if parse(i.argv) is None]


def test_reading_commands_out_of_shell():
    script = 'set -e\npython -m ci promote "$V" --to testing && echo done # python -m ci no\n'
    script += "buildkite-agent meta-data get x\n.venv/bin/python3 -m ci -v build"
    assert [argv for argv, _ in ci_commands(script)] == [
        ("promote", "$V", "--to", "testing"),
        ("-v", "build"),
    ]


def test_the_parser_rejects_unknown_commands_and_options():
    assert parse(("promote", "1.0", "--to", "testing")) is not None
    assert parse(("promote", "1.0", "--to", "production")) is None
    assert parse(("publish", "--force")) is None
    assert parse(("upload",)) is None


def test_every_ci_command_in_the_pipeline_files_exists_with_its_options():
    found = invocations(ROOT)
    commands = {i.argv[0] for i in found}
    assert {"devpi", "build", "publish", "verify", "promote", "approve"} <= commands
    assert [str(i) for i in found if parse(i.argv) is None] == []


def test_the_verify_matrix_runs_one_suite_on_one_python_per_job():
    verify = [i for i in buildkite_graph(ROOT / BUILDKITE).invocations() if i.argv[0] == "verify"]
    assert len(verify) == 12  # 3 suites x 4 Pythons, one command each
    for invocation in verify:
        parsed = parse(invocation.argv)
        assert len(parsed.suite) == 1
        assert len(parsed.python) == 1


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        (BUILDKITE, "ci promote", "ci promotion"),
        (BUILDKITE, "--to testing", "--to production"),
        (BUILDKITE, "python -m ci publish", "python -m ci publish --force"),
        (WORKFLOWS / "stages.yml", "run: python -m ci build", "run: python -m ci build --wheel"),
        (WORKFLOWS / "release.yml", "--to stable", "--stage stable"),
    ],
)
def test_an_unknown_command_or_option_in_a_copy_fails(copy_root: Path, path, old, new):
    text = (copy_root / path).read_text()
    (copy_root / path).write_text(text.replace(old, new))
    assert text.count(old) >= 1
    assert rejected(copy_root) != []


def test_a_copy_with_a_valid_change_still_passes(copy_root: Path):
    replace_once(copy_root / BUILDKITE, "python -m ci publish", "python -m ci -v publish")
    assert rejected(copy_root) == []
