"""The public API: every exported name resolves, and ``import epicast`` loads no h5py or Dask."""

from __future__ import annotations

import json
import subprocess
import sys

import epicast

PROBE = """
import json, sys
import epicast
print(json.dumps(sorted(m for m in ("h5py", "dask", "distributed") if m in sys.modules)))
"""


def test_every_exported_name_resolves_and_is_listed():
    assert all(getattr(epicast, name) is not None for name in epicast.__all__)
    assert set(epicast.__all__) <= set(dir(epicast))
    from epicast.calibration.run import CalibrationResult, calibrate
    from epicast.store import read_run, write_run

    assert (epicast.calibrate, epicast.CalibrationResult) == (calibrate, CalibrationResult)
    assert (epicast.read_run, epicast.write_run) == (read_run, write_run)


def test_import_loads_neither_h5py_nor_dask():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []
