"""The incremental sync engine: API -> verified windows -> Parquet change batches (no Dagster).

One run of one resource:

1. Bounds: the upper bound is frozen at start (now minus a safety lag); the lower bound is the
   committed high-water mark minus a lookback (0 on the first run or with `full`).
2. The range is fetched as verified windows (`pipelines.sync.windows`), concurrently.
3. Records are scrubbed of secrets, normalized, and buffered; every `batch_rows` records (or
   when the writer's claim needs renewing) a part is committed to the lake with the windows it
   covers: the commit is the checkpoint.
4. When every window is written, the high-water mark moves to the upper bound.

A run killed at any instant resumes from its checkpoint with the same bounds; rows written
after the last checkpoint were never committed, so they are fetched again. The writer's claim on
the resource's lake table (`pipelines.sync.lake`) keeps two syncs of it from running at once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import DeltaError

from pipelines.registry import ResourceSpec
from pipelines.sync.lake import TABLES, Lake, LakeBusy, LakeWriter, first_line
from pipelines.sync.normalize import Lineage, normalize, scrub
from pipelines.sync.state import ResourceState, RunInProgress
from pipelines.sync.windows import (
    Keep,
    Window,
    WindowFetcher,
    WindowIncomplete,
    WindowPolicy,
    WindowStats,
    least_window_requests,
)
from pipelines.vivenu.client import VivenuClient
from pipelines.vivenu.errors import VivenuError, VivenuNotFound


class SyncFailed(Exception):
    """A run stopped before all it fetched was written; its high-water mark did not move."""


@dataclass(frozen=True, kw_only=True)
class SyncOptions:
    """Knobs of a sync run.

    Args:
        full: ignore the high-water mark and fetch everything.
        lookback: overlap re-read below the high-water mark (late-visible writes).
        safety_lag: distance of the frozen upper bound from now (clock skew, replication).
        batch_rows: records per Parquet part, and so per checkpoint.
        policy: how windows are paged and split.
    """

    full: bool = False
    lookback: timedelta = timedelta(minutes=5)
    safety_lag: timedelta = timedelta(seconds=2)
    batch_rows: int = 50_000
    policy: WindowPolicy = field(default_factory=WindowPolicy)


@dataclass(frozen=True)
class SyncProgress:
    """A live view of a run, for progress bars and logs."""

    resource: str
    windows_done: int
    windows_in_flight: int
    records: int
    requests: int
    retries: int
    requests_per_second: float
    # The requests the run is expected to take in all, nothing changing (an estimate that
    # grows as windows are met), and about how long the rest takes under the caps.
    requests_expected: int = 0
    eta_seconds: float = 0.0
    # The key's hourly budget and how much of it the last hour spent (every process of the
    # data directory); None without a budget.
    budget: int | None = None
    budget_used: float | None = None

    def line(self) -> str:
        """The progress as one line: records, windows, requests used / expected, budget, ETA."""
        budget = f"  budget {self.budget_used or 0:,.0f}/{self.budget:,}/h" if self.budget else ""
        return (
            f"{self.records:>9,} records  {self.windows_done:>5} windows  "
            f"{self.requests:>6}/{max(self.requests, self.requests_expected)} req "
            f"({self.requests_per_second:.0f}/s){budget}  ETA {_duration(self.eta_seconds)}  "
            f"{self.retries} retries"
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@dataclass
class SyncResult:
    """What one run did."""

    resource: str
    run_id: str
    lower: datetime
    upper: datetime
    resumed: bool
    windows: int
    splits: int
    reverifications: int
    bridges: int
    records: int
    written: int
    quarantined: int
    parts: int
    requests: int
    retries: int
    seconds: float
    # Versions fetched that an earlier run (a webhook's, the lookback's) already wrote.
    already_in_lake: int = 0
    # Undeclared API fields no earlier run met: kept in `api_extra`, reported once.
    new_fields: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "window_lower": self.lower.isoformat(),
            "high_water_mark": self.upper.isoformat(),
            "resumed": self.resumed,
            "windows": self.windows,
            "window_splits": self.splits,
            "window_reverifications": self.reverifications,
            "window_bridges": self.bridges,
            "records_fetched": self.records,
            "rows_written": self.written,
            "already_in_lake": self.already_in_lake,
            "quarantined": self.quarantined,
            "parquet_parts": self.parts,
            "requests": self.requests,
            "retries": self.retries,
            "seconds": round(self.seconds, 2),
            "new_api_fields": self.new_fields,
        }


@dataclass(frozen=True)
class ReconcileResult:
    """What a reconcile pass found: ids listed, candidates missing, deletions confirmed."""

    resource: str
    run_id: str
    listed: int
    candidates: int
    confirmed_deleted: int
    still_present: int
    requests: int
    # Of them: listing every id (about the requests of a full sync), and the GETs proving
    # each deletion (one per record missing from the listing).
    list_requests: int
    confirm_requests: int
    # The requests of the resource's last sync, to compare (None before any sync).
    last_sync_requests: int | None
    # The full sync whose listing stood in for reconcile's own (None: reconcile listed).
    listing_reused_from: str | None = None


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def new_run_id(now: datetime) -> str:
    """Sortable, unique run id: UTC time plus a random suffix."""
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-" + secrets.token_hex(3)


def _tables(
    resource: ResourceSpec, docs: list[Any], lineage: Lineage, unmodeled: set[str]
) -> dict[str, pa.Table]:
    return normalize(resource, [scrub(resource, d) for d in docs], lineage, unmodeled=unmodeled)


def _normalized(resource: ResourceSpec, lineage: Lineage, unmodeled: set[str]) -> Keep:
    """Pages held as the rows they are written as, from their arrival: a tenth of the records'
    parsed size, and each page normalized once. Of a page holding a record the quarantine
    takes, its records are held instead (no row per record to take by position), and
    normalized once their window is proven."""
    name = resource.name

    def hold(docs: list[Any]) -> dict[str, pa.Table] | list[Any]:
        tables = _tables(resource, docs, lineage, unmodeled)
        if len(tables[name]) < len(docs):
            return docs  # scrubbed already; scrubbing again changes nothing
        return {name: tables[name]}  # a row per record, in their order; links are derived

    def take(
        held: dict[str, pa.Table] | list[Any], positions: tuple[int, ...] | None
    ) -> dict[str, pa.Table]:
        if isinstance(held, list):
            return _tables(resource, Keep().take(held, positions), lineage, unmodeled)
        return held if positions is None else {name: held[name].take(list(positions))}

    return Keep(hold=hold, take=take)


class _Batcher:
    """Buffers normalized windows and commits them as checkpointed parts."""

    def __init__(
        self,
        writer: LakeWriter,
        resource: ResourceSpec,
        run: RunInProgress,
    ):
        self.writer = writer
        self.name = resource.name
        self.run = run
        # Versions the lake holds already (`_known_versions`): not written again.
        self.known: pa.Array | None = None
        self.skipped = 0
        self.windows: list[Window] = []
        self.tables: dict[str, list[pa.Table]] = {}
        self.rows = 0
        self.unmodeled: set[str] = set()

    def add(self, window: Window, pages: Iterable[dict[str, pa.Table]]) -> None:
        """Buffer a proven window's records, normalized, a page's at a time (`_normalized`)."""
        self.windows.append(window)
        for tables in pages:
            for name, table in tables.items():
                if len(table) and name in (self.name, "quarantine"):
                    self.tables.setdefault(name, []).append(table)
                    self.rows += len(table)

    def due(self, batch_rows: int) -> bool:
        return self.rows >= batch_rows or (bool(self.windows) and self.writer.due())

    def flush(self) -> None:
        """Add the buffered quarantine, then commit the buffered rows with the windows they
        cover (link tables are derived from the rows where they are read)."""
        if not self.windows:
            return
        rows = self._new_versions(_concat(self.tables.get(self.name)))
        quarantine = _concat(self.tables.get("quarantine"))
        if quarantine is not None:
            self.writer.append("quarantine", quarantine)
        run = self.run
        run.done.extend([w.lo, w.hi] for w in self.windows)
        run.parts += rows is not None
        run.records += 0 if rows is None else len(rows)
        run.quarantined += 0 if quarantine is None else len(quarantine)
        run.unmodeled = sorted(self.unmodeled.union(run.unmodeled))
        self.writer.commit(self.writer.state, rows)
        self.windows, self.tables, self.rows = [], {}, 0

    def _new_versions(self, rows: pa.Table | None) -> pa.Table | None:
        """`rows` less the versions the lake already holds (`known`), counted in `skipped`."""
        if rows is None or self.known is None or not len(self.known):
            return rows
        # A version without `updated_at` has a null key, which matches nothing: kept.
        kept = rows.filter(pc.invert(pc.is_in(_version_keys(rows), value_set=self.known)))
        self.skipped += len(rows) - len(kept)
        return kept if len(kept) else None


def _version_keys(rows: pa.Table) -> pa.Array:
    """One key per record version: its id and `updated_at` (epoch ms)."""
    millis = pc.cast(pc.cast(rows["updated_at"], pa.int64()), pa.string())
    ids = pc.cast(rows["id"], pa.string())
    # The last argument is the separator: Arrow takes a plain string, pyarrow-stubs miss it.
    return pc.binary_join_element_wise(ids, millis, cast(Any, "|")).combine_chunks()


# Run ids are our clock, `updatedAt` vivenu's: runs started this long before a window's lower
# bound are searched too for the versions they wrote (a skew beyond it only costs a rewrite).
KNOWN_RUNS_MARGIN = timedelta(minutes=15)


def _known_versions(
    lake: Lake, resource: ResourceSpec, state: ResourceState, run: RunInProgress
) -> pa.Array | None:
    """The versions in `run`'s range that the lake's own runs already hold (the runs the
    lookback re-reads, webhook runs where they carry the record as the API does, this run's
    checkpointed parts), so the run skips them; None for a run from scratch, which writes
    everything (its state may have forgotten runs)."""
    if run.full or run.lower_ms == 0:
        return None
    cutoff = new_run_id(_dt(run.lower_ms) - KNOWN_RUNS_MARGIN)[:19]
    runs = {run.run_id} | {
        r["run_id"]
        for r in state.runs
        if isinstance(r.get("run_id"), str)
        and r["run_id"] >= cutoff
        and (r.get("kind") != "webhooks" or resource.webhook_record)
    }
    rows = lake.run_rows(resource.name, "changes", sorted(runs), ["id", "updated_at"])
    return _version_keys(rows.filter(pc.field("updated_at") >= _dt(run.lower_ms)))


def _concat(chunks: list[pa.Table] | None) -> pa.Table | None:
    return pa.concat_tables(chunks) if chunks else None


async def sync_resource(
    client: VivenuClient,
    lake: Lake,
    resource: ResourceSpec,
    options: SyncOptions | None = None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    on_progress: Callable[[SyncProgress], None] | None = None,
) -> SyncResult:
    """Run (or resume) one incremental sync of `resource` into the lake."""
    options = options or SyncOptions()
    name = resource.name
    started = time.monotonic()
    requests_before, retries_before = client.stats.requests, client.stats.retries
    with ExitStack() as held:
        try:
            writer = held.enter_context(lake.writer(name, recover=options.full))
        except (LakeBusy, OSError, DeltaError) as exc:
            raise SyncFailed(f"{name} sync did not start: {first_line(exc)}") from exc
        state = writer.state
        hwm = state.high_water_mark_ms
        run, resumed = _run_to_do(writer, options, now)
        lineage = Lineage(run_id=run.run_id, synced_at=now())
        batcher = _Batcher(writer, resource, run)
        report = _reporter(client, name, on_progress, requests_before, retries_before)
        keep = _normalized(resource, lineage, batcher.unmodeled)
        fetcher = WindowFetcher(client, resource, options.policy, on_progress=report, keep=keep)
        try:
            batcher.known = _known_versions(lake, resource, state, run)
            first = next((Window(lo, hi) for lo, hi in run.remaining()), None)
            api_now = await _api_clock(client, fetcher, first)
            if api_now is not None:
                _bound_by_api_clock(writer, name, run, hwm, api_now, options)
            await _fetch(fetcher, batcher, run, options)
        except (VivenuError, WindowIncomplete, LakeBusy, OSError, DeltaError) as exc:
            raise SyncFailed(
                f"{name} sync stopped, high-water mark unchanged, rerun resumes: {first_line(exc)}"
            ) from exc

        new_fields = _complete(state, run, hwm)
        result = SyncResult(
            resource=name,
            run_id=run.run_id,
            lower=_dt(run.lower_ms),
            upper=_dt(run.upper_ms),
            resumed=resumed,
            windows=fetcher.stats.windows_done,
            splits=fetcher.stats.splits,
            reverifications=fetcher.stats.reverifications,
            bridges=fetcher.stats.bridges,
            records=fetcher.stats.records,
            written=run.records,
            already_in_lake=batcher.skipped,
            quarantined=run.quarantined,
            parts=run.parts,
            requests=client.stats.requests - requests_before,
            retries=client.stats.retries - retries_before,
            seconds=time.monotonic() - started,
            new_fields=new_fields,
        )
        state.runs.append(
            {"kind": "sync", "finished_at": now().isoformat(), **result.as_metadata()}
        )
        try:
            writer.commit(state, release=True)
        except (LakeBusy, OSError, DeltaError) as exc:
            raise SyncFailed(
                f"{name} sync fetched everything but could not commit its high-water mark "
                f"(a rerun resumes): {first_line(exc)}"
            ) from exc
        return result


def _run_to_do(
    writer: LakeWriter, options: SyncOptions, now: Callable[[], datetime]
) -> tuple[RunInProgress, bool]:
    """The run this sync does, and whether it resumes an interrupted one: the checkpointed run,
    unless a full sync replaces an incremental one; else a new run from the high-water mark
    less the lookback (0 for a full one) to now less the safety lag, committed before any
    request."""
    state = writer.state
    run = state.in_progress
    if run is not None and _resumes(run, options):
        return run, True
    start = now()
    lower, upper = _new_bounds(state, options, start)
    run = RunInProgress(run_id=new_run_id(start), lower_ms=lower, upper_ms=upper, full=options.full)
    state.in_progress = run
    writer.commit(state)
    return run, False


def _resumes(run: RunInProgress, options: SyncOptions) -> bool:
    """Whether a sync with `options` resumes the checkpointed `run`: unless a full sync would
    replace an incremental one."""
    return not (options.full and not run.full)


def _new_bounds(state: ResourceState, options: SyncOptions, start: datetime) -> tuple[int, int]:
    """[lower, upper) in epoch ms of a new run started at `start`: the high-water mark less the
    lookback (0 for a full run or a first one) to `start` less the safety lag."""
    hwm = state.high_water_mark_ms
    upper = _ms(start - options.safety_lag)
    lower = 0 if options.full or hwm is None else max(0, hwm - _ms_delta(options.lookback))
    return min(lower, upper), upper


def windows_to_fetch(
    state: ResourceState, options: SyncOptions, start: datetime
) -> tuple[list[Window], bool]:
    """The windows a sync with `options` started at `start` would fetch, and whether it resumes
    a checkpointed run, as `sync_resource` chooses them; reads `state`, changes nothing. (The
    sync may still lower the upper bound to vivenu's clock, `_bound_by_api_clock`.)"""
    run = state.in_progress
    if run is not None and _resumes(run, options):
        return [Window(lo, hi) for lo, hi in run.remaining()], True
    lower, upper = _new_bounds(state, options, start)
    return [Window(lower, upper)] if lower < upper else [], False


def least_requests(totals: list[int], policy: WindowPolicy) -> int:
    """The requests `sync_resource` sends, at the least, for windows holding `totals` records
    that nothing changes while it pages: each window's (`least_window_requests`); with no window
    at all, the one-record listing that reads vivenu's clock (`_api_clock`). With a window, that
    clock comes from its first page, which the fetch reuses: no request of its own."""
    if not totals:
        return 1
    return sum(least_window_requests(total, policy) for total in totals)


def _reporter(
    client: VivenuClient,
    name: str,
    on_progress: Callable[[SyncProgress], None] | None,
    requests_before: int,
    retries_before: int,
) -> Callable[[WindowStats], None]:
    """The fetcher's progress callback: its window counts with the run's request counts."""

    def report(stats: WindowStats) -> None:
        if on_progress:
            requests = client.stats.requests - requests_before
            on_progress(
                SyncProgress(
                    resource=name,
                    windows_done=stats.windows_done,
                    windows_in_flight=len(stats.in_flight),
                    records=stats.records,
                    requests=requests,
                    retries=client.stats.retries - retries_before,
                    requests_per_second=client.stats.requests_per_second(),
                    requests_expected=stats.expected_requests,
                    eta_seconds=client.eta_seconds(max(0, stats.expected_requests - requests)),
                    budget=client.settings.max_requests_per_hour,
                    budget_used=client.budget_used(),
                )
            )

    return report


def _bound_by_api_clock(
    writer: LakeWriter,
    name: str,
    run: RunInProgress,
    hwm: int | None,
    api_now: datetime,
    options: SyncOptions,
) -> None:
    """Check the high-water mark against vivenu's clock, and keep the run's upper bound from
    passing vivenu's now less the safety lag."""
    if hwm is not None and not run.full:
        _check_mark(name, hwm, api_now)
    latest = _ms(api_now + CLOCK_TOLERANCE - options.safety_lag)
    if run.upper_ms > latest:
        # The local clock runs fast: the bound would be in vivenu's future, where windows
        # still gain records, and the mark would pass changes not yet made, skipped by every
        # later run. Windows checkpointed past it are re-read later.
        run.upper_ms, run.lower_ms = latest, min(run.lower_ms, latest)
        writer.commit(writer.state)


async def _fetch(
    fetcher: WindowFetcher, batcher: _Batcher, run: RunInProgress, options: SyncOptions
) -> None:
    """Fetch the run's remaining windows into change batches of about `batch_rows` rows."""
    windows = [Window(lo, hi) for lo, hi in run.remaining()]
    async for window, records in fetcher.stream(windows):
        batcher.add(window, records)
        if batcher.due(options.batch_rows):
            batcher.flush()
    batcher.flush()


def _complete(state: ResourceState, run: RunInProgress, hwm: int | None) -> list[str]:
    """Record a finished run in the state (not saved yet): the new high-water mark, the batch to
    compact, the fields seen unmodeled. Returns those not seen unmodeled before."""
    # A full run read everything below its bound, so its mark is exact even where the one
    # before it was wrong (set by a clock running fast).
    state.high_water_mark_ms = run.upper_ms if run.full else max(hwm or 0, run.upper_ms)
    state.pending_compaction.append(run.run_id)
    state.in_progress = None
    new_fields = sorted(set(run.unmodeled) - set(state.unmodeled_fields))
    state.unmodeled_fields = sorted({*state.unmodeled_fields, *run.unmodeled})
    return new_fields


def _ms_delta(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)


# How far vivenu's clock may be past its `Date` header: whole seconds, and servers refresh the
# header about once a second. A smaller skew than this is not told apart from none; the
# lookback (minutes) re-reads that much anyway.
CLOCK_TOLERANCE = timedelta(seconds=5)


async def _api_clock(
    client: VivenuClient, fetcher: WindowFetcher, first: Window | None
) -> datetime | None:
    """vivenu's own clock now, from the `Date` header of a run's first request: the first page
    of its first window (kept for the fetch, so it costs nothing), or a one-record listing.
    None when the API sends no `Date`; then the local clock is all there is."""
    if first is None:
        await client.list_page(fetcher.resource, top=1)
    else:
        await fetcher.prefetch(first)
    return client.stats.server_date


def _check_mark(name: str, hwm: int, api_now: datetime) -> None:
    ahead = _dt(hwm) - api_now
    if ahead > CLOCK_TOLERANCE:
        raise SyncFailed(
            f"{name} high-water mark {_dt(hwm).isoformat()} is {ahead.total_seconds():.0f} s ahead of "
            f"vivenu's clock ({api_now.isoformat()}): it was set by a host clock running fast, "
            "so changes made since may be missing; fix the host clock (NTP), then run "
            "`customer-sync sync --full` (or `customer-sync state reset --yes`, then sync)"
        )


# A full sync lists every record of its window: asked to, reconcile takes that listing for its
# own when the sync started this recently (a deletion since is found by a later reconcile).
REUSE_LISTING_WITHIN = timedelta(hours=1)


async def reconcile_resource(
    client: VivenuClient,
    lake: Lake,
    resource: ResourceSpec,
    options: SyncOptions | None = None,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    reuse_listing_within: timedelta | None = None,
) -> ReconcileResult:
    """Find records deleted in vivenu: ids in the snapshot that the API no longer lists (or,
    given `reuse_listing_within`, that a full sync finished within it did not list and no run
    since wrote), each confirmed by a 404 on GET before its tombstone is written. Never a false
    delete."""
    options = options or SyncOptions()
    name = resource.name
    requests_before = client.stats.requests
    # No claim while listing (a long read): only the tombstones' commit claims the table.
    if not lake.has_snapshot(name) and lake.load_state(name).runs:
        raise SyncFailed(
            f"{name} reconcile needs the snapshot: run `customer-sync sync` (it compacts) first"
        )
    # Never null: the gate keeps a record without an id out of the snapshot.
    known = cast("set[str]", set(lake.read_snapshot(name, name, ["id"]).column("id").to_pylist()))
    start = now()
    reused = None
    if reuse_listing_within is not None:
        reused = _reusable_listing(lake, name, start - reuse_listing_within)
    if reused is not None:
        rows = lake.run_rows(name, "changes", reused, ["id"])
        listed = cast("set[str]", set(rows.column("id").to_pylist()))
    else:
        listed = await _list_ids(client, resource, options, start)
    candidates = sorted(known - listed)
    listing = client.stats.requests - requests_before

    try:
        deleted = await confirm_gone(client, resource, candidates)
    except VivenuError as exc:
        raise SyncFailed(f"{name} reconcile stopped, nothing marked deleted: {exc}") from exc
    run_id = record_deletions(lake, name, deleted, start, now, kind="reconcile")
    return ReconcileResult(
        resource=name,
        run_id=run_id,
        listed=len(listed),
        candidates=len(candidates),
        confirmed_deleted=len(deleted),
        still_present=len(candidates) - len(deleted),
        requests=client.stats.requests - requests_before,
        list_requests=listing,
        confirm_requests=client.stats.requests - requests_before - listing,
        last_sync_requests=_last_sync_requests(lake, name),
        listing_reused_from=reused[0] if reused else None,
    )


async def _list_ids(
    client: VivenuClient, resource: ResourceSpec, options: SyncOptions, start: datetime
) -> set[str]:
    """Every id vivenu lists up to `start` less the safety lag (bounded by vivenu's clock)."""
    key = resource.id_field
    # Ids are all a reconcile keeps of a page.
    ids = Keep(hold=lambda docs: [d.get(key) if isinstance(d, dict) else None for d in docs])
    fetcher = WindowFetcher(client, resource, options.policy, keep=ids)
    upper = _ms(start - options.safety_lag)
    api_now = await _api_clock(client, fetcher, Window(0, upper))
    if api_now is not None:
        upper = min(upper, _ms(api_now + CLOCK_TOLERANCE - options.safety_lag))
    listed: set[str] = set()
    async for _, records in fetcher.stream([Window(0, upper)]):
        for page in records:
            listed.update(i for i in page if i is not None)
    return listed


def _run_started(run_id: str) -> datetime:
    """When the run `new_run_id` named began (to the second)."""
    return datetime.strptime(run_id[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def _reusable_listing(lake: Lake, name: str, since: datetime) -> list[str] | None:
    """The last full sync's run id, then those of every run after it, when that sync started
    after `since` (its first pages are as old as its start): their changes hold every id vivenu
    listed then or wrote since (a full run writes every record it lists, `_known_versions`).
    None when there is no such sync."""
    runs = lake.load_state(name).runs
    full = [
        i
        for i, r in enumerate(runs)
        if r.get("kind") == "sync"
        and r.get("window_lower") == _dt(0).isoformat()
        and _run_started(r["run_id"]) > since
    ]
    if not full:
        return None
    return [r["run_id"] for r in runs[full[-1] :] if isinstance(r.get("run_id"), str)]


def _last_sync_requests(lake: Lake, name: str) -> int | None:
    syncs = [r for r in lake.load_state(name).runs if r.get("kind") == "sync"]
    return int(syncs[-1]["requests"]) if syncs and "requests" in syncs[-1] else None


async def confirm_gone(client: VivenuClient, resource: ResourceSpec, ids: list[str]) -> list[str]:
    """The ids among `ids` that vivenu answers with its own 404 (its JSON error body), in order."""

    async def gone(record_id: str) -> bool:
        try:
            await client.get(resource, record_id)
        except VivenuNotFound:
            return True
        return False

    found = await asyncio.gather(*(gone(i) for i in ids))
    return [i for i, g in zip(ids, found, strict=True) if g]


def record_deletions(
    lake: Lake,
    name: str,
    deleted: list[str],
    start: datetime,
    now: Callable[[], datetime],
    *,
    kind: str,
) -> str:
    """Write tombstones for `deleted` as a run that the next compaction merges; its run id."""
    run_id = new_run_id(start)
    if not deleted:
        return run_id
    synced_at = now()
    tombstones = pa.Table.from_pydict(
        {
            "resource": [name] * len(deleted),
            "id": deleted,
            "deleted_at": [synced_at] * len(deleted),
            "_run_id": [run_id] * len(deleted),
            "_synced_at": [synced_at] * len(deleted),
        },
        schema=TABLES[name]["deletions"],
    )
    # Pending first, under the claim: a crash before the tombstones are added leaves a run
    # that compaction merges as empty, never tombstones that nothing lists.
    with lake.writer(name) as writer:
        state = writer.state
        state.pending_compaction.append(run_id)
        state.runs.append(
            {
                "kind": kind,
                "run_id": run_id,
                "finished_at": now().isoformat(),
                "deleted": len(deleted),
            }
        )
        writer.commit(state)
        writer.append("deletions", tombstones)
    return run_id
