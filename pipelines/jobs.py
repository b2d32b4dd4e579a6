"""Jobs: what a scheduler, a sensor or the CLI launches."""

from __future__ import annotations

import dagster as dg

from assets import analytics, segments, warehouse
from assets.ingest import CHANGES, SNAPSHOTS, deleted_records, unseen_deletions, webhook_changes
from assets.push import crm_push

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
