"""Progress of a known number of steps, on standard error: a live bar or plain lines.

On a terminal (standard error is a TTY) a rich progress bar shows the steps
done, the time since the start and the last finished step; what else is
written to standard error meanwhile (a ``print``, a log record) appears above
the bar, never under it. Otherwise, as in a CI log, each finished step is one
plain line and nothing else, no spinner, no carriage return::

    verify: 3/8 py311-unit passed (41 s)

Standard output stays free for each command's summary lines. A step that
raises is not counted and prints nothing: the error says what happened.

Usage::

    with Progress("verify", len(jobs)) as progress:
        for job in jobs:
            with progress.step(job.name) as step:
                step.outcome = run(job)
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any


@dataclass
class Step:
    """A step in progress: its name and how it ended (set by the caller; "done" if not)."""

    name: str
    outcome: str = "done"


class Progress:
    """Progress of ``total`` steps named ``label``, shown while the ``with`` block runs.

    Steps may finish in any order and from several threads.

    Parameters
    ----------
    label
        What the steps make up, e.g. the command (``"verify"``).
    total
        Number of steps.
    """

    def __init__(self, label: str, total: int) -> None:
        self.label = label
        self.total = total
        self._done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._stderr = sys.stderr
        self._handlers: list[logging.StreamHandler] = []

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            self._start_bar()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()  # before the caller prints an error below it
            for handler in self._handlers:
                handler.setStream(self._stderr)
            self._bar = None

    @contextmanager
    def step(self, name: str) -> Iterator[Step]:
        """Time one step and count it when the block ends without an exception.

        Parameters
        ----------
        name
            The step, as shown: e.g. ``"py311-unit"``.

        Yields
        ------
        Step
            Set its ``outcome`` (e.g. ``"passed"``) to show how the step ended.
        """
        step, started = Step(name), time.monotonic()
        yield step
        seconds = time.monotonic() - started
        with self._lock:
            self._done += 1
            if self._bar is not None:
                last = f"{step.name} {step.outcome}"
                self._bar.update(self._task, completed=self._done, last=last, refresh=True)
            else:
                line = f"{self.label}: {self._done}/{self.total} {step.name} {step.outcome}"
                sys.stderr.write(f"{line} ({seconds:.0f} s)\n")
                sys.stderr.flush()

    def _start_bar(self) -> None:
        """Show the live bar, with log records of standard error printed above it."""
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self._stderr = sys.stderr
        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=_console(),
            # A print to standard output goes above the bar too, when both are a
            # terminal; redirected elsewhere, standard output is left alone.
            redirect_stdout=sys.stdout.isatty(),
        )
        self._task = self._bar.add_task(self.label, total=self.total, last="")
        self._bar.start()
        # Log handlers hold the stream they were made with: give them the one
        # that prints above the bar (rich's proxy of sys.stderr) while it shows.
        self._handlers = [
            handler
            for handler in logging.getLogger().handlers
            if isinstance(handler, logging.StreamHandler) and handler.stream is self._stderr
        ]
        for handler in self._handlers:
            handler.setStream(sys.stderr)


@functools.cache
def _console() -> Any:
    """Return the one console of the bars, so that bars inside bars show together."""
    from rich.console import Console

    return Console(stderr=True)
