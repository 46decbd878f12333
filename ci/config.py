"""The pipeline configuration file (``pipeline.toml`` at the repository root).

Validated with pydantic; every problem is one line naming the file and field.
``CI_CONFIG`` names another file (the tests use it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ci.errors import CIError
from ci.names import is_component

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CONFIG_NAME = "pipeline.toml"
CONFIG_ENV = "CI_CONFIG"


class _Section(BaseModel):
    # strict: TOML has real booleans and numbers, so "true" or "3" is a mistake
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Indexes(_Section):
    """devpi indexes of the three stages, as ``user/index``."""

    unstable: str = "ci/unstable"
    testing: str = "ci/testing"
    stable: str = "qa/stable"

    @field_validator("unstable", "testing", "stable")
    @classmethod
    def _user_slash_index(cls, value: str) -> str:
        if value.count("/") != 1 or not all(value.split("/")):
            raise ValueError(f"expected 'user/index', got {value!r}")
        return value

    @model_validator(mode="after")
    def _three_indexes(self) -> Indexes:
        if len({self.unstable, self.testing, self.stable}) != 3:
            raise ValueError("expected three different indexes for unstable, testing and stable")
        return self


class Build(_Section):
    """What ``ci build`` makes besides the sdist and the wheel, and with what.

    ``docs`` is the tox environment that builds the HTML documentation into the
    folder given as its argument, against the built wheel; empty: no documentation.
    ``constraints`` is a pip constraints file of the checkout that pins the
    build backend (setuptools, setuptools-scm, ...), so that a rebuild of a
    commit makes the same bytes; empty: the newest backend the index has.
    """

    docs: str = ""
    constraints: str = ""


class Verify(_Section):
    """Which test suites run on which Pythons before promotion to testing.

    ``inputs`` are the files and folders of the checkout that decide a suite's
    result besides the wheel (the tests, tox.ini, the lock): evidence of a pass
    is reused only while their content is unchanged.
    """

    suites: list[str] = Field(default_factory=lambda: ["smoke", "unit"], min_length=1)
    pythons: list[str] = Field(default_factory=lambda: ["3.11"], min_length=1)
    inputs: list[str] = Field(
        default_factory=lambda: [
            "tox.ini",
            "pyproject.toml",
            "setup.cfg",
            "requirements",
            "tests",
            "benchmarks",
        ]
    )

    @field_validator("pythons")
    @classmethod
    def _versions(cls, values: list[str]) -> list[str]:
        return [_python_version(value) for value in values]


def _python_version(value: str) -> str:
    major, _, minor = value.partition(".")
    if not (major.isdigit() and minor.isdigit()):
        raise ValueError(f"expected versions like '3.12', got {value!r}")
    return value


class Bench(_Section):
    """How ``ci bench`` compares a candidate with the baseline release.

    ``kernel_calls`` names the kernels of the ``kernels`` script that
    ``--instructions`` counts, with the calls counted of each (none: nothing to
    count). ``gate`` says which measurements decide the verdicts: ``times``
    (the interleaved rounds), ``instructions`` (the counts; every run then
    counts them) or both. Measurements left out of the gate are still made,
    reported and archived.
    """

    python: str = "3.11"
    paths: list[str] = Field(default_factory=lambda: ["benchmarks"], min_length=1)
    marker: str = "regression"
    extras: list[str] = Field(default_factory=list)
    rounds: int = Field(default=8, ge=2)
    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    min_effect: float = Field(default=0.03, ge=0, lt=1)
    required: bool = True
    kernels: str = "benchmarks/kernels.py"
    kernel_calls: dict[str, int] = Field(default_factory=dict)
    gate: list[Literal["times", "instructions"]] = Field(
        default_factory=lambda: ["times", "instructions"], min_length=1
    )
    instruction_effect: float = Field(default=0.01, ge=0, lt=1)
    drift_window: int = Field(default=10, ge=1)
    max_drift: float = Field(default=0.05, gt=0, lt=1)

    @field_validator("python")
    @classmethod
    def _version(cls, value: str) -> str:
        return _python_version(value)

    @field_validator("kernel_calls")
    @classmethod
    def _positive_calls(cls, value: dict[str, int]) -> dict[str, int]:
        for name, calls in value.items():
            if calls < 1:
                raise ValueError(f"expected at least 1 call per kernel, got {name} = {calls}")
        return value

    @model_validator(mode="after")
    def _countable_gate(self) -> Bench:
        if self.gate == ["instructions"] and not self.kernel_calls:
            raise ValueError('gate = ["instructions"] needs kernels to count in kernel_calls')
        return self


class Calibrate(_Section):
    """Which calibrations a tagged release runs, with which program, where.

    ``program`` is the console script of the released package that calibrates
    (epicast's ``epicast``): ``ci calibrate`` runs ``<program> calibrate NAME
    --cluster ... --output result.h5 --plots DIR --checkpoints DIR`` (and
    ``--chains``, ``--iterations``, ``--seed``, ``--workers`` when set) from the
    wheel's environment and reads the result file's facts
    (docs/adopting.md#calibrations). ``calibrations`` are names the program
    knows, or YAML files relative to the repository root; none (the default):
    nothing to calibrate. ``cluster`` is what ``--cluster`` takes: ``local``
    (Dask on this machine), ``slurm`` (the calibration file's Slurm profile),
    ``tcp://HOST:PORT`` (an existing scheduler) or ``none`` (one chain after
    another). ``chains`` and ``iterations`` override the files' values when
    set (reduced runs).
    """

    calibrations: list[str] = Field(default_factory=list)
    program: str = ""
    cluster: str = "local"
    workers: int | None = Field(default=None, ge=1)
    chains: int | None = Field(default=None, ge=1)
    iterations: int | None = Field(default=None, ge=1)
    python: str = "3.11"
    extras: list[str] = Field(default_factory=list)

    @field_validator("program")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value and not is_component(value):
            raise ValueError(f"expected the name of a console script, got {value!r}")
        return value

    @model_validator(mode="after")
    def _program_named(self) -> Calibrate:
        if self.calibrations and not self.program:
            raise ValueError("calibrations need the program that runs them: set program")
        return self

    @field_validator("python")
    @classmethod
    def _version(cls, value: str) -> str:
        return _python_version(value)

    @field_validator("cluster")
    @classmethod
    def _place(cls, value: str) -> str:
        if value not in ("local", "slurm", "none") and not value.startswith("tcp://"):
            raise ValueError(f"expected local, slurm, none or tcp://HOST:PORT, got {value!r}")
        return value


class Archive(_Section):
    """Where the archive lives: a folder (relative to the repository) or an fsspec URL."""

    url: str = ".state/archive"


class Retention(_Section):
    """What ``ci archive prune`` may remove (see :mod:`ci.retention`)."""

    keep_runs: int = Field(default=3, ge=1)
    max_age_days: float = Field(default=90, gt=0)


class Approval(_Section):
    """How QA approval of a final release is established."""

    require_signed_tags: bool = False


class PipelineConfig(_Section):
    """The whole configuration file."""

    indexes: Indexes = Indexes()
    build: Build = Build()
    verify: Verify = Verify()
    bench: Bench = Bench()
    calibrate: Calibrate = Calibrate()
    archive: Archive = Archive()
    retention: Retention = Retention()
    approval: Approval = Approval()


def load_config(root: Path) -> PipelineConfig:
    """Read ``$CI_CONFIG`` or ``<root>/pipeline.toml``; defaults if the file is absent."""
    path = Path(os.environ.get(CONFIG_ENV) or root / CONFIG_NAME)
    if not path.exists():
        if CONFIG_ENV in os.environ:
            raise CIError(f"{path}: no such file (named by {CONFIG_ENV})")
        return PipelineConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CIError(f"{path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise CIError(f"{path}: not a UTF-8 text file (byte {exc.start})") from exc
    except OSError as exc:
        raise CIError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise CIError(f"{path}: {problems}", tip=f"see the comments in {CONFIG_NAME}") from exc
