"""Warehouse: the lake's validated change batches merged into DuckDB, plus the analyst copy."""

from typing import Any

import dagster as dg

from assets.ingest import SNAPSHOT_FRESHNESS, SNAPSHOTS
from assets.metadata import EAGER, OWNERS, tags
from pipelines.resources import LakeResource
from pipelines.warehouse.resource import WarehouseResource


# Depends on the snapshots so the blocking quality checks on them gate the load; pool "duckdb"
# lets one run at a time write the file (DuckDB allows a single writing process).
@dg.asset(
    group_name="warehouse",
    kinds={"duckdb"},
    deps=list(SNAPSHOTS.values()),
    pool="duckdb",
    freshness_policy=SNAPSHOT_FRESHNESS,
    owners=OWNERS,
    tags=tags("all", personal_data=True),
    automation_condition=EAGER,
)
def warehouse(lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The validated current records of every vivenu resource, with every earlier version and
    every confirmed deletion kept for point-in-time answers."""
    # The analyst copy is published once, by `analyst_copy`, after the analytics tables are
    # rebuilt: publishing here too would show new customers beside stale analytics.
    result = warehouse.load(lake.lake(), publish_copy=False)
    metadata: dict[str, Any] = {"seconds": round(result.seconds, 3)}
    for name, r in result.resources.items():
        metadata[f"{name}_runs_loaded"] = len(r.runs)
        metadata[f"{name}_inserted"] = r.inserted
        metadata[f"{name}_updated"] = r.updated
        metadata[f"{name}_deleted"] = r.deleted
        metadata[f"{name}_history_versions_added"] = r.versions
        metadata[f"{name}_rejected_held"] = r.rejected_held
        metadata[f"{name}_rows"] = r.rows
    metadata["db_path"] = dg.MetadataValue.path(str(warehouse.path))
    return dg.MaterializeResult(metadata=metadata)
