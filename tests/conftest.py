"""Shared fixtures: the vivenu simulator served on 127.0.0.1, the hostile API in front of it,
a small full-able disk; the S3 fixtures (`s3_lake`, ...) come from tests.s3."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.adversarial.disk import mount_tmpfs, unmount
from tests.adversarial.hostile import HostileAPI

pytest_plugins = ["tests.adversarial.plugin", "tests.s3", "tests.faultproxy"]


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """A started simulator with 300 seeded customers (seed 7), API key "sim-key"."""
    with SimulatorServer(Store.seeded(300, 7), api_key="sim-key") as server:
        yield server


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., SimulatorServer]]:
    """Factory for started simulators (customers, seed, faults, store, ...); stopped at teardown."""
    servers: list[SimulatorServer] = []

    def make(
        *,
        customers: int = 300,
        seed: int = 7,
        faults: Faults | None = None,
        store: Store | None = None,
        **kwargs: Any,
    ) -> SimulatorServer:
        server = SimulatorServer(
            store if store is not None else Store.seeded(customers, seed),
            faults=faults,
            **kwargs,
        )
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def hostile(simulator: SimulatorServer) -> Iterator[HostileAPI]:
    """The hostile API in front of the `simulator` fixture; add rules to `hostile.rules`."""
    with HostileAPI(simulator.base_url) as api:
        yield api


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 4 MiB tmpfs: writes past it fail with ENOSPC, as on a full disk (needs root to mount);
    `tests.adversarial.disk.resize` grows it back."""
    mounted = mount_tmpfs("4m")
    if isinstance(mounted, str):
        pytest.skip(mounted)
    try:
        yield mounted
    finally:
        unmount(mounted)
