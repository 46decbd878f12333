"""Entry point of ``python -m ci``: registers the stage commands and dispatches.

Each command lives in its own module of :mod:`ci.commands` with
``register(subparsers)``, which adds its parser and sets ``handler`` to a
function ``(state) -> int``. :func:`main` builds the :class:`~ci.session.State`
once and runs the handler with the state's runner installed
(:func:`ci.shell.using`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from ci import faults, shell
from ci.errors import CIError
from ci.session import State

COMMANDS = [
    "devpi",
    "build",
    "publish",
    "verify",
    "promote",
    "status",
    "bench",
    "calibrate",
    "reproduce",
    "archive",
    "dashboard",
    "pipeline",
]
"""The modules of :mod:`ci.commands`, in the order ``--help`` lists them."""
EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every command registered (also used by the pipeline tests)."""
    parser = _Parser(
        prog="python -m ci", description="The release pipeline: build, publish, verify and promote."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ci.commands.{name}").register(commands)
    return parser


class _Parser(argparse.ArgumentParser):
    """Usage errors as the tool's other errors: ``ci: error:`` and ``ci: tip:``, no usage."""

    def error(self, message: str) -> NoReturn:
        raise SystemExit(_report(CIError(message, tip=f"see `{self.prog} --help`")))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ci command; return its exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        faults.check_environment()
        state = State(options=args)
        with shell.using(state.runner):
            return args.handler(state)
    except CIError as exc:
        return _report(exc)


def _report(exc: CIError) -> int:
    """Print a handled error as one line, and its tip as another; return the exit status."""
    print(f"ci: error: {exc.message}", file=sys.stderr)
    if exc.tip:
        print(f"ci: tip: {exc.tip}", file=sys.stderr)
    return EXIT_USER_ERROR
