"""Compiled code is shared by content: a new environment with the same sources compiles nothing.

The processes here import epicast from copies of the installed package at new
paths (as a new environment would) with ``NUMBA_CACHE_DIR`` set to a folder of
the test, and call ``kernels.daily_counts`` (cheap to compile); numba's own
counters of the dispatcher say whether it compiled or loaded the code.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from numba import njit

import epicast
from epicast import _jit, kernels

PROBE = """
import json, numpy as np
from epicast import kernels
kernels.daily_counts(np.zeros((3, kernels.N_STATE, 2)), 1.0)
stats = kernels.daily_counts.stats
hits, misses = sum(stats.cache_hits.values()), sum(stats.cache_misses.values())
print(json.dumps({"hits": hits, "misses": misses}))
"""


def copy_package(folder: Path) -> Path:
    """Copy the installed epicast (sources and data, no caches) into ``folder``; return it."""
    source = Path(epicast.__file__).parent
    shutil.copytree(source, folder / "epicast", ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def probe(site: Path, cache: Path) -> dict[str, int]:
    """Run PROBE with epicast imported from ``site``; return its cache hits and misses."""
    env = {**os.environ, "PYTHONPATH": str(site), "NUMBA_CACHE_DIR": str(cache)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.splitlines()[-1])


def test_a_copy_at_another_path_loads_what_the_first_compiled(tmp_path):
    cache = tmp_path / "cache"
    first, second = copy_package(tmp_path / "a"), copy_package(tmp_path / "b")
    assert probe(first, cache) == {"hits": 0, "misses": 1}
    assert probe(second, cache) == {"hits": 1, "misses": 0}
    [folder] = (cache / "epicast").iterdir()
    assert sorted(p.suffix for p in folder.iterdir()) == [".nbc", ".nbi"]


def test_changed_sources_compile_again_into_a_folder_of_their_own(tmp_path):
    cache = tmp_path / "cache"
    original, edited = copy_package(tmp_path / "a"), copy_package(tmp_path / "b")
    model = edited / "epicast" / "model.py"  # not the kernel's own file: any source counts
    model.write_text(model.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert probe(original, cache)["misses"] == 1
    assert probe(edited, cache) == {"hits": 0, "misses": 1}
    assert len(list((cache / "epicast").iterdir())) == 2


def test_the_locator_comes_first_and_keys_the_cache_by_the_fingerprint():
    assert _jit.fingerprint() == _jit.fingerprint()
    assert len(_jit.fingerprint()) == 20
    assert _jit._locator_classes()[0] is _jit.SharedCacheLocator
    locator = _jit.SharedCacheLocator.from_function(kernels.daily_counts.py_func, kernels.__file__)
    assert locator is not None
    assert Path(locator.get_cache_path()).name == _jit.fingerprint()
    assert locator.get_source_stamp() == _jit.fingerprint()
    # numba names the file in its warning about code it cannot cache (e.g. with NUMBA_OPT=0)
    assert locator._py_file == kernels.__file__


def test_functions_of_other_packages_keep_numbas_own_cache(tmp_path):
    @njit(cache=True)
    def elsewhere(x):
        return x + 1

    assert _jit.SharedCacheLocator.from_function(elsewhere.py_func, __file__) is None


def test_an_unwritable_cache_folder_leaves_numbas_defaults(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(_jit.numba.config, "CACHE_DIR", str(blocker))
    locator = _jit.SharedCacheLocator.from_function(kernels.daily_counts.py_func, kernels.__file__)
    assert locator is None


def test_a_user_without_a_home_folder_leaves_numbas_defaults(monkeypatch):
    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(_jit.numba.config, "CACHE_DIR", "")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    locator = _jit.SharedCacheLocator.from_function(kernels.daily_counts.py_func, kernels.__file__)
    assert locator is None


def test_only_the_newest_fingerprint_folders_are_kept(tmp_path):
    for age in range(_jit.KEEP + 3):
        folder = tmp_path / f"fingerprint-{age}"
        folder.mkdir()
        os.utime(folder, (1e9 - age, 1e9 - age))
    _jit._remove_old(tmp_path)
    kept = sorted(int(p.name.split("-")[1]) for p in tmp_path.iterdir())
    assert kept == list(range(_jit.KEEP))
