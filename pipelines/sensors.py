"""Sensors: off by default; turn them on in the UI (Automation) or with `dagster sensor start`."""

from __future__ import annotations

import dagster as dg

from pipelines import settings
from pipelines.jobs import WRITES, push_job, webhooks_job
from pipelines.push.runner import CrmDirs
from pipelines.webhooks.apply import waiting
from pipelines.webhooks.inbox import Inbox

FILE_TAG = "customer_sync/crm_file"

_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(job=push_job, minimum_interval_seconds=30)
def crm_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """One push_job run per change file in <data_dir>/crm/inbox.

    No run_key: a file still in the inbox after its run ended (the run was killed) is requested
    again, and the push's live comparison makes that rerun apply nothing twice. A file whose run
    is still queued or running is not requested a second time.
    """
    files = CrmDirs.of(settings.data_dir()).inbox_files()
    if not files:
        return dg.SkipReason("no change files in the CRM inbox")
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=push_job.name, statuses=_ACTIVE)
    )
    busy = {run.tags.get(FILE_TAG) for run in active}
    requests = [
        dg.RunRequest(
            run_config={"ops": {"crm_push": {"config": {"file": str(path)}}}},
            tags={FILE_TAG: str(path)},
        )
        for path in files
        if str(path) not in busy
    ]
    if not requests:
        return dg.SkipReason(f"{len(files)} file(s) in the inbox are already being pushed")
    return dg.SensorResult(run_requests=requests)


@dg.sensor(job=webhooks_job, minimum_interval_seconds=30)
def webhook_inbox_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """A webhooks_job run whenever envelopes wait in <data_dir>/webhooks/inbox and none is
    running: vivenu's pushes reach the warehouse within a minute, in small runs."""
    envelopes = len(waiting(Inbox(settings.data_dir().absolute() / "webhooks")))
    if not envelopes:
        return dg.SkipReason("no webhook envelopes waiting")
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=webhooks_job.name, statuses=_ACTIVE), limit=1
    )
    if active:
        return dg.SkipReason(f"{envelopes} envelope(s) wait for the run in progress")
    return dg.RunRequest()


# Declarative automation: the sync's change assets on their cron, the reconcile nightly, and
# everything downstream eagerly (assets/metadata.py). Its runs carry the writes tag, so they
# queue behind a running sync like `sync_job` runs do (pipelines/dagster.yaml).
sync_automation = dg.AutomationConditionSensorDefinition(
    "sync_automation",
    target=dg.AssetSelection.all(),
    run_tags=WRITES,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Runs the assets by their automation conditions: the sync every 15 minutes, reconcile at "
        "02:30 UTC, the rest when its inputs change. An alternative to the schedules."
    ),
)
