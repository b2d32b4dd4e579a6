"""Shared fixtures: the vivenu simulator served on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store


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
