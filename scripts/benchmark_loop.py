#!/usr/bin/env python3
"""Measure the development loop: how long a release, the tests and a first model run take.

The figures of issue 16, each as a user meets it (whole commands, wall time),
from a fresh clone of this repository's HEAD (commit first: the work tree's
changes are not in the clone)::

    python3 scripts/benchmark_loop.py             # items 1-3 and 5-7 (about 10 minutes)
    python3 scripts/benchmark_loop.py --test      # also item 4, `python3 dev.py test` (longer)
    python3 scripts/benchmark_loop.py --only 5 6  # some items only

1. ``python3 dev.py pipeline`` in a fresh clone tagged 0.1.0, to testing
   (its own ``.venv`` set up, its own devpi-server on a free port);
2. the same command again, nothing changed;
3. ``python3 dev.py pipeline --approve``: the release taken to stable;
4. ``python3 dev.py test`` in the clone (with ``--test``);
5. the first ``epicast run seir-gbr-16age`` in a brand-new environment (empty
   numba cache), then a second one;
6. the first ``epicast calibrate sir-boarding-school`` in another brand-new
   environment;
7. the default ``epicast calibrate sir-boarding-school`` warm, against the
   same with ``--cluster none``.

Every item starts with numba's cache empty: epicast shares compiled code
between environments (in the user's cache folder, keyed by its sources), so
each item gets a new ``NUMBA_CACHE_DIR`` of its own (items 1-3 one together).

It prints a Markdown table with the targets and the machine's load average at
the start of each item (figures taken on a busy machine are high). Speed
targets are never asserted in tests: this script is where they are measured.
Needs only python3 and git; tools come from the clone's ``.venv``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = "0.1.0"
STEERING_PREFIXES = ("DEVPI_", "CI_", "PIP_", "UV_", "NUMBA_", "VIRTUAL_ENV")
TARGETS = {
    "1": ("`dev.py pipeline`, fresh clone, to testing", 240.0),
    "2": ("`dev.py pipeline` again, nothing changed", 30.0),
    "3": ("`dev.py pipeline --approve`, testing to stable", 180.0),
    "4": ("`dev.py test`", 720.0),
    "5a": ("first `epicast run seir-gbr-16age`, new environment", 4.0),
    "5b": ("second `epicast run seir-gbr-16age`", 1.0),
    "6": ("first `epicast calibrate sir-boarding-school`, new environment", 10.0),
}


def clean_environment(**extra: str) -> dict[str, str]:
    """Return our environment without the variables that steer ci, pip, uv or numba."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STEERING_PREFIXES)}
    return {**env, "EPICAST_NO_UPDATE_CHECK": "1", "MPLBACKEND": "Agg", **extra}


def timed(
    command: Sequence[str | Path], cwd: Path, env: dict[str, str], log: Path | None = None
) -> float:
    """Run ``command``; return its wall time in seconds, or exit with its output if it fails.

    The output goes to ``log`` if given (kept with ``--keep``: where a stage's time went).
    """
    began = time.monotonic()
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - began
    if log is not None:
        log.write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode:
        sys.exit(
            f"benchmark_loop: {' '.join(map(str, command))} failed ({result.returncode}):\n"
            + (result.stdout + result.stderr)[-3000:]
        )
    return seconds


def load() -> float:
    """Return the one-minute load average: how busy the machine is as an item starts."""
    return os.getloadavg()[0]


class Loop:
    """The measurements, each recorded with the load at its start."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.clone = work / "epicast"
        self.rows: list[tuple[str, str, float, float | None, float, str]] = []

    def record(self, item: str, seconds: float, started_load: float, label: str = "") -> None:
        """Keep one figure, and show it at once (the whole run takes minutes)."""
        what, target = TARGETS.get(item, (label, None))
        self.rows.append((item, what, seconds, target, started_load, "s"))
        print(f"{item}: {what}: {seconds:.1f} s (load {started_load:.1f})", flush=True)

    def make_clone(self) -> None:
        """Clone HEAD and tag it, as a developer starting a release would."""
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(self.clone)], check=True)
        subprocess.run(["git", "-C", str(self.clone), "tag", TAG], check=True)

    def environ(self, numba_cache: str, **extra: str) -> dict[str, str]:
        """Return `clean_environment` with numba's cache in a folder of this run, empty at first."""
        return clean_environment(NUMBA_CACHE_DIR=str(self.work / f"numba-{numba_cache}"), **extra)

    def pipeline(self, item: str, *args: str, label: str = "") -> None:
        """Time ``python3 dev.py pipeline ARGS`` in the clone (its devpi-server on a free port)."""
        began = load()
        env = self.environ("release", CI_DEVPI_PORT="0")
        command = [sys.executable, "dev.py", "pipeline", *args]
        seconds = timed(command, self.clone, env, self.work / f"item-{item}.log")
        self.record(item, seconds, began, label)

    def test(self) -> None:
        """Time ``python3 dev.py test`` in the clone."""
        began = load()
        command = [sys.executable, "dev.py", "test"]
        log = self.work / "item-4.log"
        self.record("4", timed(command, self.clone, self.environ("test"), log), began)

    def environment(self, name: str) -> Path:
        """Create a brand-new environment with the clone's wheel; return its ``epicast``."""
        dist = self.work / "dist"
        if not dist.exists():
            timed(
                [self.venv_python(), "-m", "build", "--wheel", "--outdir", dist, self.clone],
                ROOT,
                clean_environment(),
            )
        (wheel,) = dist.glob("*.whl")
        venv = self.work / f"venv-{name}"
        uv = [self.venv_python(), "-m", "uv"]
        timed([*uv, "venv", "--quiet", "--python", "3.11", venv], ROOT, clean_environment())
        timed(
            [
                *uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",
                "--python",
                venv / "bin" / "python",
                f"{wheel}[cluster]",
            ],
            ROOT,
            clean_environment(),
        )
        return venv / "bin" / "epicast"

    def venv_python(self) -> Path:
        """Return the clone's ``.venv`` interpreter, set up by dev.py if no item did yet."""
        python = self.clone / ".venv" / "bin" / "python"
        if not python.exists():
            subprocess.run(
                [sys.executable, "-c", "import dev; dev.ensure_venv()"], cwd=self.clone, check=True
            )
        return python

    def first_run(self) -> None:
        """Items 5a and 5b: the model run, cold then warm, in a new environment."""
        epicast = self.environment("run")
        out = self.work / "run-out"
        out.mkdir()
        for item in ("5a", "5b"):
            began = load()
            self.record(
                item, timed([epicast, "run", "seir-gbr-16age"], out, self.environ("run")), began
            )

    def calibrations(self) -> None:
        """Items 6 and 7: the calibration cold, then warm on the default cluster and in process."""
        epicast = self.environment("calibrate")
        out = self.work / "calibrate-out"
        out.mkdir()
        command = [epicast, "calibrate", "sir-boarding-school"]
        began = load()
        env = self.environ("calibrate")
        self.record("6", timed(command, out, env), began)
        began = load()
        default = timed(command, out, env)
        self.record("7a", default, began, "warm `epicast calibrate sir-boarding-school` (default)")
        began = load()
        in_process = timed([*command, "--cluster", "none"], out, env)
        self.record("7b", in_process, began, "warm, `--cluster none`")
        self.rows.append(("7", "default / in process", default / in_process, 1.5, began, ""))

    def stop_devpi(self) -> None:
        """Stop the clone's devpi-server, if a pipeline item started one."""
        python = self.clone / ".venv" / "bin" / "python"
        if python.exists():
            command = [python, "-m", "ci", "devpi", "stop"]
            subprocess.run(command, cwd=self.clone, env=clean_environment(), capture_output=True)

    def finish(self, keep: bool) -> None:
        """Stop the devpi-server, print the table, and remove the work folder unless ``keep``."""
        self.stop_devpi()
        print(f"\n{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        print(f"\n{self.table()}")
        if keep:
            print(f"\nkept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    def table(self) -> str:
        """Return the figures as a Markdown table."""
        lines = ["| item | what | measured | target | load at start |", "|---|---|---|---|---|"]
        for item, what, value, target, started_load, unit in self.rows:
            unit = f" {unit}" if unit else ""
            goal = "" if target is None else f"≤ {target:g}{unit}"
            figure = f"{value:.{1 if unit else 2}f}{unit}"
            lines.append(f"| {item} | {what} | {figure} | {goal} | {started_load:.1f} |")
        return "\n".join(lines)


def main() -> None:
    """Run the selected items in a temporary folder; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--test", action="store_true", help="also time `python3 dev.py test` (item 4)"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="ITEM", help="only these items (1-7; 6 and 7 together)"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary folder: the clone, its archive, each item's output (item-N.log)",
    )
    args = parser.parse_args()
    chosen = set(args.only or ["1", "2", "3", "5", "6", "7"] + (["4"] if args.test else []))
    loop = Loop(Path(tempfile.mkdtemp(prefix="benchmark-loop-")))
    loop.make_clone()
    try:
        if "1" in chosen:
            loop.pipeline("1")
        if "2" in chosen:
            loop.pipeline("2")
        if "3" in chosen:
            loop.pipeline("3", "--approve")
        if "4" in chosen:
            loop.test()
        if "5" in chosen:
            loop.first_run()
        if chosen & {"6", "7"}:
            loop.calibrations()
    finally:
        loop.finish(keep=args.keep)


if __name__ == "__main__":
    main()
