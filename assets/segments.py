"""Activation: the configured tag segments, re-exported after each sync."""

from pathlib import Path

import dagster as dg

from assets.analytics import analyst_copy
from assets.metadata import EAGER, OWNERS, tags
from pipelines.warehouse import segments
from pipelines.warehouse.resource import WarehouseResource


@dg.asset(
    group_name="activation",
    kinds={"csv", "parquet"},
    deps=[analyst_copy],
    owners=OWNERS,
    tags=tags("customers", personal_data=True),
    automation_condition=EAGER,
)
def segment_exports(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The contact lists of the configured customer segments, refreshed for marketing after
    each sync."""
    # Which segments: CUSTOMER_SYNC_SEGMENTS or data/segments.json (pipelines/warehouse/
    # segments.py). Reads analytics.duckdb, published by `analyst_copy` (hence the dependency),
    # so it never holds the warehouse's lock.
    try:
        configured = segments.configured_segments(warehouse.data_dir)
        rows = []
        exported = 0
        written: set[Path] = set()
        for segment in configured:
            # The pipeline owns these files: each sync replaces them (deleted customers vanish).
            path, count = segments.export(
                warehouse.analyst_path, segment, exports_dir=warehouse.exports_dir, force=True
            )
            context.log.info(f"{path}: {count} customers")
            rows.append(f"| {', '.join(segment.tags)} | {segment.match} | {path.name} | {count} |")
            written.add(path)
            exported += count
        # The other files in the folder (one-off exports, segments no longer configured) lose
        # the customers deleted in vivenu too.
        scrubbed = segments.drop_deleted(
            warehouse.analyst_path, warehouse.exports_dir, keep=written
        )
        for path, count in scrubbed.items():
            context.log.info(f"{path}: {count} deleted customer(s) removed")
    except segments.SegmentError as exc:
        raise dg.Failure(description=str(exc)) from exc
    table = "\n".join(["| tags | match | file | customers |", "| --- | --- | --- | --- |", *rows])
    return dg.MaterializeResult(
        metadata={
            "segments": len(configured),
            # Contact rows across the configured segment files.
            "dagster/row_count": exported,
            "exports": dg.MetadataValue.md(table),
            "folder": dg.MetadataValue.path(str(warehouse.exports_dir)),
            "deleted_customers_removed": sum(scrubbed.values()),
        }
    )
