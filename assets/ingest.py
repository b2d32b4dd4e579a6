"""Ingest: vivenu -> verified windows -> Delta change batches -> compacted snapshots."""

import asyncio
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import dagster as dg
from deltalake.exceptions import DeltaError

from assets.metadata import (
    EAGER,
    ON_RECONCILE_CRON,
    ON_SYNC_CRON,
    OWNERS,
    table_metadata,
    tags,
)
from pipelines import progress
from pipelines.quality.incremental import remembered_reference
from pipelines.quality.suites import load_suites
from pipelines.registry import RESOURCES, ResourceSpec, spec
from pipelines.resources import LakeResource, VivenuResource
from pipelines.sync.engine import (
    REUSE_LISTING_WITHIN,
    SyncFailed,
    SyncOptions,
    SyncProgress,
    reconcile_resource,
    sync_resource,
)
from pipelines.sync.lake import LakeBusy, first_line
from pipelines.sync.references import confirm_deleted_references
from pipelines.sync.state import LakeCorrupt
from pipelines.vivenu.errors import VivenuError
from pipelines.webhooks.apply import BATCH, apply_inbox, waiting
from pipelines.webhooks.inbox import Inbox

_DEFAULTS = SyncOptions()


class SyncConfig(dg.Config):
    """Per-run sync settings (defaults: the engine's `SyncOptions`)."""

    full: bool = _DEFAULTS.full
    lookback_seconds: int = int(_DEFAULTS.lookback.total_seconds())
    safety_lag_seconds: int = int(_DEFAULTS.safety_lag.total_seconds())
    batch_rows: int = _DEFAULTS.batch_rows


class ReconcileConfig(dg.Config):
    """Per-run reconcile settings."""

    # Take the listing of a full sync finished within REUSE_LISTING_WITHIN instead of listing.
    reuse_listing: bool = False


def _options(config: SyncConfig) -> SyncOptions:
    return SyncOptions(
        full=config.full,
        lookback=timedelta(seconds=config.lookback_seconds),
        safety_lag=timedelta(seconds=config.safety_lag_seconds),
        batch_rows=config.batch_rows,
    )


def _sync(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    vivenu: VivenuResource,
    lake: LakeResource,
    resource: ResourceSpec,
) -> dg.MaterializeResult:
    last_log = 0.0

    def report(p: SyncProgress) -> None:
        nonlocal last_log
        progress.emit(p)
        if time.monotonic() - last_log > 5:
            last_log = time.monotonic()
            context.log.info(f"{p.resource}: {' '.join(p.line().split())}")

    async def run() -> dg.MaterializeResult:
        async with vivenu.client(pipeline=True) as client:
            result = await sync_resource(
                client, lake.lake(), resource, _options(config), on_progress=report
            )
        metadata = result.as_metadata()
        metadata["dagster/row_count"] = metadata["rows_written"]
        metadata["changes_table"] = dg.MetadataValue.path(
            lake.lake().uri(result.resource, "changes")
        )
        return dg.MaterializeResult(metadata=metadata)

    try:
        return asyncio.run(run())
    except (SyncFailed, VivenuError, LakeBusy, LakeCorrupt) as exc:
        raise dg.Failure(description=str(exc)) from exc


def _prose(names: list[str]) -> str:
    """`a, b and c`."""
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _changes(resource: ResourceSpec) -> dg.AssetsDefinition:
    @dg.asset(
        name=resource.changes_asset,
        group_name="ingest",
        kinds={"deltalake"},
        owners=OWNERS,
        tags=tags(resource.name, personal_data=True),
        metadata=table_metadata(resource.name, resource.name),
        automation_condition=ON_SYNC_CRON,
        # One process runs the steps one by one: in the registry's order (pipelines/registry.py
        # RESOURCES says why), not Dagster's default (by name).
        op_tags={"dagster/priority": str(len(RESOURCES) - RESOURCES.index(resource))},
        description=f"{resource.name.capitalize()} created or changed in vivenu since the last "
        "sync, appended to its Delta change table.",
    )
    def changes(
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        vivenu: VivenuResource,
        lake: LakeResource,
    ) -> dg.MaterializeResult:
        return _sync(context, config, vivenu, lake, resource)

    return changes


# One per resource of the registry, by resource name.
CHANGES = {r.name: _changes(r) for r in RESOURCES}


@dg.asset(
    group_name="ingest",
    kinds={"deltalake"},
    owners=OWNERS,
    tags=tags("all", personal_data=False),
    metadata=table_metadata(RESOURCES[0].name, "deletions"),
    automation_condition=ON_RECONCILE_CRON,
    description=f"{_prose([r.name for r in RESOURCES]).capitalize()} deleted in vivenu, each "
    "confirmed by a 404 before it counts.",
)
def deleted_records(
    config: ReconcileConfig, vivenu: VivenuResource, lake: LakeResource
) -> dg.MaterializeResult:
    reuse = REUSE_LISTING_WITHIN if config.reuse_listing else None

    async def run() -> dict[str, int | str]:
        metadata: dict[str, int | str] = {}
        async with vivenu.client(pipeline=True) as client:
            for resource in RESOURCES:
                found = await reconcile_resource(
                    client, lake.lake(), resource, reuse_listing_within=reuse
                )
                name = found.resource
                metadata[f"{name}_listed"] = found.listed
                metadata[f"{name}_missing_from_listing"] = found.candidates
                metadata[f"{name}_confirmed_deleted"] = found.confirmed_deleted
                metadata[f"{name}_still_present"] = found.still_present
                metadata[f"{name}_requests"] = found.requests
                metadata[f"{name}_list_requests"] = found.list_requests
                metadata[f"{name}_confirm_requests"] = found.confirm_requests
                if found.last_sync_requests is not None:
                    metadata[f"{name}_last_sync_requests"] = found.last_sync_requests
                if found.listing_reused_from is not None:
                    metadata[f"{name}_listing_reused_from"] = found.listing_reused_from
            metadata["requests"] = client.stats.requests
        return metadata

    return _from_api(run)


@dg.asset(
    group_name="ingest",
    kinds={"deltalake"},
    deps=list(CHANGES.values()),
    owners=OWNERS,
    tags=tags("all", personal_data=False),
    metadata=table_metadata(RESOURCES[0].name, "deletions"),
    automation_condition=EAGER,
)
def unseen_deletions(vivenu: VivenuResource, lake: LakeResource) -> dg.MaterializeResult:
    """Records others refer to that vivenu deleted before any sync saw them, each confirmed by a
    404."""

    async def run() -> dict[str, int]:
        found: dict[str, int] = {}
        async with vivenu.client(pipeline=True) as client:
            suites = load_suites()
            for suite in suites:
                for flag, ref in suite.references.items():
                    # Only references that accept deleted records, on a synced table.
                    if "deleted" not in ref.get("known", []) or suite.table != suite.resource:
                        continue
                    checked = await confirm_deleted_references(
                        client,
                        lake.lake(),
                        referencing=suite.table,
                        column=ref["column"],
                        referenced=spec(ref["resource"]),
                        remembered=remembered_reference(lake.lake(), suites, suite, flag),
                    )
                    prefix = f"{suite.table}.{ref['column']}"
                    found[f"{prefix}_unknown"] = checked.unknown
                    found[f"{prefix}_asked"] = checked.asked
                    found[f"{prefix}_confirmed_deleted"] = checked.confirmed_deleted
            found["requests"] = client.stats.requests
        return found

    return _from_api(run)


def _from_api(
    run: Callable[[], Coroutine[Any, Any, Mapping[str, int | str]]],
) -> dg.MaterializeResult:
    """Runs an asset's API work; its known failures end the step with their one-line reason."""
    try:
        return dg.MaterializeResult(metadata=asyncio.run(run()))
    except (SyncFailed, VivenuError, LakeBusy, LakeCorrupt) as exc:
        raise dg.Failure(description=str(exc)) from exc


def _compact(lake: LakeResource, resource: str) -> dg.MaterializeResult:
    try:
        result = lake.lake().compact(resource)
    except (LakeCorrupt, LakeBusy, DeltaError, OSError) as exc:
        raise dg.Failure(description=str(exc)) from exc
    return dg.MaterializeResult(
        metadata={
            "rows": result.rows,
            "new": result.new,
            "changed": result.changed,
            "unchanged_reread": result.unchanged,
            "deleted": result.deleted,
            "in_quarantine": result.quarantined,
            "runs_merged": len(result.runs),
            "path": dg.MetadataValue.path(lake.lake().snapshot_uri(resource, resource)),
            "dagster/row_count": result.rows,
        }
    )


# The schedule syncs every 15 minutes: an hour without a fresh snapshot means syncs are failing.
SNAPSHOT_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=1), warn_window=timedelta(minutes=30)
)


@dg.asset(
    group_name="ingest",
    kinds={"deltalake"},
    owners=OWNERS,
    tags=tags("all", personal_data=True),
)
def webhook_changes(lake: LakeResource) -> dg.MaterializeResult:
    """Changes vivenu pushed as signed webhooks since they were last applied, appended to the
    change tables like a sync's."""
    store = lake.lake()
    inbox = Inbox(store.data_dir / "webhooks")
    envelopes = len(waiting(inbox))
    try:
        applied = apply_inbox(store, inbox)
    except (LakeBusy, LakeCorrupt, DeltaError, OSError) as exc:
        raise dg.Failure(description=first_line(exc)) from exc
    metadata: dict[str, int] = {"envelopes": min(envelopes, BATCH)}
    for run in applied:
        metadata[f"{run.resource}_records"] = run.records
        metadata[f"{run.resource}_quarantined"] = run.quarantined
    metadata["dagster/row_count"] = sum(run.records for run in applied)
    return dg.MaterializeResult(metadata=metadata)


def _snapshot(resource: ResourceSpec) -> dg.AssetsDefinition:
    links = _prose([link.label for link in resource.links])

    @dg.asset(
        name=resource.snapshot_asset,
        group_name="ingest",
        kinds={"deltalake"},
        deps=[CHANGES[resource.name], deleted_records, unseen_deletions, webhook_changes],
        freshness_policy=SNAPSHOT_FRESHNESS,
        owners=OWNERS,
        tags=tags(resource.name, personal_data=True),
        metadata=table_metadata(resource.name, resource.name),
        automation_condition=EAGER,
        description=f"Every live {resource.singular} as vivenu has it now"
        + (f", with its {links}." if links else "."),
    )
    def snapshot(lake: LakeResource) -> dg.MaterializeResult:
        return _compact(lake, resource.name)

    return snapshot


SNAPSHOTS = {r.name: _snapshot(r) for r in RESOURCES}
# What `load_assets_from_modules` collects (it reads lists, not dicts).
ingest_assets = [*CHANGES.values(), *SNAPSHOTS.values()]
