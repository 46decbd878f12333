"""``ci reproduce``: an archived calibration run again from its manifest, results compared."""

from __future__ import annotations

import argparse

from ci.reproduce import reproduce
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` command."""
    parser = commands.add_parser(
        "reproduce", help="re-run an archived calibration from its manifest and compare results"
    )
    parser.add_argument("path", help="an archived calibration folder (path or fsspec URL)")
    parser.add_argument(
        "--cluster",
        default="local",
        help="where the chains run: local (default), slurm, none or tcp://HOST:PORT",
    )
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Re-run and compare; exit 1 when a dataset differs."""
    differences = reproduce(state, state.options.path, state.options.cluster)
    return 1 if differences else 0
