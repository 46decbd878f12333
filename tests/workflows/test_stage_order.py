"""Both pipelines run the stages in the order of ``ci pipeline`` (ci.commands.pipeline.STAGES).

A stage runs before a later one when both are commands of one step or job in
that order, or when the later one's step or job (transitively) depends on the
earlier one's: Buildkite ``depends_on`` (or wait and block steps), GitHub
``needs`` across the called workflow. STAGES is the single source of the order:
a stage added there (the benchmark gate, the calibrations, the dashboard) fails
these tests until both pipelines run it in its place.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ci.commands.pipeline import STAGES
from tests.workflows.pipelines import (
    BUILDKITE,
    ROOT,
    WORKFLOWS,
    buildkite_graph,
    check_order,
    github_graph,
    replace_once,
    stages_run,
)

TESTING = STAGES.index("promote-testing") + 1
"""Branches, pull requests and release candidates stop after promote-testing."""

VERIFY_COMMAND = 'python -m ci verify --suite "$SUITE" --python "$VERIFY_PYTHON"'


def test_buildkite_runs_every_stage_in_order():
    graph = buildkite_graph(ROOT / BUILDKITE)
    assert stages_run(graph, STAGES) == list(STAGES)
    assert check_order(graph, STAGES) == []


def test_the_release_workflow_runs_every_stage_in_order():
    graph = github_graph(ROOT, "release.yml")
    assert stages_run(graph, STAGES) == list(STAGES)
    assert check_order(graph, STAGES) == []


def test_the_ci_workflow_runs_the_stages_up_to_testing_in_order():
    graph = github_graph(ROOT, "ci.yml")
    ran = stages_run(graph, STAGES)
    assert ran == list(STAGES[: len(ran)])
    assert len(ran) >= TESTING
    assert "approve" not in ran
    assert check_order(graph, tuple(ran)) == []


def test_buildkite_with_publish_and_verify_swapped_fails(copy_root: Path):
    pipeline = copy_root / BUILDKITE
    verify = '- python -m ci verify --suite "{{matrix.suite}}" --python "{{matrix.python}}"'
    replace_once(pipeline, "- python -m ci publish", "- SWAP")
    replace_once(pipeline, verify, "- python -m ci publish")
    replace_once(pipeline, "- SWAP", verify)
    problems = check_order(buildkite_graph(pipeline), STAGES)
    assert "publish (verify) does not run before verify (publish)" in problems


def test_buildkite_with_stable_not_waiting_for_approval_fails(copy_root: Path):
    pipeline = copy_root / BUILDKITE
    replace_once(pipeline, "    depends_on: approve\n", "    depends_on: promote-testing\n")
    problems = check_order(buildkite_graph(pipeline), STAGES)
    assert "approve (approve) does not run before promote-stable (promote-stable)" in problems
    assert "bench (bench) does not run before promote-stable (promote-stable)" in problems


def test_buildkite_without_the_approval_fails(copy_root: Path):
    pipeline = copy_root / BUILDKITE
    text = pipeline.read_text()
    start = text.index('  - label: ":white_check_mark: approve"')
    end = text.index('  - label: ":rocket: promote to stable"')
    pipeline.write_text(
        text[:start] + text[end:].replace("depends_on: approve", "depends_on: qa-approval")
    )
    assert check_order(buildkite_graph(pipeline), STAGES) == ["stages never run: approve"]


def test_workflows_with_publish_and_verify_swapped_fail(copy_root: Path):
    stages = copy_root / WORKFLOWS / "stages.yml"
    replace_once(stages, "run: python -m ci publish", "run: SWAP")
    replace_once(stages, f"run: {VERIFY_COMMAND}", "run: python -m ci publish")
    replace_once(stages, "run: SWAP", f"run: {VERIFY_COMMAND}")
    for workflow in ("ci.yml", "release.yml"):
        problems = check_order(github_graph(copy_root, workflow), STAGES[:TESTING])
        assert "publish (stages/verify) does not run before verify (stages/publish)" in problems


def test_release_workflow_with_stable_not_needing_the_stages_fails(copy_root: Path):
    replace_once(
        copy_root / WORKFLOWS / "release.yml",
        "    needs: [stages, bench]\n    runs-on",
        "    runs-on",
    )
    problems = check_order(github_graph(copy_root, "release.yml"), STAGES)
    assert "promote-testing (stages/promote-testing) does not run before approve (stable)" in (
        problems
    )


def test_release_workflow_promoting_before_approving_fails(copy_root: Path):
    release = copy_root / WORKFLOWS / "release.yml"
    text = release.read_text()
    approve = text.index("      - run: >-\n          python -m ci approve")
    promote = text.index("      - run: python -m ci promote")
    end = text.index("\n\n", promote) + 1  # the step ends where the job does
    release.write_text(text[:approve] + text[promote:end] + text[approve:promote] + text[end:])
    problems = check_order(github_graph(copy_root, "release.yml"), STAGES)
    assert problems == ["approve (stable) does not run before promote-stable (stable)"]


@pytest.mark.parametrize("added", ["reproduce", "docs"])
def test_a_stage_added_to_ci_fails_until_the_pipelines_run_it(added: str):
    stages = (*STAGES[:TESTING], added, *STAGES[TESTING:])
    assert check_order(buildkite_graph(ROOT / BUILDKITE), stages) == [f"stages never run: {added}"]
    assert check_order(github_graph(ROOT, "release.yml"), stages) == [f"stages never run: {added}"]


@pytest.mark.parametrize(("barrier", "ordered"), [("wait", True), ("block: go", True), ("", False)])
def test_buildkite_wait_and_block_steps_order_the_steps_after_them(
    tmp_path: Path, barrier: str, ordered: bool
):
    pipeline = tmp_path / "pipeline.yml"
    steps = ["command: python -m ci build", barrier, "command: python -m ci publish"]
    pipeline.write_text("steps:\n" + "".join(f"  - {s}\n" for s in steps if s))
    problems = check_order(buildkite_graph(pipeline), ("build", "publish"))
    assert problems == ([] if ordered else ["build (step-0) does not run before publish (step-1)"])
