"""``ci bench``: a candidate against a baseline (default: newest stable), interleaved rounds."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci import names, reuse
from ci.bench import bench, regressed
from ci.build import read_report
from ci.errors import CIError
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``bench`` command."""
    parser = commands.add_parser(
        "bench", help="benchmark a candidate against the latest stable release, interleaved"
    )
    parser.add_argument("version", nargs="?", help="candidate version (default: the built one)")
    parser.add_argument(
        "--baseline", help="version to compare with (default: the newest release on stable)"
    )
    parser.add_argument("--rounds", type=int, help="rounds per side (default: pipeline.toml)")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the kernels' instructions under valgrind (minutes per side)",
    )
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="folder of `ci build`")
    parser.add_argument("--force", action="store_true", help=reuse.FORCE_HELP)
    parser.set_defaults(handler=handle)


def handle(state: State) -> int:
    """Benchmark and archive the run; exit 1 on a regression or a drift (0: no benchmarks)."""
    options = state.options
    settings = state.config.bench
    wanted = options.version and names.version(options.version)
    baseline = options.baseline and names.version(options.baseline)
    if options.rounds is not None:
        if options.rounds < 2:
            raise CIError(f"--rounds {options.rounds}: at least 2 rounds are needed for a test")
        settings = settings.model_copy(update={"rounds": options.rounds})
    report = read_report(options.dist)
    version = wanted or report.version
    record = bench(
        state,
        report.project,
        version,
        baseline,
        settings,
        count=options.instructions,
        force=options.force,
    )
    return 1 if record and regressed(record) else 0
