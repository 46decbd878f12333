"""``ci dashboard``: a static site of the archive (versions, stages, evidence, benchmarks).

The site is plain HTML with inline SVG charts (:mod:`ci.charts`) and one style
sheet, so it works offline from the file system: no JavaScript, no CDN, no
link leaving the site. Layout of the output folder::

    index.html                          every project: versions, benchmark history and steps,
                                        ratio charts, comparisons
    style.css
    versions/<project>/<version>.html   one version: release record, evidence, bench runs
    calibrations/<project>/<version>/<name>/<run>/index.html
                                        one archived calibration: diagnostics, plots,
                                        manifest, the command that reproduces it

The pages are jinja2 templates (``ci/templates``: a base layout, one template
per kind of page, macros for tables, cells and figures) and the style sheet is
``ci/static/style.css``, both files of the ci package. This module loads the
archive and decides what each page shows (rows, texts, classes, links); the
templates only lay those values out, escaping every one of them.

Rendering is deterministic: everything is sorted and numbers have fixed
formats, so the same archive gives the same bytes. The one exception is the
generation time in each page's footer, which is ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention) when set. The site is rendered into a
temporary folder beside the output folder, which then replaces the old site,
so readers never see a half-written one.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from markupsafe import Markup

from ci import charts, comparison, history, verdict
from ci.archive import Archive
from ci.bench import runs
from ci.errors import CIError
from ci.index import version_key
from ci.manifest import MANIFEST
from ci.records import Evidence
from ci.release import RELEASED, accepted_regression, read_record, stage
from ci.verdict import format_value
from ci.verify import evidence_for

logger = logging.getLogger(__name__)

EPOCH_ENV = "SOURCE_DATE_EPOCH"
GENERATOR = "ci dashboard"
"""The pages' ``generator`` meta tag: an existing output folder is replaced only if its
index has it."""
STYLE = "static/style.css"
"""The site's style sheet, in the ci package; written as ``style.css`` at the site root."""


@dataclass(frozen=True)
class Version:
    """What the archive holds about one version.

    ``runs`` are the bench runs, oldest first, each with its name under ``run``.
    """

    project: str
    version: str
    record: dict[str, Any] | None
    evidence: list[Evidence]
    runs: list[dict[str, Any]]
    calibrations: list[CalibrationRun]

    @property
    def page(self) -> str:
        """Return the version page's path in the site."""
        return f"versions/{self.project}/{self.version}.html"

    @property
    def href(self) -> str:
        """Return the version page's URL relative to the site root."""
        return f"versions/{quote(self.project)}/{quote(self.version)}.html"


@dataclass(frozen=True)
class CalibrationRun:
    """One complete archived calibration folder: where it is and its manifest."""

    name: str
    run: str
    location: str
    """The folder's path (or URL) in the archive, as ``ci reproduce`` takes it."""
    manifest: dict[str, Any]

    @property
    def folder(self) -> str:
        """Return the page's folder in the site (the plots are copied beside the page)."""
        m = self.manifest
        return f"calibrations/{m['project']}/{m['version']}/{self.name}/{self.run}"

    @property
    def href(self) -> str:
        """Return the page's URL relative to the site root."""
        return quote(f"{self.folder}/index.html")

    @property
    def plots(self) -> list[str]:
        """Return the figures among the folder's files (paths within the folder)."""
        return [f for f in sorted(self.manifest["files"]) if f.endswith((".png", ".svg"))]


@dataclass(frozen=True)
class Summary:
    """What :func:`render` wrote: the index page and how much it shows."""

    index: Path
    versions: int
    comparisons: int


def generated_at(environ: Mapping[str, str] | None = None) -> datetime:
    """Return ``$SOURCE_DATE_EPOCH`` (seconds since the epoch) as UTC time, else now."""
    environ = os.environ if environ is None else environ
    value = environ.get(EPOCH_ENV)
    if not value:
        return datetime.now(timezone.utc)
    try:
        return datetime.fromtimestamp(int(value), timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise CIError(f"{EPOCH_ENV}={value!r} is not a number of seconds since 1970-01-01") from exc


def render(archive: Archive, out: Path, generated_at: datetime) -> Summary:
    """Render the site of ``archive`` into ``out``, replacing what was there.

    Parameters
    ----------
    archive
        The archive store to show.
    out
        Output folder; an existing one must be empty or a site of this command.
    generated_at
        Time shown in the footers (the only part that varies between renders).

    Returns
    -------
    Summary
        The index page, the number of versions and of bench runs shown.
    """
    projects = load(archive)
    pages = site(archive, projects, generated_at)
    write_site(pages, out.resolve())
    versions = [v for project in projects.values() for v in project]
    return Summary(
        index=out.resolve() / "index.html",
        versions=len(versions),
        comparisons=sum(len(v.runs) for v in versions),
    )


def load(archive: Archive) -> dict[str, list[Version]]:
    """Return every archived version per project (projects sorted, versions newest first)."""
    projects = {}
    for project in _folders(archive):
        names = sorted(_folders(archive, project), key=version_key, reverse=True)
        projects[project] = [
            Version(
                project=project,
                version=name,
                record=read_record(archive, project, name),
                evidence=sorted(
                    evidence_for(archive, project, name),
                    key=lambda e: (e.suite, _python_key(e.python)),
                ),
                runs=runs(archive, project, name),
                calibrations=_calibration_runs(archive, project, name),
            )
            for name in names
        ]
    return projects


def _calibration_runs(archive: Archive, project: str, version: str) -> list[CalibrationRun]:
    """Return the complete calibration folders of a version, by name then run."""
    found = []
    for name in _folders(archive, project, version, "calibrations"):
        parts = (project, version, "calibrations", name)
        for run in archive.complete_folders(*parts, marker=MANIFEST):
            location = archive.path(*parts, run)
            manifest = archive.read_json(*parts, run, MANIFEST)
            found.append(CalibrationRun(name, run, _url(archive, location), manifest))
    return found


def _url(archive: Archive, path: str) -> str:
    """Return a store path as a local path, or as a URL for other file systems."""
    return path if "file" in archive.fs.protocol else archive.fs.unstrip_protocol(path)


def _folders(archive: Archive, *parts: str) -> list[str]:
    """Return the sub-folders of an archive folder, sorted."""
    return [n for n in archive.listdir(*parts) if archive.fs.isdir(archive.path(*parts, n))]


def _python_key(python: str) -> tuple[int, ...] | tuple[str]:
    try:
        return tuple(int(part) for part in python.split("."))
    except ValueError:
        return (python,)


def site(
    archive: Archive, projects: Mapping[str, list[Version]], when: datetime
) -> dict[str, str | bytes]:
    """Return every file of the site: path relative to the site root → text (or bytes)."""
    footer = f"Generated {when.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC by ci dashboard."
    series = _calibration_series(projects)
    previous = {
        later.folder: earlier for runs in series.values() for earlier, later in pairwise(runs)
    }
    pages: dict[str, str | bytes] = {
        "style.css": resources.files("ci").joinpath(STYLE).read_bytes(),
        "index.html": _index_page(projects, footer),
        "calibrations/index.html": _calibrations_index(series, previous, footer),
    }
    for versions in projects.values():
        for version in versions:
            pages[version.page] = _version_page(version, footer)
            for calibration in version.calibrations:
                earlier = previous.get(calibration.folder)
                page = _calibration_page(calibration, footer, compared=earlier is not None)
                pages[f"{calibration.folder}/index.html"] = page
                if earlier is not None:
                    pages[f"{calibration.folder}/compare.html"] = _comparison_page(
                        archive, earlier, calibration, footer
                    )
                for plot in calibration.plots:
                    with archive.fs.open(f"{calibration.location}/{plot}", "rb") as handle:
                        pages[f"{calibration.folder}/{plot}"] = handle.read()
    return pages


def _calibration_series(
    projects: Mapping[str, list[Version]],
) -> dict[tuple[str, str], list[CalibrationRun]]:
    """Return every run of each (project, calibration), across versions, oldest first."""
    series: dict[tuple[str, str], list[CalibrationRun]] = {}
    for project, versions in projects.items():
        for version in versions:
            for run in version.calibrations:
                series.setdefault((project, run.name), []).append(run)
    return {
        key: sorted(runs, key=lambda r: (r.manifest["finished_at"], r.folder))
        for key, runs in sorted(series.items())
    }


def write_site(pages: Mapping[str, str | bytes], out: Path) -> None:
    """Write ``pages`` into a new folder beside ``out``, then put it in place of ``out``.

    The swap is two renames (old site aside, new site in), so a reader sees the
    old site or the new one, whole; an existing ``out`` that is not a site of
    this command is refused rather than deleted.
    """
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".new", dir=out.parent))
    try:
        for name, text in sorted(pages.items()):
            path = new / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(text, bytes):
                path.write_bytes(text)
            else:
                path.write_text(text, encoding="utf-8")
        new.chmod(0o755)
        old = out.with_name(f".{out.name}.{uuid.uuid4().hex}.old")
        if out.exists():
            os.replace(out, old)
        try:
            os.replace(new, out)
        except OSError:
            if old.exists():
                os.replace(old, out)  # put the old site back
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(new, ignore_errors=True)


def check_output(out: Path) -> None:
    """Refuse, before any page is built, an ``out`` that is no site of ours or cannot be written.

    Raises
    ------
    CIError
        Naming the folder and what to do instead.
    """
    _check_replaceable(out)
    _check_writable(out)


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    index = out / "index.html"
    tag = f'<meta name="generator" content="{GENERATOR}">'
    ours = index.is_file() and tag in index.read_text(encoding="utf-8", errors="replace")
    if not out.is_dir() or not (ours or not any(out.iterdir())):
        raise CIError(
            f"{out} exists and is not a site written by `ci dashboard`; not replacing it",
            tip="choose another --out, or remove that folder",
        )


def _check_writable(out: Path) -> None:
    """Refuse, before any page is built, an output folder whose parent cannot take the site."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".probe", dir=out.parent))
    except OSError as exc:
        raise CIError(
            f"cannot write the site to {out}: {exc.strerror or exc}",
            tip="choose another --out, in a folder you can write to",
        ) from exc


# --- pages: the values each template shows ---------------------------------------------------


@dataclass(frozen=True)
class Note:
    """Text after a cell's content, in its own style (a ``<span>`` of class ``cls``)."""

    cls: str
    text: str


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, and optionally a class, a link, a tooltip and notes."""

    text: str
    cls: str = ""
    href: str = ""
    link_cls: str = ""
    title: str = ""
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class Table:
    """A table's column names and rows of cells (``table`` in templates/macros.html)."""

    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


@dataclass(frozen=True)
class Image:
    """A figure copied from the archive: its URL from the page, alt text and caption."""

    src: str
    alt: str
    caption: str


def _page(template: str, title: str, root: str, footer: str, **values: Any) -> str:
    """Return a whole page; ``root`` is the relative URL of the site root from the page."""
    page = _templates().get_template(template)
    return page.render(title=title, root=root, footer=footer, generator=GENERATOR, **values)


@functools.cache
def _templates() -> jinja2.Environment:
    """Return the environment of the page templates (``ci/templates``, shipped with ci).

    Autoescaping is on and ``finalize`` escapes every value with :func:`html.escape`,
    whose entities (``&quot;``, ``&#x27;``) the pages have always had. Undefined
    names raise, so a template never shows a blank where a value is missing.
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ci", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        finalize=_escaped,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _escaped(value: Any) -> Markup:
    """Return a template value as markup: itself if it already is, else escaped text.

    The only use of :class:`~markupsafe.Markup` in ci: what is already markup is
    the output of the templates' own macros; every value from Python is text.
    jinja2's own escape would write ``&#34;`` and ``&#39;``; this keeps the
    pages byte for byte what they were before the templates.
    """
    return value if isinstance(value, Markup) else Markup(escape(str(value)))


def _index_page(projects: Mapping[str, list[Version]], footer: str) -> str:
    shown = [
        {
            "name": project,
            "versions": _versions_table(versions),
            **_history(versions),
            "ratios": _ratio_charts(versions),
            "comparisons": _comparisons_table(versions),
        }
        for project, versions in projects.items()
    ]
    return _page("index.html", "Release dashboard", "", footer, projects=shown)


def _versions_table(versions: Sequence[Version]) -> Table:
    columns = sorted(
        {(e.suite, e.python) for v in versions for e in v.evidence},
        key=lambda c: (c[0], _python_key(c[1])),
    )
    header = ["version", "stage", "commit", *(f"{s} py{p}" for s, p in columns), "benchmarks"]
    rows = []
    for v in versions:
        found = {(e.suite, e.python): e for e in v.evidence}
        rows.append(
            [
                Cell(v.version, href=v.href),
                Cell(stage(v.record), f"stage-{stage(v.record)}"),
                Cell((v.record or {}).get("commit", "")[:12], "commit"),
                *(_evidence_cell(found.get(column)) for column in columns),
                _latest_verdict(v),
            ]
        )
    return Table(header, rows)


def _evidence_cell(evidence: Evidence | None) -> Cell:
    """Return a suite's status on one Python, its test counts as the tooltip."""
    if evidence is None:
        return Cell("-")
    counts = f"{evidence.passed} passed, {evidence.failed} failed, {evidence.skipped} skipped"
    return Cell(evidence.status, f"status-{evidence.status}", title=counts)


def _latest_verdict(v: Version) -> Cell:
    """Return the verdict of the version's latest bench run, linked, with any drift and reason."""
    if not v.runs:
        return Cell("-")
    run = v.runs[-1]
    notes = []
    drifted = run.get("drift") or {}
    if drifted.get("verdict") == "slower":
        notes.append(Note("verdict-slower", f"drifted from {drifted['reference']}"))
    reason = _accepted_reason(v.record)
    if reason:
        notes.append(Note("accepted", f"accepted: {reason}"))
    return Cell(
        run["verdict"],
        href=f"{v.href}#run-{quote(run['run'])}",
        link_cls=f"verdict-{run['verdict']}",
        notes=tuple(notes),
    )


def _accepted_reason(record: dict[str, Any] | None) -> str | None:
    """Return why a regression was accepted on the way to stable, if it was."""
    stable = [p for p in (record or {}).get("promotions", []) if p["to"] == "stable"]
    accepted = accepted_regression(stable[-1]) if stable else None
    return accepted["reason"] if accepted else None


def _ratio_charts(versions: Sequence[Version]) -> list[charts.RatioChart]:
    """Return one chart per benchmark: each version's latest comparison with a baseline."""
    series: dict[str, list[charts.Point]] = {}
    units: dict[str, str] = {}
    for v in sorted(versions, key=lambda v: version_key(v.version)):
        compared = [run for run in v.runs if run["baseline"] is not None]
        if not compared:
            continue
        latest = compared[-1]
        for item in latest["benchmarks"]:
            if item["ratio"] is None:
                continue
            units[item["name"]] = item["unit"]
            series.setdefault(item["name"], []).append(
                charts.Point(
                    v.version,
                    latest["baseline"],
                    item["ratio"],
                    item["ci_low"],
                    item["ci_high"],
                    item["verdict"],
                )
            )
    return [charts.ratio_chart(name, units[name], series[name]) for name in sorted(series)]


def _history(versions: Sequence[Version]) -> dict[str, Any]:
    """Return the steps found in each benchmark's history, and its charts, most moved first.

    Only versions that reached testing or stable are points (see :mod:`ci.history`).
    ``histories`` is empty when no released version was benchmarked.
    """
    released = [
        (v.version, v.record, v.runs)
        for v in sorted(versions, key=lambda v: version_key(v.version))
        if stage(v.record) in RELEASED
    ]
    found = history.histories(released)
    steps = sorted((step for h in found for step in h.steps), key=lambda s: -abs(math.log(s.ratio)))
    rows = [
        [
            Cell(step.benchmark.rsplit("::", 1)[-1]),
            Cell(f"{step.before} to {step.after}"),
            Cell(f"{step.ratio - 1:+.1%}", "step-slower" if step.ratio > 1 else "step-faster"),
            Cell(step.machine or "any machine (instruction counts)"),
        ]
        for step in steps
    ]
    charted = [
        {
            "chart": charts.history_chart(h),
            # the caption names each line's machine; counts are the same on every machine
            "machines": list(h.series()) if h.unit == history.TIMING_UNIT else None,
        }
        for h in found
    ]
    return {
        "steps": Table(["benchmark", "versions", "change", "measured on"], rows),
        "histories": charted,
    }


def _comparisons_table(versions: Sequence[Version]) -> Table:
    rows = [
        [
            Cell(v.version, href=v.href),
            Cell(run["baseline"] or "-"),
            Cell(_when(run["started_at"])),
            Cell(run["verdict"], f"verdict-{run['verdict']}"),
            Cell(run["run"], href=f"{v.href}#run-{quote(run['run'])}"),
        ]
        for v in versions
        for run in reversed(v.runs)
    ]
    return Table(["version", "baseline", "started", "verdict", "run"], rows)


def _version_page(v: Version, footer: str) -> str:
    return _page(
        "version.html",
        f"{v.project} {v.version}",
        "../../",
        footer,
        stage=stage(v.record),
        record=_release(v.record),
        evidence=_evidence_table(v.evidence),
        runs=[_bench_run(run) for run in v.runs],
        calibrations=_calibrations_table(v.calibrations),
    )


def _release(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return a release record's commit, tags, files, promotions and approvals."""
    if record is None:
        return None
    files = [
        [Cell(f["filename"]), Cell(f.get("kind", "-")), Cell(f["sha256"], "sha")]
        for f in record["files"]
    ]
    promotions = [
        [
            Cell(p["from"]),
            Cell(p["to"]),
            Cell(p["who"]),
            Cell(_when(p["when"])),
            Cell(_describe(p.get("approval"))),
            Cell(_describe(accepted_regression(p))),
        ]
        for p in record["promotions"]
    ]
    approvals = [
        [Cell(a["who"]), Cell(_when(a["when"])), Cell(a.get("notes", ""))]
        for a in record["approvals"]
    ]
    return {
        "commit": record.get("commit", "-"),
        "tags": ", ".join(record.get("tags", [])) or "-",
        "files": Table(["file", "kind", "sha256"], files),
        "promotions": Table(
            ["from", "to", "who", "when", "approval", "accepted regression"], promotions
        ),
        "approvals": Table(["who", "when", "notes"], approvals),
    }


def _evidence_table(evidence: Sequence[Evidence]) -> Table:
    header = ["suite", "python", "status", "passed", "failed", "skipped", "duration", "run at"]
    rows = [
        [
            Cell(e.suite),
            Cell(e.python),
            Cell(e.status, f"status-{e.status}"),
            *(Cell(str(n), "number") for n in (e.passed, e.failed, e.skipped)),
            Cell(f"{e.duration_s:.1f} s", "number"),
            Cell(_when(e.run_at)),
        ]
        for e in evidence
    ]
    return Table(header, rows)


def _bench_run(run: dict[str, Any]) -> dict[str, Any]:
    """Return a bench run's section: the method line, its table, and the drift gate's, if any."""
    gate = run.get("gate", verdict.GATE)
    method = (
        f"{run['rounds']} rounds, alpha {run['alpha']:g}, min effect {run['min_effect']:g}, "
        f"decided by {' and '.join(gate)}, "
        f"Python {run['python']}, started {_when(run['started_at'])}; "
        f"raw data: {run.get('raw') or '-'} in the archive"
    )
    return {
        "name": run["run"],
        "baseline": run["baseline"] or "no baseline",
        "verdict": run["verdict"],
        "method": method,
        "table": _comparison_table(run["benchmarks"], "baseline", gate),
        "drift": _drift(run["drift"], gate) if run.get("drift") else None,
    }


def _drift(found: dict[str, Any], gate: Sequence[str]) -> dict[str, Any]:
    """Return the drift gate's comparison of a run with its reference, the fastest recent stable."""
    return {
        "reference": found["reference"],
        "window": ", ".join(found["window"]),
        "max_drift": f"{found['max_drift']:.0%}",
        "verdict": found["verdict"],
        "table": _comparison_table(found["benchmarks"], found["reference"], gate),
    }


def _comparison_table(
    benchmarks: Sequence[dict[str, Any]], other: str, gate: Sequence[str]
) -> Table:
    """Return a table of comparisons: values, ratio, interval, p-value and verdict.

    The verdict of a row outside the run's gate is shown as reported only.
    """
    header = ["benchmark", "unit", "candidate", other, "ratio", "CI", "p-value", "verdict"]
    rows = []
    for b in sorted(benchmarks, key=lambda b: b["name"]):
        compared = b["ratio"] is not None
        rows.append(
            [
                Cell(b["name"].rsplit("::", 1)[-1]),
                Cell(b["unit"]),
                Cell(format_value(b["candidate"], b["unit"]), "number"),
                Cell(format_value(b["baseline"], b["unit"]), "number"),
                Cell(f"{b['ratio']:.3f}" if compared else "-", "number"),
                Cell(f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]" if compared else "-", "number"),
                Cell(f"{b['p_value']:.3g}" if b["p_value"] is not None else "-", "number"),
                Cell(b["verdict"], f"verdict-{b['verdict']}")
                if verdict.gates(b["unit"], gate)
                else Cell(f"{b['verdict']} (not gated)", "verdict-same"),
            ]
        )
    return Table(header, rows)


def _calibrations_table(calibrations: Sequence[CalibrationRun]) -> Table:
    """Return the version page's calibrations: one row and link per archived folder."""
    rows = [
        [
            Cell(c.name, href=f"../../{c.href}"),
            Cell(c.run),
            *_diagnostic_cells(c.manifest["diagnostics"]),
            Cell(_when(c.manifest["finished_at"])),
        ]
        for c in calibrations
    ]
    return Table(
        ["calibration", "run", "max R-hat", "min bulk ESS", "acceptance", "finished"], rows
    )


def _diagnostic_cells(diagnostics: dict[str, Any]) -> list[Cell]:
    """Return a run's diagnostics at a glance: largest R-hat, smallest bulk ESS, acceptance."""
    return [
        Cell(_number(diagnostics["max_rhat"]), "number"),
        Cell(_number(diagnostics["min_ess_bulk"]), "number"),
        Cell(" – ".join(f"{a:.2f}" for a in diagnostics["acceptance"]), "number"),
    ]


def _requester(manifest: dict[str, Any]) -> tuple[str, str | None] | None:
    """Return who asked for an on-demand run and their note; None for a release's own run."""
    requested = manifest.get("requested") or {}
    return (requested["by"], requested.get("note")) if requested.get("on_demand") else None


def _calibration_page(c: CalibrationRun, footer: str, compared: bool = False) -> str:
    """Return the page of one archived calibration (linking its comparison if it has one)."""
    m = c.manifest
    diagnostics = m["diagnostics"]
    rows = [
        [Cell(quantity), *(Cell(_number(value), "number") for value in values)]
        for quantity, *values in diagnostics["table"]["rows"]
    ]
    facts = {
        "archived at": c.location,
        "commit": m["commit"],
        "tag": m["tag"] or "-",
        "wheel": f"{m['wheel']['filename']} (sha256 {m['wheel']['sha256']})",
        "cluster": _describe(m["cluster"]),
        "seed": str(m["seed"]),
        "environment": f"Python {m['environment']['python']}, "
        f"{len(m['environment']['packages'])} packages pinned in the manifest",
        "ran": f"{_when(m['started_at'])} to {_when(m['finished_at'])}",
        "command": " ".join(m["command"]),
    }
    if (asked := _requester(m)) is not None:
        facts["asked by"] = f"{asked[0]}: {asked[1] or '(no note)'}"
    return _page(
        "calibration.html",
        f"{m['project']} {m['version']}: {c.name}",
        "../../../../../",
        footer,
        facts=list(facts.items()),
        compared=compared,
        diagnostics=Table(diagnostics["table"]["columns"], rows),
        warnings=diagnostics["warnings"],
        plots=[Image(quote(p), p, p) for p in c.plots],
        location=c.location,
        manifest=json.dumps(m, indent=2, sort_keys=True),
    )


def _calibrations_index(
    series: Mapping[tuple[str, str], list[CalibrationRun]],
    previous: Mapping[str, CalibrationRun],
    footer: str,
) -> str:
    """Return the results site's index: every run of every calibration, newest first."""
    header = ["version", "run", "asked by", "max R-hat", "min bulk ESS", "acceptance"]
    header += ["warnings", "finished", "compared"]
    shown = [
        {
            "id": f"{project}-{name}",
            "anchor": quote(f"{project}-{name}"),
            "label": f"{project} {name}",
            "table": Table(
                header, [_index_row(project, c, previous) for c in reversed(calibration_runs)]
            ),
        }
        for (project, name), calibration_runs in series.items()
    ]
    return _page("calibrations.html", "Calibrations", "../", footer, series=shown)


def _index_row(
    project: str, c: CalibrationRun, previous: Mapping[str, CalibrationRun]
) -> list[Cell]:
    """Return a run's row in the calibrations index, linked to its comparison if it has one."""
    m, d = c.manifest, c.manifest["diagnostics"]
    asked, note = _requester(m) or ("release", None)
    version_page = f"../versions/{quote(project)}/{quote(m['version'])}.html"
    return [
        Cell(m["version"], href=version_page),
        Cell(c.run, href=f"../{c.href}"),
        Cell(f"{asked}: {note}" if note else asked),
        *_diagnostic_cells(d),
        Cell(str(len(d["warnings"])), "number"),
        Cell(_when(m["finished_at"])),
        Cell("vs previous", href=f"../{quote(c.folder)}/compare.html")
        if c.folder in previous
        else Cell("-"),
    ]


def _comparison_page(
    archive: Archive, earlier: CalibrationRun, later: CalibrationRun, footer: str
) -> str:
    """Return the page comparing a run with the previous run of its calibration."""
    a, b = earlier.manifest, later.manifest
    labels = (f"{a['version']} {earlier.run}", f"{b['version']} {later.run}")
    found = comparison.changes(a, b)
    rows = [
        [
            Cell(c.quantity),
            Cell(_number(c.mean_a), "number"),
            Cell(_number(c.mean_b), "number"),
            Cell(_number(c.difference), "number"),
            Cell(f"[{_number(c.interval_a[0])}, {_number(c.interval_a[1])}]", "number"),
            Cell(f"[{_number(c.interval_b[0])}, {_number(c.interval_b[1])}]", "number"),
            Cell(_number(c.mc_error), "number"),
            Cell({True: "moved", False: "no", None: "-"}[c.moved], f"moved-{c.moved}".lower()),
        ]
        for c in found
    ]
    header = ["quantity", "mean earlier", "mean later", "later - earlier"]
    header += ["90% earlier", "90% later", "MC error", "moved"]
    return _page(
        "compare.html",
        f"{later.name}: {labels[1]} vs {labels[0]}",
        "../../../../../",
        footer,
        earlier={"href": f"../../../../../{earlier.href}", "label": labels[0]},
        later={"href": "index.html", "label": labels[1]},
        moved_beyond=f"{comparison.MOVED:g}",
        moved=", ".join(c.quantity for c in found if c.moved) or "nothing",
        changes=Table(header, rows),
        **_overlays(archive, (earlier, later), labels),
    )


def _overlays(
    archive: Archive, runs: tuple[CalibrationRun, CalibrationRun], labels: tuple[str, str]
) -> dict[str, Any]:
    """Return the overlaid posterior densities and fits, drawn from both runs' result.h5.

    ``not_drawn`` says why when a result cannot be read. A run whose result keeps
    no predictive bands (epicast before they were stored) has its fit shown as
    the two runs' own figures, one under the other (``fit_images``).
    """
    import h5py

    draws, fits = [], []
    try:
        for run in runs:
            with archive.fs.open(f"{run.location}/result.h5", "rb") as raw, h5py.File(raw) as h:
                draws.append(comparison.draws(h))
                fits.append(comparison.fits(h))
    except (OSError, KeyError) as exc:
        return {
            "not_drawn": str(exc),
            "densities": [],
            "fits": [],
            "fit_images": _fit_figures(runs, labels),
        }
    densities = [
        charts.density_chart(name, labels, (draws[0][name], draws[1][name]))
        for name in draws[1]
        if name in draws[0]
    ]
    columns = [column for column in fits[1] if column in fits[0]]
    fitted = [charts.fit_chart(c, labels, (fits[0][c], fits[1][c])) for c in columns]
    return {
        "not_drawn": None,
        "densities": densities,
        "fits": fitted,
        "fit_images": [] if fitted else _fit_figures(runs, labels),
    }


def _fit_figures(
    runs: tuple[CalibrationRun, CalibrationRun], labels: tuple[str, str]
) -> list[Image]:
    """Return both runs' own fit figures, the later one's page being where the links start."""
    earlier, later = runs
    return [
        Image(quote(prefix + p), p, f"{label}: {p}")
        for prefix, run, label in (
            (f"../../../../../{earlier.folder}/", earlier, labels[0]),
            ("", later, labels[1]),
        )
        for p in run.plots
        if "fit" in p
    ]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _when(iso: str | None) -> str:
    """Return an ISO 8601 time as ``YYYY-mm-dd HH:MM:SS UTC`` (``-`` if absent)."""
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _describe(value: Any) -> str:
    """Return a record value (dict, list, flag) as one line of text, keys sorted."""
    if value is None or value == {}:
        return "-"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_describe(value[key])}" for key in sorted(value))
    if isinstance(value, list):
        return ", ".join(_describe(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
