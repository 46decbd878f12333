"""epicast's compiled kernels, each set up and called a given number of times.

``ci/instructions.py`` runs this script under valgrind with the interpreter of
an environment where some release of epicast is installed, once with CALLS = 0
and once with CALLS = n: the difference of the two instruction counts, over n,
is the cost of one call. So that difference holds nothing but the calls, the
script does the same work in both processes up to the counted loop: it imports
epicast, builds the kernel's inputs and calls the kernel once (numba loads the
compiled code from its on-disk cache, or compiles it, on that first call).

Only the API the benchmarks already use is touched, so that the script also
runs against older releases; a kernel a release does not have exits with
status 3 and says why on stderr.

Usage::

    python benchmarks/kernels.py NAME CALLS
    python benchmarks/kernels.py --list

Every call of a kernel does the same work (the chain restarts from the same
state each time), so instructions per call do not depend on CALLS. Before the
loop the objects made so far (~150,000, mostly the imports') are moved out of
the garbage collector's reach (``gc.freeze``): otherwise a full collection, some
1e7 instructions, falls every so many calls, and per-call counts of the chain
with 100 and 200 calls differed by 0.1% (with it: 3e-5).
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import sys
from collections.abc import Callable

# Before numba is imported: one thread, so that simulate_batch does the same work
# in the same order on every run (numba reads this once, at import).
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np

UNAVAILABLE = 3
"""Exit status when the installed epicast lacks what a kernel needs."""
BATCH = 64
CHAIN_WARMUP = 500
"""Warm-up (adapting) iterations run first: the counted blocks then sample, adapting nothing."""

Kernel = Callable[[], object]


def seir_gbr_16age() -> Kernel:
    """``epicast.kernels.integrate`` on the 16-age scenario (one year, SEIR)."""
    return _integrate("seir-gbr-16age")


def seir_basic() -> Kernel:
    """``epicast.kernels.integrate`` on the one-group basic scenario."""
    return _integrate("seir-basic")


def _integrate(scenario_name: str) -> Kernel:
    import epicast
    from epicast import kernels
    from epicast.model import model_arrays

    scenario = epicast.load_scenario(scenario_name)
    arrays = model_arrays(scenario)
    out = np.empty((arrays.n_days + 1, *arrays.y0.shape))
    args = (
        arrays.y0,
        scenario.transmission_rate,
        1 / scenario.latent_period,
        1 / scenario.infectious_period,
        *arrays.kernel_args(),
        out,
    )
    return lambda: kernels.integrate(*args)


def batch_64() -> Kernel:
    """``epicast.simulate_batch`` of 64 parameter sets of the 16-age scenario."""
    import epicast

    scenario = epicast.load_scenario("seir-gbr-16age")
    rng = np.random.default_rng(64)  # the sets of benchmarks/test_simulate.py
    beta = scenario.transmission_rate * rng.uniform(0.8, 1.2, BATCH)
    period = scenario.infectious_period * rng.uniform(0.8, 1.2, BATCH)
    latent = scenario.latent_period * rng.uniform(0.8, 1.2, BATCH)
    return lambda: epicast.simulate_batch(scenario, beta, period, latent)


def _calibration_modules() -> tuple:
    """Return epicast's posterior and sampler modules, wherever the installed release has them."""
    try:
        from epicast.calibration import posterior, sampler
    except ImportError:  # releases before the calibration subpackage
        from epicast import posterior, sampler
    return posterior, sampler


def log_density() -> Kernel:
    """One evaluation of the boarding-school log posterior, as emcee calls it."""
    import epicast

    posterior, _ = _calibration_modules()
    calibration = epicast.load_calibration("sir-boarding-school")
    density = posterior.LogDensity(posterior.build_posterior(calibration))
    medians = [prior.median() for prior in posterior.prior_distributions(calibration)]
    z = posterior.unconstrain(density.posterior, medians)
    return lambda: density(z)


def chain() -> Kernel:
    """One block (``epicast.calibration.sampler.BLOCK`` iterations) of a boarding-school chain.

    The chain is warmed up first; every call then runs the same block from the
    same state: the compiled sampler loop with one log posterior per iteration.
    """
    import epicast

    posterior, sampler = _calibration_modules()
    calibration = epicast.load_calibration("sir-boarding-school")
    settings = sampler.Settings(warmup=CHAIN_WARMUP, iterations=10**9, thin=1_000_000)
    run = sampler.Chain(
        posterior.build_posterior(calibration),
        settings,
        np.random.SeedSequence(1978),
        posterior.prior_distributions(calibration),
    )
    while run.state.iteration < settings.warmup:
        run.advance()
    start = copy.deepcopy(run.state)

    def block() -> None:
        run.state = copy.deepcopy(start)
        run.rng.bit_generator.state = start.rng
        run.advance()

    return block


KERNELS: dict[str, Callable[[], Kernel]] = {
    "seir-gbr-16age": seir_gbr_16age,
    "seir-basic": seir_basic,
    "batch-64": batch_64,
    "log-density": log_density,
    "chain": chain,
}


def main(argv: list[str] | None = None) -> int:
    """Set up the named kernel, call it once, then CALLS more times."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the kernels' names")
    parser.add_argument("name", nargs="?", choices=sorted(KERNELS))
    parser.add_argument("calls", nargs="?", type=int, default=0)
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(KERNELS))
        return 0
    if args.name is None or args.calls < 0:
        parser.error("give a kernel's NAME and CALLS >= 0 (or --list)")
    try:
        kernel = KERNELS[args.name]()
    except (ImportError, AttributeError, TypeError, KeyError) as exc:
        print(f"{args.name} is not available in this epicast: {exc!r}", file=sys.stderr)
        return UNAVAILABLE
    kernel()  # loads (or compiles) the compiled code: outside the difference
    gc.collect()
    gc.freeze()  # the loop's collections then skip the imports' objects (below)
    for _ in range(args.calls):
        kernel()
    return 0


if __name__ == "__main__":
    sys.exit(main())
