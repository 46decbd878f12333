"""The ``epicast`` command line: parse, call the library, map errors to exit codes.

Exit status: 0 success, 2 a user error (printed as one line per problem,
without traceback), 130 interrupted (Ctrl-C, SIGINT), 143 terminated (SIGTERM,
as a batch system stops a job): either ends with one line, after the
command's cleanups ran (temporary files removed; a calibration's checkpoints
kept, so that the same command resumes). Heavy modules (numba kernels, h5py, matplotlib) are
imported only by the subcommands that need them, so ``epicast validate`` and
``epicast --version`` start fast. After a command that succeeded, one line on
standard error may tell of a newer release on the stable index
(:mod:`epicast.updates`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from epicast.errors import EpicastError

if TYPE_CHECKING:
    from distributed import Client

    from epicast.calibration.file import Calibration

logger = logging.getLogger(__name__)

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``epicast`` command (also used by the docs)."""
    from epicast import __version__

    parser = _Parser(prog="epicast", description="Age-structured SEIR epidemic model.")
    parser.add_argument("--version", action="version", version=f"epicast {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is being done")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    run = _command(commands, "run", _run, "run a scenario and write its outputs")
    run.add_argument(
        "scenario",
        type=_given,
        help="a bundled scenario name (see `epicast scenarios`) or a YAML file",
    )
    run.add_argument("-o", "--output", type=_path, help="write the run to this HDF5 file")
    run.add_argument("--plot", type=_path, help="save a figure of the run (.png, .svg or .pdf)")
    run.add_argument("--force", action="store_true", help="overwrite existing output files")

    _command(commands, "scenarios", _scenarios, "list the bundled scenarios")

    validate = _command(
        commands, "validate", _validate, "check scenario files without running them"
    )
    validate.add_argument(
        "files", nargs="+", type=_given, metavar="FILE", help="scenario names or YAML files"
    )

    _command(commands, "schema", _schema, "print the JSON Schema of scenario files")

    calibrate = _command(commands, "calibrate", _calibrate, "fit a scenario to data by MCMC")
    calibrate.add_argument(
        "calibration",
        type=_given,
        help="a bundled calibration (see `epicast calibrations`) or a YAML file",
    )
    calibrate.add_argument("-o", "--output", type=_path, help="write the chains to this HDF5 file")
    calibrate.add_argument(
        "--cluster",
        default="auto",
        metavar="WHERE",
        help="auto (default: this process, or a local cluster when the chains' estimated time "
        "is worth starting one; said on one line), local (Dask workers on this machine's "
        "cores), slurm, tcp://HOST:PORT (an existing Dask scheduler) or none (one chain "
        "after another in this process)",
    )
    positive, natural = _whole_number(1), _whole_number(0)
    calibrate.add_argument("--workers", type=positive, help="local workers or most Slurm jobs")
    calibrate.add_argument("--chains", type=positive, help="override the file's number of chains")
    calibrate.add_argument("--iterations", type=positive, help="override the iterations per chain")
    calibrate.add_argument("--seed", type=natural, help="override the file's seed")
    calibrate.add_argument("--plots", type=_path, metavar="DIR", help="save figures in this folder")
    calibrate.add_argument(
        "--checkpoints",
        type=_path,
        metavar="DIR",
        help="where chains save their state to resume after an interruption "
        "(default: OUTPUT.checkpoints next to the output file)",
    )
    calibrate.add_argument("--force", action="store_true", help="overwrite existing output files")
    calibrate.add_argument("--quiet", action="store_true", help="no progress of the chains")

    compare = _command(
        commands, "compare", _compare, "count what one run averts against another, by age"
    )
    compare.add_argument("baseline", type=_path, help="the run compared with (HDF5 file)")
    compare.add_argument("other", type=_path, help="the run that averts, or not (HDF5 file)")
    compare.add_argument(
        "--plot", type=_path, help="save a figure of what is averted (.png, .svg or .pdf)"
    )
    compare.add_argument("--force", action="store_true", help="overwrite an existing figure")

    _command(commands, "calibrations", _calibrations, "list the bundled calibrations")
    summary = _command(commands, "summary", _summary_file, "summarise a calibration file")
    summary.add_argument("file", type=_path, help="an HDF5 file written by epicast calibrate")
    return parser


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are two lines: the error, and where help is."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        print(f"{self.prog}: tip: see `{self.prog} --help`", file=sys.stderr)
        raise SystemExit(EXIT_USER_ERROR)


def _whole_number(minimum: int) -> Callable[[str], int]:
    """Return an argparse type accepting whole numbers >= ``minimum`` (limits: the file's)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, got {text!r}")
        return value

    return parse


def _given(text: str) -> str:
    """Return a name or path as given; refuse an empty one (``Path("")`` would mean ".")."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a name or a path, got {text!r}")
    return text


def _path(text: str) -> Path:
    """Return the path of a file or folder epicast reads or writes; refuse an empty one."""
    return Path(_given(text))


def _command(
    commands: argparse._SubParsersAction, name: str, handler: Callable, help_text: str
) -> argparse.ArgumentParser:
    """Register a subcommand whose handler takes the parsed arguments and returns an exit code."""
    sub = commands.add_parser(name, help=help_text, description=help_text)
    sub.set_defaults(handler=handler)
    return sub


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``epicast`` command; return its exit status.

    A check for a newer release on the stable index runs alongside the command
    (:mod:`epicast.updates`); its notice follows the output of a command that
    succeeded, ``--version`` included, on standard error.
    """
    update_check = _start_update_check()
    try:
        with _sigterm_raises():
            status = _dispatch(argv)
    except SystemExit as exc:  # argparse exits after --version and --help (0) or a usage error
        if exc.code in (0, None):
            _print_update_notice(update_check)
        raise
    if status == 0:
        _print_update_notice(update_check)
    return status


def _dispatch(argv: Sequence[str] | None) -> int:
    """Parse the arguments and run the command's handler; map user errors to status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except EpicastError as exc:
        _report(exc)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("epicast: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("epicast: terminated", file=sys.stderr)
        return 143


class Terminated(BaseException):
    """SIGTERM arrived: raised in the main thread, like KeyboardInterrupt, so cleanups run."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _start_update_check():
    """Start the check for a newer release; ``None`` when it is turned off or cannot start."""
    try:
        from epicast import __version__
        from epicast.updates import UpdateCheck

        return UpdateCheck.start(__version__)
    except Exception:  # the check never breaks a command
        logger.debug("update check not started", exc_info=True)
        return None


def _print_update_notice(update_check) -> None:
    """Print the check's notice (or config warning) after the command's own output."""
    if update_check is None:
        return
    try:
        lines = update_check.lines()
        if lines:
            sys.stdout.flush()
            print("\n".join(lines), file=sys.stderr)
    except Exception:  # a closed pipe, say: the command itself succeeded
        logger.debug("update notice not shown", exc_info=True)


def _report(exc: EpicastError) -> None:
    """Print a user error as one line per problem on standard error."""
    for line in exc.lines():
        print(f"epicast: error: {line}", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    """Run one scenario; print a summary; write the HDF5 file and the figure if asked."""
    from epicast._files import check_figure, check_output
    from epicast.model import simulate
    from epicast.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.output is not None:
        check_output(args.output, force=args.force)
    if args.plot is not None:
        check_figure(args.plot, force=args.force)
    trajectory = simulate(scenario)
    print(_summary(scenario, trajectory))
    if args.output is not None:
        from epicast.store import write_run

        print(f"wrote {write_run(args.output, scenario, trajectory, force=args.force)}")
    if args.plot is not None:
        from epicast.plots import plot_run

        print(f"wrote {plot_run(scenario, trajectory, args.plot, force=args.force)}")
    return 0


def _summary(scenario, trajectory) -> str:
    """One line a person reads: R0, the epidemic peak, the attack rate and severe outcomes."""
    infectious = trajectory.compartment("I").sum(axis=1)
    peak_day = int(trajectory.time[infectious.argmax()])
    infected = trajectory.incidence.sum() + scenario.initial_infections.sum()
    share = infected / scenario.population.sum()
    reinfected = scenario.immunity is not None and scenario.immunity.infection_immunity
    attack = f"{share:.2f} infections per person" if reinfected else f"{share:.1%} infected"
    if trajectory.doses is not None:
        attack += f", {trajectory.doses.sum():,.0f} doses"
    outcomes = "".join(
        f", {getattr(trajectory, o.name).sum():,.0f} {o.name}" for o in scenario.outcomes
    )
    return (
        f"{scenario.name}: R0 {scenario.R0:.2f}, peak of {infectious.max():,.0f} infectious "
        f"on day {peak_day}, {attack}{outcomes} by day {scenario.t_end}"
    )


def _scenarios(args: argparse.Namespace) -> int:
    """Print each bundled scenario's name and description."""
    from epicast.scenario import bundled_scenarios, load_scenario

    return _list_bundled(bundled_scenarios(), load_scenario)


def _list_bundled(names: list[str], load: Callable) -> int:
    """Print each name with the description of what ``load(name)`` returns, on one line."""
    width = max(32, *(len(name) for name in names))
    for name in names:
        print(f"{name:{width}} {' '.join(load(name).description.split())}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Validate every file; report all problems of all files, then fail if any."""
    from epicast.scenario import load_scenario

    failed = False
    for name in args.files:
        try:
            scenario = load_scenario(name)
        except EpicastError as exc:
            failed = True
            _report(exc)
        else:
            print(f"{name}: valid ({len(scenario.age_groups)} age groups, R0 {scenario.R0:.2f})")
    return EXIT_USER_ERROR if failed else 0


def _schema(args: argparse.Namespace) -> int:
    """Print the scenario JSON Schema."""
    from epicast.scenario import schema

    print(json.dumps(schema(), indent=2))
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    """Run a calibration; print its summary and warnings; write the file and the figures."""
    from epicast._files import check_folder, check_output
    from epicast.calibration.file import load_calibration
    from epicast.calibration.placement import place
    from epicast.calibration.run import calibrate, discard_checkpoints
    from epicast.plots import CALIBRATION_FIGURES

    calibration = (
        load_calibration(args.calibration)
        .with_sampler(chains=args.chains, iterations=args.iterations, seed=args.seed)
        .with_workers(args.workers)
    )
    if args.output is not None:
        check_output(args.output, force=args.force)
    if args.plots is not None:
        check_folder(args.plots, CALIBRATION_FIGURES, force=args.force)
    checkpoints = args.checkpoints
    if checkpoints is None and args.output is not None:
        checkpoints = args.output.with_name(args.output.name + ".checkpoints")
    if checkpoints is not None:
        check_folder(checkpoints, (), force=True)
    placement = place(calibration, args.cluster)  # auto: times the first chain in process
    print(placement.line(), file=sys.stderr)
    with _executor(placement.where, calibration, checkpoints) as executor:
        result = calibrate(
            calibration, executor=executor, checkpoints=checkpoints, progress=not args.quiet
        )
    print(f"{calibration.name}: {_chains_line(result)}")
    print(result.summary.table())
    for line in result.warnings():
        print(f"epicast: warning: {line}", file=sys.stderr)
    if args.output is not None:
        from epicast.store import write_calibration

        print(f"wrote {write_calibration(args.output, result, force=args.force)}")
        if checkpoints is not None:
            discard_checkpoints(calibration, checkpoints)
    if args.plots is not None:
        from epicast.plots import plot_calibration

        for path in plot_calibration(result, args.plots, force=args.force):
            print(f"wrote {path}")
    return 0


@contextmanager
def _executor(
    where: str, calibration: Calibration, checkpoints: Path | None
) -> Iterator[Client | None]:
    """Yield what runs the chains: None (in process), or a client of the Dask cluster at ``where``.

    The cluster's client waits for a first worker; distributed's INFO lines are
    kept out of the log unless ``--verbose``, and its shutdown after Ctrl-C or
    SIGTERM is quiet. Once the cluster is closed, the checkpoints its stopped
    workers were writing are removed.
    """
    from epicast.calibration.placement import IN_PROCESS

    if where == IN_PROCESS:
        yield None
        return
    from epicast.calibration.run import remove_half_written_checkpoints
    from epicast.cluster import open_client, wait_for_workers

    opening = open_client(where, calibration.cluster)  # imports distributed, which sets
    if not logger.isEnabledFor(logging.INFO):  # its loggers to INFO: after, not before
        logging.getLogger("distributed").setLevel(logging.WARNING)
    try:
        with opening as client, _quiet_when_stopped():
            wait_for_workers(client)
            yield client
    finally:
        if checkpoints is not None:
            remove_half_written_checkpoints(calibration, checkpoints)


@contextmanager
def _quiet_when_stopped() -> Iterator[None]:
    """Silence distributed (for the rest of the process) when Ctrl-C or SIGTERM stops it.

    Inside the cluster's block, so that its shutdown is quiet: its warnings about
    the cancelled chains and the workers it kills are the expected consequence
    of stopping, not news; the command says it stopped.
    """
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, Exception):  # KeyboardInterrupt, SIGTERM, SystemExit
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        raise


def _chains_line(result) -> str:
    """How the chains ran: count, draws, acceptance, time."""
    chains, kept = result.draws.shape[:2]
    return (
        f"{chains} chains x {kept} draws on {result.workers} worker(s) ({result.where}), "
        f"acceptance {result.acceptance.min():.2f}-{result.acceptance.max():.2f}, "
        f"{result.seconds:.1f} s"
    )


def _compare(args: argparse.Namespace) -> int:
    """Print what the second run averts against the first, and plot it if asked."""
    from epicast._files import check_figure
    from epicast.compare import compare_runs
    from epicast.store import read_run

    if args.plot is not None:
        check_figure(args.plot, force=args.force)
    comparison = compare_runs(read_run(args.baseline), read_run(args.other))
    print("\n".join(comparison.lines()))
    if args.plot is not None:
        from epicast.plots import plot_comparison

        print(f"wrote {plot_comparison(comparison, args.plot, force=args.force)}")
    return 0


def _calibrations(args: argparse.Namespace) -> int:
    """Print each bundled calibration's name and description."""
    from epicast.calibration.file import bundled_calibrations, load_calibration

    return _list_bundled(bundled_calibrations(), load_calibration)


def _summary_file(args: argparse.Namespace) -> int:
    """Print the diagnostics table and warnings stored in a calibration file."""
    from epicast.calibration.diagnostics import STATISTICS, Summary
    from epicast.store import read_calibration

    stored = read_calibration(args.file)
    attrs, arrays = stored.attributes, stored.arrays
    chains, draws = arrays["draws"].shape[:2]
    print(
        f"{attrs['calibration_name']}: {chains} chains x {draws} draws, seed {attrs['seed']}, "
        f"epicast {attrs['epicast_version']}, {attrs['created']}"
    )
    columns = dict(zip(STATISTICS, arrays["diagnostics"].T, strict=True))
    print(Summary(tuple(arrays["quantity"]), chains, draws, **columns).table())
    for line in json.loads(attrs["warnings"]):
        print(f"epicast: warning: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
