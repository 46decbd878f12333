"""``ci bench``: the candidate against the latest stable release, interleaved, with a verdict.

Both wheels come from the package indexes, checked against the sha256 the
index recorded, and each goes into its own new virtual environment with the
extras that bring pytest-benchmark, dependencies resolved through the devpi
server only. The benchmark suite of this checkout (the candidate's commit: one
harness for both) then runs in alternating rounds, candidate and baseline in
turn (A B, B A, A B, ...), one pytest-benchmark process per side and round,
after one discarded warm-up round each (numba's cache, the file system).
Whole processes, not single calls, alternate: each round then also samples
what a process gets at start (memory layout, CPU placement), which a
benchmark inside one process never varies. The
verdict per benchmark comes from :mod:`ci.verdict`.

The same rounds also run the drift gate's reference (:mod:`ci.drift`), the
fastest stable release of ``[bench] drift_window``, when it is not the
baseline: the candidate must be within ``max_drift`` of it.

The run is archived under the candidate's version: ``bench/<run>.json`` (the
verdicts, what the dashboard and the promotion gate read) and
``bench/<run>.raw.json`` (every round's pytest-benchmark data). The runs of all
versions are the benchmark history. The exit status is 1 on a regression or a
drift.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ci import drift, environments, instructions, records, reuse, shell, transaction, verdict
from ci.archive import Archive
from ci.config import Bench
from ci.devpi import connect
from ci.errors import CIError
from ci.index import DevpiClient, ReleaseFile, version_key
from ci.progress import Progress
from ci.release import now, wheel_of
from ci.session import State
from ci.verify import isolated_environment

logger = logging.getLogger(__name__)

CANDIDATE, BASELINE, REFERENCE = "candidate", "baseline", "reference"
"""The sides of a run; the reference is the drift gate's fastest release, if not the baseline."""


@dataclass(frozen=True)
class Side:
    """One of the two compared releases, installed: version, wheel and interpreter."""

    version: str
    wheel: ReleaseFile
    python: Path


def regressed(run: dict[str, Any]) -> bool:
    """Tell whether a run found a regression: slower than the baseline, or drifted."""
    drifted = (run.get("drift") or {}).get("verdict") == verdict.SLOWER
    return run["verdict"] == verdict.SLOWER or drifted


def bench(
    state: State,
    project: str,
    version: str,
    baseline: str | None,
    settings: Bench,
    *,
    count: bool = False,
    force: bool = False,
) -> dict[str, Any] | None:
    """Compare ``version`` with ``baseline`` (default: newest stable); archive and print it.

    An archived run of the same two wheels (sha256), benchmark files and
    settings is returned instead of measuring again (one line says so),
    unless ``force``.

    Parameters
    ----------
    state
        The command's state: its checkout's benchmark suite runs.
    project, version
        The candidate; it must have been published.
    baseline
        The version to compare with, or None for the newest release on the
        stable index (no comparison if there is none yet).
    settings
        The ``[bench]`` section of the configuration.
    count
        Also compare instructions per call of the kernels (valgrind); they are
        always counted when ``settings.gate`` holds nothing else.
    force
        Measure even if an archived run has the same key.

    Returns
    -------
    dict or None
        The archived run record (see :mod:`ci.verdict` for the verdicts);
        None when there are no benchmarks to run (one line says so).
    """
    root, archive, indexes = state.root, state.archive, state.config.indexes
    with connect("ci") as client:
        record = transaction.settled_record(archive, client, indexes.model_dump(), project, version)
    if not any((root / path).exists() for path in settings.paths):
        listed = ", ".join(settings.paths)
        print(f"bench: nothing to do: no benchmarks at {listed} ([bench] paths of pipeline.toml)")
        return None
    wheel_sha = wheel_of(record)["sha256"]
    count = count or verdict.TIMES not in settings.gate
    script = root / settings.kernels
    if count:
        check_countable(script, settings)  # now, not after the rounds
    started = now()
    inputs = reuse.inputs_digest(root, settings.paths)
    with connect("ci") as client, tempfile.TemporaryDirectory(prefix="ci-bench-") as tmp:
        work = Path(tmp)
        index_url = f"{client.url}/{indexes.unstable}/+simple/"
        order = [indexes.unstable, indexes.testing, indexes.stable]
        files = {CANDIDATE: environments.find_wheel(client, order, project, version, wheel_sha)}
        if baseline is None:
            baseline = newest_release(client, indexes.stable, project, below=version)
        if baseline is not None:
            files[BASELINE] = environments.find_wheel(client, order[::-1], project, baseline)
        window = older_releases(client, indexes.stable, project, version, settings.drift_window)
        reference = drift.fastest(window, lambda v: runs(archive, project, v))
        if reference is not None and reference != baseline:
            files[REFERENCE] = environments.find_wheel(client, order[::-1], project, reference)
        earlier = None if force else _earlier_run(archive, record, files, settings, inputs, count)
        if earlier is not None:
            print(_reused_line(earlier, files[CANDIDATE]))
            return earlier
        sides = {
            name: _install(client, file, settings, index_url, work, name)
            for name, file in files.items()
        }
        pythons = {name: side.python for name, side in sides.items()}
        rounds = run_rounds(pythons, settings, root, work, isolated_environment(index_url))
        timed = {name: typical_values(side_rounds) for name, side_rounds in rounds.items()}
        drift_side = REFERENCE if REFERENCE in timed else BASELINE  # the baseline is the fastest
        compare = partial(verdict.compare, alpha=settings.alpha)
        comparisons = compare(timed[CANDIDATE], timed.get(BASELINE), min_effect=settings.min_effect)
        drifts = compare(timed[CANDIDATE], timed.get(drift_side), min_effect=settings.max_drift)
        if count:
            counted = count_instructions(pythons, script, work, settings.kernel_calls)
            comparisons += compare(
                counted[CANDIDATE],
                counted.get(BASELINE),
                min_effect=settings.instruction_effect,
                unit=verdict.INSTRUCTIONS,
            )
            drifts += compare(
                counted[CANDIDATE],
                counted.get(drift_side),
                min_effect=settings.max_drift,
                unit=verdict.INSTRUCTIONS,
            )
    result = _run_record(project, record, sides, settings, comparisons, started)
    if reference is not None:
        result["drift"] = {
            "reference": reference,
            "window": sorted(window, key=version_key),
            "max_drift": settings.max_drift,
            "verdict": verdict.overall(verdict.gated(drifts, settings.gate), has_baseline=True),
            "benchmarks": [c.as_record() for c in drifts],
        }
    result["inputs_sha256"] = inputs
    if count:
        result["instructions"] = {
            "tool": " ".join(("valgrind", *instructions.TOOL)),
            "calls": settings.kernel_calls,
            "min_effect": settings.instruction_effect,
        }
    run = f"{_stamp(result['started_at'])}-vs-{baseline or 'none'}"
    result["raw"] = f"{run}.raw.json"
    archive.write_json({"rounds": rounds}, project, version, "bench", result["raw"])
    path = archive.write_json(result, project, version, "bench", f"{run}.json")
    print_table(result)
    if "drift" in result:
        print(drift_line(result["drift"]))
    print(
        f"bench: {project} {version} vs {baseline or 'nothing (no stable release yet)'}: "
        f"{result['verdict']} ({settings.rounds} rounds); archived {path}"
    )
    return result


def check_countable(script: Path, settings: Bench) -> None:
    """Refuse to count instructions without a kernels script, kernels or valgrind."""
    if not script.is_file():
        raise CIError(
            f"counting instructions needs the kernels script {script}, which does not exist",
            tip="set `kernels` in the [bench] section of pipeline.toml",
        )
    if not settings.kernel_calls:
        raise CIError(
            "counting instructions needs kernels to count, and none are named",
            tip="set `kernel_calls` in the [bench] section of pipeline.toml",
        )
    instructions.require_valgrind()


def drift_line(found: dict[str, Any]) -> str:
    """Return the line saying how far the candidate drifted from the window's fastest release."""
    compared = [b for b in found["benchmarks"] if b["ratio"] is not None]
    worst = max(compared, key=lambda b: b["ratio"], default=None)
    most = f", most {worst['name'].rsplit('::', 1)[-1]} x{worst['ratio']:.3f}" if worst else ""
    return (
        f"drift: vs {found['reference']}, the fastest of {len(found['window'])} stable "
        f"release(s): {found['verdict']} (at most +{found['max_drift']:.0%}{most})"
    )


def _earlier_run(
    archive: Archive,
    record: dict,
    files: dict[str, ReleaseFile],
    settings: Bench,
    inputs: str,
    count: bool,
) -> dict[str, Any] | None:
    """Return the newest archived run of the same wheels, benchmarks and settings, if any.

    A run without instruction counts does not stand in for one asked with them.
    """
    wanted = {name: file.sha256 for name, file in files.items()}
    same = (
        settings.rounds,
        settings.alpha,
        settings.min_effect,
        settings.max_drift,
        tuple(settings.gate),
        inputs,
    )
    for run in reversed(runs(archive, record["project"], record["version"])):
        if (
            run["sha256"] == wanted
            and (
                run["rounds"],
                run["alpha"],
                run["min_effect"],
                run.get("max_drift"),
                tuple(run.get("gate", verdict.GATE)),
                run.get("inputs_sha256"),
            )
            == same
            and (not count or "instructions" in run)
        ):
            return run
    return None


def _reused_line(run: dict[str, Any], candidate: ReleaseFile) -> str:
    """Return the line saying that an archived run answers this comparison."""
    what = (
        f"{run['project']} {run['version']} vs {run['baseline'] or 'nothing'} already measured: "
        f"{run['verdict']} (run {run['run']})"
    )
    return reuse.skip_line("bench", what, candidate.filename, candidate.sha256, run["finished_at"])


def newest_release(client: DevpiClient, index: str, project: str, below: str) -> str | None:
    """Return the newest version of ``project`` on ``index`` older than ``below``, if any."""
    older = older_releases(client, index, project, below, 1)
    return older[-1] if older else None


def older_releases(
    client: DevpiClient, index: str, project: str, below: str, count: int
) -> list[str]:
    """Return the ``count`` newest versions of ``project`` on ``index`` older than ``below``."""
    older = [v for v in client.versions(index, project) if version_key(v) < version_key(below)]
    return sorted(older, key=version_key)[-count:]


def _install(
    client: DevpiClient, wheel: ReleaseFile, settings: Bench, index_url: str, work: Path, name: str
) -> Side:
    """Install ``wheel`` with the bench extras into a new environment of the bench Python."""
    python = environments.install(
        client,
        wheel,
        work / f"{name}-venv",
        python=settings.python,
        extras=settings.extras,
        index_url=index_url,
        compile_bytecode=True,
    )
    return Side(wheel.version, wheel, python)


def run_rounds(
    pythons: dict[str, Path], settings: Bench, root: Path, work: Path, env: dict[str, str]
) -> dict[str, list[dict]]:
    """Run the benchmark suite in rotating rounds; return each side's pytest-benchmark data.

    Round ``r`` runs the sides in their order rotated by ``r`` (for two sides:
    A B, B A, A B, ...), after one discarded warm-up round per side. Each round
    is a step of the progress shown on standard error (:mod:`ci.progress`).

    Parameters
    ----------
    pythons
        Interpreter of each side's environment, by side name.
    settings
        Benchmark paths, marker and number of rounds.
    root
        Folder the suite runs from (its pytest configuration applies).
    work
        Folder for the per-round JSON files.
    env
        Environment of the benchmark processes.
    """
    env = {**env, "BENCH_QUICK": "0", "MPLBACKEND": "Agg"}
    names = list(pythons)
    results: dict[str, list[dict]] = {name: [] for name in names}
    with Progress("bench", settings.rounds + 1) as progress:
        for number in range(-1, settings.rounds):
            shift = max(number, 0) % len(names)
            with progress.step(f"round {number + 1}" if number >= 0 else "warm-up round"):
                for name in names[shift:] + names[:shift]:
                    out = work / f"{name}-{number}.json"
                    data = _one_round(pythons[name], name, settings, root, out, env)
                    if number >= 0:
                        results[name].append(data)
    return results


def _one_round(
    python: Path, name: str, settings: Bench, root: Path, out: Path, env: dict[str, str]
) -> dict:
    """Run the suite once with ``python``; return the pytest-benchmark data."""
    command = [
        str(python),
        *("-m", "pytest", *settings.paths, "-m", settings.marker),
        *("-q", "-p", "no:cacheprovider", f"--benchmark-json={out}"),
    ]
    result = shell.execute(command, cwd=root, env=env, inherit=False)
    if result.returncode not in (0, 1) or not out.exists():
        tail = "\n".join(result.output.strip().splitlines()[-10:])
        raise CIError(
            f"the benchmarks did not run for the {name}:\n{tail}",
            tip=f"run `pytest {' '.join(settings.paths)} -m {settings.marker}` to see why",
        )
    if result.returncode:
        logger.warning("some benchmarks failed for the %s:\n%s", name, result.output)
    return json.loads(out.read_text(encoding="utf-8"))


def count_instructions(
    pythons: dict[str, Path],
    script: Path,
    work: Path,
    kernels: Mapping[str, int],
) -> dict[str, dict[str, list[float]]]:
    """Return per side the instructions per call of each kernel it has, as one-value lists.

    ``kernels`` gives the calls counted per kernel. A kernel a side's release
    lacks is left out of that side (the comparison then calls it new or
    missing); any other failure is an error. Each kernel of each side is a step
    of the progress shown on standard error (:mod:`ci.progress`).
    """
    counted: dict[str, dict[str, list[float]]] = {name: {} for name in pythons}
    with Progress("instructions", len(kernels) * len(pythons)) as progress:
        for kernel, calls in kernels.items():
            for name, python in pythons.items():
                with progress.step(f"{kernel} {name}") as step:
                    try:
                        value = instructions.count(python, script, kernel, calls, work)
                    except instructions.KernelUnavailableError as exc:
                        logger.warning("%s: %s", name, exc)
                        step.outcome = "unavailable"
                    else:
                        counted[name][f"instructions::{kernel}"] = [value]
                        step.outcome = "counted"
    return counted


def typical_values(rounds: list[dict]) -> dict[str, list[float]]:
    """Return per benchmark the minimum time per call of every round.

    Benchmarks missing from any round (failed there) are left out, so that
    the values of a name stay paired with the other side's rounds.
    """
    per_round = [{b["fullname"]: b["stats"]["min"] for b in data["benchmarks"]} for data in rounds]
    common = set.intersection(*(set(r) for r in per_round)) if per_round else set()
    return {name: [r[name] for r in per_round] for name in sorted(common)}


def _run_record(
    project: str,
    record: dict,
    sides: dict[str, Side],
    settings: Bench,
    comparisons: list[verdict.Comparison],
    started: str,
) -> dict[str, Any]:
    baseline = sides.get(BASELINE)
    return {
        "project": project,
        "version": record["version"],
        "commit": record["commit"],
        "baseline": baseline.version if baseline else None,
        "files": {name: side.wheel.filename for name, side in sides.items()},
        "sha256": {name: side.wheel.sha256 for name, side in sides.items()},
        "python": settings.python,
        "rounds": settings.rounds,
        "alpha": settings.alpha,
        "min_effect": settings.min_effect,
        "max_drift": settings.max_drift,
        "statistic": "minimum per round; paired t-test of log(candidate / baseline) per round",
        "machine": machine(),
        "started_at": started,
        "finished_at": now(),
        "gate": settings.gate,
        "verdict": verdict.overall(
            verdict.gated(comparisons, settings.gate), has_baseline=baseline is not None
        ),
        "benchmarks": [c.as_record() for c in comparisons],
    }


def machine() -> dict[str, Any]:
    """Return the machine the rounds ran on: its host name, processor model and cores.

    Timings are comparable only from one machine; the dashboard's history keeps
    each machine's points apart by these.
    """
    processor = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                processor = line.partition(":")[2].strip()
                break
    return {"host": platform.node(), "processor": processor, "cores": os.cpu_count()}


def print_table(result: dict[str, Any]) -> None:
    """Print the per-benchmark table of a run record; rows outside the gate say so."""
    gate = result.get("gate", verdict.GATE)
    level = f"{1 - result['alpha']:.0%}"
    header = ("benchmark", result["version"], result["baseline"] or "-", "ratio", f"{level} CI")
    rows = [(*header, "p", "verdict")]
    for item in result["benchmarks"]:
        compared = item["ratio"] is not None
        rows.append(
            (
                item["name"].rsplit("::", 1)[-1],
                verdict.format_value(item["candidate"], item["unit"]),
                verdict.format_value(item["baseline"], item["unit"]),
                f"{item['ratio']:.3f}" if compared else "-",
                f"[{item['ci_low']:.3f}, {item['ci_high']:.3f}]" if compared else "-",
                f"{item['p_value']:.2g}" if item["p_value"] is not None else "-",
                item["verdict"]
                if verdict.gates(item["unit"], gate)
                else f"{item['verdict']} (not gated)",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) + 2)]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())


def runs(archive: Archive, project: str, version: str) -> list[dict[str, Any]]:
    """Return the archived bench runs of a version, oldest first."""
    folder = (project, version, "bench")
    names = [n for n in archive.listdir(*folder) if n.endswith(".json") and ".raw." not in n]
    return [
        {
            **records.checked(
                records.BenchRun, archive.read_json(*folder, name), archive.path(*folder, name)
            ),
            "run": name[: -len(".json")],
        }
        for name in names
    ]


def _stamp(iso: str) -> str:
    """Return an ISO time as ``YYYYmmddTHHMMSSZ`` (UTC), for run names that sort by time."""
    return datetime.fromisoformat(iso).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
