#!/usr/bin/env python3
"""Measure the modellers' loop: a requested calibration to the results page, two at once, prune.

The figures of issue 19, each as its user meets it (whole commands, wall time),
in a fresh clone of this repository's HEAD tagged 0.1.0 and released to testing
by ``python3 dev.py pipeline`` (its own devpi-server and archive; that release
is timed by ``benchmark_loop.py``, item 1, not here)::

    python3 scripts/benchmark_calibrations.py [--keep]

1. what the calibration form runs, then the results site:
   ``python -m ci calibrate 0.1.0 --calibration sir-boarding-school --seed 2
   --note ...`` (the local Dask cluster of pipeline.toml), then
   ``python -m ci dashboard``;
2. two calibrations asked in one command (they run in parallel), against the
   same two asked in two commands, one after the other;
3. ``python -m ci archive prune`` of the clone's archive after 200 copies of
   one of those real runs were added, ten in each of 20 dev versions, all
   older than the retention policy's ``max_age_days``.

It prints a Markdown table with the machine's load average at the start of
each item. Needs only python3 and git, like benchmark_loop.py, whose clone and
environment helpers it uses.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_loop import TAG, Loop, load, timed

SECOND = "mine/second.yaml"
"""The second calibration: the bundled one's copy under another name and seed."""
BUNDLED = Path("src/epicast/data/calibrations/sir-boarding-school.yaml")
DATA = Path("src/epicast/data/boarding_school_influenza_1978.csv")
OLD = "2026-01-01T00:00:00+00:00"
"""When the 200 copied runs finished: older than any max_age_days up to about a year."""


class Calibrations(Loop):
    """The release of benchmark_loop.py, with the ci commands of the modellers' loop."""

    def ci(self, log: str, *args: str) -> float:
        """Run ``python -m ci ARGS`` in the clone on its devpi-server; return the wall time."""
        command = [self.venv_python(), "-m", "ci", *args]
        env = self.environ("release", CI_DEVPI_PORT="0")
        return timed(command, self.clone, env, self.work / f"{log}.log")

    def add_second_calibration(self) -> None:
        """Write the second calibration into the clone (not committed, as a modeller's file)."""
        text = (self.clone / BUNDLED).read_text(encoding="utf-8")
        text = text.replace("name: sir-boarding-school", "name: second")
        text = text.replace(f"../{DATA.name}", DATA.name).replace("seed: 1978", "seed: 7")
        (self.clone / SECOND).parent.mkdir()
        (self.clone / SECOND).write_text(text, encoding="utf-8")
        shutil.copy(self.clone / DATA, (self.clone / SECOND).parent)

    def requested(self) -> None:
        """Item 1: the form's command, then the results site."""
        began = load()
        note = ("--note", "benchmark: a second seed")
        seconds = self.ci(
            "calibrate-1",
            "calibrate",
            TAG,
            "--calibration",
            "sir-boarding-school",
            "--seed",
            "2",
            *note,
        )
        self.record("c1a", seconds, began, "`ci calibrate` of one requested calibration")
        began = load()
        site = self.ci("dashboard-1", "dashboard", "--out", str(self.work / "site"))
        self.record("c1b", site, began, "`ci dashboard`: the results site")
        self.rows.append(("c1", "form to results page", seconds + site, None, began, "s"))

    def parallel(self) -> None:
        """Item 2: two calibrations in one command, then the same two one after the other."""
        both = ("--calibration", "sir-boarding-school", "--calibration", SECOND)
        began = load()
        together = self.ci("calibrate-2", "calibrate", TAG, *both, "--seed", "3")
        self.record("c2a", together, began, "two calibrations in one command (parallel)")
        began = load()
        apart = sum(
            self.ci(f"calibrate-2-{k}", "calibrate", TAG, "--calibration", name, "--seed", "4")
            for k, name in enumerate(("sir-boarding-school", SECOND))
        )
        self.record("c2b", apart, began, "the same two, one command after the other")
        self.rows.append(
            ("c2", "one after the other / parallel", apart / together, None, began, "")
        )

    def prune(self) -> None:
        """Item 3: 200 copies of a real run in 20 dev versions, then ``ci archive prune``."""
        project = self.clone / ".state" / "archive" / "epicast"
        run = next(p.parent for p in (project / TAG).glob("calibrations/*/*/manifest.json"))
        for v in range(20):
            version = f"0.2.0.dev{v}"
            folder = project / version
            record = {"schema_version": 1, "project": "epicast", "version": version}
            record |= {"files": [], "promotions": []}
            folder.mkdir()
            (folder / "release.json").write_text(json.dumps(record), encoding="utf-8")
            for k in range(10):
                copy = folder / "calibrations" / run.parent.name / f"20260101T00000{k}Z-copy"
                shutil.copytree(run, copy)
                manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
                manifest["finished_at"] = OLD
                (copy / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        size = sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
        began = load()
        seconds = self.ci("prune", "archive", "prune")
        freed = (self.work / "prune.log").read_text(encoding="utf-8").splitlines()[-1]
        self.record("c3", seconds, began, f"prune of 200 runs of {size} bytes each: {freed}")


def main() -> None:
    """Release a fresh clone, run the items, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="keep the clone and the logs")
    args = parser.parse_args()
    loop = Calibrations(Path(tempfile.mkdtemp(prefix="benchmark-calibrations-")))
    loop.make_clone()
    try:
        loop.pipeline("release", label="`dev.py pipeline`, fresh clone, to testing")
        loop.add_second_calibration()
        loop.requested()
        loop.parallel()
        loop.prune()
    finally:
        loop.finish(keep=args.keep)


if __name__ == "__main__":
    main()
