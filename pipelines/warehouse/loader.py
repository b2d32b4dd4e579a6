"""Load the lake's change batches into DuckDB and publish an analyst copy.

    <data_dir>/warehouse.duckdb   the pipeline's own file: live tables, SCD2 history, analytics
    <data_dir>/analytics.duckdb   the analysts' copy, replaced atomically after each load

Only the change batches of runs not loaded yet are read (`internal.loaded_runs` remembers them), so the
cost follows what changed. Each resource is merged in one transaction that also records its runs:
a crash leaves the previous state, and loading the same batch twice changes nothing.

Analysts and BI tools open the copy, never `warehouse.duckdb`: DuckDB allows one writing process
per file, so a reader there would block the load. The copy is written to a temporary file and
renamed over the old one; a reader holding the old copy open keeps its consistent snapshot. It is
written in DuckDB 1.0's storage format (any 1.x client opens it), its JSON columns typed JSON and
every table and column commented from the SQL headers (`catalog.py`).
A load that finds the file locked anyway retries for CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT seconds
(default 30), then fails naming the process DuckDB says holds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import settings
from pipelines.quality import stored
from pipelines.registry import RESOURCES, spec
from pipelines.sqlfiles import read_sql
from pipelines.sync import evolve, schemas
from pipelines.sync.lake import TABLES, Lake
from pipelines.sync.state import fsync_dir, temp_file
from pipelines.warehouse import refresh, remote
from pipelines.warehouse.versions import record_change

SQL_DIR = Path(__file__).parent / "sql"
# The erasure's proof table exists in every warehouse (empty: nobody was erased yet).
ERASE_SQL_DIR = Path(__file__).parents[1] / "erase" / "sql"
ANALYST_COPY = "analytics.duckdb"
MEMORY_LIMIT = "1GB"

REJECTED = pa.schema(
    [pa.field("record_id", pa.string()), pa.field("updated_at", schemas.TIMESTAMP)]
)
T = TypeVar("T")

CURRENT = pa.schema([pa.field("id", pa.string()), pa.field("updated_at", schemas.TIMESTAMP)])


def sql(name: str, **identifiers: str) -> str:
    """The text of `sql/<name>.sql`; `identifiers` fill `{table}`-style placeholders.

    Only table names chosen in this module are formatted in; values are always bound.
    """
    text = read_sql(SQL_DIR, name)
    return text.format(**identifiers) if identifiers else text


@dataclass(frozen=True)
class ResourceLoad:
    """What loading one resource's pending runs changed."""

    resource: str
    runs: list[str]
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    versions: int = 0
    # Versions held back because the quality gate rejects them (merged once they validate).
    rejected_held: int = 0
    rows: int = 0

    @property
    def changed(self) -> bool:
        """Whether the live table changed (a released held version changes it without a run)."""
        return bool(self.inserted or self.updated or self.deleted)


@dataclass(frozen=True)
class LoadResult:
    """What a load changed, per resource, and where the analyst copy is."""

    resources: dict[str, ResourceLoad] = field(default_factory=dict)
    published: Path | None = None
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.resources.values())


class WarehouseBusy(duckdb.IOException):
    """Another process kept the warehouse file locked for longer than we waited.

    An IOException, as DuckDB's own lock error is, so callers that wait in their own way
    (the push) keep working.
    """


def analyst_path(db_path: Path) -> Path:
    """Where the analyst copy of `db_path` is published."""
    return Path(db_path).with_name(ANALYST_COPY)


_LOCK_CONFLICT = re.compile(r"Could not set lock on file|Conflicting lock is held")
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def _busy(db_path: Path, exc: Exception, waited: float) -> WarehouseBusy:
    holder = _LOCK_HOLDER.search(str(exc))
    who = f"process {holder['pid']} ({holder['program']})" if holder else "another process"
    return WarehouseBusy(
        f"{db_path} is locked by {who} and stayed locked for {waited:.0f} s: analysts and BI "
        f"tools must open the analyst copy {analyst_path(db_path)}, never {db_path.name}; close "
        "that session and rerun"
    )


def with_lock_retry(db_path: Path, lock_wait: float, open_: Callable[[], T]) -> T:
    """`open_()`, retried while DuckDB reports `db_path` locked by another process, for up to
    `lock_wait` seconds; then WarehouseBusy naming the holder if DuckDB said who it is."""
    started = time.monotonic()
    delay = 0.05
    while True:
        try:
            return open_()
        except duckdb.IOException as exc:
            if not _LOCK_CONFLICT.search(str(exc)):
                raise
            waited = time.monotonic() - started
            if waited >= lock_wait:
                raise _busy(Path(db_path), exc, waited) from None
            time.sleep(min(delay, lock_wait - waited))
            delay = min(delay * 2, 1.0)


def connect(
    db_path: Path, *, read_only: bool = False, lock_wait: float = 0.0
) -> duckdb.DuckDBPyConnection:
    """A connection to a warehouse file; timestamps are shown and truncated in UTC.

    While another process holds the file's lock, retries for `lock_wait` seconds, then raises
    WarehouseBusy.
    """
    db_path = Path(db_path)
    if not read_only:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    # A bounded buffer pool (DuckDB spills beyond it): left to its default of 80% of RAM, a full
    # load of a million customers took 5+ GiB.
    con = with_lock_retry(
        db_path,
        lock_wait,
        lambda: duckdb.connect(
            str(db_path), read_only=read_only, config={"memory_limit": MEMORY_LIMIT}
        ),
    )
    con.execute("SET TimeZone = 'UTC'")
    return con


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the warehouse tables if missing; columns follow the lake's Arrow schemas."""
    # One source of truth for column types: the lake's schemas, from the registry.
    empties = {
        **{r.name: r.schema for r in RESOURCES},
        **{link.table: link.schema for r in RESOURCES for link in r.links},
        "deletions": schemas.DELETIONS,
    }
    for table, schema in empties.items():
        con.register("_empty", schema.empty_table())
        # One file per table: its header documents the columns (pipelines.warehouse.catalog).
        con.execute(sql(f"create_{table}"))
        if table in TABLES:
            con.execute(sql("create_history", table=table))
        _add_columns(con, table, schema)
        con.unregister("_empty")
    con.execute(sql("internal_tables"))
    con.execute(read_sql(ERASE_SQL_DIR, "erasure_log_create"))
    if _count(con, "has_table", table="_loaded_runs"):
        con.execute(sql("internal_migrate"))
    con.execute(sql("views"))


def _add_columns(con: duckdb.DuckDBPyConnection, table: str, schema: pa.Schema) -> None:
    """Add the columns of fields declared since `table` was created (to its history too), and
    fill them for the rows that held the field in `api_extra`."""
    have = {c for (c,) in con.execute(sql("table_columns"), {"table": table}).fetchall()}
    types = dict(zip(con.table("_empty").columns, con.table("_empty").types, strict=True))
    added = [name for name in schema.names if name not in have]
    if not added:
        return
    targets = [table, f"{table}_history"] if table in TABLES else [table]
    for target in targets:
        for column in added:
            con.execute(sql("add_column", table=target, column=column, type=str(types[column])))
    fields = evolve.backfillable(spec(table), added) if table in TABLES else []
    if not fields:
        return
    assignments = [f"{f.column} = coalesce({f.column}, {evolve.value_sql(f)})" for f in fields]
    assignments.append(f"{evolve.EXTRA} = {evolve.extra_sql(fields)}")
    for target in targets:
        con.execute(
            sql(
                "backfill",
                table=target,
                assignments=", ".join(assignments),
                held=evolve.held_sql(fields),
            )
        )


def live_versions(db_path: Path, resource: str, ids: list[str]) -> dict[str, datetime] | None:
    """The `updated_at` of those `ids` that `resource`'s live table in `db_path` (opened read-only)
    holds; None when there is no such file yet."""
    if not Path(db_path).exists():
        return None
    con = connect(db_path, read_only=True)
    try:
        if not _count(con, "has_table", table=resource):
            return {}
        rows = con.execute(sql("live_versions"), {"table": resource, "ids": ids}).fetchall()
    finally:
        con.close()
    return dict(rows)


def pending_runs(lake: Lake, resource: str, loaded: set[str]) -> list[str]:
    """Committed, compacted runs of `resource` not loaded yet, oldest first.

    A run still in progress or not yet compacted has not passed the quality gate (which checks
    the snapshot), so it waits for a later load.
    """
    # List before reading the state: a run that starts in between is then either not listed or
    # still shown in progress, never taken for committed.
    runs = lake.run_ids(resource, "changes") | lake.run_ids(resource, "deletions")
    state = lake.load_state(resource)
    waiting = set(state.pending_compaction)
    if state.in_progress is not None:
        waiting.add(state.in_progress.run_id)
    return sorted(r for r in runs if r not in loaded and r not in waiting)


def _rejected(lake: Lake, resource: str) -> pa.Table:
    """The (record_id, updated_at) versions the quality gate rejected; none if no file."""
    path = lake.local(resource) / "rejected.parquet"
    if not path.exists():
        return REJECTED.empty_table()
    return pq.read_table(path, columns=["record_id", "updated_at"]).cast(REJECTED)


def _current_versions(lake: Lake, resource: str, ids: list[str]) -> pa.Table:
    """The snapshot's current (id, updated_at) of `ids`: the versions the quality gate judges."""
    if not ids:
        return CURRENT.empty_table()
    return lake.read_snapshot(resource, resource, ["id", "updated_at"], ids=ids).cast(CURRENT)


def _count(con: duckdb.DuckDBPyConnection, name: str, **params: object) -> int:
    return int(con.execute(sql(name), params).fetchall()[0][0])


def _load_resource(con: duckdb.DuckDBPyConnection, lake: Lake, resource: str) -> ResourceLoad:
    params = {"resource": resource}
    loaded = {r for (r,) in con.execute(sql("loaded_run_ids"), params).fetchall()}
    runs = pending_runs(lake, resource, loaded)
    held = [i for (i,) in con.execute(sql("rejected_ids"), params).fetchall()]
    con.register("rejected", _rejected(lake, resource))
    con.register("current_versions", _current_versions(lake, resource, held))
    # Runs holding versions skipped as rejected that the gate has since let through.
    released = [r for (r,) in con.execute(sql("released_runs"), params).fetchall()]
    if not runs and not released and not held:
        for name in ("rejected", "current_versions"):
            con.unregister(name)
        return ResourceLoad(
            resource=resource, runs=[], rows=_count(con, "row_count", table=resource)
        )
    lake.register_runs(con, "pending_rows", resource, "changes", runs)
    lake.register_runs(con, "released_rows", resource, "changes", released)
    lake.register_runs(con, "incoming_deletions", resource, "deletions", runs)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(sql("incoming"), params)
        con.execute(sql("deletions_superseded"), params)
        con.execute(sql("deletions"), params)
        con.execute(sql("versions"), params)
        con.execute(sql("deletions_lifted"), params)
        con.execute(sql("staged"))
        merged = con.sql(sql("upsert", table=resource)).to_arrow_table()
        con.register("applied", merged)
        deleted = len(con.execute(sql("delete_current", table=resource)).fetchall())
        # Link rows, derived from a record's current version, are rebuilt for those it changed.
        for link in spec(resource).links:
            con.execute(sql("links_delete", link=link.table, key=link.key))
            con.execute(sql(link.table))
        (versions,) = con.execute(sql("history_insert", table=resource)).fetchall()[0]
        con.execute(sql("history_close", table=resource), params)
        con.execute(sql("rejected_hold"), params)
        con.execute(sql("rejected_forget", table=resource), params)
        con.execute(sql("loaded_runs"), {**params, "runs": runs})
        for table in (
            resource,
            f"{resource}_history",
            "deletions",
            *(link.table for link in spec(resource).links),
        ):
            record_change(con, table)
        skipped = _count(con, "rejected_count", **params)
        rows = _count(con, "row_count", table=resource)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in (
            *(
                f"{kind}_{view}"
                for kind in ("raw", "typed")
                for view in ("pending_rows", "released_rows")
            ),
            "pending_rows",
            "released_rows",
            "incoming_deletions",
            "rejected",
            "current_versions",
            "applied",
        ):
            with contextlib.suppress(Exception):
                con.unregister(name)
    actions = Counter(merged.column(0).to_pylist())
    return ResourceLoad(
        resource=resource,
        runs=runs,
        inserted=actions["INSERT"],
        updated=actions["UPDATE"],
        deleted=deleted,
        versions=versions,
        rejected_held=skipped,
        rows=rows,
    )


def load(
    lake: Lake, db_path: Path, *, publish_copy: bool = True, lock_wait: float | None = None
) -> LoadResult:
    """Merge every change batch not loaded yet into `db_path`, then publish the analyst copy.

    Upsert by id (newest updated_at wins), deletions applied, every version kept in
    `<table>_history` (valid_from/valid_to). Idempotent: a batch is loaded once.
    The copy is republished when anything was loaded or it does not exist yet.
    A file locked by another process is retried for `lock_wait` seconds (default
    CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT or 30), then WarehouseBusy.
    """
    start = time.monotonic()
    db_path = Path(db_path)
    lock_wait = settings.warehouse_lock_wait() if lock_wait is None else lock_wait
    if lake.remote:
        fetch_remote(lake.root, db_path)
        for resource in TABLES:  # what the gate rejected, when it ran in another container
            if not stored.sealed(lake, resource):
                stored.fetch(lake, resource)
    con = connect(db_path, lock_wait=lock_wait)
    try:
        create_schema(con)
        results = {resource: _load_resource(con, lake, resource) for resource in TABLES}
    finally:
        con.close()
    published = None
    loaded_any = any(r.runs or r.changed for r in results.values())
    if publish_copy and (loaded_any or not analyst_path(db_path).exists()):
        published = publish(db_path, lock_wait=lock_wait, lake=lake.root if lake.remote else None)
    return LoadResult(resources=results, published=published, seconds=time.monotonic() - start)


def publish(
    db_path: Path,
    target: Path | None = None,
    *,
    lock_wait: float | None = None,
    lake: str | None = None,
    full: bool = False,
) -> Path:
    """Copy the warehouse to the analyst copy atomically (temp file, fsync, rename); with an
    object-store `lake` (its root URL), upload both there (`push_remote`).

    The previous copy is refreshed rather than written afresh when it can be (`refresh.py`):
    only the rows changed since are written again, and a copy that already holds the warehouse
    as it is (a run that changed nothing) is left in place. `full`, a first copy, a copy modified
    since it was published, definitions that changed, or an erasure since the last copy write
    every table.

    Readers holding the old copy open keep reading it undisturbed; new connections see the new
    one. The previous copy is opened only read-only, to judge what changed: no reader of it can
    make this fail (one holding it read-write gets a copy written afresh), though a read-write
    open during that moment fails (analysts open it read-only). A writer holding the warehouse
    file is waited for as in `load`.
    """
    db_path = Path(db_path)
    target = Path(target) if target is not None else analyst_path(db_path)
    fd, name = temp_file(target)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # DuckDB creates the database file itself
    # A fresh in-memory connection attaches the warehouse read-only and the temporary target; both
    # paths are bound values, never formatted into the SQL.
    con = duckdb.connect()
    try:
        with_lock_retry(
            db_path,
            settings.warehouse_lock_wait() if lock_wait is None else lock_wait,
            lambda: con.execute(sql("publish_source"), {"path": str(db_path)}),
        )
        # On object storage every publish uploads the copy, so one is always written.
        outcome = (
            refresh.Outcome.UNUSABLE
            if full or not target.exists()
            else refresh.refresh(con, target, tmp, keep_current=lake is None)
        )
        if outcome is refresh.Outcome.CURRENT:
            return target
        if outcome is refresh.Outcome.UNUSABLE:
            con.execute(sql("publish_target"), {"path": str(tmp)})
            con.execute(sql("publish_schema"))
            # JSON text is typed JSON before any row is written (a retype after the copy would
            # rewrite the rows and leave the old blocks in the file).
            refresh.define(con)
            con.execute(sql("publish_data"))
        con.execute(sql("publish_close"))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)
    refresh.seal(target)
    if lake is not None:
        push_remote(lake, db_path, target)
    return target


def _etag_file(db_path: Path) -> Path:
    return db_path.with_name(f".{db_path.name}.etag")


def _fingerprint(db_path: Path) -> str:
    """The local file's size and mtime: a file changed since it was fetched or published, or
    a WAL beside it, no longer is the bucket's version."""
    if not db_path.exists() or db_path.with_name(f"{db_path.name}.wal").exists():
        return "-"
    info = db_path.stat()
    return f"{info.st_size} {info.st_mtime_ns}"


def _remember(db_path: Path, etag: str | None) -> None:
    """Record which bucket version `db_path` now is (its ETag and the file's fingerprint)."""
    _etag_file(db_path).parent.mkdir(parents=True, exist_ok=True)
    _etag_file(db_path).write_text(f"{etag or ''}\n{_fingerprint(db_path)}\n")


def _remembered(db_path: Path) -> tuple[str, str]:
    """The ETag last recorded for `db_path`, and the fingerprint the file had then."""
    lines = [
        *(_etag_file(db_path).read_text().splitlines() if _etag_file(db_path).exists() else []),
        "",
        "",
    ]
    return lines[0].strip(), lines[1].strip()


def set_aside_path(db_path: Path) -> Path:
    """Where `fetch_remote` moves a local warehouse file the lake's bucket does not know."""
    return db_path.with_name(f"{db_path.name}.set-aside")


def fetch_remote(lake: str, db_path: Path) -> None:
    """Bring the warehouse file the lake's bucket holds to `db_path` (a run in a fresh
    container starts from the last published one; a disk that already holds that version,
    unchanged, downloads nothing), and remember its version for `push_remote`. A local file,
    when the bucket holds none yet, is set aside: it belongs to no warehouse of this lake."""
    etag, fingerprint = _remembered(db_path)
    unchanged = etag if etag and fingerprint == _fingerprint(db_path) != "-" else None
    etag = remote.fetch(db_path.name, db_path, lake=lake, have=unchanged)
    if etag is None and db_path.exists():
        os.replace(db_path, set_aside_path(db_path))
    _remember(db_path, etag)


def push_remote(lake: str, db_path: Path, copy: Path) -> None:
    """Upload the warehouse file, only over the version `fetch_remote` brought (another run's
    newer one fails this one, `WarehouseConflict`), then the analyst copy made from it."""
    etag = _remembered(db_path)[0]
    new = remote.publish(db_path.name, db_path, etag or None, lake=lake)
    _remember(db_path, new)
    remote.replace(copy.name, copy, lake=lake)
