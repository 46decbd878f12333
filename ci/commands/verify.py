"""``ci verify``: every suite on every Python against the wheel from the index, as evidence."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci import names, reuse
from ci.session import State
from ci.verify import release_target, reused_lines, verify


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``verify`` command."""
    parser = commands.add_parser(
        "verify", help="run the test suites against the published wheel in clean environments"
    )
    parser.add_argument("version", nargs="?", help="version to verify (default: the built one)")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="folder of `ci build`")
    parser.add_argument("--suite", action="append", help="only this suite (repeatable)")
    parser.add_argument("--python", action="append", help="only this Python, e.g. 3.12")
    parser.add_argument("--force", action="store_true", help=reuse.FORCE_HELP)
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Run what has no evidence yet; print a summary; exit 1 if a suite failed."""
    options, settings = state.options, state.config.verify
    suites = names.among(options.suite or settings.suites, settings.suites, "suite")
    pythons = names.among(options.python or settings.pythons, settings.pythons, "python")
    target = release_target(state, options.dist, options.version and names.version(options.version))
    results = verify(state, target, suites, pythons, force=options.force)
    for line in reused_lines(results):
        print(line)
    summary = ", ".join(
        f"{r['suite']} py{r['python']} {r['status']}"
        + (f" ({r['passed']} passed, {r['failed']} failed)" if r["status"] != "skipped" else "")
        for r in results
    )
    print(f"verified {target.project} {target.version}: {summary}")
    return 1 if any(r["status"] == "failed" for r in results) else 0
