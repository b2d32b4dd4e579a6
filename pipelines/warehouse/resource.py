"""The Dagster resource for the DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from pipelines.sync.lake import Lake
from pipelines.warehouse import loader


class WarehouseResource(dg.ConfigurableResource):
    """`warehouse.duckdb` (the pipeline's own file), its analyst copy and the export folder.

    Wire it as `WarehouseResource(db_path=str(settings.data_dir() / "warehouse.duckdb"))`.
    """

    db_path: str

    @property
    def path(self) -> Path:
        return Path(self.db_path)

    @property
    def analyst_path(self) -> Path:
        return loader.analyst_path(self.path)

    @property
    def data_dir(self) -> Path:
        return self.path.parent

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        return loader.connect(self.path, read_only=read_only)

    def load(self, lake: Lake, *, publish_copy: bool = True) -> loader.LoadResult:
        return loader.load(lake, self.path, publish_copy=publish_copy)

    def publish(self) -> Path:
        return loader.publish(self.path)
