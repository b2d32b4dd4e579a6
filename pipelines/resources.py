"""Dagster resources: thin, configurable handles on the engine's building blocks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from pipelines import settings
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import ClientSettings, VivenuClient
from pipelines.warehouse.resource import WarehouseResource


class VivenuResource(dg.ConfigurableResource):
    """The vivenu API; the key is only ever read from the environment and never shown."""

    base_url: str
    api_key: str
    max_rps: float | None = None
    concurrency: int | None = None

    def client(self) -> VivenuClient:
        """A new client (one per run: it owns the rate cap and the connection pool)."""
        return VivenuClient(
            ClientSettings.from_env(
                base_url=self.base_url,
                api_key=self.api_key,
                max_rps=self.max_rps,
                concurrency=self.concurrency,
            )
        )


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake under the data directory."""

    data_dir: str

    def lake(self) -> Lake:
        return Lake(Path(self.data_dir))

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[LakeResource]:
        # The first step that takes the sync lock keeps it until the run ends, so another sync
        # cannot run between this run's steps (the resource lives as long as the run).
        with self.lake().session():
            yield self


def default_resources() -> dict[str, dg.ConfigurableResource]:
    """Resources wired from VIVENU_BASE_URL, VIVENU_API_KEY and CUSTOMER_SYNC_DATA_DIR."""
    return {
        "vivenu": VivenuResource(
            base_url=dg.EnvVar("VIVENU_BASE_URL"), api_key=dg.EnvVar("VIVENU_API_KEY")
        ),
        "lake": LakeResource(data_dir=str(settings.data_dir())),
        "warehouse": WarehouseResource(db_path=str(settings.data_dir() / "warehouse.duckdb")),
    }
