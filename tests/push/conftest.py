"""Fixtures for push tests: a simulator synced into a data dir whose warehouse is loaded."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.push.runner import PushOptions, PushReport, push_file
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.warehouse.loader import load
from tests.sync.truth import client_for, sync


@dataclass
class Synced:
    """A simulator, and a data dir holding its synced lake and loaded warehouse."""

    sim: SimulatorServer
    data_dir: Path

    @property
    def db_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    def resync(self) -> None:
        """Incremental sync + warehouse load (what the pipeline does between pushes)."""
        sync(self.sim, self.data_dir)
        load(Lake(self.data_dir), self.db_path, publish_copy=False)

    def customers(self) -> list[dict[str, Any]]:
        """The simulator's customers, in a fixed order."""
        return sorted(self.sim.store.customers_truth(), key=lambda d: d["_id"])

    def live(self, customer_id: str) -> dict[str, Any]:
        return self.sim.store.get_customer(customer_id)

    def write_csv(self, rows: list[dict[str, Any]], name: str = "changes.csv") -> Path:
        columns: list[str] = []
        for row in rows:
            columns += [c for c in row if c not in columns]
        path = self.data_dir / "incoming" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return path

    def push(self, path: Path, client_overrides: dict | None = None, **options: Any) -> PushReport:
        async def go() -> PushReport:
            async with client_for(self.sim, **(client_overrides or {})) as client:
                return await push_file(
                    path,
                    client=client,
                    db_path=self.db_path,
                    data_dir=self.data_dir,
                    options=PushOptions(**options),
                )

        return asyncio.run(go())

    def requests(self, method: str | None = None) -> list[Any]:
        return [r for r in self.sim.requests if method is None or r.method == method]

    def writes(self) -> list[Any]:
        return [r for r in self.sim.requests if r.method in ("PUT", "POST", "PATCH", "DELETE")]


@pytest.fixture
def synced(make_simulator: Callable[..., SimulatorServer], tmp_path: Path) -> Iterator[Synced]:
    """300 customers (seed 7) synced and loaded; the request log starts empty."""
    sim = make_simulator(customers=300, seed=7)
    env = Synced(sim, tmp_path / "data")
    env.resync()
    sim.clear_requests()
    yield env
