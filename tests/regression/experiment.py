"""The error rates of ``ci bench``: A/A false alarms and detection of injected slowdowns.

One command, from the repository root (with the development environment)::

    .venv/bin/python -m tests.regression.experiment --trials 20
    .venv/bin/python -m tests.regression.experiment --trials 5 --load 1   # under load

builds this checkout's wheel and copies of it slowed by 5% and 10% in the
16-age model run (variants.py), installs them in new environments (the
unchanged wheel twice), and runs ``trials`` independent trials. Each trial runs
the benchmark suite exactly as ``ci bench`` does (``ci.bench.run_rounds``,
``[bench]`` settings of pipeline.toml), over the four environments in rotating
order, and judges three comparisons against the first unchanged environment
with ``ci.verdict.compare``: the second unchanged one (A/A: any benchmark
called slower or faster is a false alarm), and the 5% and 10% variants (a
detection is the 16-age run called slower). It prints a Markdown table of the
rates with 95% Clopper-Pearson intervals and writes the verdicts of every
trial as JSON. ``--load K`` keeps K CPU-bound processes running beside the
rounds (a busy CI agent); ``--paths`` narrows the suite (for example to
``benchmarks/test_simulate.py``, the model runs, to make trials shorter).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from scipy import stats

from ci import verdict
from ci.bench import run_rounds, typical_values
from ci.config import Bench, load_config
from tests.regression import variants

COMPARISONS = {"A/A (same wheel)": "base-b", "5% slower": "slow5", "10% slower": "slow10"}
TARGET = "test_simulate_seir_gbr_16age"
"""The benchmark of the 16-age model run, the one the slowdown is injected into."""


def trial(
    pythons: dict[str, Path], settings: Bench, work: Path
) -> dict[str, list[verdict.Comparison]]:
    """Run one trial; return the comparisons of every variant against ``base-a``."""
    rounds = run_rounds(pythons, settings, variants.ROOT, work, env=_environment())
    baseline = typical_values(rounds["base-a"])
    return {
        name: verdict.compare(
            typical_values(rounds[name]),
            baseline,
            alpha=settings.alpha,
            min_effect=settings.min_effect,
        )
        for name in pythons
        if name != "base-a"
    }


def alarm(comparisons: list[verdict.Comparison]) -> bool:
    """Whether an A/A comparison called any benchmark slower or faster."""
    return any(c.verdict in (verdict.SLOWER, verdict.FASTER) for c in comparisons)


def detected(comparisons: list[verdict.Comparison]) -> bool:
    """Whether the 16-age model run was called slower."""
    return any(c.name.endswith(TARGET) and c.verdict == verdict.SLOWER for c in comparisons)


RULES: dict[str, Callable[[list[verdict.Comparison]], bool]] = {
    "base-b": alarm,
    "slow5": detected,
    "slow10": detected,
}


def rate_line(label: str, hits: int, trials: int) -> str:
    """Return a Markdown row: label, hits / trials, rate and its 95% interval."""
    interval = stats.binomtest(hits, trials).proportion_ci(0.95, method="exact")
    return (
        f"| {label} | {hits} / {trials} | {hits / trials:.0%} | "
        f"{interval.low:.0%} – {interval.high:.0%} |"
    )


@contextlib.contextmanager
def competing(processes: int) -> Iterator[None]:
    """Keep ``processes`` CPU-bound processes running while the block runs."""
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)]
    try:
        yield
    finally:
        for process in busy:
            process.kill()
            process.wait()


def main() -> None:
    """Run the experiment and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, help="rounds per trial (default: pipeline.toml)")
    parser.add_argument("--load", type=int, default=0, help="CPU-bound processes running beside")
    parser.add_argument("--paths", nargs="+", help="benchmark files (default: pipeline.toml)")
    parser.add_argument("--out", type=Path, default=Path("build/error-rates.json"))
    args = parser.parse_args()
    settings = load_config(variants.ROOT).bench
    if args.rounds:
        settings = settings.model_copy(update={"rounds": args.rounds})
    if args.paths:
        settings = settings.model_copy(update={"paths": args.paths})
    with tempfile.TemporaryDirectory(prefix="error-rates-") as tmp, competing(args.load):
        work = Path(tmp)
        built = variants.Variants(work)
        pythons = {name: built.python(name) for name in ("base-a", *RULES)}
        outcomes: dict[str, list[bool]] = {name: [] for name in RULES}
        log = []
        for number in range(args.trials):
            began = time.monotonic()
            result = trial(pythons, settings, work)
            seconds = time.monotonic() - began
            for name, rule in RULES.items():
                outcomes[name].append(rule(result[name]))
            log.append({n: [c.as_record() for c in cs] for n, cs in result.items()})
            flags = " ".join(f"{n}={'Y' if outcomes[n][-1] else '-'}" for n in RULES)
            print(
                f"trial {number + 1}/{args.trials}: {flags} ({seconds:.0f} s, load "
                f"{os.getloadavg()[0]:.1f}); {TARGET} {_ratios(result)}",
                flush=True,
            )
            # After every trial, so that an interrupted experiment keeps what it measured.
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(
                json.dumps({"settings": settings.model_dump(), "trials": log}, indent=1)
            )
    print(
        f"\n{settings.rounds} rounds per trial, alpha {settings.alpha}, "
        f"min effect {settings.min_effect:.0%}, {args.load} competing process(es)\n"
    )
    print("| comparison | alarms or detections | rate | 95% interval |")
    print("|---|---|---|---|")
    for label, name in COMPARISONS.items():
        print(rate_line(label, sum(outcomes[name]), args.trials))


def _ratios(result: dict[str, list[verdict.Comparison]]) -> str:
    """Return the target's ratio and interval per variant: ``base-b 1.01 [0.95, 1.07] ...``."""
    shown = []
    for name, comparisons in result.items():
        for c in comparisons:
            if c.name.endswith(TARGET) and c.ratio is not None:
                shown.append(f"{name} {c.ratio:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]")
    return ", ".join(shown)


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}


if __name__ == "__main__":
    main()
