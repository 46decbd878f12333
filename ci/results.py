"""What the ci tool reads from an ``epicast calibrate`` result file (HDF5).

The provenance and diagnostics a manifest records (:func:`facts`) and the
array-by-array comparison ``ci reproduce`` reports (:func:`compare`). Only the
file format is used, not epicast itself, so that results of any release can be
read by this checkout's tool. The only module of ``ci`` that imports h5py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ci.errors import CIError

WALL_TIMES = frozenset({"chain_seconds"})
"""Datasets that measure how long things took: reported, never part of the verdict."""


@dataclass(frozen=True)
class Difference:
    """How one dataset of a re-run differs from the archived one."""

    name: str
    reason: str
    """``shape``, ``values``, ``missing`` (only archived) or ``new`` (only re-run)."""
    differing: int = 0
    """Elements that differ (for ``values``)."""
    max_abs: float = 0.0
    max_rel: float = 0.0

    def line(self) -> str:
        """One line for people."""
        if self.reason != "values":
            return f"{self.name}: {self.reason}"
        return (
            f"{self.name}: {self.differing} value(s) differ, "
            f"max |difference| {self.max_abs:.3g} (relative {self.max_rel:.3g})"
        )


def facts(path: Path) -> dict[str, Any]:
    """Return the provenance and diagnostics summary of a calibration result.

    Returns
    -------
    dict
        ``inputs`` (sha256 of calibration, scenario and data), ``seed``,
        ``sampler`` (its settings), ``cluster`` (where and workers),
        ``versions`` (what the run imported) and ``diagnostics`` (largest R-hat,
        smallest bulk ESS, acceptance range, warnings, and the whole table:
        ``columns`` and one row per parameter or derived quantity).
    """
    with _open(path) as handle:
        attrs = handle.attrs
        statistics = [_text(s) for s in handle["statistic"][()]]
        quantities = [_text(q) for q in handle["quantity"][()]]
        table = handle["diagnostics"][()]
        column = {name: table[:, k] for k, name in enumerate(statistics)}
        acceptance = handle["acceptance"][()]
        return {
            "inputs": {
                part: _text(attrs[f"{part}_sha256"]) for part in ("calibration", "scenario", "data")
            },
            "seed": int(attrs["seed"]),
            "sampler": json.loads(_text(attrs["sampler"])),
            "cluster": {"where": _text(attrs["where"]), "workers": int(attrs["workers"])},
            "versions": json.loads(_text(attrs["versions"])),
            "diagnostics": {
                "max_rhat": _worst(column, "rhat", np.nanmax),
                "min_ess_bulk": _worst(column, "ess_bulk", np.nanmin),
                "acceptance": [float(acceptance.min()), float(acceptance.max())],
                "warnings": json.loads(_text(attrs["warnings"])),
                "table": {
                    "columns": ["quantity", *statistics],
                    "rows": [
                        [quantity, *map(_number, row)]
                        for quantity, row in zip(quantities, table, strict=True)
                    ],
                },
            },
        }


def compare(archived: Path, rerun: Path) -> tuple[list[Difference], list[str]]:
    """Compare every dataset of two result files, bit for bit.

    Returns
    -------
    differences
        The datasets (other than wall times) that differ, by name.
    wall_times
        The wall-time datasets, which are expected to differ and not judged.
    """
    ours, theirs = _datasets(archived), _datasets(rerun)
    differences = []
    for name in sorted((set(ours) | set(theirs)) - WALL_TIMES):
        if name not in theirs or name not in ours:
            differences.append(Difference(name, "missing" if name not in theirs else "new"))
            continue
        a, b = ours[name], theirs[name]
        if a.shape != b.shape:
            differences.append(Difference(name, "shape"))
        elif a.dtype.kind in "fc" and not np.array_equal(a, b, equal_nan=True):
            delta = np.abs(a - b)
            scale = np.maximum(np.abs(a), np.finfo(float).tiny)
            differing = int(np.count_nonzero(delta != 0))
            differences.append(
                Difference(
                    name,
                    "values",
                    differing,
                    float(np.nanmax(delta)),
                    float(np.nanmax(delta / scale)),
                )
            )
        elif a.dtype.kind not in "fc" and not np.array_equal(a, b):
            differences.append(Difference(name, "values", int(np.count_nonzero(a != b))))
    return differences, sorted(WALL_TIMES & (set(ours) | set(theirs)))


def _datasets(path: Path) -> dict[str, np.ndarray]:
    """Return every dataset of a file by its path in the file."""
    arrays: dict[str, np.ndarray] = {}
    with _open(path) as handle:
        handle.visititems(
            lambda name, item: (
                arrays.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None
            )
        )
    return arrays


def _open(path: Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise CIError(f"{path}: not a readable HDF5 file ({exc})") from exc


def _worst(column: dict[str, np.ndarray], name: str, pick) -> float | None:
    values = column.get(name)
    return None if values is None or np.isnan(values).all() else _number(pick(values))


def _number(value: float) -> float | None:
    """Return a float for JSON, None for NaN (which JSON cannot hold)."""
    return None if np.isnan(value) else float(value)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
