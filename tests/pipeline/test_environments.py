"""What the processes run from a release's environment (``ci calibrate``, ``ci reproduce``) get."""

from __future__ import annotations

from ci import environments
from ci.shell import SECRET_VARIABLES


def test_processes_write_bytecode_and_see_no_secrets(monkeypatch):
    """No bytecode is compiled at install: the processes must be able to write it."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.setenv("DEVPI_CI_PASSWORD", "hunter2")
    monkeypatch.setenv("EPICAST_KEPT", "yes")
    env = environments.process_environment(SECRET_VARIABLES)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert "DEVPI_CI_PASSWORD" not in env
    assert env["EPICAST_KEPT"] == "yes"
