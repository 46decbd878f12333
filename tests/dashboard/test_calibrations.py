"""The results site: every calibration run across versions, and each run against the one before."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from ci import comparison
from ci.archive import Archive
from ci.dashboard import render
from tests.dashboard.chromium import console_problems, run_chromium
from tests.dashboard.pages import parse
from tests.dashboard.records import CALIBRATION, PROJECT, calibration_manifest, write_calibration

WHEN = datetime(2026, 12, 1, tzinfo=timezone.utc)
NAME = CALIBRATION[1]
LATER = "20261106T120000Z-ondemand0001"


def shifted_manifest() -> dict:
    """The calibration asked again on 0.2.0rc1: beta moved by 10 Monte Carlo errors."""
    manifest = copy.deepcopy(calibration_manifest("0.2.0rc1", NAME))
    rows = manifest["diagnostics"]["table"]["rows"]
    beta_error = np.hypot(0.05 / np.sqrt(1510.0), 0.05 / np.sqrt(1510.0))
    rows[0][1] = 1.69 + 10 * beta_error  # beta's mean
    rows[1][1] = 0.48 + 0.0001  # gamma: well within its error
    manifest["finished_at"] = "2026-11-06T12:05:00+00:00"
    manifest["requested"] = {"by": "modeller-bob", "note": "a second seed", "on_demand": True}
    return manifest


def fit(scale: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The boarding school's first days in bed, and predictive bands ``scale`` times a curve."""
    days = np.arange(1.0, 8.0)
    observed = np.array([3.0, 8, 26, 76, 225, 298, 258])
    curve = scale * np.array([4.0, 12, 35, 90, 200, 280, 240])
    return {"in_bed": (np.c_[days, observed], np.c_[0.7 * curve, curve, 1.3 * curve])}


@pytest.fixture
def site(archive: Archive, tmp_path: Path) -> Path:
    """The archive of records.py, plus a second, on-demand run of its calibration."""
    rng = np.random.default_rng(1)
    draws = {"beta": rng.normal(1.69, 0.05, 400), "gamma": rng.normal(0.48, 0.02, 400)}
    later = {"beta": draws["beta"] + 0.02, "gamma": draws["gamma"]}
    version, name, run = CALIBRATION
    folder = archive.path(PROJECT, version, "calibrations", name, run)
    archive.fs.rm(folder, recursive=True)  # again, with a real result.h5
    write_calibration(archive, version, name, run, draws=draws, fits=fit(1.0))
    changes = shifted_manifest()
    write_calibration(archive, "0.2.0rc1", name, LATER, changes=changes, draws=later, fits=fit(1.2))
    out = tmp_path / "site"
    render(archive, out, WHEN)
    return out


def test_comparison_flags_what_moved_beyond_monte_carlo_error():
    earlier = calibration_manifest("0.1.0", NAME)
    found = {c.quantity: c for c in comparison.changes(earlier, shifted_manifest())}
    assert found["beta"].moved is True
    assert found["beta"].difference / found["beta"].mc_error == pytest.approx(10)
    assert found["gamma"].moved is False
    assert found["R0"].moved is None  # a derived quantity without ESS: unknown
    assert found["R0"].interval_a == (3.36, 3.68)


def test_the_index_lists_every_run_across_versions_newest_first(site: Path):
    index = (site / "calibrations" / "index.html").read_text(encoding="utf-8")
    section = index.split(f'<section id="{PROJECT}-{NAME}">', 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>", 1)[1])
    cells = [
        [unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in rows
    ]
    assert [row[:3] for row in cells] == [
        ["0.2.0rc1", LATER, "modeller-bob: a second seed"],
        ["0.1.0", CALIBRATION[2], "release"],
    ]
    assert [row[-1] for row in cells] == ["vs previous", "-"]  # the first has nothing before it
    assert '<a href="calibrations/index.html">' in (site / "index.html").read_text()


def test_a_comparison_page_has_the_table_densities_and_fits(site: Path):
    version, name = "0.2.0rc1", NAME
    page_path = site / "calibrations" / PROJECT / version / name / LATER / "compare.html"
    page = page_path.read_text(encoding="utf-8")
    assert "Moved beyond 3 Monte Carlo errors: beta.</p>" in page
    assert '<td class="moved-true">moved</td>' in page
    assert page.count('<td class="moved-false">no</td>') == 1
    assert page.count('<td class="moved-none">-</td>') == 1
    charts = parse(page).select("svg", "density")
    assert [c.attrs["data-quantity"] for c in charts] == ["beta", "gamma"]
    assert page.count('class="trace series-1"') == 3  # two densities and the fit's median
    [chart] = parse(page).select("svg", "fit")
    assert chart.attrs["data-target"] == "in_bed"
    for k in (0, 1):
        assert page.count(f'<polygon class="band series-{k}"') == 1
    assert page.count('<circle class="observed"') == 7  # the same data: drawn once
    assert "<title>day 5: 225 observed</title>" in page
    assert "plots/fit.png" not in page  # overlaid, not the two runs' own figures
    run_page = (page_path.parent / "index.html").read_text(encoding="utf-8")
    assert '<a href="compare.html">' in run_page
    assert "<dt>asked by</dt><dd>modeller-bob: a second seed</dd>" in run_page


def test_a_result_without_predictive_bands_shows_both_runs_fit_figures(
    archive: Archive, tmp_path: Path
):
    """Results of an epicast that kept no fit: the runs' own figures, side by side."""
    draws = {"beta": np.linspace(1.6, 1.8, 50)}
    version, name, run = CALIBRATION
    archive.fs.rm(archive.path(PROJECT, version, "calibrations", name, run), recursive=True)
    write_calibration(archive, version, name, run, draws=draws)
    write_calibration(archive, "0.2.0rc1", name, LATER, changes=shifted_manifest(), draws=draws)
    render(archive, tmp_path / "site", WHEN)
    page = tmp_path / "site" / "calibrations" / PROJECT / "0.2.0rc1" / NAME / LATER / "compare.html"
    text = page.read_text(encoding="utf-8")
    assert 'class="chart fit"' not in text
    assert text.count("plots/fit.png") == 6  # both runs' figures: src, alt and caption


def test_an_unreadable_result_leaves_the_densities_out_in_one_line(archive: Archive, tmp_path):
    write_calibration(archive, "0.2.0rc1", NAME, LATER, changes=shifted_manifest())
    render(archive, tmp_path / "site", WHEN)
    version = "0.2.0rc1"
    page = tmp_path / "site" / "calibrations" / PROJECT / version / NAME / LATER / "compare.html"
    text = page.read_text(encoding="utf-8")
    assert "<p>Not drawn: a result.h5 cannot be read (" in text
    assert "Moved beyond 3 Monte Carlo errors: beta.</p>" in text


def test_the_results_pages_load_in_chromium_without_console_messages(
    chromium: Path, site: Path, tmp_path: Path
):
    page = site / "calibrations" / PROJECT / "0.2.0rc1" / NAME / LATER / "compare.html"
    for k, path in enumerate((site / "calibrations" / "index.html", page)):
        result = run_chromium(chromium, path, tmp_path / f"profile-{k}", ["--dump-dom"])
        assert result.returncode == 0, result.stderr[-2000:]
        assert console_problems(result.stderr) == []
    assert "svg" in result.stdout
