"""epicast: an age-structured SEIR epidemic model with compiled kernels.

The public API re-exported here is what scripts and notebooks use::

    import epicast
    scenario = epicast.load_scenario("seir-basic")
    trajectory = epicast.simulate(scenario)
    epicast.write_run("run.h5", scenario, trajectory)

    result = epicast.calibrate(epicast.load_calibration("sir-boarding-school"))
    print(result.summary.table())
    epicast.write_calibration("calibration.h5", result)

:func:`calibrate`, :class:`CalibrationResult` and the HDF5 readers and writers
are imported on first use, so that ``import epicast`` does not load h5py.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from epicast.calibration.file import Calibration, bundled_calibrations, load_calibration
from epicast.errors import CalibrationError, EpicastError, ScenarioError
from epicast.model import Trajectory, basic_reproduction_number, simulate, simulate_batch
from epicast.scenario import Scenario, bundled_scenarios, load_scenario

if TYPE_CHECKING:
    from epicast.calibration.run import CalibrationResult, calibrate
    from epicast.store import read_calibration, read_run, write_calibration, write_run

try:
    __version__ = version("epicast")
except PackageNotFoundError:  # pragma: no cover - only in an uninstalled source tree
    __version__ = "0+unknown"

_ON_FIRST_USE = {
    "CalibrationResult": "epicast.calibration.run",
    "calibrate": "epicast.calibration.run",
    "read_calibration": "epicast.store",
    "read_run": "epicast.store",
    "write_calibration": "epicast.store",
    "write_run": "epicast.store",
}
"""Exported names imported from their module when first asked for (PEP 562)."""

__all__ = [
    "Calibration",
    "CalibrationError",
    "CalibrationResult",
    "EpicastError",
    "Scenario",
    "ScenarioError",
    "Trajectory",
    "__version__",
    "basic_reproduction_number",
    "bundled_calibrations",
    "bundled_scenarios",
    "calibrate",
    "load_calibration",
    "load_scenario",
    "read_calibration",
    "read_run",
    "simulate",
    "simulate_batch",
    "write_calibration",
    "write_run",
]


def __getattr__(name: str) -> Any:
    """Import an export of :data:`_ON_FIRST_USE` from its module."""
    if name in _ON_FIRST_USE:
        return getattr(importlib.import_module(_ON_FIRST_USE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """List the exports imported on first use too (for completion and the API docs)."""
    return sorted({*globals(), *_ON_FIRST_USE})
