"""``ci dashboard``: the archive as a static site (stages, evidence, benchmarks, calibrations)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci import dashboard
from ci.session import State
from ci.state import state_dir


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` command."""
    parser = commands.add_parser("dashboard", help="render the archive as a static site")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: <state dir>/dashboard), replaced whole"
    )
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Render the site, after checking that its folder may be replaced; print its index page."""
    out = state.options.out or state_dir() / "dashboard"
    dashboard.check_output(out)
    summary = dashboard.render(state.archive, out, dashboard.generated_at())
    counts = _plural(summary.versions, "version"), _plural(summary.comparisons, "comparison")
    print(f"dashboard: {summary.index} ({counts[0]}, {counts[1]} of benchmarks)")
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
