"""Each benchmark's history across released versions, and the steps found in it."""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from ci import history
from ci.archive import Archive
from ci.dashboard import render
from tests.dashboard.pages import parse
from tests.dashboard.records import BENCHMARKS, PROJECT, bench_run, release, write_bench

WHEN = datetime(2026, 12, 1, tzinfo=timezone.utc)
TIMED = "benchmarks/test_simulate.py::test_simulate_seir_gbr_16age"
COUNTED = "benchmarks/test_outputs.py::test_incidence_instructions"
CHAIN = ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0"]
SCATTER = [1.00, 1.01, 0.99, 1.00, 1.01, 0.99]
"""Release-to-release scatter of the timings: 1%."""
LAPTOP = {"host": "laptop", "processor": "Example CPU", "cores": 8}
AGENT = {"host": "ci-agent-1", "processor": "Intel(R) Xeon(R) Processor", "cores": 2}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([100.0] * 3 + [110.0] * 3, [(3, 1.1)]),  # instruction counts: exact
        ([100.0] * 6, []),
        ([100.0] * 3 + [102.0] * 3, []),  # below the 3% that counts
        ([100.0] * 4 + [90.0] * 4 + [99.0] * 4, [(4, 0.9), (8, 1.1)]),
    ],
)
def test_steps_of_exact_series(values, expected):
    found = history.find_steps(values, min_effect=0.03)
    assert [(i, round(r, 6)) for i, r in found] == expected


def test_steps_stand_out_from_the_scatter_of_timings():
    """Seeded: 8 releases with 2% scatter; 15% steps found where they are, flat ones rarely."""
    rng = np.random.default_rng(2026)
    found = false = 0
    for _ in range(200):
        noise = rng.normal(0, 0.02, 8)
        false += bool(history.find_steps(np.exp(noise), 0.03))
        stepped = np.exp(noise + np.r_[np.zeros(4), np.full(4, math.log(1.15))])
        found += [i for i, _ in history.find_steps(stepped, 0.03)] == [4]
    assert found >= 190  # 95%
    assert false <= 12  # 6%


def chain(archive: Archive, step_at: str, accepted: bool = False) -> None:
    """Release CHAIN: timings 15% slower from ``step_at`` on, on the agent from 0.5.0."""
    for number, version in enumerate(CHAIN):
        record = release(version, "stable")
        if accepted and version == step_at:
            record["promotions"][-1]["benchmarks"]["accepted_regression"] = {
                "reason": "exact likelihood",
                "who": "qa-alice",
            }
        archive.write_json(record, PROJECT, version, "release.json")
        previous = CHAIN[number - 1] if number else None
        run = bench_run(version, previous, day=number + 1)
        slower = CHAIN.index(version) >= CHAIN.index(step_at)
        for item in run["benchmarks"]:
            if item["name"] == TIMED:
                base = BENCHMARKS[TIMED][1] * SCATTER[number] * (1.15 if slower else 1.0)
                item["candidate"], item["candidate_low"], item["candidate_high"] = (
                    base,
                    base * 0.98,
                    base * 1.02,
                )
                item["verdict"] = "slower" if version == step_at else "same"
            elif item["name"] == COUNTED:
                item["candidate"] = BENCHMARKS[COUNTED][1] * (1.10 if slower else 1.0)
        run["machine"] = LAPTOP if number < 4 else AGENT
        write_bench(archive, run)


def test_a_step_is_found_at_its_version_and_charted_with_the_machines(
    tmp_path: Path,
) -> None:
    archive = Archive(url=str(tmp_path / "archive"), base=tmp_path)
    chain(archive, "0.3.0")
    render(archive, tmp_path / "site", WHEN)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    page = parse(index)

    charts = {c.attrs["data-benchmark"]: c for c in page.select("svg", "history")}
    assert sorted(charts) == sorted(BENCHMARKS)
    laptop = "laptop (Example CPU, 8 cores)"
    # the steps, the largest first; the charts follow in the same order
    assert step_rows(index) == [
        ["test_simulate_seir_gbr_16age", "0.2.0 to 0.3.0", "+13.9%", laptop],
        [
            "test_incidence_instructions",
            "0.2.0 to 0.3.0",
            "+10.0%",
            "any machine (instruction counts)",
        ],
    ]
    assert next(iter(charts)) == TIMED
    # timings of two machines are two series, never joined; counts are one
    machines = {c.attrs["data-machine"] for c in page.select("circle", "series-1")}
    assert machines == {"ci-agent-1 (Intel(R) Xeon(R) Processor, 2 cores)"}
    assert index.count('class="trace series-0"') == len(BENCHMARKS)
    assert index.count('class="trace series-1"') == 2  # the two timed benchmarks
    assert "0.3.0: 288 µs [282.3 µs, 293.8 µs], slower, measured on " + laptop in index
    assert index.count('class="step"') == 2
    text = unescape(re.sub(r"<[^>]+>", "", index))
    assert f"Measured on line 1: {laptop}; line 2: ci-agent-1 (Intel(R)" in text


def step_rows(index: str) -> list[list[str]]:
    """Return the cells of the "Largest steps" table, as text."""
    table = index.split("<h4>Largest steps</h4>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1])
    return [
        [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in rows
    ]


def test_an_accepted_regression_is_marked_as_such(tmp_path: Path) -> None:
    archive = Archive(url=str(tmp_path / "archive"), base=tmp_path)
    chain(archive, "0.3.0", accepted=True)
    render(archive, tmp_path / "site", WHEN)
    page = parse((tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    [point] = page.select("circle", "accepted")
    assert point.attrs["data-verdict"] == "slower"
    assert not [c for c in page.select("circle", "regression") if "series-0" in c.classes]


def test_without_released_benchmarks_the_section_says_so(tmp_path: Path) -> None:
    archive = Archive(url=str(tmp_path / "archive"), base=tmp_path)
    archive.write_json(release("0.1.0", "unstable"), PROJECT, "0.1.0", "release.json")
    write_bench(archive, bench_run("0.1.0", None, day=1))
    render(archive, tmp_path / "site", WHEN)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<p>No released version benchmarked yet.</p>" in index
