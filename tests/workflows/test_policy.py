"""What the pipeline files must say beyond their schemas, kept in step with ci and pipeline.toml.

Each check is a function returning the problems it finds; it runs on the
committed files (no problem) and on a copy broken on purpose (the problem).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest
from packaging.version import Version

from ci.config import load_config
from ci.distribution import is_final, is_tagged
from tests.workflows.pipelines import (
    BUILDKITE,
    ROOT,
    WORKFLOWS,
    buildkite_graph,
    buildkite_matrix,
    github_filter_matches,
    github_steps,
    load_yaml,
    replace_once,
)

TAGS = [
    "0.1.0", "1.2.3", "v1.2.3", "10.20.30", "1.2.3rc1", "v1.2.3rc2", "1.2.3a1", "1.2.3b4",
    "1.2.3.dev5", "1.2.3.post1", "1.2.3-rc1", "v1.2.3.post2", "2.0.0rc10",
]  # fmt: skip
"""Release-shaped tags (X.Y.Z, optionally v-prefixed, with or without a suffix)."""

TAG_ONLY = ("bench", "qa-approval", "approve", "promote-stable", "dashboard")
"""Buildkite steps that run on final tags only."""
RELEASE_TAG_ONLY = ("calibrate",)
"""Buildkite steps that run on every release tag (final, pre- and post-releases)."""


# -- the verify matrix is [verify] of pipeline.toml ----------------------------------


def matrix_problems(root: Path) -> list[str]:
    verify = load_config(root).verify
    wanted = {"suite": verify.suites, "python": verify.pythons}
    stages = load_yaml(root / WORKFLOWS / "stages.yml")
    matrices = {
        "buildkite": buildkite_matrix(root / BUILDKITE, "verify"),
        "github": dict(stages["jobs"]["verify"]["strategy"]["matrix"]),
    }
    return [
        f"{system} verify matrix {matrix} is not pipeline.toml's {wanted}"
        for system, matrix in matrices.items()
        if matrix != wanted
    ]


def test_the_verify_matrices_are_the_configured_suites_and_pythons():
    assert matrix_problems(ROOT) == []


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (BUILDKITE, '"3.12", "3.13"]', '"3.12"]', "buildkite verify matrix"),
        # unquoted, 3.10 is the number 3.1
        (WORKFLOWS / "stages.yml", '["3.10", "3.11"', "[3.10, 3.11", "[3.1, 3.11,"),
        (Path("pipeline.toml"), '["smoke", "unit", "bench"]', '["smoke"]', "{'suite': ['smoke'],"),
    ],
)
def test_a_matrix_out_of_step_with_pipeline_toml_fails(copy_root: Path, path, old, new, expected):
    replace_once(copy_root / path, old, new)
    assert any(expected in problem for problem in matrix_problems(copy_root))


# -- checkouts and actions -----------------------------------------------------------

PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")


def action_problems(root: Path) -> list[str]:
    problems = []
    shas: dict[str, set[str]] = {}
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            uses = re.match(r"^\s*(?:- )?uses: (\S+)", line)
            if uses is None or uses.group(1).startswith("./"):
                continue
            pinned = PINNED.match(line)
            if pinned is None:
                problems.append(f"{path.name}:{number}: not pinned by SHA with a version comment")
            else:
                shas.setdefault(pinned.group(1), set()).add(pinned.group(2, 3))
    problems += [
        f"{action} pinned differently: {sorted(pins)}"
        for action, pins in shas.items()
        if len(pins) > 1
    ]
    for name, job, step in github_steps(root):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            options = step.get("with", {})
            if options.get("persist-credentials") is not False:
                problems.append(f"{name} {job}: checkout persists credentials")
            if options.get("fetch-depth") != 0:
                problems.append(f"{name} {job}: checkout without the history (fetch-depth: 0)")
    return problems


def test_actions_are_pinned_and_checkouts_are_complete_without_credentials():
    assert action_problems(ROOT) == []


SETUP_PYTHON = "setup-python@a26af69be951a213d495a4c3e4e4022e16d87065"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (f"{SETUP_PYTHON} # v5.6.0\n", "setup-python@v5\n", "not pinned by SHA"),
        (f"{SETUP_PYTHON} # v5.6.0\n", f"{SETUP_PYTHON}\n", "not pinned by SHA"),
        (SETUP_PYTHON, "setup-python@" + "0" * 40, "pinned differently"),
        ("persist-credentials: false", "persist-credentials: true", "persists credentials"),
        ("fetch-depth: 0", "fetch-depth: 1", "without the history"),
    ],
)
def test_an_unpinned_action_or_shallow_checkout_in_a_copy_fails(
    copy_root: Path, old, new, expected
):
    release = copy_root / WORKFLOWS / "release.yml"
    text = release.read_text(encoding="utf-8")
    assert old in text
    release.write_text(text.replace(old, new, 1), encoding="utf-8")  # the first job only
    assert any(expected in problem for problem in action_problems(copy_root))


# -- permissions, concurrency, secrets -----------------------------------------------

QA_SECRETS = ("DEVPI_QA_USER", "DEVPI_QA_PASSWORD")


def workflow_problems(root: Path) -> list[str]:
    problems = []
    for path in sorted((root / WORKFLOWS).glob("*.yml")):
        workflow = load_yaml(path)
        called = "workflow_call" in workflow["on"]
        if workflow.get("permissions") != {}:
            problems.append(f"{path.name}: top-level permissions are not {{}}")
        if called == ("concurrency" in workflow):
            problems.append(f"{path.name}: concurrency belongs to the calling workflows only")
        for job_id, job in workflow["jobs"].items():
            if "permissions" not in job:
                problems.append(f"{path.name} {job_id}: no permissions of its own")
            text = str(job)
            if any(secret in text for secret in QA_SECRETS) and job.get("environment") != "qa":
                problems.append(f"{path.name} {job_id}: QA credentials outside the qa environment")
    return problems


def test_workflows_have_least_privilege_and_concurrency():
    assert workflow_problems(ROOT) == []


STAGES_CALL = "    uses: ./.github/workflows/stages.yml # zizmor: ignore[self-repository]\n"


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        ("release.yml", "    environment: qa\n", "", "QA credentials outside"),
        (
            "ci.yml",
            f"{STAGES_CALL}    permissions:\n      contents: read\n",
            STAGES_CALL,
            "no permissions of its own",
        ),
        ("stages.yml", "permissions: {}\n", "permissions: read-all\n", "top-level permissions"),
        ("ci.yml", "concurrency:\n  group", "x-concurrency:\n  group", "concurrency belongs"),
    ],
)
def test_a_workflow_with_more_privilege_or_no_concurrency_fails(
    copy_root: Path, name, old, new, expected
):
    replace_once(copy_root / WORKFLOWS / name, old, new)
    assert any(expected in problem for problem in workflow_problems(copy_root))


# -- Buildkite: retries, soft_fail, secrets, QA fields -------------------------------

TRANSIENT = ({"exit_status": -1}, {"signal_reason": "agent_stop"})
"""Agent lost, agent stopped: the only failures retried automatically."""


def buildkite_problems(root: Path) -> list[str]:
    graph = buildkite_graph(root / BUILDKITE)
    problems = []
    fields = set()
    meta_set = set()
    for node in graph.nodes.values():
        step = node.raw
        fields |= {f["key"] for f in step.get("fields", [])}
        for script in node.scripts:
            meta_set |= set(re.findall(r"meta-data set (\w+)", script))
        rules = step.get("retry", {}).get("automatic", [])
        for rule in [rules] if isinstance(rules, Mapping) else rules:
            condition = {k: v for k, v in rule.items() if k != "limit"}
            if condition not in TRANSIENT:
                problems.append(f"{node.name}: retries {condition}, not a transient failure")
        if "soft_fail" in step and node.name != "dashboard":
            problems.append(f"{node.name}: soft_fail (only the dashboard may fail softly)")
        if any(k.startswith("DEVPI_") for k in step.get("env", {})):
            problems.append(f"{node.name}: sets DEVPI_ variables (they come from the agent)")
    if any(k.startswith("DEVPI_") for k in load_yaml(root / BUILDKITE).get("env", {})):
        problems.append("the pipeline sets DEVPI_ variables (they come from the agent)")
    for node in graph.nodes.values():
        for script in node.scripts:
            for key in re.findall(r"meta-data get (\w+)", script):
                if key not in fields | meta_set:
                    problems.append(f"{node.name}: reads meta-data {key} that nothing sets")
    if {"approver", "notes"} - fields:
        problems.append("the QA block lacks the approver and notes fields")
    return problems


def test_buildkite_retries_only_transient_failures_and_reads_what_is_set():
    assert buildkite_problems(ROOT) == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("        - exit_status: -1\n", '        - exit_status: "*"\n', "not a transient"),
        (
            "    timeout_in_minutes: 20\n",
            "    timeout_in_minutes: 20\n    soft_fail: true\n",
            "soft_fail",
        ),
        ("        key: notes\n", "        key: comments\n", "reads meta-data notes"),
        (
            "env:\n  PYTHONUNBUFFERED",
            "env:\n  DEVPI_URL: x\n  PYTHONUNBUFFERED",
            "DEVPI_ variables",
        ),
    ],
)
def test_a_buildkite_copy_with_a_bad_retry_soft_fail_or_field_fails(
    copy_root: Path, old, new, expected
):
    replace_once(copy_root / BUILDKITE, old, new)
    assert any(expected in problem for problem in buildkite_problems(copy_root))


# -- tags: the YAML conditions agree with ci's policy ---------------------------------


def buildkite_tag_problems(root: Path) -> list[str]:
    graph = buildkite_graph(root / BUILDKITE)
    problems = []
    for name, node in graph.nodes.items():
        if name not in TAG_ONLY + RELEASE_TAG_ONLY:
            if node.condition is not None:
                problems.append(f"{name}: runs only if {node.condition}")
            continue
        runs_on = is_final if name in TAG_ONLY else is_tagged
        match = re.fullmatch(r"build\.tag =~ /(.*)/", node.condition or "")
        if match is None:
            problems.append(f"{name}: not conditioned on the tag ({node.condition})")
            continue
        regex = re.compile(match.group(1).replace("$$", "$"))
        wrong = [t for t in TAGS if bool(regex.search(t)) != runs_on(Version(t))]
        if wrong:
            problems.append(f"{name}: the tag condition disagrees with ci on {wrong}")
    return problems


def test_buildkite_asks_qa_on_final_tags_only_and_calibrates_every_release_tag():
    assert buildkite_tag_problems(ROOT) == []


BUILD_STEP = '  - label: ":package: build"\n'


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("+$$/'\n    depends_on: qa-approval", "+/'\n    depends_on: qa-approval", "disagrees"),
        (BUILD_STEP, BUILD_STEP + "    if: build.tag\n", "build: runs only if build.tag"),
    ],
)
def test_a_buildkite_copy_with_a_wrong_tag_condition_fails(copy_root: Path, old, new, expected):
    replace_once(copy_root / BUILDKITE, old, new)
    assert any(expected in problem for problem in buildkite_tag_problems(copy_root))


def github_tag_problems(root: Path) -> list[str]:
    problems = []
    for name, wants_final in (("release.yml", True), ("ci.yml", False)):
        tags = load_yaml(root / WORKFLOWS / name)["on"]["push"]["tags"]
        wrong = [
            t
            for t in TAGS
            if github_filter_matches(tags, t) != (is_final(Version(t)) == wants_final)
        ]
        if wrong:
            problems.append(f"{name}: the tag filters disagree with ci on {wrong}")
    return problems


def test_github_runs_release_on_final_tags_and_ci_on_the_others():
    assert github_filter_matches(["**", "!v*"], "feature/x")
    assert not github_filter_matches(["**", "!v*"], "v1")
    assert not github_filter_matches(["[0-9]+.[0-9]+"], "1x2")
    assert github_tag_problems(ROOT) == []


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        ("ci.yml", '      - "!v[0-9]+.[0-9]+.[0-9]+"\n', ""),
        ("release.yml", '"[0-9]+.[0-9]+.[0-9]+"', '"[0-9]+.[0-9]+.[0-9]+*"'),
    ],
)
def test_a_workflow_copy_with_wrong_tag_filters_fails(copy_root: Path, name, old, new):
    replace_once(copy_root / WORKFLOWS / name, old, new)
    assert any(f"{name}: the tag filters disagree" in p for p in github_tag_problems(copy_root))
