"""The code location: the one place the Dagster Definitions are assembled."""

from __future__ import annotations

import dagster as dg

from assets import analytics, ingest, push, quality, segments, warehouse
from pipelines.jobs import (
    compact_history_job,
    erase_job,
    push_job,
    reconcile_job,
    sync_job,
    webhooks_job,
)
from pipelines.resources import default_resources
from pipelines.schedules import (
    compact_history_schedule,
    erase_deleted_schedule,
    reconcile_schedule,
    sync_schedule,
)
from pipelines.sensors import crm_inbox_sensor, sync_automation, webhook_inbox_sensor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, warehouse, analytics, segments, push]),
    asset_checks=quality.quality_checks,
    jobs=[sync_job, reconcile_job, webhooks_job, push_job, erase_job, compact_history_job],
    schedules=[sync_schedule, reconcile_schedule, erase_deleted_schedule, compact_history_schedule],
    sensors=[crm_inbox_sensor, webhook_inbox_sensor, sync_automation],
    resources=default_resources(),
    # Runs the UI or the automation sensor launch (not only the jobs): one process for all steps,
    # as for the jobs (pipelines/jobs.py): the run-long lake lock, and start-up cost per step.
    executor=dg.in_process_executor,
)
