"""Archive records as the ci stages write them, for a small archive of one project.

- 0.1.0 (stable): evidence all passed, one bench run without a baseline;
- 0.2.0rc1 (testing): evidence all passed, a bench run vs 0.1.0, all ``same``;
- 0.2.0 (unstable): one failed suite, a bench run vs 0.1.0 with one ``slower``.

0.1.0 also has one archived calibration (``CALIBRATION``), published as ci
calibrate does: its files, a manifest with their checksums, a folder renamed
into place.

Formats: ``release.json`` of ci publish and ci promote, ``tests/*.json`` of ci
verify, ``bench/<run>.json`` of ci bench, ``manifest.json`` of ci calibrate.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from ci import manifest
from ci.archive import Archive

PROJECT = "epicast"
PYTHONS = ("3.10", "3.11")
SUITES = ("smoke", "unit")
BENCHMARKS = {
    "benchmarks/test_simulate.py::test_simulate_seir_gbr_16age": ("s", 2.53e-4),
    "benchmarks/test_calibrate.py::test_log_likelihood": ("s", 1.27e-2),
    "benchmarks/test_outputs.py::test_incidence_instructions": ("instructions", 1_234_567.0),
}
SLOWER = "benchmarks/test_calibrate.py::test_log_likelihood"
"""The one benchmark that 0.2.0 makes slower."""
VERSIONS = {"0.1.0": "stable", "0.2.0rc1": "testing", "0.2.0": "unstable"}
FAILED = ("0.2.0", "unit", "3.11")
"""The one failed test run: version, suite, Python."""


def _commit(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()


def _sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def release(version: str, stage: str) -> dict:
    """A release record of ``version`` promoted up to ``stage``, as ci publish/promote write."""
    wheel = f"{PROJECT}-{version}-py3-none-any.whl"
    steps = [("unstable", "testing"), ("testing", "stable")]
    steps = steps[: ["unstable", "testing", "stable"].index(stage)]
    promotions = [
        {"from": a, "to": b, "who": "ci", "when": f"2026-11-0{i + 2}T09:00:00+00:00"}
        | {"sha256": _sha(wheel), "evidence": []}
        for i, (a, b) in enumerate(steps)
    ]
    approvals = []
    if stage == "stable":
        promotions[-1] |= {
            "who": "qa-alice",
            "approval": {"how": "ci approve", "who": ["qa-alice"]},
            "benchmarks": {"run": "x", "verdict": "no-baseline", "baseline": None},
        }
        approvals = [{"who": "qa-alice", "when": "2026-11-03T08:00:00+00:00", "notes": "ok"}]
    return {
        "project": PROJECT,
        "version": version,
        "commit": _commit(version),
        "tags": [version],
        "files": [
            {"filename": name, "kind": kind, "sha256": _sha(name), "size": 1000}
            for name, kind in ((wheel, "wheel"), (f"{PROJECT}-{version}.tar.gz", "sdist"))
        ],
        "promotions": promotions,
        "approvals": approvals,
    }


def evidence(version: str, suite: str, python: str) -> dict:
    """A ``ci verify`` evidence record; failed for :data:`FAILED`."""
    failed = (version, suite, python) == FAILED
    return {
        "suite": suite,
        "python": python,
        "status": "failed" if failed else "passed",
        "passed": 40,
        "failed": 2 if failed else 0,
        "skipped": 1,
        "duration_s": 12.34,
        "run_at": "2026-11-01T12:00:00+00:00",
        "file": {"filename": f"{PROJECT}-{version}-py3-none-any.whl", "sha256": _sha(version)},
    }


def comparison(name: str, compared: bool, slower: bool) -> dict:
    """One benchmark of a ``ci bench`` run (see ci.verdict.Comparison)."""
    unit, value = BENCHMARKS[name]
    ratio = 1.12 if slower else 1.004
    numbers = {"ratio": ratio, "ci_low": ratio - 0.02, "ci_high": ratio + 0.02, "p_value": 0.21}
    return {
        "name": name,
        "unit": unit,
        "candidate": value * ratio,
        "baseline": value if compared else None,
        **(numbers if compared else dict.fromkeys(numbers)),
        "verdict": ("slower" if slower else "same") if compared else "new",
    }


def bench_run(version: str, baseline: str | None, day: int, slower: str | None = None) -> dict:
    """A ``ci bench`` run record of ``version`` against ``baseline`` (None: no baseline)."""
    items = [comparison(name, baseline is not None, name == slower) for name in BENCHMARKS]
    verdict = "no-baseline" if baseline is None else ("slower" if slower else "same")
    return {
        "project": PROJECT,
        "version": version,
        "baseline": baseline,
        "commit": _commit(version),
        "python": "3.11",
        "rounds": 12,
        "alpha": 0.01,
        "min_effect": 0.03,
        "started_at": f"2026-11-{day:02d}T10:00:00+00:00",
        "finished_at": f"2026-11-{day:02d}T10:02:00+00:00",
        "verdict": verdict,
        "benchmarks": items,
        "raw": f"202611{day:02d}T100000Z-vs-{baseline or 'none'}.raw.json",
    }


def write_bench(archive: Archive, run: dict) -> str:
    """Archive a bench run under the name ``ci bench`` gives it; return that name."""
    name = run["raw"].removesuffix(".raw.json")
    archive.write_json(run, PROJECT, run["version"], "bench", f"{name}.json")
    return name


def png(width: int, height: int, grey: int) -> bytes:
    """A valid greyscale PNG of one shade (Chromium must be able to show it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress((b"\0" + bytes([grey]) * width) * height)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


CALIBRATION = ("0.1.0", "sir-boarding-school", f"20261102T100000Z-{_commit('0.1.0')[:12]}")
"""Version, name and run folder of the archived calibration."""
PLOTS = {"plots/traces.png": png(40, 20, 90), "plots/fit.png": png(30, 30, 200)}


def calibration_manifest(version: str, name: str) -> dict:
    """The manifest fields of a calibration run, as ci calibrate writes them (but ``files``)."""
    wheel = f"{PROJECT}-{version}-py3-none-any.whl"
    table = {
        "columns": ["quantity", "mean", "sd", "q05", "q50", "q95", "rhat", "ess_bulk", "ess_tail"],
        "rows": [
            ["beta", 1.69, 0.05, 1.61, 1.69, 1.77, 1.002, 1510.0, 1700.0],
            ["gamma", 0.48, 0.02, 0.45, 0.48, 0.51, 1.004, 1402.0, 1500.0],
            ["R0", 3.52, 0.1, 3.36, 3.52, 3.68, None, None, None],
        ],
    }
    return {
        "project": PROJECT,
        "version": version,
        "commit": _commit(version),
        "tag": version,
        "calibration": name,
        "request": {"name": name, "calibration": name, "wheel_sha256": _sha(wheel)},
        "wheel": {"filename": wheel, "sha256": _sha(wheel), "index": "ci/unstable"},
        "inputs": {part: _sha(part) for part in ("calibration", "scenario", "data")},
        "seed": 1978,
        "sampler": {"chains": 4, "warmup": 1000, "iterations": 2000},
        "cluster": {"profile": "local", "where": "local", "workers": 2},
        "environment": {"python": "3.11", "extras": ["cluster"], "packages": {"numpy": "2.4.6"}},
        "versions": {"epicast": version, "python": "3.11.7"},
        "started_at": "2026-11-02T10:00:00+00:00",
        "finished_at": "2026-11-02T10:03:10+00:00",
        "diagnostics": {
            "max_rhat": 1.004,
            "min_ess_bulk": 1402.0,
            "acceptance": [0.31, 0.36],
            "warnings": [],
            "table": table,
        },
        "command": ["epicast", "calibrate", name],
    }


def write_calibration(
    archive: Archive,
    version: str,
    name: str,
    run: str,
    changes: dict | None = None,
    draws: dict[str, list[float]] | None = None,
    fits: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> str:
    """Archive a calibration folder (plots, a result, a log, the manifest); return its path.

    ``changes`` replaces manifest fields; ``draws`` (parameter -> values of one
    chain) makes ``result.h5`` a real HDF5 file with them, as epicast writes it,
    and ``fits`` (target column -> observations (n, 2) and predictive bands
    (n, 3)) adds what epicast keeps of the fit.
    """
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / run
        (folder / "plots").mkdir(parents=True)
        for plot, data in PLOTS.items():
            (folder / plot).write_bytes(data)
        if draws is None:
            (folder / "result.h5").write_bytes(b"not an HDF5 file")
        else:
            import h5py

            with h5py.File(folder / "result.h5", "w") as handle:
                handle["parameter"] = np.array(list(draws), dtype="S")
                handle["draws"] = np.array(list(draws.values())).T[np.newaxis, :, :]
                for column, (observations, bands) in (fits or {}).items():
                    handle[f"observations/{column}"] = observations
                    handle[f"predictive/{column}"] = bands
        (folder / "calibrate.log").write_text("sir-boarding-school: 4 chains\n", encoding="utf-8")
        manifest.write(folder, {**calibration_manifest(version, name), **(changes or {})})
        parts = (PROJECT, version, "calibrations", name, run)
        return archive.publish_folder(folder, *parts, last=manifest.MANIFEST)


def fill(archive: Archive) -> Archive:
    """Write the archive of the module docstring; return it."""
    for version, stage in VERSIONS.items():
        archive.write_json(release(version, stage), PROJECT, version, "release.json")
        for suite in SUITES:
            for python in PYTHONS:
                record = evidence(version, suite, python)
                archive.write_json(record, PROJECT, version, "tests", f"{suite}-py{python}.json")
    write_bench(archive, bench_run("0.1.0", None, day=1))
    write_bench(archive, bench_run("0.2.0rc1", "0.1.0", day=4))
    write_bench(archive, bench_run("0.2.0", "0.1.0", day=6, slower=SLOWER))
    write_calibration(archive, *CALIBRATION)
    return archive
