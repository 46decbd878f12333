"""``ci dashboard`` on a small archive: content, determinism, self-contained links, replacement."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from ci.archive import Archive
from ci.dashboard import generated_at, render
from ci.errors import CIError
from tests.dashboard.pages import parse, tree
from tests.dashboard.records import (
    BENCHMARKS,
    CALIBRATION,
    PLOTS,
    PROJECT,
    SLOWER,
    VERSIONS,
    bench_run,
    comparison,
    release,
    write_bench,
)

WHEN = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_command_renders_versions_stages_and_verdicts(dashboard, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = dashboard("--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"dashboard: {out / 'index.html'} (3 versions, 3 comparisons of benchmarks)\n"
    )
    index = (out / "index.html").read_text(encoding="utf-8")
    page = parse(index)
    for version in VERSIONS:
        assert f">{version}</a>" in index
        assert (out / "versions" / PROJECT / f"{version}.html").is_file()
    assert [e.attrs["class"] for e in page.select("td") if "class" in e.attrs][:2] == [
        "stage-unstable",
        "commit",
    ]
    assert len(page.select("td", "stage-stable")) == 1
    assert len(page.select("td", "stage-testing")) == 1
    assert len(page.select("td", "status-failed")) == 1
    assert len(page.select("td", "status-passed")) == 11
    assert len(page.select("a", "verdict-slower")) == 1
    assert len(page.select("a", "verdict-same")) == 1
    assert len(page.select("a", "verdict-no-baseline")) == 1
    newest = (out / "versions" / PROJECT / "0.2.0.html").read_text(encoding="utf-8")
    assert "14.22 ms" in newest  # candidate of the slower benchmark: 12.7 ms x 1.12
    assert "1,234,567 instructions" in newest
    assert "No calibrations were archived." in newest
    oldest = (out / "versions" / PROJECT / "0.1.0.html").read_text(encoding="utf-8")
    assert '<td class="number">1.004</td>' in oldest


def test_default_output_is_in_the_state_dir(dashboard, tmp_path: Path) -> None:
    result = dashboard()
    assert result.returncode == 0, result.stderr
    assert f"{tmp_path / 'state' / 'dashboard' / 'index.html'} " in result.stdout
    assert (tmp_path / "state" / "dashboard" / "style.css").is_file()


def test_charts_show_each_versions_ratio_with_regressions_marked(archive: Archive, tmp_path):
    render(archive, tmp_path / "site", WHEN)
    page = parse((tmp_path / "site" / "index.html").read_text(encoding="utf-8"))
    charts = page.select("svg", "ratio")
    assert sorted(c.attrs["data-benchmark"] for c in charts) == sorted(BENCHMARKS)
    # 0.1.0 has no baseline: two points per ratio chart, one regression (0.2.0's slower
    # benchmark); the history charts have one point per released version (0.1.0, 0.2.0rc1)
    assert len(page.select("circle", "point")) == 2 * len(BENCHMARKS) + 2 * len(BENCHMARKS)
    assert len(page.select("circle", "series-0")) == 2 * len(BENCHMARKS)
    assert len(page.select("*", "regression")) == 1
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "<title>0.2.0 vs 0.1.0: ratio 1.12 [1.10, 1.14], slower</title>" in index
    assert f'data-benchmark="{SLOWER}"' in index


def test_same_epoch_same_bytes_another_only_changes_footers(
    dashboard, archive: Archive, tmp_path: Path
) -> None:
    first, second, third = (tmp_path / name for name in ("a", "b", "c"))
    assert dashboard("--out", first, epoch=1_700_000_000).returncode == 0
    render(archive, second, generated_at({"SOURCE_DATE_EPOCH": "1700000000"}))
    render(archive, third, generated_at({"SOURCE_DATE_EPOCH": "1800000000"}))
    assert tree(first) == tree(second)  # another process: no dependence on hash order
    assert "2023-11-14 22:13:20 UTC" in (first / "index.html").read_text(encoding="utf-8")
    old, new = tree(first), tree(third)
    assert old.keys() == new.keys()
    for name in old:
        changed = [
            (a, b)
            for a, b in zip(old[name].splitlines(), new[name].splitlines(), strict=True)
            if a != b
        ]
        assert len(changed) == (1 if name.endswith(".html") else 0), name
        assert all(a.startswith(b"<footer>") for a, _ in changed)


def test_every_link_stays_inside_the_site(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "site"
    render(archive, out, WHEN)
    css = (out / "style.css").read_text(encoding="utf-8")
    assert "url(" not in css
    assert "@import" not in css
    pages = {p.resolve(): parse(p.read_text(encoding="utf-8")) for p in out.rglob("*.html")}
    # index, versions, the calibration and the calibrations' index
    assert len(pages) == 1 + len(VERSIONS) + 1 + 1
    checked = 0
    for path, page in pages.items():
        for reference in page.references:
            assert not reference.startswith(("http://", "https://", "//")), (path, reference)
            parts = urlsplit(reference)
            if parts.scheme == "data":
                continue
            assert not parts.scheme, (path, reference)
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.is_file(), (path, reference)
            assert target.is_relative_to(out.resolve()), (path, reference)
            if parts.fragment:
                assert unquote(parts.fragment) in pages[target].ids, (path, reference)
            checked += 1
    assert checked >= 20


def test_accepted_regression_is_shown_with_its_reason(archive: Archive, tmp_path: Path) -> None:
    record = release("0.2.0", "stable")
    record["promotions"][-1]["benchmarks"] = {
        "run": "20261106T100000Z-vs-0.1.0",
        "verdict": "slower",
        "baseline": "0.1.0",
        "accepted_regression": {"reason": "exact likelihood", "who": "qa-alice"},
    }
    archive.write_json(record, PROJECT, "0.2.0", "release.json")
    render(archive, tmp_path / "site", WHEN)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert '<span class="accepted">accepted: exact likelihood</span>' in index
    page = (tmp_path / "site" / "versions" / PROJECT / "0.2.0.html").read_text(encoding="utf-8")
    assert "reason: exact likelihood; who: qa-alice" in page


def test_a_drift_is_shown_beside_the_verdict_and_in_the_run(archive: Archive, tmp_path):
    run = bench_run("0.3.0", "0.2.0rc1", day=9)
    run["drift"] = {
        "reference": "0.1.0",
        "window": ["0.1.0"],
        "max_drift": 0.05,
        "verdict": "slower",
        "benchmarks": [comparison(name, True, name == SLOWER) for name in BENCHMARKS],
    }
    archive.write_json(release("0.3.0", "testing"), PROJECT, "0.3.0", "release.json")
    name = write_bench(archive, run)
    render(archive, tmp_path / "site", WHEN)
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert 'same</a> <span class="verdict-slower">drifted from 0.1.0</span>' in index
    page = (tmp_path / "site" / "versions" / PROJECT / "0.3.0.html").read_text(encoding="utf-8")
    section = page.split(f'<section id="run-{name}">', 1)[1].split("</section>", 1)[0]
    assert "<h4>Drift vs 0.1.0, the fastest of 0.1.0 (at most +5%): " in section
    assert section.count("<table>") == 2
    assert section.count('<td class="verdict-slower">slower</td>') == 1


def test_a_timed_row_outside_the_gate_is_shown_as_not_gated(archive: Archive, tmp_path):
    run = bench_run("0.3.0", "0.2.0rc1", day=9, slower=SLOWER) | {"gate": ["instructions"]}
    run["verdict"] = "same"  # the slower row is timed; only the instruction counts decide
    archive.write_json(release("0.3.0", "testing"), PROJECT, "0.3.0", "release.json")
    name = write_bench(archive, run)
    render(archive, tmp_path / "site", WHEN)
    page = (tmp_path / "site" / "versions" / PROJECT / "0.3.0.html").read_text(encoding="utf-8")
    section = page.split(f'<section id="run-{name}">', 1)[1].split("</section>", 1)[0]
    assert "decided by instructions," in section
    assert '<td class="verdict-same">slower (not gated)</td>' in section
    assert '<td class="verdict-slower">' not in section
    assert '<td class="verdict-same">same</td>' in section  # the counted row


HOSTILE = '<img src=x onerror=alert("pwned")><script>pwned()</script>'


def test_text_people_typed_is_shown_escaped_never_as_markup(archive: Archive, tmp_path):
    """Names and notes come from CI variables and QA's command line: never markup."""
    record = release("0.2.0", "stable")
    promotion = record["promotions"][-1]
    promotion["who"] = f"qa {HOSTILE}"
    promotion["approval"]["who"] = [f"approver {HOSTILE}"]
    promotion["benchmarks"] |= {"accepted_regression": {"reason": HOSTILE, "who": HOSTILE}}
    record["approvals"] = [{"who": HOSTILE, "when": "2026-11-03T08:00:00+00:00", "notes": HOSTILE}]
    archive.write_json(record, PROJECT, "0.2.0", "release.json")
    render(archive, tmp_path / "site", WHEN)
    pages = {p: p.read_text(encoding="utf-8") for p in (tmp_path / "site").rglob("*.html")}
    shown = "".join(pages.values()).count("&lt;img src=x onerror=alert(&quot;pwned&quot;)&gt;")
    assert shown >= 5  # every field above is on a page, escaped
    for path, page in pages.items():
        assert "<img src=x" not in page, path
        assert "<script>pwned" not in page, path


def test_each_archived_calibration_has_a_page_with_its_plots(archive: Archive, tmp_path):
    version, name, run = CALIBRATION
    parts = (PROJECT, version, "calibrations", name)
    Path(archive.path(*parts, f".{run}.partial-0a1b2c3d", "plots")).mkdir(parents=True)
    Path(archive.path(*parts, "20261103T000000Z-unfinished")).mkdir()  # no manifest yet
    out = tmp_path / "site"
    render(archive, out, WHEN)
    listing = parse((out / "versions" / PROJECT / f"{version}.html").read_text(encoding="utf-8"))
    [link] = [r for r in listing.references if "calibrations/" in r]
    assert link == f"../../calibrations/{PROJECT}/{version}/{name}/{run}/index.html"
    folder = out / "calibrations" / PROJECT / version / name
    assert [p.name for p in folder.iterdir()] == [run]  # partial and unfinished left out
    page = (folder / run / "index.html").read_text(encoding="utf-8")
    assert '<td>beta</td><td class="number">1.69</td>' in page
    assert '<td>R0</td><td class="number">3.52</td>' in page
    assert '<td class="number">3.68</td><td class="number">-</td>' in page  # R0 has no R-hat
    assert "No convergence warnings." in page
    assert f"python -m ci reproduce {archive.path(*parts, run)}" in page
    assert "&quot;seed&quot;: 1978" in page  # the manifest, escaped
    images = [r for r in parse(page).references if r.endswith(".png")]
    assert images == ["plots/fit.png", "plots/traces.png"]
    for plot, data in PLOTS.items():
        assert (folder / run / plot).read_bytes() == data


def test_rendering_again_replaces_the_whole_site(archive: Archive, tmp_path: Path) -> None:
    out = tmp_path / "site"
    render(archive, out, WHEN)
    shutil.rmtree(archive.path(PROJECT, "0.2.0"))
    summary = render(archive, out, WHEN)
    assert summary.versions == 2
    assert not (out / "versions" / PROJECT / "0.2.0.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive", "site"]  # no leftovers


def test_refuses_to_replace_a_folder_it_did_not_write(dashboard, tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "todo.txt").write_text("keep me", encoding="utf-8")
    result = dashboard("--out", out)
    assert result.returncode == 2
    assert "is not a site written by `ci dashboard`" in result.stderr
    assert (out / "todo.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("where", ["/proc/epicast/site", "file/site"], ids=["proc", "file"])
def test_an_output_folder_that_cannot_be_written_is_one_line(
    dashboard, tmp_path: Path, where: str
) -> None:
    (tmp_path / "file").write_text("a file, not a folder", encoding="utf-8")
    out = where if where.startswith("/") else tmp_path / where
    result = dashboard("--out", out)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.splitlines()[0].startswith(f"ci: error: cannot write the site to {out}: ")
    assert (
        result.stderr.splitlines()[1]
        == "ci: tip: choose another --out, in a folder you can write to"
    )
    assert "Traceback" not in result.stderr


def test_generation_time_comes_from_source_date_epoch() -> None:
    assert generated_at({"SOURCE_DATE_EPOCH": "86400"}) == datetime(1970, 1, 2, tzinfo=timezone.utc)
    assert generated_at({}).tzinfo is timezone.utc
    with pytest.raises(CIError, match="SOURCE_DATE_EPOCH='yesterday'"):
        generated_at({"SOURCE_DATE_EPOCH": "yesterday"})
