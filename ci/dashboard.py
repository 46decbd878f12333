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

Rendering is deterministic: everything is sorted and numbers have fixed
formats, so the same archive gives the same bytes. The one exception is the
generation time in each page's footer, which is ``SOURCE_DATE_EPOCH`` (the
reproducible-builds convention) when set. The site is rendered into a
temporary folder beside the output folder, which then replaces the old site,
so readers never see a half-written one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ci import charts, comparison, history, verdict
from ci.archive import Archive, configured_archive
from ci.bench import runs
from ci.errors import CIError
from ci.index import version_key
from ci.manifest import MANIFEST
from ci.release import RELEASED, accepted_regression, read_record, stage
from ci.state import repo_root, state_dir
from ci.verdict import format_value
from ci.verify import evidence_for

logger = logging.getLogger(__name__)

EPOCH_ENV = "SOURCE_DATE_EPOCH"
GENERATOR = '<meta name="generator" content="ci dashboard">'
"""Marks a page as ours: an existing output folder is replaced only if its index has it."""


@dataclass(frozen=True)
class Version:
    """What the archive holds about one version.

    ``runs`` are the bench runs, oldest first, each with its name under ``run``.
    """

    project: str
    version: str
    record: dict[str, Any] | None
    evidence: list[dict[str, Any]]
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


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``dashboard`` command."""
    parser = commands.add_parser("dashboard", help="render the archive as a static site")
    parser.add_argument(
        "--out", type=Path, help="output folder (default: <state dir>/dashboard), replaced whole"
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    out = args.out or state_dir() / "dashboard"
    _check_replaceable(out)
    _check_writable(out)
    summary = render(configured_archive(repo_root()), out, generated_at())
    counts = _plural(summary.versions, "version"), _plural(summary.comparisons, "comparison")
    print(f"dashboard: {summary.index} ({counts[0]}, {counts[1]} of benchmarks)")
    return 0


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
                    key=lambda e: (e["suite"], _python_key(e["python"])),
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
        "style.css": STYLE,
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


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    index = out / "index.html"
    ours = index.is_file() and GENERATOR in index.read_text(encoding="utf-8", errors="replace")
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


# --- pages ---------------------------------------------------------------------------------


def _document(title: str, root: str, body: Iterable[str], footer: str) -> str:
    """Return a whole HTML page; ``root`` is the relative URL of the site root."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        GENERATOR,
        f"<title>{escape(title)}</title>",
        '<link rel="icon" href="data:,">',
        f'<link rel="stylesheet" href="{root}style.css">',
        "</head>",
        "<body>",
        f'<header><a href="{root}index.html">Release dashboard</a></header>',
        "<main>",
    ]
    tail = ["</main>", f"<footer>{escape(footer)}</footer>", "</body>", "</html>", ""]
    return "\n".join([*head, *body, *tail])


def _index_page(projects: Mapping[str, list[Version]], footer: str) -> str:
    body = [
        "<h1>Releases</h1>",
        '<p><a href="calibrations/index.html">Calibrations</a>: every '
        "run of every calibration, across versions, with comparisons.</p>",
    ]
    if not projects:
        body.append("<p>Nothing archived yet.</p>")
    for project, versions in projects.items():
        body += [
            f'<section id="{escape(project)}">',
            f"<h2>{escape(project)}</h2>",
            "<h3>Versions</h3>",
            _versions_table(versions),
            *_history_section(versions),
            "<h3>Benchmarks against the baseline</h3>",
            *_charts(versions),
            "<h3>Comparisons</h3>",
            _comparisons_table(versions),
            "</section>",
        ]
    return _document("Release dashboard", "", body, footer)


def _versions_table(versions: Sequence[Version]) -> str:
    columns = sorted(
        {(e["suite"], e["python"]) for v in versions for e in v.evidence},
        key=lambda c: (c[0], _python_key(c[1])),
    )
    header = ["version", "stage", "commit", *(f"{s} py{p}" for s, p in columns), "benchmarks"]
    rows = []
    for v in versions:
        found = {(e["suite"], e["python"]): e for e in v.evidence}
        rows.append(
            [
                _td(_link(v.href, v.version), raw=True),
                _td(stage(v.record), f"stage-{stage(v.record)}"),
                _td((v.record or {}).get("commit", "")[:12], "commit"),
                *(_evidence_cell(found.get(column)) for column in columns),
                _td(_latest_verdict(v), raw=True),
            ]
        )
    return _table(header, rows)


def _evidence_cell(evidence: dict[str, Any] | None) -> str:
    if evidence is None:
        return _td("-")
    counts = (
        f"{evidence['passed']} passed, {evidence['failed']} failed, {evidence['skipped']} skipped"
    )
    status = evidence["status"]
    return f'<td class="status-{escape(status)}" title="{escape(counts)}">{escape(status)}</td>'


def _latest_verdict(v: Version) -> str:
    """Return the verdict of the version's latest bench run, linked, and any accepted reason."""
    if not v.runs:
        return "-"
    run = v.runs[-1]
    text = _link(f"{v.href}#run-{quote(run['run'])}", run["verdict"], f"verdict-{run['verdict']}")
    drifted = run.get("drift") or {}
    if drifted.get("verdict") == "slower":
        text += f' <span class="verdict-slower">drifted from {escape(drifted["reference"])}</span>'

    reason = _accepted_reason(v.record)
    return text + (f' <span class="accepted">accepted: {escape(reason)}</span>' if reason else "")


def _accepted_reason(record: dict[str, Any] | None) -> str | None:
    """Return why a regression was accepted on the way to stable, if it was."""
    stable = [p for p in (record or {}).get("promotions", []) if p["to"] == "stable"]
    accepted = accepted_regression(stable[-1]) if stable else None
    return accepted["reason"] if accepted else None


def _charts(versions: Sequence[Version]) -> list[str]:
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
    if not series:
        return ["<p>No comparisons with a baseline yet.</p>"]
    return [
        f"<figure>{charts.ratio_chart(name, units[name], series[name])}</figure>"
        for name in sorted(series)
    ]


def _history_section(versions: Sequence[Version]) -> list[str]:
    """Return the steps found in each benchmark's history, then its chart, most moved first.

    Only versions that reached testing or stable are points (see :mod:`ci.history`).
    """
    released = [
        (v.version, v.record, v.runs)
        for v in sorted(versions, key=lambda v: version_key(v.version))
        if stage(v.record) in RELEASED
    ]
    found = history.histories(released)
    if not found:
        return ["<h3>Benchmark history</h3>", "<p>No released version benchmarked yet.</p>"]
    steps = sorted((step for h in found for step in h.steps), key=lambda s: -abs(math.log(s.ratio)))
    rows = [
        [
            _td(step.benchmark.rsplit("::", 1)[-1]),
            _td(f"{step.before} to {step.after}"),
            _td(f"{step.ratio - 1:+.1%}", "step-slower" if step.ratio > 1 else "step-faster"),
            _td(step.machine or "any machine (instruction counts)"),
        ]
        for step in steps
    ]
    table = (
        _table(["benchmark", "versions", "change", "measured on"], rows)
        if rows
        else ("<p>No steps: every benchmark kept its level.</p>")
    )
    return [
        "<h3>Benchmark history</h3>",
        "<h4>Largest steps</h4>",
        table,
        *(f"<figure>{charts.history_chart(h)}{_machines(h)}</figure>" for h in found),
    ]


def _machines(h: history.History) -> str:
    """Return the caption naming the machine of each line of a history chart."""
    if h.unit != history.TIMING_UNIT:
        return "<figcaption>Instruction counts: the same on every machine.</figcaption>"
    lines = [
        f'<span class="series-{k}">line {k + 1}: {escape(machine)}</span>'
        for k, machine in enumerate(h.series())
    ]
    return f"<figcaption>Measured on {'; '.join(lines)}.</figcaption>"


def _comparisons_table(versions: Sequence[Version]) -> str:
    rows = [
        [
            _td(_link(v.href, v.version), raw=True),
            _td(run["baseline"] or "-"),
            _td(_when(run["started_at"])),
            _td(run["verdict"], f"verdict-{run['verdict']}"),
            _td(_link(f"{v.href}#run-{quote(run['run'])}", run["run"]), raw=True),
        ]
        for v in versions
        for run in reversed(v.runs)
    ]
    if not rows:
        return "<p>No benchmark runs archived yet.</p>"
    return _table(["version", "baseline", "started", "verdict", "run"], rows)


def _version_page(v: Version, footer: str) -> str:
    title, reached = f"{v.project} {v.version}", escape(stage(v.record))
    body = [
        f'<h1>{escape(title)} <span class="stage-{reached}">{reached}</span></h1>',
        '<section id="release">',
        "<h2>Release record</h2>",
        *_release_section(v.record),
        "</section>",
        '<section id="evidence">',
        "<h2>Test evidence</h2>",
        _evidence_table(v.evidence),
        "</section>",
        '<section id="benchmarks">',
        "<h2>Benchmark runs</h2>",
        *([_bench_run(run) for run in v.runs] or ["<p>No benchmark runs archived.</p>"]),
        "</section>",
        _calibrations_section(v.calibrations),
    ]
    return _document(title, "../../", body, footer)


def _release_section(record: dict[str, Any] | None) -> list[str]:
    if record is None:
        return ["<p>No release record (never published).</p>"]
    files = [
        [_td(f["filename"]), _td(f.get("kind", "-")), _td(f["sha256"], "sha")]
        for f in record["files"]
    ]
    promotions = [
        [
            _td(p["from"]),
            _td(p["to"]),
            _td(p["who"]),
            _td(_when(p.get("when") or p.get("at"))),
            _td(_describe(p.get("approval"))),
            _td(_describe(accepted_regression(p))),
        ]
        for p in record["promotions"]
    ]
    approvals = [
        [_td(a["who"]), _td(_when(a.get("when") or a.get("at"))), _td(a.get("notes", ""))]
        for a in record["approvals"]
    ]
    return [
        "<dl>",
        f'<dt>commit</dt><dd class="commit">{escape(record.get("commit", "-"))}</dd>',
        f"<dt>tags</dt><dd>{escape(', '.join(record.get('tags', [])) or '-')}</dd>",
        "</dl>",
        "<h3>Files</h3>",
        _table(["file", "kind", "sha256"], files) if files else "<p>None.</p>",
        "<h3>Promotions</h3>",
        _table(["from", "to", "who", "when", "approval", "accepted regression"], promotions)
        if promotions
        else "<p>None yet.</p>",
        "<h3>Approvals</h3>",
        _table(["who", "when", "notes"], approvals) if approvals else "<p>None yet.</p>",
    ]


def _evidence_table(evidence: Sequence[dict[str, Any]]) -> str:
    if not evidence:
        return "<p>No test evidence archived.</p>"
    header = ["suite", "python", "status", "passed", "failed", "skipped", "duration", "run at"]
    rows = [
        [
            _td(e["suite"]),
            _td(e["python"]),
            _td(e["status"], f"status-{e['status']}"),
            *(_td(str(e[key]), "number") for key in ("passed", "failed", "skipped")),
            _td(f"{e['duration_s']:.1f} s", "number"),
            _td(_when(e.get("run_at"))),
        ]
        for e in evidence
    ]
    return _table(header, rows)


def _bench_run(run: dict[str, Any]) -> str:
    """Return a bench run's section: the method line and one row per benchmark."""
    baseline = run["baseline"] or "no baseline"
    gate = run.get("gate", verdict.GATE)
    method = (
        f"{run['rounds']} rounds, alpha {run['alpha']:g}, min effect {run['min_effect']:g}, "
        f"decided by {' and '.join(gate)}, "
        f"Python {run['python']}, started {_when(run['started_at'])}; "
        f"raw data: {run.get('raw') or '-'} in the archive"
    )
    parts = [
        f'<section id="run-{escape(run["run"])}">',
        f"<h3>vs {escape(baseline)}: "
        f'<span class="verdict-{escape(run["verdict"])}">{escape(run["verdict"])}</span></h3>',
        f'<p class="method">{escape(method)}</p>',
        _comparison_table(run["benchmarks"], "baseline", gate),
    ]
    found = run.get("drift")
    if found:
        window = ", ".join(found["window"])
        parts += [
            f"<h4>Drift vs {escape(found['reference'])}, the fastest of {escape(window)} "
            f"(at most +{found['max_drift']:.0%}): "
            f'<span class="verdict-{escape(found["verdict"])}">{escape(found["verdict"])}</span>'
            "</h4>",
            _comparison_table(found["benchmarks"], found["reference"], gate),
        ]
    return "\n".join([*parts, "</section>"])


def _comparison_table(benchmarks: Sequence[dict[str, Any]], other: str, gate: Sequence[str]) -> str:
    """Return a table of comparisons: values, ratio, interval, p-value and verdict.

    The verdict of a row outside the run's gate is shown as reported only.
    """
    header = ["benchmark", "unit", "candidate", other, "ratio", "CI", "p-value", "verdict"]
    rows = []
    for b in sorted(benchmarks, key=lambda b: b["name"]):
        compared = b["ratio"] is not None
        rows.append(
            [
                _td(b["name"].rsplit("::", 1)[-1]),
                _td(b["unit"]),
                _td(format_value(b["candidate"], b["unit"]), "number"),
                _td(format_value(b["baseline"], b["unit"]), "number"),
                _td(f"{b['ratio']:.3f}" if compared else "-", "number"),
                _td(f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]" if compared else "-", "number"),
                _td(f"{b['p_value']:.3g}" if b["p_value"] is not None else "-", "number"),
                _td(b["verdict"], f"verdict-{b['verdict']}")
                if verdict.gates(b["unit"], gate)
                else _td(f"{b['verdict']} (not gated)", "verdict-same"),
            ]
        )
    return _table(header, rows)


def _calibrations_section(calibrations: Sequence[CalibrationRun]) -> str:
    """Return the version page's calibrations: one row and link per archived folder."""
    rows = [
        [
            _td(_link(f"../../{c.href}", c.name), raw=True),
            _td(c.run),
            *_diagnostic_cells(c.manifest["diagnostics"]),
            _td(_when(c.manifest["finished_at"])),
        ]
        for c in calibrations
    ]
    header = ["calibration", "run", "max R-hat", "min bulk ESS", "acceptance", "finished"]
    listing = _table(header, rows) if rows else "<p>No calibrations were archived.</p>"
    return f'<section id="calibrations">\n<h2>Calibrations</h2>\n{listing}\n</section>'


def _diagnostic_cells(diagnostics: dict[str, Any]) -> list[str]:
    """Return a run's diagnostics at a glance: largest R-hat, smallest bulk ESS, acceptance."""
    return [
        _td(_number(diagnostics["max_rhat"]), "number"),
        _td(_number(diagnostics["min_ess_bulk"]), "number"),
        _td(" – ".join(f"{a:.2f}" for a in diagnostics["acceptance"]), "number"),
    ]


def _requester(manifest: dict[str, Any]) -> tuple[str, str | None] | None:
    """Return who asked for an on-demand run and their note; None for a release's own run."""
    requested = manifest.get("requested") or {}
    return (requested["by"], requested.get("note")) if requested.get("on_demand") else None


def _calibration_page(c: CalibrationRun, footer: str, compared: bool = False) -> str:
    """Return the page of one archived calibration (linking its comparison if it has one)."""
    m = c.manifest
    title = f"{m['project']} {m['version']}: {c.name}"
    diagnostics = m["diagnostics"]
    rows = [
        [_td(quantity), *(_td(_number(value), "number") for value in values)]
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
    warnings = diagnostics["warnings"]
    if (asked := _requester(m)) is not None:
        facts["asked by"] = f"{asked[0]}: {asked[1] or '(no note)'}"
    body = [
        f"<h1>{escape(title)}</h1>",
        "<dl>",
        *(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts.items()),
        "</dl>",
        '<p><a href="compare.html">Compared with the previous run of this calibration</a></p>'
        if compared
        else "<p>The first archived run of this calibration.</p>",
        '<section id="diagnostics">',
        "<h2>Diagnostics</h2>",
        _table(diagnostics["table"]["columns"], rows),
        "<ul>" + "".join(f"<li>{escape(w)}</li>" for w in warnings) + "</ul>"
        if warnings
        else "<p>No convergence warnings.</p>",
        "</section>",
        '<section id="plots">',
        "<h2>Plots</h2>",
        *(
            f'<figure><img src="{quote(p)}" alt="{escape(p)}"><figcaption>{escape(p)}'
            "</figcaption></figure>"
            for p in c.plots
        ),
        "</section>",
        '<section id="reproduce">',
        "<h2>Reproduce</h2>",
        f"<pre>python -m ci reproduce {escape(c.location)}</pre>",
        "</section>",
        '<section id="manifest">',
        "<h2>Manifest</h2>",
        f"<pre>{escape(json.dumps(m, indent=2, sort_keys=True))}</pre>",
        "</section>",
    ]
    return _document(title, "../../../../../", body, footer)


def _calibrations_index(
    series: Mapping[tuple[str, str], list[CalibrationRun]],
    previous: Mapping[str, CalibrationRun],
    footer: str,
) -> str:
    """Return the results site's index: every run of every calibration, newest first."""
    body = ["<h1>Calibrations</h1>"]
    if not series:
        body.append("<p>No calibrations archived yet.</p>")
    else:
        links = (_link(f"#{quote(f'{p}-{n}')}", f"{p} {n}") for p, n in series)
        body.append(f"<p>{' · '.join(links)}</p>")
    header = ["version", "run", "asked by", "max R-hat", "min bulk ESS", "acceptance"]
    header += ["warnings", "finished", "compared"]
    for (project, name), calibration_runs in series.items():
        rows = []
        for c in reversed(calibration_runs):
            m, d = c.manifest, c.manifest["diagnostics"]
            asked, note = _requester(m) or ("release", None)
            rows.append(
                [
                    _td(
                        _link(
                            f"../versions/{quote(project)}/{quote(m['version'])}.html", m["version"]
                        ),
                        raw=True,
                    ),
                    _td(_link(f"../{c.href}", c.run), raw=True),
                    _td(f"{asked}: {note}" if note else asked),
                    *_diagnostic_cells(d),
                    _td(str(len(d["warnings"])), "number"),
                    _td(_when(m["finished_at"])),
                    _td(_link(f"../{quote(c.folder)}/compare.html", "vs previous"), raw=True)
                    if c.folder in previous
                    else _td("-"),
                ]
            )
        body += [
            f'<section id="{escape(f"{project}-{name}")}">',
            f"<h2>{escape(project)} {escape(name)}</h2>",
            _table(header, rows),
            "</section>",
        ]
    return _document("Calibrations", "../", body, footer)


def _comparison_page(
    archive: Archive, earlier: CalibrationRun, later: CalibrationRun, footer: str
) -> str:
    """Return the page comparing a run with the previous run of its calibration."""
    a, b = earlier.manifest, later.manifest
    labels = (f"{a['version']} {earlier.run}", f"{b['version']} {later.run}")
    title = f"{later.name}: {labels[1]} vs {labels[0]}"
    found = comparison.changes(a, b)
    rows = [
        [
            _td(c.quantity),
            _td(_number(c.mean_a), "number"),
            _td(_number(c.mean_b), "number"),
            _td(_number(c.difference), "number"),
            _td(f"[{_number(c.interval_a[0])}, {_number(c.interval_a[1])}]", "number"),
            _td(f"[{_number(c.interval_b[0])}, {_number(c.interval_b[1])}]", "number"),
            _td(_number(c.mc_error), "number"),
            _td({True: "moved", False: "no", None: "-"}[c.moved], f"moved-{c.moved}".lower()),
        ]
        for c in found
    ]
    moved = [c.quantity for c in found if c.moved]
    header = ["quantity", "mean earlier", "mean later", "later - earlier"]
    header += ["90% earlier", "90% later", "MC error", "moved"]
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>Earlier: {_link(f'../../../../../{earlier.href}', labels[0])}; "
        f"later: {_link('index.html', labels[1])}.</p>",
        f"<p>Moved beyond {comparison.MOVED:g} Monte Carlo errors: "
        f"{escape(', '.join(moved)) if moved else 'nothing'}.</p>",
        _table(header, rows),
        *_overlays(archive, (earlier, later), labels),
    ]
    return _document(title, "../../../../../", body, footer)


def _overlays(
    archive: Archive, runs: tuple[CalibrationRun, CalibrationRun], labels: tuple[str, str]
) -> list[str]:
    """Return the sections of overlaid posterior densities and fits, from both runs' result.h5.

    A run whose result keeps no predictive bands (epicast before they were
    stored) has its fit shown as the two runs' own figures, side by side.
    """
    import h5py

    draws, fits = [], []
    try:
        for run in runs:
            with archive.fs.open(f"{run.location}/result.h5", "rb") as raw, h5py.File(raw) as h:
                draws.append(comparison.draws(h))
                fits.append(comparison.fits(h))
    except (OSError, KeyError) as exc:
        drawn = [f"<p>Not drawn: a result.h5 cannot be read ({escape(str(exc))}).</p>"]
        densities, fitted = drawn, drawn + _fit_figures(runs, labels)
    else:
        densities = [
            f"<figure>{charts.density_chart(name, labels, (draws[0][name], draws[1][name]))}"
            "</figure>"
            for name in draws[1]
            if name in draws[0]
        ]
        columns = [column for column in fits[1] if column in fits[0]]
        fitted = [
            f"<figure>{charts.fit_chart(c, labels, (fits[0][c], fits[1][c]))}</figure>"
            for c in columns
        ] or _fit_figures(runs, labels)
    return [
        '<section id="densities">',
        "<h2>Posterior densities</h2>",
        *densities,
        "</section>",
        '<section id="fit">',
        "<h2>Fit</h2>",
        *fitted,
        "</section>",
    ]


def _fit_figures(runs: tuple[CalibrationRun, CalibrationRun], labels: tuple[str, str]) -> list[str]:
    """Return both runs' own fit figures, the later one's page being where the links start."""
    earlier, later = runs
    return [
        f'<figure><img src="{quote(prefix + p)}" alt="{escape(p)}"><figcaption>'
        f"{escape(label)}: {escape(p)}</figcaption></figure>"
        for prefix, run, label in (
            (f"../../../../../{earlier.folder}/", earlier, labels[0]),
            ("", later, labels[1]),
        )
        for p in run.plots
        if "fit" in p
    ]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


# --- small HTML helpers --------------------------------------------------------------------


def _td(content: str, cls: str = "", raw: bool = False) -> str:
    """Return a table cell; ``content`` is escaped unless ``raw`` (already markup)."""
    attribute = f' class="{escape(cls)}"' if cls else ""
    return f"<td{attribute}>{content if raw else escape(content)}</td>"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "\n".join(f"<tr>{''.join(cells)}</tr>" for cells in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _link(href: str, text: str, cls: str = "") -> str:
    attribute = f' class="{escape(cls)}"' if cls else ""
    return f'<a href="{escape(href)}"{attribute}>{escape(text)}</a>'


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


STYLE = """\
body { font: 14px/1.45 system-ui, sans-serif; color: #1d232a; margin: 0; background: #fff; }
header { background: #22313f; padding: 0.6em 1.5em; }
header a { color: #fff; font-weight: 600; text-decoration: none; }
main { padding: 0 1.5em 2em; max-width: 1200px; }
footer { color: #6a737d; font-size: 12px; padding: 1em 1.5em; border-top: 1px solid #e1e4e8; }
h1 { font-size: 1.6em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #e1e4e8; padding-bottom: 0.2em; }
h3 { font-size: 1.1em; }
a { color: #0366d6; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #d1d5da; padding: 0.25em 0.6em; text-align: left; }
th { background: #f6f8fa; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.commit, dd.commit, td.sha { font-family: ui-monospace, monospace; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dd { margin: 0; }
.status-passed { background: #dcffe4; }
.status-failed { background: #ffdce0; font-weight: 600; }
.status-skipped { background: #f1f1f1; color: #6a737d; }
.stage-stable { color: #22863a; font-weight: 600; }
.stage-testing { color: #b08800; font-weight: 600; }
.stage-unstable, .stage-unknown { color: #6a737d; font-weight: 600; }
.verdict-slower { color: #cb2431; font-weight: 600; }
.verdict-faster { color: #22863a; }
.verdict-same, .verdict-no-baseline, .verdict-new, .verdict-missing { color: #586069; }
.accepted { color: #6a737d; font-style: italic; }
.method { color: #586069; }
figure { margin: 0.5em 0 1em; }
figure img { max-width: 100%; height: auto; border: 1px solid #e1e4e8; }
figcaption { color: #586069; font-size: 12px; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 12px; }
svg.chart { background: #fff; border: 1px solid #e1e4e8; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #444d56; }
svg.chart .chart-title { font-size: 13px; font-weight: 600; fill: #1d232a; }
svg.chart .axis { stroke: #586069; }
svg.chart .grid { stroke: #eaecef; }
svg.chart .unity { stroke: #586069; stroke-dasharray: 5 4; }
svg.chart .band { fill: #c8d7eb; fill-opacity: 0.6; }
svg.chart .trace { fill: none; stroke: #6a8bb3; stroke-width: 1.5; }
svg.chart .point { fill: #34495e; stroke: #fff; stroke-width: 1; }
svg.chart .point.regression { fill: #d73a49; }
svg.chart .point.accepted { fill: #e36209; }
svg.chart .point.improvement { fill: #28a745; }
svg.chart .trace.series-1 { stroke: #b36a8b; stroke-dasharray: 6 3; }
svg.chart .point.series-1 { stroke: #b36a8b; stroke-width: 2; }
svg.chart .interval { stroke: #6a8bb3; stroke-width: 2; }
svg.chart .step { stroke: #d73a49; stroke-width: 1.5; }
svg.chart text.legend.series-0 { fill: #6a8bb3; font-size: 11px; }
svg.chart text.legend.series-1 { fill: #b36a8b; font-size: 11px; }
svg.chart .band.series-1 { fill: #ebc8d7; fill-opacity: 0.5; }
svg.chart .observed { fill: #1d232a; }
svg.chart .observed.series-0 { fill: none; stroke: #1d232a; }
td.moved-true { color: #d73a49; font-weight: 600; }
svg.chart .step-label { fill: #d73a49; font-size: 12px; }
td.step-slower { color: #d73a49; }
td.step-faster { color: #28a745; }
"""
