"""ci.progress: plain lines in a log, a live bar on a terminal (a real pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ci.progress import Progress

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import logging, sys, time
    from ci.progress import Progress

    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    with Progress("demo", 3) as progress:
        for name in ("one", "two", "three"):
            with progress.step(name) as step:
                time.sleep(0.3)
                step.outcome = "passed"
            if name == "two":
                logging.getLogger("demo").warning("watch out")
                print("printed to stderr", file=sys.stderr)
    print("summary")
    """
)
CONTROL = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\r|\n|[^\x1b\r\n]+")


def without_seconds(text: str) -> list[str]:
    return [re.sub(r" \(\d+ s\)$", " (N s)", line) for line in text.splitlines()]


def test_without_a_terminal_each_step_is_one_plain_line(capsys):
    with Progress("verify", 3) as progress:
        with progress.step("py311-smoke") as step:
            step.outcome = "passed"
        with progress.step("py311-unit"):
            pass
        with pytest.raises(ValueError, match="broken"), progress.step("py311-bench"):
            raise ValueError("broken")
    out, err = capsys.readouterr()
    assert out == ""
    assert without_seconds(err) == [
        "verify: 1/3 py311-smoke passed (N s)",
        "verify: 2/3 py311-unit done (N s)",
    ]


def test_steps_in_threads_are_counted_in_the_order_they_end_and_timed_each(capsys):
    def run(progress: Progress, name: str, before: float, seconds: float) -> None:
        time.sleep(before)
        with progress.step(name) as step:
            time.sleep(seconds)
            step.outcome = "passed"

    with Progress("verify", 2) as progress:
        threads = [
            threading.Thread(target=run, args=(progress, *job))
            for job in (("slow", 0.0, 2.0), ("late", 1.0, 0.0))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    # A step's seconds are its own: not since the start, nor since the step before.
    assert capsys.readouterr().err.splitlines() == [
        "verify: 1/2 late passed (0 s)",
        "verify: 2/2 slow passed (2 s)",
    ]


def run_on_terminal(code: str) -> tuple[str, str]:
    """Run ``python -c code`` with standard error on a pseudo-terminal; return (stdout, tty)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "PYTHONPATH": str(ROOT)},
    )
    os.close(slave)
    received = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, received.decode(errors="replace")
    return stdout.decode(), received.decode()


def screen(output: str) -> list[str]:
    """Replay what a terminal shows: text, CR, LF, cursor up, erase line (what rich's Live uses)."""
    lines, row, column = [""], 0, 0
    for match in CONTROL.finditer(output):
        token = match.group(0)
        if token == "\r":
            column = 0
        elif token == "\n":
            row += 1
            lines += [""] * (row + 1 - len(lines))
        elif match.group(2) == "A":
            row = max(row - int(match.group(1) or 1), 0)
        elif match.group(2) == "K":
            lines[row] = ""
        elif match.group(2) is None:  # text; other control sequences (colours) change nothing
            line = lines[row].ljust(column)
            lines[row] = line[:column] + token + line[column + len(token) :]
            column += len(token)
    return [line.rstrip() for line in lines if line.strip()]


def test_on_a_terminal_a_live_bar_shows_and_messages_stay_above_it():
    stdout, tty = run_on_terminal(CHILD)
    assert stdout == "summary\n"
    assert "\r\x1b[2K" in tty  # the bar is redrawn in place
    uncoloured = re.sub(r"\x1b\[[0-9;]*m", "", tty)
    counts = re.findall(r"demo ━+╺?╸?━* (\d)/3", uncoloured)
    assert counts[0] == "0"  # the bar shows before the first step ends
    assert counts[-1] == "3"
    shown = screen(tty)
    assert shown[:2] == ["WARNING demo: watch out", "printed to stderr"]
    [bar] = shown[2:]
    assert re.fullmatch(r"demo ━+ 3/3 0:00:\d\d three passed", bar), bar
