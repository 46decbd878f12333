"""The HDF5 format of model runs: one writer, one reader, atomic files.

A run file holds::

    /time           (T,)        days                       dimension scale
    /age_group      (G,)        labels                     dimension scale
    /compartment    (C,)        labels (S, E, I, R)        dimension scale
    /prevalence     (T, C, G)   people per compartment
    /incidence      (T, G)      new infections per day
    /notifications  (T, G)      reported new cases per day
    /admissions     (T, G)      hospital admissions per day (scenarios with severity)
    /deaths         (T, G)      deaths per day (scenarios with severity)
    /doses          (T, G)      vaccine doses given per day (scenarios with vaccination)
    /breakthrough   (T, G)      infections of vaccine-protected people per day (idem)

(only the outputs the scenario asks for), each data set with a ``sha256``
attribute of its bytes, and root attributes: ``format_version``,
``epicast_version``, ``created`` (UTC, ISO 8601), ``scenario`` (the YAML text),
``scenario_sha256``, ``scenario_name``, ``R0`` and ``transmission_rate``.

A calibration file (root attribute ``kind`` = ``calibration``) holds::

    /chain, /draw, /parameter, /quantity, /statistic    dimension scales
    /draws              (chain, draw, parameter)   fitted parameter values
    /derived            (chain, draw, quantity)    parameters and derived quantities (R0, ...)
    /log_posterior      (chain, draw)
    /acceptance, /warmup_acceptance, /evaluations, /chain_seconds    (chain,)
    /diagnostics        (quantity, statistic)      mean, sd, quantiles, R-hat, bulk/tail ESS
    /observations/<column>  (n, 2)                 day and observed value of each target
    /predictive/<column>    (n, 3)                 5%, 50% and 95% of the posterior
                                                   predictive on those days (the fit)

and root attributes with the calibration, scenario and data texts and their
sha256, the seed, the sampler settings, where the chains ran and on how many
workers, start time and duration, package versions and the convergence
warnings (JSON lists and mappings as text).

Only this module imports h5py.
"""

from __future__ import annotations

import hashlib
import json
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
    from epicast.calibration.run import CalibrationResult
    from epicast.scenario import Scenario

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_SCALES = {"time": "time", "age_group": "age_groups", "compartment": "compartments"}
_SERIES = {
    "prevalence": ("time", "compartment", "age_group"),
    "incidence": ("time", "age_group"),
    "notifications": ("time", "age_group"),
    "admissions": ("time", "age_group"),
    "deaths": ("time", "age_group"),
    "doses": ("time", "age_group"),
    "breakthrough": ("time", "age_group"),
}


class StoreError(EpicastError):
    """A run file cannot be read, is not an epicast file, or fails its checksums."""


@dataclass(frozen=True)
class StoredCalibration:
    """A calibration read back from a file: its data sets by path, and its attributes."""

    arrays: dict[str, np.ndarray]
    attributes: dict[str, Any]


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

    Returns
    -------
    pathlib.Path
        The file written.
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
        _write_scales(handle, {name: getattr(trajectory, f) for name, f in _SCALES.items()})
        handle["time"].attrs["units"] = "day"
        for name in scenario.outputs:
            _write_dataset(handle, name, getattr(trajectory, name), _SERIES[name])
    logger.info("wrote %s", path)
    return path


def write_calibration(path: str | Path, result: CalibrationResult, *, force: bool = False) -> Path:
    """Write a calibration's chains, diagnostics and provenance to an HDF5 file atomically.

    Parameters
    ----------
    path
        Destination file.
    result
        From :func:`epicast.calibrate`.
    force
        Replace an existing file (otherwise :class:`~epicast.errors.OutputExistsError`).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    calibration = result.calibration
    names, quantities = result.quantities()
    summary = result.summary
    attributes = {
        "format_version": FORMAT_VERSION,
        "kind": "calibration",
        "epicast_version": result.versions["epicast"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "calibration_name": calibration.name,
        "calibration": calibration.source,
        "calibration_sha256": calibration.sha256,
        "scenario": calibration.scenario.source,
        "scenario_sha256": calibration.scenario.sha256,
        "data": calibration.data_source,
        "data_sha256": hashlib.sha256(calibration.data_source.encode()).hexdigest(),
        "seed": result.seed_entropy,
        "sampler": calibration.sampler.model_dump_json(),
        "where": result.where,
        "workers": result.workers,
        "started": result.started,
        "seconds": result.seconds,
        "versions": json.dumps(result.versions),
        "warnings": json.dumps(result.warnings()),
    }
    scales = {
        "chain": np.arange(result.draws.shape[0]),
        "draw": np.arange(result.draws.shape[1]),
        "parameter": result.names,
        "quantity": names,
        "statistic": list(summary.columns()),
    }
    per_chain = {
        "acceptance": result.acceptance,
        "warmup_acceptance": result.warmup_acceptance,
        "evaluations": result.evaluations,
        "chain_seconds": result.chain_seconds,
    }
    with atomic_path(path, force=force) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs.update(attributes)
        _write_scales(handle, scales)
        _write_dataset(handle, "draws", result.draws, ("chain", "draw", "parameter"))
        _write_dataset(handle, "derived", quantities, ("chain", "draw", "quantity"))
        _write_dataset(handle, "log_posterior", result.log_densities, ("chain", "draw"))
        for name, values in per_chain.items():
            _write_dataset(handle, name, values, ("chain",))
        table = np.stack(list(summary.columns().values()), axis=-1)
        _write_dataset(handle, "diagnostics", table, ("quantity", "statistic"))
        for target in calibration.targets:
            pairs = np.stack([target.days.astype(float), target.observed], axis=-1)
            _write_dataset(handle, f"observations/{target.column}", pairs, ())
            bands = result.predictive_bands[target.column]
            _write_dataset(handle, f"predictive/{target.column}", bands, ())
    logger.info("wrote %s", path)
    return path


def read_calibration(path: str | Path) -> StoredCalibration:
    """Read a calibration file written by :func:`write_calibration`, verifying checksums.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    StoredCalibration
        Its data sets by path (``arrays["draws"]``, ``arrays["predictive/cases"]``)
        and its root attributes (texts of the inputs, seed, versions, warnings).

    Raises
    ------
    StoreError
        The file cannot be read, is not an epicast calibration file, or a data
        set does not match its checksum.
    """
    path = Path(path)
    with _open(path) as handle:
        if handle.attrs.get("kind") != "calibration":
            raise StoreError(f"{path}: not an epicast calibration file (no kind=calibration)")
        arrays = {}
        handle.visititems(lambda name, item: _collect(path, name, item, arrays))
        attributes = {key: _plain(value) for key, value in handle.attrs.items()}
    return StoredCalibration(arrays, attributes)


def _write_scales(handle: h5py.File, scales: dict[str, Any]) -> None:
    """Write dimension scales: numbers as they are, labels as UTF-8 strings."""
    for name, values in scales.items():
        data = np.asarray(values)
        if data.dtype.kind in "UO":
            data = np.array(values, dtype=h5py.string_dtype())
        handle.create_dataset(name, data=data).make_scale(name)


def _write_dataset(handle: h5py.File, name: str, values: np.ndarray, dims: tuple[str, ...]) -> None:
    """Write a compressed data set with its sha256 and its axes attached to dimension scales."""
    data = np.ascontiguousarray(values)
    dataset = handle.create_dataset(name, data=data, compression="gzip", shuffle=True)
    dataset.attrs["sha256"] = _sha256(data)
    for axis, scale in enumerate(dims):
        dataset.dims[axis].label = scale
        dataset.dims[axis].attach_scale(handle[scale])


def _collect(path: Path, name: str, item: Any, arrays: dict[str, np.ndarray]) -> None:
    """Read one data set into ``arrays`` (labels as str), checking its sha256 if it has one."""
    if not isinstance(item, h5py.Dataset):
        return
    data = item.asstr()[()] if item.dtype.kind == "O" else item[()]
    if "sha256" in item.attrs and _sha256(data) != item.attrs["sha256"]:
        raise StoreError(f"{path}: data set /{name} does not match its sha256")
    arrays[name] = data


def _open(path: Path) -> h5py.File:
    """Open an epicast HDF5 file for reading, or raise a one-line StoreError."""
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise StoreError(f"{path}: cannot open as HDF5: {exc}") from exc
    if "format_version" not in handle.attrs:
        handle.close()
        raise StoreError(f"{path}: not an epicast file (no format_version attribute)")
    return handle


def read_run(path: str | Path) -> StoredRun:
    """Read a run file written by :func:`write_run`, verifying every checksum.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    StoredRun
        The run's outputs as a :class:`~epicast.Trajectory` (those the scenario
        did not ask for as empty arrays) and its provenance attributes (the
        scenario's text and sha256, R0, epicast version, creation time).

    Raises
    ------
    StoreError
        The file cannot be read, is not an epicast file, or a data set does not
        match its checksum.
    """
    path = Path(path)
    with _open(path) as handle:
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
