"""``ci reproduce PATH``: re-run an archived calibration from its manifest and compare.

The environment is rebuilt from the manifest alone: the same wheel, found on
the indexes by its sha256 and hash-checked, on the same Python, with every
other package pinned to the version the manifest lists (from the index).
The calibration then runs again (its result does not depend on the cluster or
the number of workers, so ``--cluster`` may differ from the original's), and
every dataset of the new ``result.h5`` is compared bit for bit with the
archived one: identical, or exactly which datasets differ and by how much.
Wall times (``chain_seconds``) are listed but not judged. Reading the indexes
needs no credentials.
"""

from __future__ import annotations

from pathlib import Path

import fsspec

from ci import environments, manifest, names, results
from ci.calibrate import LOG, RESULT, Request, run_logged
from ci.devpi import locate
from ci.errors import CIError
from ci.index import DevpiClient
from ci.session import State


def reproduce(state: State, path: str, cluster: str = "local") -> list[results.Difference]:
    """Re-run the calibration archived at ``path``; print and return how its result differs.

    Parameters
    ----------
    state
        The command's state: its checkout holds the calibration files named.
    path
        The archived folder (local path or fsspec URL).
    cluster
        Where the chains run (``epicast calibrate --cluster``).

    Returns
    -------
    list of Difference
        Empty when every dataset is identical.
    """
    fs, folder = fsspec.core.url_to_fs(path if "://" in path else str(Path(path).resolve()))
    folder = folder.rstrip("/")
    if not fs.exists(f"{folder}/{manifest.MANIFEST}"):
        raise CIError(
            f"{path} has no {manifest.MANIFEST}", tip="give an archived calibration folder"
        )
    problems = manifest.check(fs, folder)
    if problems:
        raise CIError(
            f"{path} does not match its manifest: {problems[0].line()}",
            tip="run `python -m ci archive verify` to see every problem",
        )
    recorded = manifest.read(fs, folder)
    arguments = Request(**recorded["request"]).arguments(state.root)
    indexes = state.config.indexes
    with (
        DevpiClient(locate().url) as client,
        environments.scratch("reproduce") as work,
    ):
        order = [indexes.stable, indexes.testing, indexes.unstable]
        wheel = environments.find_wheel(
            client, order, recorded["project"], recorded["version"], recorded["wheel"]["sha256"]
        )
        environment = recorded["environment"]
        pins = {k: v for k, v in environment["packages"].items() if k != recorded["project"]}
        python = environments.install(
            client,
            wheel,
            work / "venv",
            python=environment["python"],
            extras=environment["extras"],
            index_url=f"{client.url}/{indexes.unstable}/+simple/",
            pins=pins,
        )
        installed = environments.frozen(python)
        drift = sorted(k for k in pins.keys() | installed.keys() if pins.get(k) != installed.get(k))
        print(
            f"reproduce: {recorded['project']} {recorded['version']} "
            f"(wheel {wheel.sha256[:12]}) on Python {environment['python']} "
            f"with {len(pins)} pinned package(s)"
            + (f"; not as archived: {', '.join(drift)}" if drift else "")
        )
        run = work / "run"
        run.mkdir()
        program = names.component(recorded["command"][0], "the manifest's program")
        command = [str(python.with_name(program)), "calibrate", *arguments]
        command += ["--cluster", cluster, "--output", str(run / RESULT)]  # log: chains' progress
        # Compiled as on a new machine: not from the numba cache other runs share.
        numba_cache = {"NUMBA_CACHE_DIR": str(work / "numba")}
        tip = "the lines above end the calibration's log"
        run_logged(command, run / LOG, work, tip=tip, extra=numba_cache)
        archived = work / "archived.h5"
        fs.get_file(f"{folder}/{RESULT}", str(archived))
        inputs = results.facts(run / RESULT)["inputs"]
        differences, wall_times = results.compare(archived, run / RESULT)
    _report(recorded, inputs, differences, wall_times)
    return differences


def _report(recorded: dict, inputs: dict, differences: list, wall_times: list[str]) -> None:
    changed = [name for name, digest in inputs.items() if recorded["inputs"].get(name) != digest]
    if changed:
        print(f"reproduce: inputs differ from the archived run's: {', '.join(changed)}")
    if not differences:
        print(
            "reproduce: identical: every dataset equals the archived one bit for bit"
            + (f" (wall times not compared: {', '.join(wall_times)})" if wall_times else "")
        )
        return
    print(f"reproduce: {len(differences)} dataset(s) differ:")
    for difference in differences:
        print(f"  {difference.line()}")
