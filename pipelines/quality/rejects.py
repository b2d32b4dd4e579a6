"""Quality rejects (`lake/<resource>/quality/rejected.parquet`) and the combined quarantine view.

Two kinds of record versions are quarantined: those the sync could not normalize
(`snapshot/quarantine.parquet`, reason from normalization) and those that failed a row-level
expectation (`quality/rejected.parquet`, the failed expectations). The first never reached the
snapshot; the warehouse does not merge the second (record_id, updated_at). Neither removes what
the warehouse already holds of the record: an earlier version, or the same version when it was
loaded before the gate rejected it (`customer-sync quarantine list` shows which).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.sync import schemas
from pipelines.sync.lake import TABLES, Lake
from pipelines.sync.state import write_parquet_atomic


def rejected_path(lake: Lake, resource: str) -> Path:
    return lake.local(resource) / "rejected.parquet"


def build(
    primary: pa.Table, resource: str, bad: dict[str, set[str]], *, validated_at: datetime
) -> pa.Table:
    """One QUALITY_REJECTS row per row of `primary` whose id is in `bad`."""
    if not bad:
        return schemas.QUALITY_REJECTS.empty_table()
    rows = primary.filter(pc.is_in(primary.column("id"), value_set=pa.array(sorted(bad))))
    records = rows.to_pylist()
    return pa.Table.from_pydict(
        {
            "resource": [resource] * len(records),
            "record_id": [r["id"] for r in records],
            "updated_at": [r["updated_at"] for r in records],
            "expectations": [sorted(bad[r["id"]]) for r in records],
            "payload": [
                orjson.dumps(r, default=str, option=orjson.OPT_SORT_KEYS).decode() for r in records
            ],
            "validated_at": [validated_at] * len(records),
            "_run_id": [r["_run_id"] for r in records],
            "_synced_at": [r["_synced_at"] for r in records],
        },
        schema=schemas.QUALITY_REJECTS,
    )


def write(lake: Lake, resource: str, table: pa.Table) -> Path:
    """Replace the resource's rejects with `table`."""
    path = rejected_path(lake, resource)
    write_parquet_atomic(table.cast(schemas.QUALITY_REJECTS), path)
    return path


def read(lake: Lake, resource: str) -> pa.Table:
    """The resource's current rejects (empty before the first validation)."""
    path = rejected_path(lake, resource)
    if not path.exists():
        return schemas.QUALITY_REJECTS.empty_table()
    return pq.read_table(path, schema=schemas.QUALITY_REJECTS)


def quarantined(lake: Lake, resource: str | None = None) -> list[dict[str, Any]]:
    """Every quarantined record version: schema quarantine and quality rejects, with reasons."""
    entries: list[dict[str, Any]] = []
    for name in [resource] if resource else list(TABLES):
        for row in lake.read_snapshot(name, "quarantine").to_pylist():
            entries.append(
                {
                    "resource": name,
                    "source": "schema",
                    "record_id": row["record_id"],
                    "updated_at": row["updated_at"],
                    "reasons": [row["reason"]],
                    "payload": row["payload"],
                    "run_id": row["_run_id"],
                }
            )
        for row in read(lake, name).to_pylist():
            entries.append(
                {
                    "resource": name,
                    "source": "quality",
                    "record_id": row["record_id"],
                    "updated_at": row["updated_at"],
                    "reasons": row["expectations"],
                    "payload": row["payload"],
                    "run_id": row["_run_id"],
                }
            )
    return entries
