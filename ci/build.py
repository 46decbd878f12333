"""``ci build``: build the sdist and wheel once, first, reproducibly, and check them.

The wheel is built from the sdist (``python -m build``), which proves the sdist
is complete. ``SOURCE_DATE_EPOCH`` is the commit time, and the build backend is
pinned by the ci tool's lock, so the same commit builds byte-identical files:
the wheel is reproducible by itself; the sdist is normalised afterwards (file
times clamped to the commit time, owners zeroed, members sorted, no gzip
timestamp), since tar archives otherwise record the checkout's file times.
With ``[build] docs`` set, the documentation is then built against the wheel
and zipped beside it (:mod:`ci.docs`).
"""

from __future__ import annotations

import gzip
import io
import logging
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from packaging.version import InvalidVersion, Version

from ci import docs, git, records, shell
from ci.config import load_config
from ci.distribution import DistFile, read_dist_file, sha256_of
from ci.errors import CIError
from ci.release import now

logger = logging.getLogger(__name__)

REPORT_NAME = "build-report.json"


def read_report(dist: Path) -> records.BuildReport:
    """Return the build report of ``dist``; refuse in one line, saying how to make it, if none.

    A report of another shape (edited by hand, or by an older ``ci``) is
    refused too, naming its wrong fields, and so is a file name in it that is
    not one plain name of ``dist``: later stages upload the files it names.
    """
    path = dist / REPORT_NAME
    if not path.is_file():
        raise CIError(f"no build report {path}", tip="run `python -m ci build` first")
    report = records.read(path)
    wrong = {
        "files" if field == "docs" else field
        for field in records.wrong_fields(records.BuildReport, report)
    }
    if wrong:
        raise CIError(
            f"{path} is not a {records.BuildReport.what} of `ci build`: "
            f"{', '.join(sorted(wrong))} missing or malformed",
            tip=records.BuildReport.tip,
        )
    return records.BuildReport.model_validate(report)


def current_build(root: Path, dist: Path) -> records.BuildReport | None:
    """Return the build report in ``dist`` if it is what building ``root`` now would make.

    That is: built from the checkout's commit and tags, with the same build
    constraints and documentation setting, every file still there unchanged.
    The build is reproducible, so building again would give the same bytes.
    """
    checkout = git.checkout(root)
    try:
        report = read_report(dist)
    except CIError:
        return None
    wants_docs = bool(load_config(checkout.root).build.docs)
    constraints = _constraints(checkout.root)
    if (
        report.built_at is None
        or (report.commit, report.tags) != (checkout.commit, list(checkout.tags))
        or report.constraints_sha256 != (constraints and sha256_of(constraints))
        or (report.docs is not None) != wants_docs
    ):
        return None
    try:
        built_files(dist)
        built_docs(dist, report)
    except CIError:
        return None
    return report


def _constraints(root: Path) -> Path | None:
    """Return the ``[build] constraints`` file of the checkout at ``root``, None if none is set.

    Raises
    ------
    CIError
        If the file named is not a file of the checkout.
    """
    name = load_config(root).build.constraints
    if not name:
        return None
    path = (root / name).resolve()
    if not path.is_file() or not path.is_relative_to(root.resolve()):
        raise CIError(
            f"[build] constraints = {name!r} in pipeline.toml is not a file of {root}",
            tip="name the pip constraints file of the build backend, relative to the checkout, "
            "or leave constraints empty",
        )
    return path


def build(root: Path, dist: Path) -> dict:
    """Build, check and describe the distribution of the checkout at ``root``.

    Parameters
    ----------
    root
        A git checkout of a setuptools-scm project.
    dist
        Output folder; replaced by the new sdist, wheel, documentation zip (with
        ``[build] docs``) and build report.

    Returns
    -------
    dict
        The build report (also written to ``dist/build-report.json``).
    """
    checkout = git.checkout(root)
    _check_tags(checkout)
    docs_env = load_config(checkout.root).build.docs
    if docs_env:
        docs.require_env(checkout.root, docs_env)
    constraints = _constraints(checkout.root)
    pinned = {"UV_CONSTRAINT": str(constraints), "PIP_CONSTRAINT": str(constraints)}
    with tempfile.TemporaryDirectory(prefix="ci-build-") as tmp:
        out = Path(tmp)
        shell.run(
            [sys.executable, "-m", "build", "--installer", "uv", "--outdir", out, checkout.root],
            env={
                "SOURCE_DATE_EPOCH": str(checkout.commit_time),
                **(pinned if constraints else {}),
            },
        )
        files = [read_dist_file(path) for path in sorted(out.iterdir())]
        sdist = _one(files, "sdist")
        wheel = _one(files, "wheel")
        _normalise_sdist(sdist.path, checkout.commit_time)
        shell.run([sys.executable, "-m", "twine", "check", "--strict", sdist.path, wheel.path])
        _check_package_data(sdist.path, wheel.path)
        if docs_env:
            doczip = out / docs.doczip_name(wheel.project, str(wheel.version))
            docs.build_docs(checkout.root, docs_env, wheel.path, doczip, checkout.commit_time)
        if dist.exists():
            shutil.rmtree(dist)
        dist.mkdir(parents=True)
        files = [read_dist_file(shutil.move(f.path, dist / f.filename)) for f in (wheel, sdist)]
        if docs_env:
            shutil.move(doczip, dist / doczip.name)
    report = {
        "project": wheel.project,
        "version": str(wheel.version),
        "commit": checkout.commit,
        "tags": list(checkout.tags),
        "source_date_epoch": checkout.commit_time,
        "constraints_sha256": constraints and sha256_of(constraints),
        "built_at": now(),
        "files": [
            {
                "filename": f.filename,
                "kind": f.kind,
                "sha256": f.sha256,
                "size": f.path.stat().st_size,
            }
            for f in files
        ],
    }
    if docs_env:
        report["docs"] = {"filename": doczip.name, "sha256": sha256_of(dist / doczip.name)}
    built = records.BuildReport.model_validate(report)
    records.write(dist / REPORT_NAME, built)
    return built


def built_files(dist: Path) -> tuple[records.BuildReport, list[DistFile]]:
    """Return the build report in ``dist`` and its files, checking their hashes.

    Later stages (publish) use this instead of globbing, so they release exactly
    what was built and checked.
    """
    report = read_report(dist)
    files = []
    for entry in report.files:
        path = dist / entry.filename
        if not path.exists():
            raise CIError(f"{path} is listed in the build report but missing", tip="run `ci build`")
        found = read_dist_file(path)
        if found.sha256 != entry.sha256:
            raise CIError(f"{path} changed since it was built", tip="run `ci build` again")
        files.append(found)
    return report, files


def built_docs(dist: Path, report: records.BuildReport) -> Path | None:
    """Return the documentation zip of the build report (None if it has none), checked."""
    if report.docs is None:
        return None
    path = dist / report.docs.filename
    if not path.exists() or sha256_of(path) != report.docs.sha256:
        raise CIError(f"{path} is missing or changed since it was built", tip="run `ci build`")
    return path


def _check_tags(checkout: git.Checkout) -> None:
    """Refuse to build a commit carrying a tag that is not a PEP 440 version.

    setuptools-scm would ignore such a tag (a dev version where a release was
    meant) or fail with a traceback, depending on its shape.
    """
    malformed = []
    for tag in checkout.tags:
        try:
            Version(tag)
        except InvalidVersion:
            malformed.append(tag)
    if malformed:
        raise CIError(
            f"{'tags' if len(malformed) > 1 else 'tag'} "
            f"{', '.join(repr(t) for t in malformed)} on {checkout.commit[:12]} "
            f"{'are not PEP 440 versions' if len(malformed) > 1 else 'is not a PEP 440 version'}",
            tip="release tags look like 1.2.0rc1 or 1.2.0: delete it (git tag -d TAG) "
            "and tag again",
        )


def _one(files: list[DistFile], kind: str) -> DistFile:
    matches = [f for f in files if f.kind == kind]
    if len(matches) != 1:
        raise CIError(f"expected one {kind}, the build produced {len(matches)}")
    return matches[0]


def _normalise_sdist(path: Path, epoch: int) -> None:
    """Rewrite an sdist so that its bytes depend only on its content and ``epoch``."""
    with tarfile.open(path, "r:gz") as source:
        members = sorted(source.getmembers(), key=lambda m: m.name)
        contents = {m.name: source.extractfile(m).read() for m in members if m.isfile()}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member in members:
            member.mtime = min(member.mtime, epoch)
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.pax_headers = {}
            data = contents.get(member.name)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    with (
        path.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=epoch, filename="") as out,
    ):
        out.write(buffer.getvalue())


def _check_package_data(sdist: Path, wheel: Path) -> None:
    """Fail if a file of an importable package in the sdist is missing from the wheel."""
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
    packages = {name.split("/")[0] for name in in_wheel if "/" in name}
    packages = {p for p in packages if not p.endswith((".dist-info", ".data"))}
    with tarfile.open(sdist, "r:gz") as archive:
        names = [m.name for m in archive.getmembers() if m.isfile()]
    missing = []
    for name in names:
        parts = name.split("/")[1:]  # drop "<project>-<version>/"
        if parts and parts[0] == "src":
            parts = parts[1:]
        inside_package = len(parts) > 1 and parts[0] in packages and "__pycache__" not in parts
        if inside_package and "/".join(parts) not in in_wheel:
            missing.append("/".join(parts))
    if missing:
        raise CIError(
            f"the wheel lacks package files that are in the sdist: {', '.join(sorted(missing))}",
            tip="declare them as package data (setup.cfg [options.package_data])",
        )
