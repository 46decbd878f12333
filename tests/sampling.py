"""What ``ps`` shows while a block runs: for the tests that no secret is on a command line."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


@contextmanager
def sample_command_lines() -> Iterator[set[str]]:
    """Collect the command line of every process (what ``ps`` shows) while the block runs."""
    seen: set[str] = set()
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                with suppress(OSError):  # the process ended meanwhile
                    seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            stop.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield seen
    finally:
        stop.set()
        sampler.join()
