"""A tagged temporary clone of this repository, released by ``ci pipeline``, calibrations and all.

``released`` clones the repository's HEAD, tags it ``TAG`` and runs ``python -m
ci pipeline`` there, with its own embedded devpi-server and archive (in the
clone's ``.state``) and a reduced configuration (``CONFIG``: the documentation,
the smoke suite on one Python, two rounds of the model-run benchmarks, a shortened calibration
on a local Dask cluster). Everything after that works on what the pipeline left: the
published wheel, the archive, the checkpoints folder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pipeline.repos import run_ci
from tests.slurm import slurm  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]
TAG = "1.0.0rc1"
CALIBRATION = "sir-boarding-school"
ITERATIONS = 600
"""Sampling iterations after the file's 1000 warm-up ones (a checkpoint every 1000)."""
CONFIG = f"""
[build]
docs = "docs"
constraints = "requirements/dev.txt"

[verify]
suites = ["smoke"]
pythons = ["3.11"]

[bench]
paths = ["benchmarks/test_simulate.py"]
extras = ["testing"]
rounds = 2
required = false

[calibrate]
calibrations = ["{CALIBRATION}"]
program = "epicast"
extras = ["cluster"]
cluster = "local"
workers = 2
iterations = {ITERATIONS}
"""
STEERING_PREFIXES = ("DEVPI_", "CI_STATE_DIR", "CI_DEVPI_PORT", "CI_CONFIG", "PIP_", "UV_")


@dataclass
class Clone:
    """The released clone: run ``python -m ci`` in it, find its archive."""

    path: Path
    env: dict[str, str]
    pipeline_output: str = ""

    def ci(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess:
        """Run ``python -m ci ARGS`` in the clone (extra variables in ``env``)."""
        return run_ci(*args, env={**self.env, **(env or {})}, cwd=self.path, timeout=timeout)

    def config(self, name: str, text: str) -> dict[str, str]:
        """Write a configuration variant beside the clone; return the variables that select it."""
        path = self.path.parent / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return {"CI_CONFIG": str(path)}

    @property
    def archive(self) -> Path:
        """The archive folder of the release."""
        return self.path / ".state" / "archive" / "epicast" / TAG

    def calibrations(self, archive: Path | None = None) -> list[Path]:
        """The complete archived folders of the calibration (hidden partial ones left out)."""
        folder = (archive or self.archive) / "calibrations" / CALIBRATION
        if not folder.is_dir():
            return []
        return sorted(
            p
            for p in folder.iterdir()
            if not p.name.startswith(".") and (p / "manifest.json").exists()
        )


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Iterator[Clone]:
    """Clone, tag and release this repository; stop its devpi-server afterwards."""
    path = tmp_path_factory.mktemp("release") / "epicast"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "tag", TAG], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(STEERING_PREFIXES)}
    # A free port: the default one may be taken by the main job's server.
    clone = Clone(path, {**env, "MPLBACKEND": "Agg", "CI_DEVPI_PORT": "0"})
    clone.env.update(clone.config("pipeline", CONFIG))
    try:
        result = clone.ci("pipeline", timeout=1800)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        clone.pipeline_output = result.stdout
        yield clone
    finally:
        clone.ci("devpi", "stop", timeout=120)
