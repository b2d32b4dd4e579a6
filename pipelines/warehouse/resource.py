"""The Dagster resource for the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from pipelines import settings
from pipelines.settings import SettingsError
from pipelines.sync.lake import Lake
from pipelines.warehouse import loader
from pipelines.warehouse.remote import WarehouseRemoteError


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

    # A file another process keeps locked fails the step with the loader's one line (who holds
    # it, and that analysts use the analyst copy), not a traceback.
    def connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        with _busy_as_failure():
            return loader.connect(
                self.path, read_only=read_only, lock_wait=settings.warehouse_lock_wait()
            )

    def load(self, lake: Lake, *, publish_copy: bool = True) -> loader.LoadResult:
        with _busy_as_failure():
            return loader.load(lake, self.path, publish_copy=publish_copy)

    def publish(self) -> Path:
        with _busy_as_failure():
            lake = settings.lake_url(self.data_dir)
            return loader.publish(self.path, lake=lake if "://" in lake else None)


@contextmanager
def _busy_as_failure() -> Iterator[None]:
    try:
        yield
    except (loader.WarehouseBusy, SettingsError, WarehouseRemoteError) as exc:
        raise dg.Failure(description=str(exc)) from None
