"""The command layer of the ci tool, checked in process.

One module per command in ci/commands, holding only ``register`` and its
handlers; commands never import each other and the domain modules never
import a command. A handler runs on a :class:`~ci.session.State` built for
any checkout, with a runner of the test's choice.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from ci import shell
from ci.archive import Archive
from ci.cli import COMMANDS
from ci.commands import status
from ci.session import State

CI = Path(__file__).resolve().parents[2] / "ci"


def _imports(module: Path) -> set[str]:
    """The modules ``module`` imports (``from ci import x`` counts as ``ci.x``)."""
    found = set()
    for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_every_command_is_a_module_of_ci_commands() -> None:
    modules = {path.stem for path in (CI / "commands").glob("*.py")} - {"__init__"}
    assert modules == set(COMMANDS)


def test_commands_never_import_each_other() -> None:
    for module in (CI / "commands").glob("*.py"):
        assert not {name for name in _imports(module) if name.startswith("ci.commands")}, module


def test_the_domain_modules_never_import_a_command() -> None:
    for module in CI.glob("*.py"):
        if module.name != "cli.py":
            assert not {n for n in _imports(module) if n.startswith("ci.commands")}, module


def test_a_command_module_defines_register_and_handlers_only() -> None:
    for module in (CI / "commands").glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        public = {
            node.name
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
        }
        extra = {name for name in public if name != "register" and not name.startswith("handle")}
        assert not extra, f"{module.name} defines {extra}: they belong in a domain module"


class _Refusing(shell.Runner):
    """A runner that fails the test if the command starts any program."""

    def execute(self, command, **options):  # type: ignore[no-untyped-def]
        raise AssertionError(f"started {command}")

    def start(self, command, **options):  # type: ignore[no-untyped-def]
        raise AssertionError(f"started {command}")


def test_status_runs_in_process_on_a_state_of_any_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pipeline.toml").write_text('[archive]\nurl = "records"\n', encoding="utf-8")
    record = {
        "project": "demo",
        "version": "1.0.0",
        "commit": "c" * 40,
        "tags": ["1.0.0"],
        "files": [{"filename": "demo-1.0.0-py3-none-any.whl", "kind": "wheel", "sha256": "a"}],
        "promotions": [{"from": "unstable", "to": "testing", "who": "ci", "when": "x"}],
        "approvals": [],
    }
    Archive("records", tmp_path).write_json(record, "demo", "1.0.0", "release.json")
    state = State(root=tmp_path, options=argparse.Namespace(version=None), runner=_Refusing())
    with shell.using(state.runner):
        assert status.handle(state) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == [
        *("demo", "1.0.0", "testing", "0", "passed,", "0", "failed", "-", "c" * 12)
    ]
