"""Jobs: what a scheduler, a sensor or the CLI launches.

No `from __future__ import annotations`: Dagster reads `erase_people`'s config annotation at
definition time.
"""

from pathlib import Path

import dagster as dg

from assets import analytics, segments, warehouse
from assets.ingest import CHANGES, SNAPSHOTS, deleted_records, unseen_deletions, webhook_changes
from assets.push import crm_push
from pipelines.resources import LakeResource, VivenuResource
from pipelines.warehouse.resource import WarehouseResource

# Everything downstream of the snapshots: the warehouse load, analytics, segment files. Both jobs
# end with it, so changes and deletions reach the tables and the segments in the same run.
WAREHOUSE_ASSETS = [
    warehouse.warehouse,
    analytics.customer_spend,
    analytics.customer_rfm,
    analytics.cohorts,
    analytics.monthly_spend,
    analytics.event_spend,
    analytics.tag_summary,
    analytics.customer_bookings,
    analytics.booking_conversion,
    analytics.event_lead_time,
    analytics.analyst_copy,
    segments.segment_exports,
]

# Runs carrying this tag are queued one at a time (pipelines/dagster.yaml).
WRITES = {"customer-sync/writes": "lake"}

# One process for all steps: Dagster's per-step subprocess start-up would cost more than most
# steps of an incremental run, and the steps run one after another anyway (lake lock, pool).
sync_job = dg.define_asset_job(
    "sync_job",
    selection=[*CHANGES.values(), unseen_deletions, *SNAPSHOTS.values(), *WAREHOUSE_ASSETS],
    executor_def=dg.in_process_executor,
    tags=WRITES,
    description="Incremental sync: lake, quality gate, warehouse, analytics, segments.",
)

reconcile_job = dg.define_asset_job(
    "reconcile_job",
    selection=[deleted_records, *SNAPSHOTS.values(), *WAREHOUSE_ASSETS],
    executor_def=dg.in_process_executor,
    tags=WRITES,
    description="Find records deleted in vivenu (each confirmed by a 404) and apply them.",
)

webhooks_job = dg.define_asset_job(
    "webhooks_job",
    selection=[webhook_changes, *SNAPSHOTS.values(), *WAREHOUSE_ASSETS],
    executor_def=dg.in_process_executor,
    tags=WRITES,
    description="Apply the webhook inbox: lake, quality gate, warehouse, analytics, segments.",
)

push_job = dg.define_asset_job(
    "push_job",
    selection=[crm_push],
    executor_def=dg.in_process_executor,
    description="Push CRM change files from the inbox to vivenu.",
)


class EraseConfig(dg.Config):
    """Whom to erase: customer `ids`, and/or a `file` of ids or emails (one a line). No emails
    in the config: run config is kept in the Dagster instance's run storage, which no erasure
    rewrites; a file is read by the run and stays outside it."""

    ids: list[str] = []
    file: str | None = None
    # Also the customers a reconcile confirmed deleted CUSTOMER_SYNC_ERASE_DELETED_AFTER ago.
    deleted: bool = False
    dry_run: bool = False
    also_in_vivenu: bool = False


@dg.op(
    tags={"personal_data": "yes"},
    description="Remove people from every layer (customer-sync erase), erasure_log as proof.",
)
def erase_people(
    context: dg.OpExecutionContext,
    config: EraseConfig,
    lake: LakeResource,
    warehouse: WarehouseResource,
    vivenu: VivenuResource,
) -> dict[str, int]:
    """The same code path as `customer-sync erase`. Its metadata, logs and failures hold counts
    and ids only: Dagster's storage is the one layer an erasure cannot rewrite."""
    from pipelines.erase.people import EraseRequestError, Request
    from pipelines.erase.run import erase
    from pipelines.sync.lake import LakeBusy
    from pipelines.sync.state import LakeCorrupt

    due = _deleted_due(Path(lake.data_dir)) if config.deleted else []
    if config.deleted and not (due or config.ids or config.file):
        context.log.info("nothing to erase: no customer deleted long enough ago")
        context.add_output_metadata({"people": 0})
        return {}
    try:
        request = Request.from_file(Path(config.file)) if config.file else Request()
        request = Request(ids=(*request.ids, *config.ids, *due), emails=request.emails)
        if not (request.ids or request.emails):
            raise EraseRequestError("name whom to erase: ids, file or deleted in the run config")
        client = vivenu.client() if config.also_in_vivenu and not config.dry_run else None
        report = erase(
            request,
            data_dir=Path(lake.data_dir),
            db_path=warehouse.path,
            dry_run=config.dry_run,
            vivenu=client,
        )
    except EraseRequestError as exc:
        raise dg.Failure(description=exc.nameless) from None
    except (LakeBusy, LakeCorrupt) as exc:
        raise dg.Failure(description=str(exc)) from None
    rows = report.as_dict()["rows"]
    context.add_output_metadata(
        {
            "erasure_id": report.erasure_id,
            "dry_run": report.dry_run,
            "people": report.people,
            "not_found": len(report.missing),
            **{f"rows/{layer}": n for layer, n in rows.items()},
        }
    )
    return rows


def _deleted_due(data_dir: Path) -> list[str]:
    from pipelines import settings
    from pipelines.erase.run import deleted_due
    from pipelines.sync.lake import Lake

    after = settings.erase_deleted_after()
    if after is None:
        raise dg.Failure(
            description=f"{settings.ERASE_DELETED_AFTER.name} is not set: set it to the days a "
            "confirmed deletion is kept before `deleted: true` erases it (e.g. 30)"
        )
    return deleted_due(Lake(data_dir), after)


@dg.job(tags=WRITES, executor_def=dg.in_process_executor)
def erase_job() -> None:
    """Erase people from every layer: lake, warehouse, analyst copy, exports, CRM files,
    quality reports; their orders keep money and dates under a pseudonym."""
    erase_people()


@dg.op(
    tags={"personal_data": "yes"},
    description="Drop the versions replaced more than CUSTOMER_SYNC_HISTORY_RETENTION days ago "
    "(customer-sync lake compact-history).",
)
def drop_replaced_versions(
    context: dg.OpExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dict[str, int]:
    """The lake's `changes` and the warehouse's `*_history` lose the versions a newer one
    replaced before the retention; counts per table in the metadata."""
    from pipelines import settings
    from pipelines.erase.retention import compact_history, compact_warehouse_history
    from pipelines.sync.lake import LakeBusy
    from pipelines.sync.state import LakeCorrupt
    from pipelines.warehouse.loader import WarehouseBusy
    from pipelines.warehouse.remote import WarehouseRemoteError

    retention = settings.history_retention()
    if retention is None:
        raise dg.Failure(
            description=f"{settings.HISTORY_RETENTION.name} is not set: set it to the days "
            "replaced versions are kept (e.g. 90)"
        )
    try:
        in_lake = compact_history(lake.lake(), retention)
        in_warehouse = compact_warehouse_history(lake.lake(), warehouse.path, retention)
    except (LakeBusy, LakeCorrupt, WarehouseBusy, WarehouseRemoteError) as exc:
        raise dg.Failure(description=str(exc)) from None
    rows = {
        **{f"lake/{name}": n for name, n in in_lake.items()},
        **{f"warehouse/{table}": n for table, n in in_warehouse.items()},
    }
    context.add_output_metadata({"retention_days": retention.days, **rows})
    return rows


@dg.job(tags=WRITES, executor_def=dg.in_process_executor)
def compact_history_job() -> None:
    """History retention: replaced versions older than CUSTOMER_SYNC_HISTORY_RETENTION days
    leave the lake and the warehouse; the current ones stay."""
    drop_replaced_versions()
