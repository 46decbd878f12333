"""``ci pipeline``: the whole release, locally, exactly as the CI systems run it.

The stages are the same ``python -m ci`` commands the Buildkite and GitHub
Actions pipelines call, run in order in this process: devpi (the embedded
server unless ``DEVPI_URL`` is set), build, publish, verify, promote to
testing, the calibrations of a tagged release (``ci calibrate``: on the
cluster, archived with the version; ``--calibrate`` for any version), the
benchmark gate against the newest
stable release, and, for a final version that QA approved (or with
``--approve`` for a local demonstration) and that is not slower, promote to
stable; then the dashboard.
It ends with the line a user types to install what was released. (The CI
pipelines run the benchmark gate and the dashboard on final tags only.)

On a new embedded server, the PyPI mirror is warmed (:mod:`ci.mirror`) while
build and publish run, so that verify does not wait for it.

Run again at the same commit, each stage finds its result already there and
says so in one line (build, verify, calibrate and bench reuse what they made
for the same files and inputs; publish uploads nothing; promote is already
done); ``--force`` is passed on to the stages that reuse, and they redo the work.
"""

from __future__ import annotations

import argparse
import os
from contextlib import AbstractContextManager, nullcontext

from packaging.version import Version

from ci import credentials, mirror, names
from ci.build import read_report
from ci.devpi import locate
from ci.devpi_server import EmbeddedServer
from ci.distribution import is_final, is_tagged
from ci.session import State

STAGES = (
    "devpi",
    "build",
    "publish",
    "verify",
    "promote-testing",
    "calibrate",
    "bench",
    "approve",
    "promote-stable",
    "dashboard",
)
"""The stage order; the CI pipeline files are tested to run the same order."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``pipeline`` command."""
    parser = commands.add_parser("pipeline", help="run the whole release locally")
    parser.add_argument(
        "--approve",
        action="store_true",
        help="record a local QA approval so a final version reaches stable (demonstration)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="run the calibrations even if the version has no release tag (demonstration)",
    )
    parser.add_argument("--suite", action="append", help="only this suite (repeatable)")
    parser.add_argument("--python", action="append", help="only this Python (repeatable)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="build, verify, calibrate and bench again even if their results exist",
    )
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Run the stages in order, each as its own ``python -m ci`` command; print the summary."""
    from ci.cli import main  # the entry point of every stage (it imports this module)

    def stage(*argv: str) -> None:
        status = main(list(argv))
        if status:
            raise SystemExit(status)

    options = state.options
    force = ("--force",) if options.force else ()
    settings = state.config.verify
    names.among(options.suite or [], settings.suites, "suite")
    names.among(options.python or [], settings.pythons, "python")
    new_server = False
    if not os.environ.get(credentials.URL_ENV):
        new_server = not EmbeddedServer.from_environment().initialised()
        stage("devpi", "start")
    with _warming_if(state, new_server, options.python or settings.pythons):
        stage("build", *force)
        stage("publish")
    selection = [f"--suite={s}" for s in options.suite or []]
    selection += [f"--python={p}" for p in options.python or []]
    stage("verify", *selection, *force)
    report = read_report(state.root / "dist")
    version = report.version
    stage("promote", version, "--to", "testing")
    reached = "testing"
    if options.calibrate or is_tagged(Version(version)):
        stage("calibrate", version, *force)
    benched = main(["bench", version, *force])
    if benched not in (0, 1):
        raise SystemExit(benched)
    if benched == 1:
        print(f"pipeline: {version} is slower than the stable release; it stays on testing")
    elif is_final(Version(version)):
        if options.approve:
            stage("approve", version, "--notes", "local demonstration: ci pipeline --approve")
        if main(["promote", version, "--to", "stable"]) == 0:
            reached = "stable"
        else:
            print(f"pipeline: {version} stays on testing until QA approves it")
    stage("dashboard")
    _summary(state, report.project, version, reached)
    return 0


def _warming_if(state: State, new_server: bool, pythons: list[str]) -> AbstractContextManager:
    """Warm a new embedded server's mirror while the block runs (:mod:`ci.mirror`)."""
    if not new_server:
        return nullcontext()
    index_url = f"{locate().url}/{state.config.indexes.unstable}/+simple/"
    return mirror.warming(state.root, index_url, min(pythons, key=Version))


def _summary(state: State, project: str, version: str, reached: str) -> None:
    """Print where the release is and how a user installs it."""
    server = locate()
    indexes = state.config.indexes.model_dump()
    url = f"{server.display_url}/{indexes[reached]}/+simple/"
    print(f"pipeline: {project} {version} is on {reached} ({url})")
    print(f"pipeline: install it with: pip install --index-url {url} {project}=={version}")
    if reached != "stable":
        print("pipeline: only final versions that QA approved go on to stable")
