"""The seams every subprocess and every file write of the ci tool goes through.

In process and fast: real child processes, real files; no devpi needed.
"""

from __future__ import annotations

import ast
import sys
import time
from pathlib import Path

import pytest

from ci import processes, shell
from ci.atomic import atomic_file

CI = Path(__file__).resolve().parents[2] / "ci"


def test_only_the_runner_starts_programs() -> None:
    """No module but ci/shell.py calls subprocess or os.posix_spawn/os.system/os.exec*."""
    starters = {"subprocess", "posix_spawn", "system", "popen", "execv", "execve", "spawnv"}
    found = []
    for module in sorted(CI.rglob("*.py")):
        if module.name == "shell.py":
            continue
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.id if isinstance(owner, ast.Name) else ""
                if name == "subprocess" or (name == "os" and node.func.attr in starters):
                    found.append(f"{module.name}:{node.lineno} {name}.{node.func.attr}")
    assert found == []


def test_secrets_are_masked_in_what_a_program_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVPI_QA_PASSWORD", "hunter2")
    shell.register_secret("derived-s3cret")
    printed = "import os; print(os.environ['DEVPI_QA_PASSWORD'], 'derived-s3cret')"
    finished = shell.execute([sys.executable, "-c", printed])
    assert (finished.returncode, finished.output.strip()) == (0, "*** ***")


def test_a_secret_reaches_a_program_through_stdin_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVPI_CI_PASSWORD", "hunter2")
    echo = "import sys; print(len(sys.stdin.read())); print(sys.argv)"
    finished = shell.execute([sys.executable, "-c", echo], stdin="hunter2")
    assert finished.output.splitlines() == ["7", "['-c']"]


def test_a_failure_carries_the_masked_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVPI_PASSWORD", "hunter2")
    failing = "import sys; print('login with hunter2 refused'); sys.exit(3)"
    with pytest.raises(shell.CommandError) as caught:
        shell.run([sys.executable, "-c", failing])
    assert caught.value.returncode == 3
    assert "login with *** refused" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_a_swapped_runner_sees_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    class Recording(shell.Runner):
        def __init__(self) -> None:
            self.commands: list[list[str]] = []

        def execute(self, command, **options):  # type: ignore[no-untyped-def]
            self.commands.append([str(part) for part in command])
            return shell.Finished(self.commands[-1], 0, "recorded\n")

    recording = Recording()
    monkeypatch.setattr(shell, "runner", recording)
    assert shell.run(["git", "status"]) == "recorded\n"
    assert recording.commands == [["git", "status"]]


def test_kill_group_stops_what_a_run_left_and_nothing_else(tmp_path: Path) -> None:
    marker = tmp_path / "environment-of-the-run"
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)", str(marker)]
    left = shell.start(sleeper)
    other = shell.start([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _wait_for(lambda: str(marker) in " ".join(processes.command_line(left.pid) or []))
        assert processes.kill_group(other.pid, str(marker)) == []  # its group, not its path
        assert processes.kill_group(left.pid, str(marker)) == [left.pid]
        left.wait(timeout=30)
        assert not processes.alive(left.pid)
        assert processes.alive(other.pid)
    finally:
        shell.stop(left)
        shell.stop(other)
    assert not processes.alive(other.pid)
    assert processes.command_line(other.pid) is None


def test_atomic_file_keeps_the_old_content_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    with atomic_file(path) as handle:
        handle.write("old")

    def fail_half_way() -> None:
        with atomic_file(path) as handle:
            handle.write("half of the new")
            raise RuntimeError("killed half-way")

    with pytest.raises(RuntimeError):
        fail_half_way()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def _wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)
