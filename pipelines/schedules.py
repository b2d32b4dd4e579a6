"""Schedules: off by default; turn them on in the UI (Automation) or with `dagster schedule start`.

They run each sync as one `sync_job` run; the `sync_automation` sensor (pipelines/sensors.py)
runs the same assets by their automation conditions instead. Turn on one of the two, not both.
The erasure and retention schedules also need their setting (CUSTOMER_SYNC_ERASE_DELETED_AFTER,
CUSTOMER_SYNC_HISTORY_RETENTION): without it their run fails, saying so.
"""

from __future__ import annotations

import dagster as dg

from assets.metadata import RECONCILE_CRON, SYNC_CRON
from pipelines.jobs import compact_history_job, erase_job, reconcile_job, sync_job

# An hour after reconcile_nightly has confirmed the day's deletions.
ERASE_DELETED_CRON = "30 3 * * *"
# Weekly: the retention is counted in days, and each pass rewrites the files that it changes.
COMPACT_HISTORY_CRON = "0 4 * * 0"

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

erase_deleted_schedule = dg.ScheduleDefinition(
    name="erase_deleted_nightly",
    job=erase_job,
    cron_schedule=ERASE_DELETED_CRON,
    run_config={"ops": {"erase_people": {"config": {"deleted": True}}}},
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Erase the customers deleted in vivenu CUSTOMER_SYNC_ERASE_DELETED_AFTER days "
    "ago (customer-sync erase --deleted), nightly at 03:30 UTC.",
)

compact_history_schedule = dg.ScheduleDefinition(
    name="compact_history_weekly",
    job=compact_history_job,
    cron_schedule=COMPACT_HISTORY_CRON,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Drop the versions replaced more than CUSTOMER_SYNC_HISTORY_RETENTION days ago "
    "(customer-sync lake compact-history), Sundays at 04:00 UTC.",
)
