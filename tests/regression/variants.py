"""Wheels of this checkout with an injected slowdown, and environments to run them.

Used by the regression tests and by the error-rate experiment (experiment.py):
the slowdown lives only in a patched copy of the source made here, never in the
product. ``simulate_batch`` of a patched copy busy-waits after a 16-age run for
``fraction`` of the time the run took, so the
16-age model run is exactly ``1 + fraction`` times as slow and everything else
is unchanged (``simulate`` looks ``simulate_batch`` up at call time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL = Path("src/epicast/model.py")
SLOWDOWN = """

# Injected by tests/regression/variants.py: never part of a release.
_unslowed_simulate_batch = simulate_batch


def simulate_batch(scenario, *args, **kwargs):
    import time

    began = time.perf_counter()
    result = _unslowed_simulate_batch(scenario, *args, **kwargs)
    if len(scenario.age_groups) == 16:
        until = time.perf_counter() + {fraction!r} * (time.perf_counter() - began)
        while time.perf_counter() < until:
            pass
    return result
"""


def source_copy(out: Path) -> Path:
    """Copy the files git tracks (as they are in the work tree) into ``out``."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target)
    return out


def inject_slowdown(source: Path, fraction: float) -> None:
    """Make the 16-age model runs of the copy at ``source`` ``1 + fraction`` times as slow."""
    path = source / MODEL
    path.write_text(
        path.read_text(encoding="utf-8") + SLOWDOWN.format(fraction=fraction), encoding="utf-8"
    )


def build_wheel(work: Path, name: str, fraction: float, version: str) -> Path:
    """Build the wheel of a copy of this checkout slowed by ``fraction`` (0: unchanged)."""
    source = source_copy(work / f"src-{name}")
    if fraction:
        inject_slowdown(source, fraction)
    out = work / f"dist-{name}"
    env = {**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION_FOR_EPICAST": version}
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--installer", "uv", "--outdir", str(out)],
        cwd=source,
        env=env,
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("*.whl")
    return wheel


def environment(work: Path, name: str, wheel: Path, python: str = "3.11") -> Path:
    """Create a virtual environment with ``wheel[testing]``; return its interpreter."""
    venv = work / f"venv-{name}"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "--quiet", "--python", python, str(venv)], check=True)
    interpreter = venv / "bin" / "python"
    subprocess.run(
        [
            *uv,
            "pip",
            "install",
            "--quiet",
            "--compile-bytecode",
            "--python",
            str(interpreter),
            f"{wheel}[testing]",
        ],
        check=True,
    )
    return interpreter


SLOWDOWNS = {"base-a": 0.0, "base-b": 0.0, "slow5": 0.05, "slow10": 0.10, "slow300": 3.0}
"""The variants: the unchanged wheel in two environments, and the slowed copies
(5% and 10% for the error-rate experiment, 300% for the test of the machinery)."""


class Variants:
    """Wheels and environments of the variants in ``work``, each built on first use."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._wheels: dict[float, Path] = {}
        self._pythons: dict[str, Path] = {}

    def python(self, name: str) -> Path:
        """Return the interpreter of the named variant's environment."""
        if name not in self._pythons:
            fraction = SLOWDOWNS[name]
            if fraction not in self._wheels:
                self._wheels[fraction] = build_wheel(self.work, name, fraction, version="0.0.0")
            self._pythons[name] = environment(self.work, name, self._wheels[fraction])
        return self._pythons[name]
