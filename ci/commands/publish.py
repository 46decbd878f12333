"""``ci publish``: the built files and documentation to the unstable index, recorded."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci.index import ALREADY_THERE
from ci.publish import publish
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``publish`` command."""
    parser = commands.add_parser("publish", help="upload the built files to the unstable index")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="folder of `ci build`")
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Upload what is not there yet; say so in one line when nothing was."""
    report, outcomes = publish(state, state.options.dist)
    release = f"{report['project']} {report['version']}"
    if set(outcomes.values()) == {ALREADY_THERE}:
        print(
            f"publish: {release} is already on {report['index']} "
            f"({len(outcomes)} files, same sha256): nothing uploaded"
        )
        return 0
    done = ", ".join(f"{name} {outcome}" for name, outcome in outcomes.items())
    print(f"published {release} to {report['index']}: {done}")
    return 0
