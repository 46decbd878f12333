"""The HDF5 format of model runs: one writer, one reader, atomic files.

A run file holds::

    /time           (T,)        days                       dimension scale
    /age_group      (G,)        labels                     dimension scale
    /compartment    (C,)        labels (S, E, I, R)        dimension scale
    /prevalence     (T, C, G)   people per compartment
    /incidence      (T, G)      new infections per day
    /notifications  (T, G)      reported new cases per day

(only the outputs the scenario asks for), each data set with a ``sha256``
attribute of its bytes, and root attributes: ``format_version``,
``epicast_version``, ``created`` (UTC, ISO 8601), ``scenario`` (the YAML text),
``scenario_sha256``, ``scenario_name``, ``R0`` and ``transmission_rate``.

Only this module imports h5py.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from epicast._files import atomic_path
from epicast.errors import EpicastError
from epicast.model import Trajectory

if TYPE_CHECKING:
    from epicast.scenario import Scenario

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SCALES = {"time": "time", "age_group": "age_groups", "compartment": "compartments"}
_SERIES = {
    "prevalence": ("time", "compartment", "age_group"),
    "incidence": ("time", "age_group"),
    "notifications": ("time", "age_group"),
}


class StoreError(EpicastError):
    """A run file cannot be read, is not an epicast file, or fails its checksums."""


@dataclass(frozen=True)
class StoredRun:
    """A run read back from a file: its outputs and its provenance attributes."""

    trajectory: Trajectory
    attributes: dict[str, Any]


def write_run(
    path: str | Path, scenario: Scenario, trajectory: Trajectory, *, force: bool = False
) -> Path:
    """Write one run to an HDF5 file atomically.

    The file is written under a temporary name in the same folder and then
    moved into place, so readers never see half a file.

    Parameters
    ----------
    path
        Destination file.
    scenario, trajectory
        The scenario that was run and its outputs (unbatched).
    force
        Replace an existing file; without it an existing file raises
        :class:`~epicast.errors.OutputExistsError` and is left untouched.
    """
    from epicast import __version__

    path = Path(path)
    attributes = {
        "format_version": FORMAT_VERSION,
        "epicast_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "scenario": scenario.source,
        "scenario_sha256": scenario.sha256,
        "scenario_name": scenario.name,
        "R0": scenario.R0,
        "transmission_rate": scenario.transmission_rate,
    }
    with atomic_path(path, force=force) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs.update(attributes)
        for name, field in _SCALES.items():
            values = getattr(trajectory, field)
            if name != "time":
                values = np.array(values, dtype=h5py.string_dtype())
            handle.create_dataset(name, data=values).make_scale(name)
        handle["time"].attrs["units"] = "day"
        for name in scenario.outputs:
            data = np.ascontiguousarray(getattr(trajectory, name))
            dataset = handle.create_dataset(name, data=data, compression="gzip", shuffle=True)
            dataset.attrs["sha256"] = _sha256(data)
            for axis, scale in enumerate(_SERIES[name]):
                dataset.dims[axis].label = scale
                dataset.dims[axis].attach_scale(handle[scale])
    logger.info("wrote %s", path)
    return path


def read_run(path: str | Path) -> StoredRun:
    """Read a run file written by :func:`write_run`, verifying every checksum.

    Outputs the scenario did not ask for come back as empty arrays.
    """
    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise StoreError(f"{path}: cannot open as HDF5: {exc}") from exc
    with handle:
        if "format_version" not in handle.attrs:
            raise StoreError(f"{path}: not an epicast run file (no format_version attribute)")
        series = {}
        for name in _SERIES:
            if name not in handle:
                series[name] = np.empty(0)
                continue
            data = handle[name][()]
            if _sha256(data) != handle[name].attrs["sha256"]:
                raise StoreError(f"{path}: data set /{name} does not match its sha256")
            series[name] = data
        trajectory = Trajectory(
            time=handle["time"][()],
            age_groups=tuple(handle["age_group"].asstr()[()]),
            compartments=tuple(handle["compartment"].asstr()[()]),
            **series,
        )
        return StoredRun(trajectory, {key: _plain(value) for key, value in handle.attrs.items()})


def _sha256(data: np.ndarray) -> str:
    """SHA-256 of an array's bytes in C order."""
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


def _plain(value: Any) -> Any:
    """Convert HDF5 attribute values (numpy scalars) to plain Python values."""
    return value.item() if isinstance(value, np.generic) else value
