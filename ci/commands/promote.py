"""``ci promote`` and ``ci approve``: a version to testing or stable, and QA's approval."""

from __future__ import annotations

import argparse

from ci import names
from ci.build import REPORT_NAME, read_report
from ci.errors import CIError
from ci.promote import STAGES, approve, promote
from ci.release import actor
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``promote`` and ``approve`` commands."""
    promote_parser = commands.add_parser("promote", help="promote a version to testing or stable")
    promote_parser.add_argument("version")
    promote_parser.add_argument("--to", required=True, choices=STAGES[1:])
    promote_parser.add_argument("--project", help="project name (default: the built one)")
    promote_parser.add_argument(
        "--accept-regression",
        metavar="WHY",
        help="promote to stable despite a benchmark regression; the reason is recorded",
    )
    promote_parser.set_defaults(handler=handle_promote)

    approve_parser = commands.add_parser("approve", help="record QA's approval of a version")
    approve_parser.add_argument("version")
    approve_parser.add_argument("--notes", default="", help="why, what was checked")
    approve_parser.add_argument("--by", help="approver (default: the CI actor or login name)")
    approve_parser.add_argument("--project", help="project name (default: the built one)")
    approve_parser.set_defaults(handler=handle_approve)


def handle_promote(state: State) -> int:
    """Promote if the policy allows; refuse in one line otherwise."""
    options = state.options
    project = _project(state)
    outcome = promote(state, project, options.version, options.to, options.accept_regression)
    print(f"{project} {options.version} {outcome} {options.to}")
    return 0


def handle_approve(state: State) -> int:
    """Record the approval of the logged-in QA user."""
    options = state.options
    project = _project(state)
    who = approve(state, project, options.version, options.by or actor(), options.notes)
    print(f"{project} {options.version} approved by {who}")
    return 0


def _project(state: State) -> str:
    """``--project``, else the project of the build report in dist/."""
    if state.options.project:
        return names.component(state.options.project, "project")
    if not (state.root / "dist" / REPORT_NAME).exists():
        raise CIError("no build report in dist/ to name the project", tip="pass --project NAME")
    return names.component(read_report(state.root / "dist").project, "project")
