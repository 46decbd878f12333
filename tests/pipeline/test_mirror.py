"""The mirror warm-up of ``ci pipeline``: a real uv resolving through a real devpi-server."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from ci import mirror

DEMO = Path(__file__).parent / "packages" / "release-demo"


def demo_checkout(path: Path) -> Path:
    """A git checkout of the demo project (its version comes from git, written at build)."""
    shutil.copytree(DEMO, path)
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.org"]
    for command in (["init", "-q"], ["add", "."], [*identity, "commit", "-qm", "demo"]):
        subprocess.run(["git", "-C", str(path), *command], check=True)
    return path


def files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if ".git" not in p.parts}


def test_the_requirements_resolve_through_the_index_and_the_checkout_is_untouched(devpi, tmp_path):
    checkout = demo_checkout(tmp_path / "demo")
    before = files(checkout)
    with mirror.warming(checkout, f"{devpi.url}/root/pypi/+simple/", "3.10") as warmup:
        pass
    assert warmup.returncode == 0
    # Building the metadata in the checkout would have written its version file and egg-info.
    assert files(checkout) == before


def test_a_failure_in_the_block_stops_the_warm_up_at_once(tmp_path):
    checkout = demo_checkout(tmp_path / "demo")
    with socket.socket() as silent:  # accepts connections and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        index_url = f"http://127.0.0.1:{silent.getsockname()[1]}/simple/"
        with (
            pytest.raises(KeyboardInterrupt),
            mirror.warming(checkout, index_url, "3.10") as warmup,
        ):
            raise KeyboardInterrupt
    assert warmup.returncode == -signal.SIGKILL
