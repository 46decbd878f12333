"""What the machine shows while a block runs, sampled in a background thread.

``sample_command_lines``: every process's command line (what ``ps`` shows), for
the tests that no secret is on one; ``sample_slurm_jobs``: the jobs ``squeue``
lists, for the tests that calibrations run side by side on Slurm.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def sampled(read: Callable[[], None], every: float) -> Iterator[None]:
    """Call ``read`` every ``every`` seconds in a background thread while the block runs."""
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            read()
            stop.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()


@contextmanager
def sample_command_lines() -> Iterator[set[str]]:
    """Collect the command line of every process (what ``ps`` shows) while the block runs."""
    seen: set[str] = set()

    def read() -> None:
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with suppress(OSError):  # the process ended meanwhile
                seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))

    with sampled(read, 0.02):
        yield seen


@contextmanager
def sample_slurm_jobs() -> Iterator[list[dict[str, tuple[str, str]]]]:
    """Collect what ``squeue`` lists every 0.2 s while the block runs: per sample, the state
    and working folder of each job, by its id."""
    samples: list[dict[str, tuple[str, str]]] = []

    def read() -> None:
        command = ["squeue", "-h", "-o", "%i %T %Z"]
        listed = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = (line.split(" ", 2) for line in listed.stdout.splitlines())
        samples.append({job: (state, where) for job, state, where in lines})

    with sampled(read, 0.2):
        yield samples
