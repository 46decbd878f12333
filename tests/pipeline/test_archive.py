"""Archived folders: published whole or not at all, checked against their manifests, and
result files compared dataset by dataset (ci.archive, ci.manifest, ci.results).

Real files on the local file system; fsspec's in-memory file system stands in
for an object store, where a folder cannot be renamed atomically.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import fsspec
import h5py
import numpy as np
import pytest

from ci import manifest, records, results
from ci.archive import Archive
from ci.cli import main
from ci.errors import CIError
from ci.release import read_record

ROOT = Path(__file__).resolve().parents[2]
LOCAL = fsspec.filesystem("file")
RESULT = b"\x89HDF not really"


def make_folder(path: Path) -> Path:
    """A calibration-like folder with its manifest."""
    (path / "plots").mkdir(parents=True)
    (path / "result.h5").write_bytes(RESULT)
    (path / "plots" / "fit.png").write_bytes(b"a figure")
    (path / "calibrate.log").write_text("done\n", encoding="utf-8")
    manifest.write(path, {"version": "1.0.0"})
    return path


def test_a_manifest_holds_the_sha256_of_every_other_file(tmp_path):
    folder = make_folder(tmp_path / "run")
    written = manifest.read(LOCAL, str(folder))
    assert written["version"] == "1.0.0"
    assert written["files"] == {
        "calibrate.log": hashlib.sha256(b"done\n").hexdigest(),
        "plots/fit.png": hashlib.sha256(b"a figure").hexdigest(),
        "result.h5": hashlib.sha256(RESULT).hexdigest(),
    }
    assert manifest.check(LOCAL, str(folder)) == []


def test_check_names_changed_missing_and_unlisted_files(tmp_path):
    folder = make_folder(tmp_path / "run")
    (folder / "plots" / "fit.png").write_bytes(b"another figure")
    (folder / "calibrate.log").unlink()
    (folder / "notes.txt").write_text("added later", encoding="utf-8")
    problems = manifest.check(LOCAL, str(folder))
    assert [(p.file, p.reason.split()[0]) for p in problems] == [
        ("calibrate.log", "missing"),
        ("notes.txt", "not"),
        ("plots/fit.png", "sha256"),
    ]
    assert problems[2].line() == (
        f"{folder}/plots/fit.png: sha256 "
        f"{hashlib.sha256(b'another figure').hexdigest()[:12]}..., manifest says "
        f"{hashlib.sha256(b'a figure').hexdigest()[:12]}..."
    )


@pytest.mark.parametrize("url", ["local", "memory://archive"])
def test_a_published_folder_appears_whole_and_partial_ones_are_ignored(tmp_path, url):
    archive = Archive(str(tmp_path / "archive") if url == "local" else url, tmp_path)
    folder = make_folder(tmp_path / "run")
    parts = ("epicast", "1.0.0", "calibrations", "sir")
    published = archive.publish_folder(folder, *parts, "20261124T000000Z-abc", last="manifest.json")
    assert published == archive.path(*parts, "20261124T000000Z-abc")
    archive.fs.makedirs(archive.path(*parts, ".20261125T000000Z-abc.partial-0123abcd"))
    archive.fs.makedirs(archive.path(*parts, "20261126T000000Z-abc"), exist_ok=True)
    archive.fs.pipe(archive.path(*parts, "20261126T000000Z-abc", "result.h5"), b"no manifest")
    assert archive.complete_folders(*parts, marker="manifest.json") == ["20261124T000000Z-abc"]
    assert manifest.check(archive.fs, published) == []
    assert manifest.manifest_folders(archive.fs, archive.root) == [published]
    archive.fs.rm(archive.path(*parts), recursive=True)


def test_archive_verify_checks_the_whole_archive_or_one_folder(tmp_path):
    archive = tmp_path / "archive"
    good = make_folder(archive / "epicast" / "1.0.0" / "calibrations" / "a" / "run-1")
    bad = make_folder(archive / "epicast" / "1.0.0" / "calibrations" / "b" / "run-1")
    (bad / "result.h5").write_bytes(b"corrupted")
    make_folder(archive / "epicast" / "1.0.0" / "calibrations" / "b" / ".run-2.partial-1")
    verify = [sys.executable, "-m", "ci", "archive", "verify"]
    whole = subprocess.run(
        [*verify, str(archive)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert whole.returncode == 1
    assert whole.stdout.splitlines() == [
        f"MISMATCH {bad}/result.h5: sha256 {hashlib.sha256(b'corrupted').hexdigest()[:12]}..., "
        f"manifest says {hashlib.sha256(RESULT).hexdigest()[:12]}...",
        f"archive verify: 1 of 2 folder(s) intact (6 file(s) checked) under {archive}",
    ]
    for wrong, message in (
        (tmp_path / "missing", f"{tmp_path / 'missing'} is not a folder"),
        (good / "plots", f"no archived folder (with a manifest.json) under {good / 'plots'}"),
    ):
        result = subprocess.run(
            [*verify, str(wrong)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert (result.returncode, result.stderr.splitlines()[0]) == (2, f"ci: error: {message}")
    one = subprocess.run(
        [*verify, str(good)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert one.returncode == 0
    assert (
        one.stdout == f"archive verify: 1 of 1 folder(s) intact (3 file(s) checked) under {good}\n"
    )


def write_result(path: Path, draws: np.ndarray, seconds: list[float]) -> Path:
    with h5py.File(path, "w") as handle:
        handle["draws"] = draws
        handle["chain_seconds"] = seconds
        handle["observations/in_bed"] = np.arange(4.0)
    return path


def test_results_compare_bit_for_bit_and_say_by_how_much(tmp_path):
    draws = np.linspace(1.0, 2.0, 12).reshape(2, 6)
    archived = write_result(tmp_path / "a.h5", draws, [1.0, 2.0])
    same = write_result(tmp_path / "b.h5", draws.copy(), [1.5, 2.5])
    assert results.compare(archived, same) == ([], ["chain_seconds"])
    changed = draws.copy()
    changed[1, 2] *= 1 + 1e-12
    other = write_result(tmp_path / "c.h5", changed, [1.0, 2.0])
    [difference], _ = results.compare(archived, other)
    assert (difference.name, difference.reason, difference.differing) == ("draws", "values", 1)
    assert difference.max_rel == pytest.approx(1e-12, rel=1e-3)
    assert difference.line().startswith("draws: 1 value(s) differ, max |difference| ")
    with h5py.File(other, "a") as handle:
        del handle["observations/in_bed"]
        handle["extra"] = [1]
    names = [(d.name, d.reason) for d in results.compare(archived, other)[0]]
    assert names == [("draws", "values"), ("extra", "new"), ("observations/in_bed", "missing")]


@pytest.mark.parametrize("part", ["..", ".", "", "a/b", "/abs", "a\x00b", "x" * 201, "..hidden"])
def test_no_archive_path_part_reaches_outside_its_folder(tmp_path, part):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    with pytest.raises(CIError, match="cannot name a file"):
        archive.write_json({}, "demo", part, "release.json")
    assert not (tmp_path / "archive").exists()
    assert archive.path("demo", ".partial-1", "release.json").endswith("/.partial-1/release.json")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]", " holds a JSON list, expected an object"),
        ('"manifest"', " holds a JSON str, expected an object"),
        ('{"schema_version": 1, "files": 3}', ": 'files' must map each file to its sha256"),
        ('{"schema_version": 1, "files": {"a": 3}}', ": 'files' must map each file to its sha256"),
        ("[" * 100_000 + "]" * 100_000, " nests arrays or objects too deeply to read"),
    ],
    ids=["list", "string", "files-number", "sha-number", "nested"],
)
def test_a_manifest_of_the_wrong_shape_is_one_line(tmp_path, capsys, text, expected):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "manifest.json").write_text(text)
    assert main(["archive", "verify", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.splitlines()[0]
    assert error == f"ci: error: {tmp_path / 'run' / 'manifest.json'}{expected}"


RECORD = {"project": "demo", "version": "1.0.0", "commit": "0" * 40, "tags": [], "files": []}
RECORD |= {"promotions": [], "approvals": []}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"project": None}, "is not a release record of ci: project: Field required"),
        ({"files": 3}, "is not a release record of ci: files: Input should be a valid list"),
        ({"files": [{"filename": "a.whl"}]}, "of ci: files.0.sha256: Field required"),
        ({"promotions": [{"from": "unstable", "to": "prod"}]}, "promotions.0.to: Input should"),
        ({"approvals": [{"notes": "ok"}]}, "of ci: approvals.0.who: Field required"),
        ({"pending": {"action": "publish", "to": "unstable"}}, "pending.publish.commit: Field"),
        ({"pending": {"action": "drop"}}, "of ci: pending: Input tag 'drop' found using 'action'"),
        ({"version": "2.0.0"}, "is the record of demo 2.0.0"),
    ],
    ids=["no-project", "files", "sha", "stage", "who", "pending", "action", "other-version"],
)
def test_a_damaged_release_record_is_one_line_naming_its_field(tmp_path, change, expected):
    """Every stage acts on the record: one damaged by hand is refused, not half-used."""
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    record = {k: v for k, v in {**RECORD, **change}.items() if v is not None}
    archive.write_json(record, "demo", "1.0.0", "release.json")
    with pytest.raises(CIError) as caught:
        read_record(archive, "demo", "1.0.0")
    assert caught.value.message.startswith(archive.path("demo", "1.0.0", "release.json"))
    assert expected in caught.value.message


def test_a_release_record_as_ci_writes_it_is_read(tmp_path):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    archive.write_json(RECORD, "demo", "1.0.0", "release.json")
    assert read_record(archive, "demo", "1.0.0") == {"schema_version": 1, **RECORD}


def test_status_with_a_damaged_release_record_is_one_line(tmp_path, monkeypatch, capsys):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    archive.write_json({**RECORD, "files": 3}, "demo", "1.0.0", "release.json")
    (tmp_path / ".git").mkdir()
    (tmp_path / "pipeline.toml").write_text(f'[archive]\nurl = "{tmp_path / "archive"}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CI_STATE_DIR", str(tmp_path / "state"))
    for variable in ("DEVPI_URL", "CI_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["status"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[1:] == [
        "ci: tip: restore it from a copy of the archive (the index holds the files)"
    ]
    assert "release.json is not a release record of ci: files: " in err.splitlines()[0]


EVIDENCE = {"suite": "unit", "python": "3.11", "status": "passed", "passed": 3, "failed": 0}
EVIDENCE |= {"skipped": 0, "duration_s": 2.5, "file": {"filename": "a.whl", "sha256": "0" * 64}}
COMPARED = {"name": "b.py::test_run", "unit": "s", "candidate": 2.0, "baseline": 1.0}
COMPARED |= {"ratio": 2.0, "ci_low": 1.9, "ci_high": 2.1, "p_value": 1e-5, "verdict": "slower"}
RUN = {"version": "1.0.0", "baseline": "0.9.0", "python": "3.11", "rounds": 8, "alpha": 0.01}
RUN |= {"min_effect": 0.03, "started_at": "2026-12-01T10:00:00+00:00", "verdict": "slower"}
RUN |= {"finished_at": "2026-12-01T10:05:00+00:00", "benchmarks": [COMPARED]}


@pytest.mark.parametrize(
    ("shape", "record", "expected"),
    [
        (records.Evidence, EVIDENCE, None),
        (records.Evidence, {**EVIDENCE, "status": "ok"}, "status: Input should be 'passed'"),
        (records.Evidence, {**EVIDENCE, "passed": "3 tests"}, "passed: Input should be a valid"),
        (records.Evidence, {**EVIDENCE, "file": None}, "file: Input should be a valid dict"),
        (records.BenchRun, RUN, None),
        (records.BenchRun, {**RUN, "finished_at": "soon"}, "finished_at: Input should be a val"),
        (records.BenchRun, {**RUN, "benchmarks": [{}]}, "benchmarks.0.name: Field required"),
        (records.BenchRun, {**RUN, "drift": {"verdict": "same"}}, "drift.reference: Field requi"),
    ],
    ids=["evidence", "status", "count", "file", "bench", "time", "benchmark", "drift"],
)
def test_evidence_and_bench_runs_of_another_shape_are_one_line(shape, record, expected):
    """What verify, promote, status, bench and the dashboard read back from the archive."""
    if expected is None:
        assert records.checked(shape, record, "x.json") is record
        return
    with pytest.raises(CIError) as caught:
        records.checked(shape, record, "x.json")
    assert caught.value.message.startswith(f"x.json is not a {shape.what} of ci: ")
    assert expected in caught.value.message
    assert caught.value.tip.startswith("restore it from a copy of the archive")


REPORT = {"project": "demo", "version": "1.0.0", "commit": "0" * 40, "tags": ["1.0.0"]}
REPORT |= {"files": [{"filename": "a.whl", "kind": "wheel", "sha256": "0" * 64, "size": 3}]}
MANIFEST = {"version": "1.0.0", "finished_at": "2026-12-01T10:05:00+00:00", "files": {}}


@pytest.mark.parametrize(
    ("shape", "record"),
    [
        (records.ReleaseRecord, RECORD),
        (records.Evidence, EVIDENCE),
        (records.BenchRun, RUN),
        (records.CalibrationManifest, MANIFEST),
        (records.BuildReport, REPORT),
    ],
    ids=["release", "evidence", "bench", "manifest", "build-report"],
)
def test_a_record_of_schema_version_1_still_reads(tmp_path, shape, record):
    """Every record ci ever wrote is of version 1: its file reads as its model, every field kept."""
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"schema_version": 1, **record}))
    model = records.load(shape, records.read(path), str(path))
    times = {"started_at", "finished_at"} if shape is records.BenchRun else set()
    assert _kept(model.as_json(exclude=times), {k: v for k, v in record.items() if k not in times})
    for name in times:
        assert getattr(model, name) == datetime.fromisoformat(record[name])


def _kept(read: object, written: object) -> bool:
    """Whether ``read`` holds everything ``written`` does (models may add defaults)."""
    if isinstance(written, dict):
        return isinstance(read, dict) and all(
            k in read and _kept(read[k], v) for k, v in written.items()
        )
    if isinstance(written, list):
        return (
            isinstance(read, list) and len(read) == len(written) and all(map(_kept, read, written))
        )
    return read == written


def test_a_record_of_another_schema_version_is_one_line(tmp_path):
    archive = Archive(str(tmp_path / "archive"), tmp_path)
    (tmp_path / "archive" / "demo" / "1.0.0").mkdir(parents=True)
    path = tmp_path / "archive" / "demo" / "1.0.0" / "release.json"
    path.write_text(json.dumps({"schema_version": 2, **RECORD}))
    with pytest.raises(CIError) as caught:
        read_record(archive, "demo", "1.0.0")
    assert (
        caught.value.message
        == f"{archive.url}/demo/1.0.0/release.json has schema_version 2, expected 1"
    )
    assert caught.value.tip == "re-create it with this version of the ci tool"
