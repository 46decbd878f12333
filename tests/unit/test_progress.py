"""Progress of the chains in a log (standard error not a terminal): plain lines, no bar."""

from __future__ import annotations

import io
import re

from epicast.calibration.file import load_calibration
from epicast.calibration.run import calibrate, progress_lines


def without_seconds(text: str) -> list[str]:
    return [re.sub(r", \d+ s\)$", ")", line) for line in text.splitlines()]


def test_calibrate_without_a_terminal_writes_a_line_per_chain_and_quarter(capsys):
    short = load_calibration("sir-boarding-school").with_sampler(
        chains=2, warmup=200, iterations=200
    )
    calibrate(short)
    out, err = capsys.readouterr()
    assert out == ""
    assert "\r" not in err
    assert "\x1b" not in err
    assert without_seconds(err) == [
        f"chain {chain}: {done}/400 iterations ({done // 4}%)"
        for chain in (0, 1)
        for done in (100, 200, 300, 400)
    ]


def test_a_line_at_the_first_report_past_each_quarter_only():
    stream = io.StringIO()
    report = progress_lines({0: 1000, 1: 300}, stream)
    for iteration in (100, 200, 300, 400, 500, 600):  # chain 0 from the start
        report(0, iteration)
    report(1, 200)  # chain 1 resumed from a checkpoint at 100
    report(1, 200)  # a report repeated (Dask events may lag the result)
    report(1, 300)
    report(0, 1000)
    assert without_seconds(stream.getvalue()) == [
        "chain 0: 300/1000 iterations (30%)",
        "chain 0: 500/1000 iterations (50%)",
        "chain 1: 200/300 iterations (66%)",
        "chain 1: 300/300 iterations (100%)",
        "chain 0: 1000/1000 iterations (100%)",
    ]
