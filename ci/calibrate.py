"""``ci calibrate``: a release's calibrations, run from its wheel on the cluster, archived once.

For each calibration of ``[calibrate]`` in pipeline.toml, the released wheel
(found on the indexes by the sha256 its release record holds) is installed
with the cluster extra into a new environment, and ``epicast calibrate`` runs
there on the configured cluster: never the source tree. The run's folder
(``result.h5``, the plots, the log and ``manifest.json``) is built in the state
directory and published to the archive as a whole::

    <archive>/<project>/<version>/calibrations/<name>/<timestamp>-<commit>/

Exactly once: a calibration whose request (wheel, calibration, overrides) is
already archived is skipped, unless ``--force`` asks for another run. An
interrupted run keeps its chains' checkpoints in
``<state>/calibrate/<project>/<version>/<name>/``, and the next ``ci calibrate``
resumes from them (epicast's chains are bit-identical however often they are
resumed); it first stops what the interrupted one left running
(the previous ``epicast calibrate`` and its Dask workers).
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pydantic import ValidationError

from ci import environments, manifest, names, processes, results, shell, transaction
from ci.archive import Archive
from ci.config import Calibrate
from ci.devpi import connect
from ci.distribution import sha256_of
from ci.errors import CIError
from ci.progress import Progress
from ci.release import actor, now, wheel_of
from ci.session import State
from ci.shell import SECRET_VARIABLES
from ci.state import state_dir

RESULT, PLOTS, LOG = "result.h5", "plots", "calibrate.log"


@dataclass(frozen=True)
class Request:
    """What decides a calibration's result, besides the wheel: archived runs are matched on it."""

    name: str
    """The folder name in the archive: the bundled name, or the file's stem."""
    calibration: str
    """What ``epicast calibrate`` is given: a bundled name or a path relative to the repository."""
    file_sha256: str | None
    chains: int | None
    iterations: int | None
    wheel_sha256: str = ""
    """Set once the version's wheel is known (:meth:`of` checks the rest before that)."""
    seed: int | None = None

    @classmethod
    def of(cls, entry: str, root: Path, settings: Calibrate, seed: int | None) -> Request:
        """Return the request of a calibration: a bundled name or a YAML file of the repository."""
        common = {"chains": settings.chains, "iterations": settings.iterations, "seed": seed}
        if not entry.endswith((".yaml", ".yml")):
            name = names.component(entry, "calibration")
            return cls(name=name, calibration=entry, file_sha256=None, **common)
        try:
            path = (root / entry).resolve()
            inside = path.is_file() and path.is_relative_to(root.resolve())
        except (OSError, ValueError):  # a NUL, a loop of links
            inside = False
        if not inside:
            raise CIError(
                f"calibration {entry!r}: not a file of the repository",
                tip="give a bundled name (`epicast calibrations`) or a YAML file in the repository",
            )
        name = names.component(Path(entry).stem, "calibration")
        return cls(name=name, calibration=entry, file_sha256=sha256_of(path), **common)

    def key(self) -> dict[str, Any]:
        """Return what archived runs are matched on: the fields that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    def arguments(self, root: Path) -> list[str]:
        """Return the ``epicast calibrate`` arguments that make this result.

        Raises
        ------
        CIError
            If the calibration is a file of ``root`` that is missing or changed.
        """
        target = self.calibration
        if self.file_sha256:
            path = root / target
            if not path.is_file() or sha256_of(path) != self.file_sha256:
                raise CIError(
                    f"{path} is not the calibration file of this request (missing or changed)",
                    tip="run from a checkout of the commit the calibration was archived from",
                )
            target = str(path)
        return [target, *self.overrides()]

    def overrides(self) -> list[str]:
        """Return the options that override the calibration file's sampler settings."""
        flags = {"--chains": self.chains, "--iterations": self.iterations, "--seed": self.seed}
        return [f"{flag}={value}" for flag, value in flags.items() if value is not None]


MAX_NOTE = 500
"""Longest ``--note``: one line saying why a calibration was asked for."""


@dataclass(frozen=True)
class Demand:
    """What a ``ci calibrate`` command line asks beyond pipeline.toml: which, how, and why."""

    calibrations: list[str] | None = None
    """Bundled names or repository files; None: ``[calibrate] calibrations``."""
    overrides: dict[str, Any] = field(default_factory=dict)
    """Settings of ``[calibrate]`` replaced: chains, iterations, cluster, workers."""
    seed: int | None = None
    note: str | None = None

    def settings(self, configured: Calibrate) -> Calibrate:
        """Return ``[calibrate]`` with the overrides, validated like the file."""
        try:
            return Calibrate.model_validate({**configured.model_dump(), **self.overrides})
        except ValidationError as exc:
            error = exc.errors()[0]
            raise CIError(
                f"--{error['loc'][0]}: {error['msg']}", tip="see `python -m ci calibrate --help`"
            ) from None

    def provenance(self) -> dict[str, Any]:
        """Return who asked for the run, why, and what they changed (for the manifest).

        ``on_demand`` is false for the calibrations pipeline.toml lists, run as
        they are (a release tag's): retention keeps those of released versions.
        """
        changed = {**self.overrides, **({"seed": self.seed} if self.seed is not None else {})}
        on_demand = bool(self.calibrations or changed or self.note)
        return {"by": actor(), "note": self.note, "overrides": changed, "on_demand": on_demand}


def calibrate_release(
    state: State, project: str, version: str, *, force: bool = False, demand: Demand = Demand()
) -> tuple[list[str], list[str]]:
    """Run and archive each calibration of a version not archived yet, all in parallel.

    Parameters
    ----------
    state
        The command's state: its checkout's ``pipeline.toml`` configures the
        calibrations, and the checkout holds the calibration files named.
    project, version
        The version; it must have been published (to any index).
    force
        Run and archive again even the calibrations already archived (a new folder).
    demand
        What the command line asks beyond pipeline.toml (none for a tag's run).

    Returns
    -------
    tuple
        One line per calibration (the archived folder, that it was already
        there, or why it failed), and the names of those that failed.
    """
    root, config, archive = state.root, state.config, state.archive
    settings, indexes = demand.settings(config.calibrate), config.indexes
    entries = demand.calibrations or settings.calibrations
    asked = [Request.of(entry, root, settings, demand.seed) for entry in entries]
    if asked and not settings.program:
        raise CIError(
            "no program to run the calibrations with",
            tip="set program (the package's console script) in [calibrate] of pipeline.toml",
        )
    with connect("ci") as client:
        record = transaction.settled_record(archive, client, indexes.model_dump(), project, version)
    if not asked:
        return ["calibrate: nothing to do: no calibrations in [calibrate] of pipeline.toml"], []
    wheel_sha = wheel_of(record)["sha256"]
    requests = [replace(request, wheel_sha256=wheel_sha) for request in asked]
    lines, pending = [], []
    for request in requests:
        done = None if force else archived(archive, project, version, request)
        if done:
            lines.append(f"calibrate: {request.name} is already archived: {done}")
        else:
            pending.append(request)
    if not pending:
        return lines, []
    with connect("ci") as client, environments.scratch("calibrate") as tmp:
        order = [indexes.unstable, indexes.testing, indexes.stable]
        wheel = environments.find_wheel(client, order, project, version, wheel_sha)
        index_url = f"{client.url}/{indexes.unstable}/+simple/"
        python = environments.install(
            client,
            wheel,
            tmp / "venv",
            python=settings.python,
            extras=settings.extras,
            index_url=index_url,
        )
        facts = {
            "project": project,
            "version": version,
            "commit": record["commit"],
            "tag": release_tag(record.get("tags", []), version),
            "wheel": {"filename": wheel.filename, "sha256": wheel.sha256, "index": wheel.index},
            "environment": {
                "python": settings.python,
                "extras": settings.extras,
                "packages": environments.frozen(python),
            },
            "cluster": {"profile": settings.cluster, "workers": settings.workers},
            "requested": demand.provenance(),
        }
        failed = []
        with (
            Progress("calibrate", len(pending)) as progress,
            ThreadPoolExecutor(max_workers=len(pending)) as pool,
        ):

            def one(request: Request) -> str:
                with progress.step(request.name) as step:
                    folder = run(archive, request, python, settings, facts, root)
                    step.outcome = "archived"
                return folder

            futures = {request: pool.submit(one, request) for request in pending}
            for request, future in futures.items():
                try:
                    lines.append(f"calibrate: {request.name} archived: {future.result()}")
                except CIError as exc:
                    failed.append(request.name)
                    lines.append(f"calibrate: {request.name} failed: {exc.message}")
    return lines, failed


def release_tag(tags: list[str], version: str) -> str | None:
    """Return the tag among ``tags`` that names ``version`` (``v1.0.0`` names 1.0.0), if any."""
    for tag in tags:
        with suppress(InvalidVersion):
            if Version(tag) == Version(version):
                return tag
    return None


def archived(archive: Archive, project: str, version: str, request: Request) -> str | None:
    """Return the archived folder of ``request``, if a complete one exists."""
    parts = (project, version, "calibrations", request.name)
    for name in archive.complete_folders(*parts, marker=manifest.MANIFEST):
        found = archive.read_json(*parts, name, manifest.MANIFEST) or {}
        if {k: v for k, v in (found.get("request") or {}).items() if v is not None} == (
            request.key()
        ):
            return archive.path(*parts, name)
    return None


def run(
    archive: Archive,
    request: Request,
    python: Path,
    settings: Calibrate,
    facts: dict[str, Any],
    root: Path,
) -> str:
    """Run one calibration (resuming any interrupted run) and publish its folder.

    Returns
    -------
    str
        The archived folder.
    """
    work = state_dir() / "calibrate" / facts["project"] / facts["version"] / request.name
    with _exclusive(work):
        _stop_leftovers(work)
        folder = work / "run"
        shutil.rmtree(folder, ignore_errors=True)
        (folder / PLOTS).mkdir(parents=True)
        command = [
            str(python.with_name(settings.program)),
            "calibrate",
            *request.arguments(root),
            *("--cluster", settings.cluster),
            *((f"--workers={settings.workers}",) if settings.workers else ()),
            *("--output", str(folder / RESULT), "--plots", str(folder / PLOTS)),
            *("--checkpoints", str(work / "checkpoints")),  # the log shows the chains' progress
        ]
        started = now()
        tip = f"the whole log is {folder / LOG}; the checkpoints are kept: a re-run resumes"
        run_logged(command, folder / LOG, work, tip)
        found = results.facts(folder / RESULT)
        manifest.write(
            folder,
            {
                **facts,
                "calibration": request.name,
                "request": asdict(request),
                "inputs": found["inputs"],
                "seed": found["seed"],
                "sampler": found["sampler"],
                "cluster": {**facts["cluster"], **found["cluster"]},
                "versions": found["versions"],
                "started_at": started,
                "finished_at": now(),
                "diagnostics": found["diagnostics"],
                "command": [
                    *(settings.program, "calibrate", request.calibration),
                    *request.overrides(),
                ],
            },
        )
        stamp = started.replace("-", "").replace(":", "").replace("+0000", "Z")
        name = f"{stamp}-{facts['commit'][:12]}"
        parts = (facts["project"], facts["version"], "calibrations", request.name, name)
        published = archive.publish_folder(folder, *parts, last=manifest.MANIFEST)
        shutil.rmtree(work)
    return published


def run_logged(
    command: list[str], log: Path, work: Path, tip: str, extra: Mapping[str, str] | None = None
) -> None:
    """Run ``command`` in ``work`` with its output in ``log``, in a process group of its own.

    ``extra`` variables are added to its environment.

    The group's leader is noted in ``work/pid`` while it runs; it dies with this
    process (``PR_SET_PDEATHSIG``), and :func:`_stop_leftovers` stops what of
    its group (Dask workers) outlives it.

    Raises
    ------
    CIError
        If the command fails: its exit code and the end of its log, and ``tip``.
    """
    env = {
        **environments.process_environment(SECRET_VARIABLES),
        "MPLBACKEND": "Agg",
        **(extra or {}),
    }
    pid_file = work / "pid"
    process = shell.start(command, env=env, inherit=False, cwd=work, log=log, die_with_parent=True)
    environment = Path(command[0]).parent.parent  # every process of the run runs from it
    pid_file.write_text(f"{process.pid}\n{environment}", encoding="utf-8")
    code = process.wait()
    pid_file.unlink()
    if code:
        tail = "\n".join(log.read_text(encoding="utf-8").strip().splitlines()[-10:])
        raise CIError(
            f"`epicast calibrate {command[2]}` failed with exit code {code}:\n{tail}",
            tip=tip,
        )


def _stop_leftovers(work: Path) -> None:
    """Kill what an interrupted run left running: its process group, from its environment.

    Only processes of the noted group whose command line names the run's
    environment are killed, so a reused process id hits nothing else.
    """
    pid_file = work / "pid"
    if not pid_file.exists():
        return
    group, _, environment = pid_file.read_text(encoding="utf-8").partition("\n")
    if group.isdigit() and environment:
        processes.kill_group(int(group), environment)
    pid_file.unlink()


@contextmanager
def _exclusive(work: Path) -> Iterator[None]:
    """Hold the lock of a calibration's work folder; refuse if another run holds it."""
    work.mkdir(parents=True, exist_ok=True)
    with (work.parent / f".{work.name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CIError(
                f"another `ci calibrate` is running {work.name} (lock {handle.name})",
                tip="wait for it to finish",
            ) from None
        yield
