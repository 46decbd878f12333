"""The shapes of the records the stages write to the archive, checked when read back.

Every stage acts on records other stages wrote: a version's ``release.json``,
each suite's evidence, each benchmark run. A record damaged or edited by hand
is refused in one line naming its wrong field (:func:`checked`), instead of
failing somewhere inside whichever stage reads it. Only what the stages rely on
is checked, and more fields may follow (records grow); readers still get the
record as the plain dict it is in the archive.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ci.errors import CIError
from ci.verdict import GATE, Comparison

RESTORE = "restore it from a copy of the archive"


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _File(_Shape):
    filename: str
    sha256: str


class _BuiltFile(_File):
    kind: str


class _Promotion(_Shape):
    source: str = Field(alias="from")
    to: Literal["testing", "stable"]


class _Approval(_Shape):
    who: str
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


def checked(shape: type[_Record], record: dict[str, Any], where: str) -> dict[str, Any]:
    """Return ``record`` if it has ``shape``; refuse it in one line naming the first wrong field.

    Raises
    ------
    CIError
        Naming the file (``where``), the field and what was wrong with it.
    """
    try:
        shape.model_validate(record)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(map(str, error["loc"])) or "the record"
        raise CIError(
            f"{where} is not a {shape.what} of ci: {field}: {error['msg']}", tip=shape.tip
        ) from exc
    return record
