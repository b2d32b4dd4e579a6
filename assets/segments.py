"""Activation: the configured marketing audiences, re-exported after each sync."""

from pathlib import Path

import dagster as dg

from assets.analytics import analyst_copy
from assets.metadata import EAGER, OWNERS, tags
from pipelines.markdown import cell
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
    """The files of the configured marketing audiences, refreshed after each sync."""
    # Which audiences: CUSTOMER_SYNC_SEGMENTS or data/segments.json (pipelines/warehouse/
    # segments.py). Reads analytics.duckdb, published by `analyst_copy` (hence the dependency),
    # so it never holds the warehouse's lock.
    try:
        configured = segments.configured_segments(warehouse.data_dir)
        rows = []
        sizes: dict[str, int] = {}
        empty: list[str] = []
        written: set[Path] = set()
        for segment in configured:
            # The pipeline owns these files: each sync replaces them, an audience that became
            # empty included (an old file would keep customers who left it, or were deleted).
            path, count = segments.export(
                warehouse.analyst_path,
                segment,
                exports_dir=warehouse.exports_dir,
                force=True,
                allow_empty=True,
            )
            context.log.info(f"{path}: {count} customers")
            if not count and not segment.allow_empty:
                empty.append(segment.label)
                context.log.warning(
                    f"audience {segment.label!r} matches no customer ({segment.describe()}): "
                    f'{path.name} is empty; check its criteria, or set "allow_empty": true'
                )
            rows.append(
                f"| {cell(segment.label)} | {cell(segment.describe())} | {segment.layout} "
                f"| {path.name} | {count} |"
            )
            sizes[segment.label] = count
            written.add(path)
        # The other files in the folder (one-off exports, segments no longer configured) lose
        # the customers deleted in vivenu too.
        scrubbed = segments.drop_deleted(
            warehouse.analyst_path, warehouse.exports_dir, keep=written
        )
        for path, count in scrubbed.items():
            context.log.info(f"{path}: {count} deleted customer(s) removed")
    except segments.SegmentError as exc:
        raise dg.Failure(description=str(exc)) from exc
    header = ["| audience | criteria | layout | file | customers |", "|" + " --- |" * 5]
    return dg.MaterializeResult(
        metadata={
            "segments": len(configured),
            "audience_sizes": dg.MetadataValue.json(sizes),
            "empty_audiences": dg.MetadataValue.json(empty),
            # Contact rows across the configured audience files.
            "dagster/row_count": sum(sizes.values()),
            "exports": dg.MetadataValue.md("\n".join([*header, *rows])),
            "folder": dg.MetadataValue.path(str(warehouse.exports_dir)),
            "deleted_customers_removed": sum(scrubbed.values()),
        }
    )
