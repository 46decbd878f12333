"""Instructions per call of a compiled kernel, counted under valgrind: a deterministic benchmark.

Wall time on shared CI machines spreads by 20-50% for small benchmarks; the
number of instructions a kernel executes hardly does. :func:`count` runs
the kernels script (epicast's ``benchmarks/kernels.py``: set up a kernel,
call it once, then CALLS more times) with an environment's interpreter under
``valgrind --tool=cachegrind --cache-sim=no`` (the cheapest tool that counts
every instruction: no cache or branch simulation), twice: with CALLS = 0 and with CALLS = n. The
difference of the two totals (``Ir``), over n, is the cost of one call: the
interpreter's start, the imports, numba loading the compiled code from its
cache and the first call cancel.

What makes the counts repeatable (each measured, see docs/instructions.md):

- one thread everywhere (``NUMBA_NUM_THREADS``, ``OMP_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``): OpenBLAS's idle threads
  spin, and valgrind runs one thread at a time, so with its default threads a
  process's total varied by 4e7 instructions; with one, by ~2e3;
- a fixed compilation target for numba (``NUMBA_CPU_NAME``, empty
  ``NUMBA_CPU_FEATURES``): valgrind presents another CPU than the host's
  (haswell on a Zen 2), numba's cache is keyed by the CPU, so without this
  every measured process compiled the kernels again (5 times the
  instructions); a native run first fills the cache for the fixed target;
- the same memory layout in every process: CPython's type attribute cache is
  indexed by the addresses of names, so a path one character longer in
  valgrind's own arguments changed a process's total by 2e6 (Python-heavy
  kernels by 0.1% per call). The environment is entered through a symbolic
  link of fixed length, the script copied next to it, valgrind's files have
  names of fixed length, and the environment variables are fixed (HOME too);
  ``setarch -R`` turns address randomisation off where it works;
- ``PYTHONHASHSEED=0``, and none of the caller's variables: an inherited
  ``PYTHONDONTWRITEBYTECODE=1`` alone made every import compile its source
  (4 times the fixed cost).
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ci import shell
from ci.errors import CIError

logger = logging.getLogger(__name__)

NUMBA_CPU = "haswell"
"""The CPU numba compiles for (x86-64 with AVX2 and FMA, which valgrind executes)."""
UNAVAILABLE = 3
"""Exit status of benchmarks/kernels.py when the installed release lacks a kernel."""
TIMEOUT = 1800.0
"""Seconds one valgrind process may take."""
TOOL = ("--tool=cachegrind", "--cache-sim=no", "--branch-sim=no")
ENVIRONMENT = {
    "PYTHONHASHSEED": "0",
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_CPU_NAME": NUMBA_CPU,
    "NUMBA_CPU_FEATURES": "",
    "LC_ALL": "C.UTF-8",
    "PATH": "/usr/bin:/bin",
}
"""The environment of the measured processes, plus HOME (a folder of the measurement)."""


class KernelUnavailableError(CIError):
    """The installed release has no such kernel (benchmarks/kernels.py exited with 3)."""

    def __init__(self, kernel: str, python: Path, output: str) -> None:
        self.kernel = kernel
        self.python = python
        self.output = output
        reason = output.strip().splitlines()[-1] if output.strip() else "no reason given"
        super().__init__(f"kernel {kernel} is not available with {python}: {reason}")


class CountError(CIError):
    """A measured process failed: carries the command, its exit code and output."""

    def __init__(self, command: list[str], returncode: int, output: str) -> None:
        self.command = command
        self.returncode = returncode
        self.output = output
        tail = "\n".join(output.strip().splitlines()[-20:])
        super().__init__(
            f"`{' '.join(command[-3:])}` failed with exit code {returncode}:\n{tail}",
            tip="run the same command without valgrind to see whether the kernel works",
        )


def available() -> bool:
    """Return True if valgrind is on PATH."""
    return shutil.which("valgrind") is not None


def count(
    python: Path, script: Path, kernel: str, calls: int, cwd: Path, *, workers: int = 2
) -> float:
    """Return the instructions one call of ``kernel`` executes.

    Parameters
    ----------
    python
        Interpreter of the environment where epicast is installed.
    script
        ``benchmarks/kernels.py``.
    kernel
        One of ``python script --list``.
    calls
        Calls counted (n >= 1); ``kernel_calls`` of ``[bench]`` in pipeline.toml
        holds values for each kernel.
    cwd
        Working directory of the processes (keep the checkout's ``src`` off the path).
    workers
        Valgrind processes run at the same time (the counts do not depend on it).

    Returns
    -------
    float
        (Ir with 1 + n calls - Ir with 1 + 0 calls) / n.

    Raises
    ------
    CIError
        If valgrind is missing, a process fails or its output has no total.
    KernelUnavailableError
        If the installed release has no such kernel.
    """
    if calls < 1:
        raise CIError(f"calls must be at least 1, not {calls}")
    base, total = process_totals(python, script, kernel, [0, calls], cwd, workers=workers)
    per_call = (total - base) / calls
    logger.info("%s: %.6g instructions per call (%d calls)", kernel, per_call, calls)
    return per_call


def process_totals(
    python: Path, script: Path, kernel: str, calls: Sequence[int], cwd: Path, *, workers: int = 2
) -> list[int]:
    """Return the total instructions (Ir) of one process per entry of ``calls``.

    Each process sets the kernel up and calls it 1 + calls[i] times. A run
    without valgrind comes first: it fills numba's cache (and Python's bytecode
    cache) so that no measured process compiles anything. Arguments as for
    :func:`count`.
    """
    valgrind = require_valgrind()
    with tempfile.TemporaryDirectory(prefix="instructions-") as work:
        folder = Path(work)
        (folder / "run").mkdir()  # holds only the script and the link: it is sys.path[0]
        (folder / "out").mkdir()
        interpreter, copy = _fixed_paths(folder / "run", python, script)
        environment = {**ENVIRONMENT, "HOME": str(folder)}
        _run([str(interpreter), str(copy), kernel, "0"], cwd, environment, kernel, python)

        def measure(run: tuple[int, int]) -> int:
            index, n = run
            out = folder / "out" / f"{index:03d}"
            command = [
                *_no_aslr(),
                valgrind,
                *TOOL,
                f"--cachegrind-out-file={out}.out",
                f"--log-file={out}.log",
                str(interpreter),
                str(copy),
                kernel,
                f"{n:09d}",  # one length: argv lies in the process's memory too
            ]
            began = time.monotonic()
            _run(command, cwd, environment, kernel, python)
            total = read_total(out.with_suffix(".out"))
            seconds = time.monotonic() - began
            logger.info("%s, 1 + %d calls: %d instructions, %.1f s", kernel, n, total, seconds)
            return total

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            return list(pool.map(measure, enumerate(calls)))


def _fixed_paths(folder: Path, python: Path, script: Path) -> tuple[Path, Path]:
    """Return the interpreter and the script at paths whose length does not depend on the caller.

    The environment (the folder above the interpreter's ``bin``) is entered
    through the link ``folder/e``, so that ``sys.prefix`` and every module's
    path have the same length whatever the environment's location; the script
    is copied into ``folder``, which is then the first entry of ``sys.path``:
    nothing else may be written there (Python lists it when importing). An
    interpreter outside a ``bin`` folder is used as it is.
    """
    copy = folder / "kernels.py"
    shutil.copyfile(script, copy)
    python = Path(os.path.abspath(python))  # not resolved: a venv's python is a link
    if python.parent.name != "bin":
        return python, copy
    link = folder / "e"
    link.symlink_to(python.parent.parent, target_is_directory=True)
    return link / "bin" / python.name, copy


def read_total(path: Path) -> int:
    """Return the total ``Ir`` of a cachegrind (``summary:``) or callgrind (``totals:``) file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CIError(f"valgrind wrote no output file {path}: {exc}") from exc
    events = next((line.split()[1:] for line in lines if line.startswith("events:")), [])
    for line in reversed(lines):
        if line.startswith(("summary:", "totals:")) and "Ir" in events:
            return int(line.split()[1 + events.index("Ir")])
    raise CIError(f"no total of Ir in {path}")


def require_valgrind() -> str:
    """Return the path of valgrind, or raise a CIError saying how to install it."""
    found = shutil.which("valgrind")
    if found is None:
        raise CIError(
            "instruction counts need valgrind, which is not on PATH",
            tip="install it: sudo apt-get install valgrind",
        )
    return found


@functools.cache
def _no_aslr() -> tuple[str, ...]:
    """Return the ``setarch ARCH -R`` prefix if it works here (not in some containers), else ()."""
    setarch = shutil.which("setarch")
    if setarch is None:
        return ()
    prefix = (setarch, platform.machine(), "-R")
    try:
        works = shell.execute([*prefix, "true"]).returncode == 0
    except OSError:
        works = False
    if not works:
        logger.info("setarch -R does not work here: address space randomisation stays on")
    return prefix if works else ()


def _run(command: list[str], cwd: Path, env: dict[str, str], kernel: str, python: Path) -> None:
    """Run one process of the measurement; map its failures to CIErrors."""
    try:
        result = shell.execute(command, cwd=cwd, env=env, inherit=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise CIError(
            f"counting {kernel} took more than {TIMEOUT:.0f} s",
            tip="use fewer calls (kernel_calls in [bench] of pipeline.toml)",
        ) from exc
    if result.returncode == UNAVAILABLE:
        raise KernelUnavailableError(kernel, python, result.output)
    if result.returncode:
        raise CountError(command, result.returncode, result.output)
