"""epicast: an age-structured SEIR epidemic model with compiled kernels.

The public API re-exported here is what scripts and notebooks use::

    import epicast
    scenario = epicast.load_scenario("seir-basic")
    trajectory = epicast.simulate(scenario)
"""

from importlib.metadata import PackageNotFoundError, version

from epicast.errors import EpicastError, ScenarioError
from epicast.model import Trajectory, basic_reproduction_number, simulate, simulate_batch
from epicast.scenario import Scenario, bundled_scenarios, load_scenario

try:
    __version__ = version("epicast")
except PackageNotFoundError:  # pragma: no cover - only in an uninstalled source tree
    __version__ = "0+unknown"

__all__ = [
    "EpicastError",
    "Scenario",
    "ScenarioError",
    "Trajectory",
    "__version__",
    "basic_reproduction_number",
    "bundled_scenarios",
    "load_scenario",
    "simulate",
    "simulate_batch",
]
