"""``ci build``: the sdist, the wheel and the documentation of a checkout, once, reproducibly."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci import reuse
from ci.build import build, current_build
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``build`` command."""
    parser = commands.add_parser("build", help="build sdist and wheel once and check them")
    # "." and not Path.cwd(): the documentation of this parser must not name the build's folder
    parser.add_argument("--root", type=Path, default=Path("."), help="git checkout to build")
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="output folder")
    parser.add_argument("--force", action="store_true", help="build even if dist/ is current")
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Build unless dist/ already holds the build of this commit; print what was built."""
    options = state.options
    if not options.force:
        current = current_build(options.root, options.dist)
        if current is not None:
            wheel = next(f for f in current.files if f.kind == "wheel")
            what = f"{current.project} {current.version} at {current.commit[:12]}"
            print(
                reuse.skip_line(
                    "build",
                    f"{what} already built",
                    wheel.filename,
                    wheel.sha256,
                    current.built_at,
                )
            )
            return 0
    report = build(options.root, options.dist)
    built = [*report.files, *([report.docs] if report.docs else [])]
    files = ", ".join(f"{f.filename} ({f.sha256[:12]})" for f in built)
    print(f"built {report.project} {report.version} at {report.commit[:12]}: {files}")
    return 0
