"""Schedules: off by default; turn them on in the UI (Automation) or with `dagster schedule start`.

They run each sync as one `sync_job` run; the `sync_automation` sensor (pipelines/sensors.py)
runs the same assets by their automation conditions instead. Turn on one of the two, not both.
"""

from __future__ import annotations

import dagster as dg

from assets.metadata import RECONCILE_CRON, SYNC_CRON
from pipelines.jobs import reconcile_job, sync_job

sync_schedule = dg.ScheduleDefinition(
    name="sync_every_15_minutes",
    job=sync_job,
    cron_schedule=SYNC_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Incremental sync of every vivenu resource, every 15 minutes.",
)

# Nightly: reconcile lists every id, the one pass whose cost follows the table size.
reconcile_schedule = dg.ScheduleDefinition(
    name="reconcile_nightly",
    job=reconcile_job,
    cron_schedule=RECONCILE_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Find and apply records deleted in vivenu, nightly at 02:30 UTC.",
)
