"""Fixtures: a single-node Slurm (scripts/slurm/start.sh) and local Dask clusters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from distributed import Client

from epicast.cluster import ClusterProfile, open_client, wait_for_workers
from tests.slurm import slurm  # noqa: F401 (a fixture)


@pytest.fixture
def local_client() -> Iterator[Callable[[int], Client]]:
    """Return a function opening a client on N local single-threaded worker processes.

    The function waits for the N workers; every cluster opened is closed after the test.
    """
    with ExitStack() as stack:

        def open_local(workers: int = 1) -> Client:
            profile = ClusterProfile(workers=workers)
            client = stack.enter_context(open_client("local", profile))
            wait_for_workers(client, timeout=60, n_workers=workers)
            return client

        yield open_local
