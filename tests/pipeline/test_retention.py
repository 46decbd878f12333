"""``ci archive prune``: what the retention policy removes, and what it never touches.

In process, on a local folder and on fsspec's in-memory file system (the
object-store case: no rename, no lock), with archives written as the ci stages
write them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import fsspec
import pytest

from ci import retention
from ci.archive import Archive
from ci.cli import main
from ci.config import Retention
from ci.manifest import MANIFEST

NOW = datetime(2026, 12, 7, tzinfo=timezone.utc)
OLD, RECENT = NOW - timedelta(days=200), NOW - timedelta(days=5)
POLICY = Retention(keep_runs=3, max_age_days=90)


def iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def release(version: str, reached: str) -> dict:
    """A release record of ``version`` promoted up to ``reached``."""
    steps = [("unstable", "testing"), ("testing", "stable")]
    steps = steps[: ["unstable", "testing", "stable"].index(reached)]
    return {
        "project": "demo",
        "version": version,
        "files": [
            {"filename": f"demo-{version}-py3-none-any.whl", "kind": "wheel", "sha256": "1" * 64}
        ],
        "promotions": [{"from": a, "to": b, "who": "ci", "when": "x"} for a, b in steps],
    }


def calibration_run(archive: Archive, version: str, run: str, when: datetime, on_demand: bool):
    """Publish a calibration folder as ci calibrate does: result, plots, manifest last."""
    parts = ("demo", version, "calibrations", "cal", run)
    folder = archive.path(*parts)
    archive.fs.makedirs(f"{folder}/plots", exist_ok=True)
    archive.fs.pipe(f"{folder}/result.h5", b"x" * 1000)
    archive.fs.pipe(f"{folder}/plots/fit.png", b"p" * 100)
    requested = {"by": "ci", "note": "why" if on_demand else None, "on_demand": on_demand}
    archive.write_json({"finished_at": iso(when), "requested": requested}, *parts, MANIFEST)


def fill(archive: Archive) -> set[str]:
    """Write the archive; return the paths the policy removes (relative to its root)."""
    expected = set()
    archive.write_json(release("1.0.0", "stable"), "demo", "1.0.0", "release.json")
    archive.write_json({"finished_at": iso(OLD)}, "demo", "1.0.0", "tests", "unit-py3.11.json")
    for k in range(5):  # the release's own runs: all kept, however old and many
        calibration_run(archive, "1.0.0", f"2026050{k}T000000Z-tag", OLD + timedelta(k), False)
    for k in range(5):  # on-demand: the newest 3 kept, the 2 oldest go
        calibration_run(archive, "1.0.0", f"2026060{k}T000000Z-od", OLD + timedelta(k), True)
        if k < 2:
            expected.add(f"demo/1.0.0/calibrations/cal/2026060{k}T000000Z-od")
    dev = "1.1.0.dev3"
    archive.write_json(release(dev, "unstable"), "demo", dev, "release.json")
    archive.write_json({"finished_at": iso(OLD)}, "demo", dev, "tests", "unit-py3.11.json")
    archive.write_json({"finished_at": iso(RECENT)}, "demo", dev, "tests", "smoke-py3.11.json")
    run = {"finished_at": iso(OLD), "raw": "20260501T000000Z-vs-1.0.0.raw.json"}
    archive.write_json(run, "demo", dev, "bench", "20260501T000000Z-vs-1.0.0.json")
    archive.write_json({"rounds": {}}, "demo", dev, "bench", run["raw"])
    expected |= {
        f"demo/{dev}/tests/unit-py3.11.json",
        f"demo/{dev}/bench/20260501T000000Z-vs-1.0.0.json",
        f"demo/{dev}/bench/{run['raw']}",
    }
    for k in range(4):  # never released: beyond the newest 3 (two recent ones), old enough
        calibration_run(archive, dev, f"2026050{k}T000000Z-dev", OLD + timedelta(k), False)
        if k < 3:
            expected.add(f"demo/{dev}/calibrations/cal/2026050{k}T000000Z-dev")
    calibration_run(archive, dev, "20261201T000000Z-new", RECENT, True)  # recent: kept
    calibration_run(archive, dev, "20261202T000000Z-new", RECENT, True)
    # An upload in progress (no manifest yet, on an object store) and a partial one.
    for upload in ("20261206T0Z-up", ".x.partial-1"):
        folder = archive.path("demo", dev, "calibrations", "cal", upload)
        archive.fs.makedirs(folder, exist_ok=True)
        archive.fs.pipe(f"{folder}/a", b"1")
    return expected


@pytest.fixture(params=["folder", "memory"])
def archive(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "folder":
        yield Archive(str(tmp_path / "archive"), tmp_path)
        return
    url = f"memory://prune-{tmp_path.name}"
    yield Archive(url, tmp_path)
    fsspec.filesystem("memory").rm(url.removeprefix("memory:/"), recursive=True)


def test_the_policy_removes_only_what_it_lets_go(archive: Archive):
    expected = fill(archive)
    planned = retention.plan(archive, POLICY, NOW)
    assert {"/".join(r.parts) for r in planned} == expected
    assert all(r.size > 0 for r in planned)
    before = set(archive.fs.find(archive.root))
    for removal in planned:
        retention.remove(archive, removal)
    gone = before - set(archive.fs.find(archive.root))
    root = archive.root.rstrip("/") + "/"
    assert {path.removeprefix(root) for path in gone} == {
        path.removeprefix(root)
        for path in before
        if any(path.removeprefix(root).startswith(item) for item in expected)
    }
    assert retention.plan(archive, POLICY, NOW) == []  # a second prune has nothing to do
    assert archive.read_json("demo", "1.0.0", "release.json")["version"] == "1.0.0"


def test_a_removal_cut_short_is_finished_by_the_next_prune(archive: Archive):
    fill(archive)
    [first, *_] = [r for r in retention.plan(archive, POLICY, NOW) if r.folder]
    path = archive.path(*first.parts)
    archive.fs.pipe(f"{path}/{retention.MARKER}", b"")  # killed after the marker and manifest
    archive.fs.rm(f"{path}/{MANIFEST}")
    planned = retention.plan(archive, POLICY, NOW)
    assert planned[0].parts == first.parts
    assert planned[0].why == "finishing a removal that was cut short"
    assert [r.parts for r in planned].count(first.parts) == 1
    retention.remove(archive, planned[0])
    assert not archive.fs.exists(path)


def test_dry_run_lists_and_removes_nothing_then_prune_frees_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    config = repo / "pipeline.toml"
    config.write_text('[archive]\nurl = "archive"\n\n[retention]\nkeep_runs = 3\n')
    monkeypatch.chdir(repo)
    monkeypatch.delenv("CI_CONFIG", raising=False)
    archive = Archive("archive", repo)
    fill(archive)
    before = set(archive.fs.find(archive.root))

    assert main(["archive", "prune", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert set(archive.fs.find(archive.root)) == before
    assert out[-1].startswith("prune: would remove 8 item(s), ")
    assert out[-1].endswith(" to free")
    assert "prune: would remove demo/1.1.0.dev3/tests/unit-py3.11.json (" in out[0] + "".join(out)

    assert main(["archive", "prune"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].startswith("prune: removed 8 item(s), ")
    assert main(["archive", "prune"]) == 0
    assert capsys.readouterr().out == "prune: removed 0 item(s), 0 B freed\n"


def test_a_record_of_unknown_age_stops_prune_before_anything_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "pipeline.toml").write_text('[archive]\nurl = "archive"\n')
    monkeypatch.chdir(repo)
    monkeypatch.delenv("CI_CONFIG", raising=False)
    archive = Archive("archive", repo)
    fill(archive)
    dev = ("demo", "1.1.0.dev3", "tests", "smoke-py3.11.json")
    archive.write_json({"finished_at": "last week"}, *dev)
    before = set(archive.fs.find(archive.root))

    assert main(["archive", "prune"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"ci: error: {archive.path(*dev)}: finished_at 'last week' is not an ISO 8601 time, "
        "so its age is unknown",
        "ci: tip: restore it from a copy of the archive; nothing was removed",
    ]
    assert set(archive.fs.find(archive.root)) == before


def test_pruning_an_archive_of_200_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The scale of the issue: 200 runs in 20 versions; times are reported, not asserted."""
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    for v in range(20):
        version = f"1.{v}.0.dev1"
        archive.write_json(release(version, "unstable"), "demo", version, "release.json")
        for k in range(10):
            when = OLD + timedelta(days=k)
            calibration_run(archive, version, f"2026050{k}T000000Z-r", when, True)
    started = time.perf_counter()
    planned = retention.plan(archive, POLICY, NOW)
    for removal in planned:
        retention.remove(archive, removal)
    seconds = time.perf_counter() - started
    assert len(planned) == 20 * 7
    assert retention.plan(archive, POLICY, NOW) == []
    with capsys.disabled():
        freed = sum(r.size for r in planned)
        print(f"\nprune: 200 runs, {len(planned)} removed, {freed} bytes, {seconds:.2f} s")
