"""epicast: an age-structured SEIR epidemic model with compiled kernels.

The public API re-exported here is what scripts and notebooks use::

    import epicast
    scenario = epicast.load_scenario("seir-basic")
    trajectory = epicast.simulate(scenario)

    from epicast.calibration.run import calibrate
    result = calibrate(epicast.load_calibration("sir-boarding-school"))
    print(result.summary.table())
"""

from importlib.metadata import PackageNotFoundError, version

from epicast.calibration.file import Calibration, bundled_calibrations, load_calibration
from epicast.errors import CalibrationError, EpicastError, ScenarioError
from epicast.model import Trajectory, basic_reproduction_number, simulate, simulate_batch
from epicast.scenario import Scenario, bundled_scenarios, load_scenario

try:
    __version__ = version("epicast")
except PackageNotFoundError:  # pragma: no cover - only in an uninstalled source tree
    __version__ = "0+unknown"

__all__ = [
    "Calibration",
    "CalibrationError",
    "EpicastError",
    "Scenario",
    "ScenarioError",
    "Trajectory",
    "__version__",
    "basic_reproduction_number",
    "bundled_calibrations",
    "bundled_scenarios",
    "load_calibration",
    "load_scenario",
    "simulate",
    "simulate_batch",
]
