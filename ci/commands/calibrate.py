"""``ci calibrate``: a version's calibrations on the cluster, archived (a tag's, or on demand)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ci import names, reuse
from ci.build import read_report
from ci.calibrate import MAX_NOTE, Demand, calibrate_release
from ci.errors import CIError
from ci.session import State


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``calibrate`` command."""
    parser = commands.add_parser(
        "calibrate",
        help="run a version's calibrations on the cluster and archive them (a tag's, or on demand)",
    )
    parser.add_argument("version", nargs="?", help="any published version (default: the built one)")
    parser.add_argument(
        "--calibration",
        action="append",
        metavar="NAME_OR_FILE",
        help="a bundled calibration or a YAML file of the repository; repeat for several, "
        "which run in parallel (default: [calibrate] calibrations of pipeline.toml)",
    )
    parser.add_argument("--chains", type=_positive, help="override the chains")
    parser.add_argument("--iterations", type=_positive, help="override the iterations per chain")
    parser.add_argument("--seed", type=_seed, help="override the seed")
    parser.add_argument("--cluster", help="local, slurm, none or tcp://HOST:PORT")
    parser.add_argument("--workers", type=_positive, help="local workers or most Slurm jobs")
    parser.add_argument("--note", type=_note, help="why this run: kept in its manifest")
    parser.add_argument(
        "--project", help="project name, with a version (default: the built one, from --dist)"
    )
    parser.add_argument("--dist", type=Path, default=Path("dist"), help="folder of `ci build`")
    parser.add_argument("--force", action="store_true", help=reuse.FORCE_HELP)
    parser.set_defaults(handler=handle)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _seed(text: str) -> int:
    if not text.isdigit() or int(text) >= 2**63:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 2^63-1, got {text!r}")
    return int(text)


def _note(text: str) -> str:
    if len(text) > MAX_NOTE or any(not c.isprintable() for c in text):
        raise argparse.ArgumentTypeError(f"expected one line of at most {MAX_NOTE} characters")
    return text


def handle(state: State) -> int:
    """Run and archive the calibrations not archived yet; fail if one failed."""
    options = state.options
    wanted = options.version and names.version(options.version)
    named = options.project and names.component(options.project, "project")
    report = None if named and wanted else read_report(options.dist)
    version, project = wanted or report.version, named or report.project
    settable = ("chains", "iterations", "cluster", "workers")
    demand = Demand(
        calibrations=options.calibration,
        overrides={k: getattr(options, k) for k in settable if getattr(options, k) is not None},
        seed=options.seed,
        note=options.note,
    )
    lines, failed = calibrate_release(state, project, version, force=options.force, demand=demand)
    for line in lines:
        print(line)
    if failed:
        raise CIError(
            f"{len(failed)} calibration(s) failed: {', '.join(failed)}; the others are archived",
            tip="each failure's log is printed above; a re-run resumes the failed ones",
        )
    return 0
