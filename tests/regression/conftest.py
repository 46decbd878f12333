"""Fixtures of the regression tests: real epicast wheels and environments, built once.

``variant_envs.python("base-a")`` is this checkout's wheel in a new virtual
environment (with the ``testing`` extra, so pytest-benchmark);
``variant_envs.python("slow300")`` a copy four times as slow in the 16-age model run
(see variants.py). Environments are created on first use and shared by the
whole session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pipeline.conftest import devpi  # noqa: F401 (a fixture: the drift chain's server)
from tests.regression.variants import Variants


@pytest.fixture(scope="session")
def variant_envs(tmp_path_factory) -> Variants:
    """The variants' wheels and environments, built on first use."""
    return Variants(tmp_path_factory.mktemp("variants"))


@pytest.fixture(scope="session")
def epicast_python(variant_envs: Variants) -> Path:
    """The interpreter of an environment with this checkout's wheel installed."""
    return variant_envs.python("base-a")
