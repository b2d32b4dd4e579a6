"""The code location: the one place the Dagster Definitions are assembled."""

from __future__ import annotations

import dagster as dg

from assets import analytics, ingest, quality, segments, warehouse
from pipelines.jobs import reconcile_job, sync_job
from pipelines.resources import default_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, warehouse, analytics, segments]),
    asset_checks=quality.quality_checks,
    jobs=[sync_job, reconcile_job],
    resources=default_resources(),
)
