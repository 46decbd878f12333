"""The rendered site in a real headless Chromium: DOM, screenshot, console.

Any console message counts as a problem (see tests/dashboard/chromium.py); a
control page with a broken script checks that such messages do reach the log.
Resources missing under ``file://`` are not logged at all, so test_site.py
checks that every link and asset resolves instead.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ci.archive import Archive
from ci.dashboard import render
from tests.dashboard.chromium import console_problems, run_chromium
from tests.dashboard.pages import parse
from tests.dashboard.records import BENCHMARKS

ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artefacts" / "dashboard"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def site(archive: Archive, tmp_path: Path) -> Path:
    out = tmp_path / "site"
    render(archive, out, datetime(2026, 12, 1, tzinfo=timezone.utc))
    return out


def test_dom_has_every_chart_and_the_regression(chromium: Path, site: Path, tmp_path: Path):
    result = run_chromium(chromium, site / "index.html", tmp_path / "profile", ["--dump-dom"])
    assert result.returncode == 0, result.stderr[-2000:]
    dom = parse(result.stdout)
    assert len(dom.select("svg", "ratio")) == len(BENCHMARKS)
    assert len(dom.select("svg", "history")) == len(BENCHMARKS)
    assert len(dom.select("*", "regression")) == 1
    assert console_problems(result.stderr) == []


def test_screenshot_of_the_index(chromium: Path, site: Path, tmp_path: Path) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "index.png"
    shot.unlink(missing_ok=True)
    options = [f"--screenshot={shot}", "--window-size=1280,2000"]
    result = run_chromium(chromium, site / "index.html", tmp_path / "profile", options)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == PNG
    assert console_problems(result.stderr) == []


def test_version_page_loads_without_console_messages(chromium: Path, site: Path, tmp_path):
    page = site / "versions" / "epicast" / "0.2.0.html"
    result = run_chromium(chromium, page, tmp_path / "profile", ["--dump-dom"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'id="run-20261106T100000Z-vs-0.1.0"' in result.stdout
    assert console_problems(result.stderr) == []


def test_console_errors_do_reach_the_log(chromium: Path, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><link rel="icon" href="data:,"><script>no_such_function();</script>',
        encoding="utf-8",
    )
    result = run_chromium(chromium, page, tmp_path / "profile", ["--dump-dom"])
    assert any("Uncaught ReferenceError" in line for line in console_problems(result.stderr))
