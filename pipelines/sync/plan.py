"""`sync --plan`: the requests a sync would send, and how long the rate caps make them take,
found before any record is fetched (no Dagster).

Per resource, the windows are those `sync_resource` would fetch now (`windows_to_fetch`: from the
lake's high-water mark less the lookback, or a checkpointed run's remaining windows, or
everything with `full`). Each window costs the plan one `top=1` listing, whose `total` is the
window's record count; the sync's requests follow from the counts as the engine spends them
(`least_requests`). Nothing is written: the state is read without the sync lock, whose file
would change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.registry import ResourceSpec
from pipelines.sync.engine import SyncOptions, least_requests, windows_to_fetch
from pipelines.sync.lake import Lake
from pipelines.sync.state import LakeCorrupt, ResourceState
from pipelines.sync.windows import Window, split_pieces
from pipelines.vivenu.client import VivenuClient, least_seconds


@dataclass(frozen=True)
class WindowPlan:
    """One window a sync would fetch, and the records vivenu holds in it now."""

    lower: str
    upper: str
    records: int


@dataclass(frozen=True)
class ResourcePlan:
    """What a sync of one resource would do: its windows and the requests they cost."""

    resource: str
    run: str  # "full", "incremental" or "resume" (a checkpointed run's remaining windows)
    windows: list[WindowPlan]
    records: int
    # `ceil(records / top)` per window, the floor no exact sync goes below.
    pages: int
    # What the engine spends beyond the pages when nothing changes (`least_requests`).
    overhead: int
    requests: int
    # The narrower windows a window too large to page whole is cut into (`split_pieces`): each
    # may end in a part page, so the sync sends up to that many requests more, as long as no
    # cut leaves a window too large again (the cuts are quantiles of a first page).
    split_into: int
    requests_at_most: int
    plan_requests: int


@dataclass(frozen=True)
class SyncPlan:
    """The plan of a whole sync, with the time its requests take under the rate caps."""

    full: bool
    resources: list[ResourcePlan]
    sync_requests: int
    sync_requests_at_most: int
    plan_requests: int
    max_rps: float
    max_requests_per_hour: int | None
    # What the last hour spent of that budget (every process of the data directory).
    budget_used: float | None
    # The least time the client's caps, and what is left of the budget, allow the sync's
    # requests (answers taking none).
    sync_seconds: float
    sync_seconds_at_most: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["resources"] = {r["resource"]: r for r in body["resources"]}
        return body


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _state(lake: Lake, resource: ResourceSpec, options: SyncOptions) -> ResourceState:
    try:
        return lake.load_state(resource.name)
    except LakeCorrupt:
        if not options.full:
            raise
        # A full sync sets the unreadable state aside and starts afresh (`recover_state`).
        return ResourceState(resource=resource.name)


async def plan_resource(
    client: VivenuClient,
    lake: Lake,
    resource: ResourceSpec,
    options: SyncOptions,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ResourcePlan:
    """Count the records of each window a sync of `resource` would fetch now, one request each."""
    before = client.stats.requests
    state = _state(lake, resource, options)
    windows, resumes = windows_to_fetch(state, options, now())
    counted: list[tuple[Window, int]] = []
    for window in windows:
        page = await client.list_page(resource, top=1, params=window.params(resource.updated_field))
        counted.append((window, page.total))
    totals = [total for _, total in counted]
    requests = least_requests(totals, options.policy)
    pages = sum(-(-t // options.policy.top) for t in totals)
    split_into = sum(split_pieces(t, options.policy) for t in totals)
    return ResourcePlan(
        resource=resource.name,
        run="resume"
        if resumes
        else "full"
        if options.full or state.high_water_mark_ms is None
        else "incremental",
        windows=[WindowPlan(_iso(w.lo), _iso(w.hi), total) for w, total in counted],
        records=sum(totals),
        pages=pages,
        overhead=requests - pages,
        requests=requests,
        split_into=split_into,
        requests_at_most=requests + split_into,
        plan_requests=client.stats.requests - before,
    )


async def plan_sync(
    client: VivenuClient,
    lake: Lake,
    resources: list[ResourceSpec],
    options: SyncOptions,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SyncPlan:
    """The plan of a sync of `resources`: every window counted, resource by resource."""
    before = client.stats.requests
    plans = [await plan_resource(client, lake, r, options, now=now) for r in resources]
    sync_requests = sum(p.requests for p in plans)
    at_most = sum(p.requests_at_most for p in plans)
    settings = client.settings
    used = client.budget_used()
    return SyncPlan(
        full=options.full,
        resources=plans,
        sync_requests=sync_requests,
        sync_requests_at_most=at_most,
        plan_requests=client.stats.requests - before,
        max_rps=settings.max_rps,
        max_requests_per_hour=settings.max_requests_per_hour,
        budget_used=None if used is None else round(used, 1),
        sync_seconds=round(least_seconds(sync_requests, settings, used=used or 0.0), 2),
        sync_seconds_at_most=round(least_seconds(at_most, settings, used=used or 0.0), 2),
        notes=[
            "requests assume no request is retried; records changing while the sync pages cost "
            "a bridging page where they shift offsets past the pages' overlap of "
            f"{options.policy.overlap} records; a window of more than "
            f"{options.policy.window_pages * options.policy.top:,} records is split, and each "
            "narrower window costs up to one request more (the 'at most')",
            "the hourly budget is shared by every process of this data directory (the time "
            "counts what the last hour spent of it); processes elsewhere on the same key are "
            "not counted",
        ],
    )
