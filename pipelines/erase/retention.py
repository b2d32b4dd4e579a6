"""History retention: change batches older than CUSTOMER_SYNC_HISTORY_RETENTION compacted away.

The lake's `changes` keep every version ever fetched, so an old address or email outlives its
change by as long as the lake lives. Compacting keeps, of the versions older than the cutoff,
only those still current (the newest of their record, over the whole table): the snapshot, a
rebuild from the logs and the warehouse's next load are the same as before, and what vivenu
overwrote long ago is gone, physically (vacuumed, commit log cut, as an erasure does). The
warehouse's `*_history` tables lose the versions a newer one replaced before the cutoff (a
record's newest version stays, also a deleted record's last), the file is rewritten and the
analyst copy published again from it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
from deltalake import write_deltalake

from pipelines.erase import lake_tables
from pipelines.erase import warehouse as wh
from pipelines.registry import RESOURCES
from pipelines.sqlfiles import read_sql
from pipelines.sync.lake import Lake, LakeWriter
from pipelines.sync.lake import _options as lake_options  # pyright: ignore[reportPrivateUsage]
from pipelines.warehouse import loader

SQL_DIR = Path(__file__).parent / "sql"


def compact_history(
    lake: Lake, retention: timedelta, *, now: datetime | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Drop the versions fetched more than `retention` ago that a newer one replaced; returns
    the rows dropped (`dry_run`: that would be) per resource."""
    cutoff = (now or datetime.now(UTC)) - retention
    dropped: dict[str, int] = {}
    for spec in RESOURCES:
        with lake.writer(spec.name) as writer:
            data = lake.dataset(spec.name, "changes")
            if data is None:
                continue
            con = duckdb.connect()
            try:
                con.register("changes", data)
                params = {"cutoff": cutoff}
                old = con.execute(read_sql(SQL_DIR, "history_old"), params).fetchall()[0][0]
                keep = con.sql(read_sql(SQL_DIR, "history_keep"), params=params).to_arrow_table()
            finally:
                con.close()
            dropped[spec.name] = int(old) - len(keep)
            if dropped[spec.name] and not dry_run:
                _rewrite(lake, spec.name, keep.cast(data.schema), cutoff, writer)
    return dropped


def compact_warehouse_history(
    lake: Lake,
    db_path: Path,
    retention: timedelta,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> dict[str, int]:
    """Drop from the warehouse's `*_history` tables the versions a newer one replaced more than
    `retention` ago; returns the rows dropped (`dry_run`: that would be) per table."""
    cutoff = (now or datetime.now(UTC)) - retention
    if lake.remote:
        loader.fetch_remote(lake.root, db_path)
    dropped = wh.history_retention(db_path, cutoff, dry_run=dry_run)
    if dropped and not dry_run:
        loader.publish(db_path, lake=lake.root if lake.remote else None)
    return dropped


def _rewrite(
    lake: Lake, resource: str, keep: pa.Table, cutoff: datetime, writer: LakeWriter
) -> None:
    # The cutoff is ours (a timestamp), not data: formatted into the predicate as ISO text.
    write_deltalake(
        lake.uri(resource, "changes"),
        keep,
        mode="overwrite",
        predicate=f"_synced_at < '{cutoff.astimezone(UTC).isoformat()}'",
        writer_properties=lake_tables.WRITE,
        commit_properties=writer.commit_properties(),
        storage_options=lake_options(),
    )
    # Snapshot tables keep replaced files an hour for their readers: those hold old versions too.
    for table in lake_tables.tables_of(resource):
        lake_tables.purge(lake, resource, table, writer)
