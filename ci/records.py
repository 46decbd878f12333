"""The records the stages write and read back, and the one way to write and read them.

Every stage acts on records other stages wrote: a build report, a version's
``release.json``, each suite's evidence, each benchmark run, each calibration's
manifest. They are JSON objects carrying ``schema_version``
(:data:`SCHEMA_VERSION`), written sorted and indented by :func:`dump` and,
to a file, atomically by :func:`write`; :func:`parse` and :func:`read` refuse
text of another schema version. The layout has not changed since version 1,
so every file ever written reads.

A record damaged or edited by hand is refused in one line naming its wrong
field (:func:`load`), instead of failing somewhere inside whichever stage
reads it. Build reports and evidence are read as their models; release
records, bench runs and manifests are still handed on as the plain dicts they
are in the archive, once checked (:func:`checked`). Only what the stages rely
on is checked, and more fields may follow (records grow).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ci import names
from ci.atomic import atomic_file
from ci.errors import CIError
from ci.verdict import GATE, Comparison

SCHEMA_VERSION = 1
"""The layout of every record; a file of another version is refused, not guessed at."""
RESTORE = "restore it from a copy of the archive"


def dump(data: _Record | dict[str, Any]) -> str:
    """Return a record (or plain ``data``) as sorted, indented JSON text of this schema version."""
    if isinstance(data, _Record):
        data = data.as_json()
    text = json.dumps({**data, "schema_version": SCHEMA_VERSION}, indent=2, sort_keys=True)
    return text + "\n"


def parse(text: str, where: str) -> dict[str, Any]:
    """Return the record in the JSON ``text`` read from ``where``; refuse it in one line if not one.

    Raises
    ------
    CIError
        If ``text`` is not JSON, not an object, or of another schema version.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CIError(f"{where} is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # thousands of nested [ or {: nothing ci writes
        raise CIError(f"{where} nests arrays or objects too deeply to read") from exc
    if not isinstance(data, dict):
        raise CIError(f"{where} holds a JSON {type(data).__name__}, expected an object")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise CIError(
            f"{where} has schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}",
            tip="re-create it with this version of the ci tool",
        )
    return data


def write(path: Path, data: _Record | dict[str, Any]) -> Path:
    """Write ``data`` as :func:`dump` does to the local file ``path``, atomically; return it."""
    with atomic_file(path) as handle:
        handle.write(dump(data))
    return path


def read(path: Path) -> dict[str, Any]:
    """Return the record in the local file ``path`` (see :func:`parse`); refuse a missing one."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CIError(f"{path} does not exist") from exc
    return parse(text, str(path))


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _File(_Shape):
    filename: str
    sha256: str


class _BuiltFile(_File):
    kind: str


def _plain_name(name: str) -> str:
    """Return ``name`` if it is one plain file name: later stages upload what a report names."""
    if not names.is_component(name):
        raise ValueError("not one plain file name")
    return name


class _DistFile(_File):
    model_config = ConfigDict(extra="ignore")

    filename: Annotated[str, AfterValidator(_plain_name)]
    kind: str | None = None
    size: int | None = None


class _Promotion(_Shape):
    source: str = Field(alias="from")
    to: Literal["testing", "stable"]
    who: str
    when: str


class _Approval(_Shape):
    who: str
    when: str
    notes: str


class _PendingPublish(_Shape):
    action: Literal["publish"]
    to: Literal["unstable"]
    commit: str
    tags: list[str]
    files: list[_BuiltFile]


class _PendingPromotion(_Shape):
    action: Literal["promote"]
    to: Literal["testing", "stable"]
    promotion: _Promotion


class _Record(_Shape):
    """A shape a record file must have; ``what`` names it and ``tip`` says what to do."""

    what: ClassVar[str]
    tip: ClassVar[str]

    def as_json(self, **options: Any) -> dict[str, Any]:
        """Return the record as the JSON object it is in its file (the fields it was given).

        ``options`` go to ``model_dump`` (e.g. ``include``).
        """
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, **options)


RecordT = TypeVar("RecordT", bound=_Record)


class ReleaseRecord(_Record):
    """A version's ``release.json`` (:mod:`ci.release`)."""

    what: ClassVar[str] = "release record"
    tip: ClassVar[str] = f"{RESTORE} (the index holds the files)"

    project: str
    version: str
    commit: str | None = None
    tags: list[str] = []
    files: list[_BuiltFile]
    promotions: list[_Promotion]
    approvals: list[_Approval] = []
    pending: (
        Annotated[_PendingPublish | _PendingPromotion, Field(discriminator="action")] | None
    ) = None


class Evidence(_Record):
    """One suite on one Python against one wheel: ``tests/<suite>-py<python>.json``."""

    what: ClassVar[str] = "evidence record"
    tip: ClassVar[str] = f"{RESTORE}, or remove it and run `python -m ci verify` again"

    suite: str
    python: str
    status: Literal["passed", "failed", "skipped"]
    passed: int
    failed: int
    skipped: int
    duration_s: float
    python_version: str | None = None
    file: _File
    inputs_sha256: str | None = None
    run_at: str | None = None


class _Drift(_Shape):
    reference: str
    verdict: str
    benchmarks: list[Comparison]


class BenchRun(_Record):
    """One ``ci bench`` of a version: ``bench/<started>-vs-<baseline>.json``."""

    what: ClassVar[str] = "benchmark run"
    tip: ClassVar[str] = f"{RESTORE}, or remove it and run `python -m ci bench` again"

    version: str
    baseline: str | None
    python: str
    rounds: int
    alpha: float
    min_effect: float
    started_at: datetime
    finished_at: datetime
    verdict: str
    benchmarks: list[Comparison]
    gate: list[Literal["times", "instructions"]] = Field(default_factory=lambda: list(GATE))
    drift: _Drift | None = None


class BuildReport(_Record):
    """What ``ci build`` made: ``dist/build-report.json`` (:mod:`ci.build`)."""

    model_config = ConfigDict(extra="ignore")
    what: ClassVar[str] = "build report"
    tip: ClassVar[str] = "run `python -m ci build` again"

    project: str
    version: str
    commit: str
    tags: list[str]
    files: list[_DistFile]
    docs: _DistFile | None = None
    source_date_epoch: int | None = None
    constraints_sha256: str | None = None
    built_at: str | None = None


class CalibrationManifest(_Record):
    """What one calibration ran and the sha256 of its files: ``manifest.json`` (:mod:`ci.manifest`).

    Beside ``files`` it holds open-ended provenance (inputs, seeds, cluster,
    environment, diagnostics), which the stages pass on rather than check.
    """

    what: ClassVar[str] = "calibration manifest"
    tip: ClassVar[str] = "a manifest is written by ci calibrate; restore this one from a copy"

    files: dict[str, str]


def load(shape: type[RecordT], record: dict[str, Any], where: str) -> RecordT:
    """Return ``record`` as a ``shape``; refuse it in one line naming the first wrong field.

    Raises
    ------
    CIError
        Naming the file (``where``), the field and what was wrong with it.
    """
    try:
        return shape.model_validate(record)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(map(str, error["loc"])) or "the record"
        raise CIError(
            f"{where} is not a {shape.what} of ci: {field}: {error['msg']}", tip=shape.tip
        ) from exc


def checked(shape: type[_Record], record: dict[str, Any], where: str) -> dict[str, Any]:
    """Return ``record`` itself if it has ``shape``, refused as :func:`load` does if not.

    For the kinds whose readers still take the plain dict (release records,
    bench runs); evidence is read as its model (:func:`load`).
    """
    load(shape, record, where)
    return record


def wrong_fields(shape: type[_Record], record: dict[str, Any]) -> set[str]:
    """Return the names of the top-level fields of ``record`` that do not have ``shape``.

    For files whose refusal names every wrong field at once (build reports,
    manifests) rather than the first one in detail, as :func:`checked` does.
    """
    try:
        shape.model_validate(record)
    except ValidationError as exc:
        return {str(error["loc"][0]) for error in exc.errors()}
    return set()
