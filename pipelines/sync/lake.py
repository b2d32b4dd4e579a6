"""The lake: Delta tables per resource, on local disk or S3-compatible object storage.

    <lake>/<resource>/changes            every record version fetched, one append per checkpoint
    <lake>/<resource>/quarantine         records the normalizer rejected, as they arrived
    <lake>/<resource>/deletions          tombstones of confirmed deletions
    <lake>/<resource>/snapshot/<table>   the current state, rewritten by compaction
    <lake>/_warehouse/*.duckdb           on object storage: the warehouse files (warehouse.remote)

`<lake>` is CUSTOMER_SYNC_LAKE_URL (default `<data dir>/lake`). Delta commits are atomic
(conditional PUT on S3), so neither a reader nor a kill -9 ever sees half a write, and a write
killed before its commit leaves nothing visible. The sync state (high-water mark, the run in
progress with its checkpointed windows, the runs not yet compacted) is the custom metadata of
every commit to `changes`: a checkpoint is the commit that adds a part's rows.

One writer per resource at a time, across processes and machines: a writer claims `changes`
with a Delta app transaction (`customer-sync/<resource>/writer`, a rising token) and every
commit it makes carries it, so Delta's conflict check refuses the next commit of a writer that
another one took over. A claim held by a live writer is waited for; one whose process is gone
(same host) or that made no commit for LEASE_S (another host) is taken over.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from pipelines import settings
from pipelines.erase.guard import Guard
from pipelines.erase.keys import ErasedSet
from pipelines.registry import RESOURCES, spec
from pipelines.sqlfiles import read_sql
from pipelines.sync import evolve
from pipelines.sync.state import LakeCorrupt, ResourceState, pid_alive

SQL_DIR = Path(__file__).parent / "sql"
COMPACTION_MEMORY = "1GB"

# Tables each resource's normalizer produces; the first is the resource's own, keyed by `id`.
TABLES: dict[str, dict[str, pa.Schema]] = {spec.name: spec.tables for spec in RESOURCES}
# The append-only tables of a resource besides `changes` (its own rows).
LOGS = ("quarantine", "deletions")

# How long a claim from another host holds without a commit. Generous: a live writer may wait
# minutes on a rate-limited API between two pages; on one host the process table decides.
LEASE_S = 600.0
# A writer with windows done commits them at least this often (what a kill -9 can cost).
CHECKPOINT_S = 20.0
# How long a writer that keeps losing the race for a free claim goes on trying.
RACE_S = 30.0
# A log table is optimized into fewer files once it has more (one file per checkpoint).
MAX_LOG_FILES = 128
# How long a writer waits for another one's claim before giving up.
LOCK_WAIT_S = 60.0

STATE_KEY = "customer_sync_state"
WRITER_KEY = "customer_sync_writer"
_WRITE = WriterProperties(compression="ZSTD")
# Opening a table reads every commit since its last checkpoint (one GET each on object
# storage) and each run commits a few dozen: at Delta's default of one checkpoint per 100
# commits an incremental run on S3 read more of the log every time. Set when a table is created.
_CHECKPOINT_EVERY = {"delta.checkpointInterval": "10"}
# Statistics only where readers filter: file pruning by run and id, at any column count.
_STATS = {
    "changes": "id,updated_at,_run_id,_synced_at",
    "quarantine": "record_id,_run_id",
    "deletions": "id,_run_id",
}

sql = partial(read_sql, SQL_DIR)


class LakeBusy(Exception):
    """Another writer holds the resource's lake table (a sync, reconcile or compaction)."""


@dataclass(frozen=True)
class CompactionResult:
    """What merging the pending runs changed in the snapshot."""

    runs: list[str]
    new: int
    changed: int
    unchanged: int
    deleted: int
    rows: int
    quarantined: int


def snapshot_tables(resource: str) -> list[str]:
    """The snapshot's tables: the resource's own first."""
    return [resource, "deletions", "quarantine", *(link.table for link in spec(resource).links)]


def _log_schema(resource: str, table: str) -> pa.Schema:
    return TABLES[resource][resource if table == "changes" else table]


def _open(uri: str) -> DeltaTable | None:
    """The table at `uri`, None if there is none; LakeCorrupt naming it if it is unreadable."""
    try:
        return DeltaTable(uri, storage_options=_options())
    except TableNotFoundError:
        return None
    except DeltaError as exc:
        raise LakeCorrupt(
            f"lake table {uri} is unreadable ({first_line(exc)}): restore it from a backup, or "
            "move it aside and run `customer-sync sync --full` to read vivenu again"
        ) from None


def first_line(exc: BaseException) -> str:
    """An error's first line: delta-rs appends a native backtrace to its messages."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _options() -> dict[str, str] | None:
    """The object store's options beyond the AWS_* variables delta-rs reads itself."""
    timeout = settings.lake_retry_timeout()
    return None if timeout is None else {"retry_timeout": f"{timeout}s"}


def _now_ms() -> int:
    return int(time.time() * 1000)


class Lake:
    """The lake's Delta tables, and the data directory's local scratch space."""

    def __init__(
        self, data_dir: Path, *, url: str | None = None, lock_wait_s: float = LOCK_WAIT_S
    ) -> None:
        self.data_dir = Path(data_dir)
        self.root = url or settings.lake_url(self.data_dir)
        self.lock_wait_s = lock_wait_s

    @property
    def remote(self) -> bool:
        return "://" in self.root

    def uri(self, resource: str, table: str) -> str:
        """A log table (`changes`, `quarantine`, `deletions`) or `snapshot/<table>`."""
        return f"{self.root}/{resource}/{table}"

    def snapshot_uri(self, resource: str, table: str) -> str:
        return self.uri(resource, f"snapshot/{table}")

    def local(self, resource: str) -> Path:
        """This data directory's own files about `resource` (quality state, rejects)."""
        return self.data_dir / "quality" / resource

    def guard(self) -> Guard:
        """The erasure guard as of now: what the lake's erased set keeps out."""
        return Guard(ErasedSet.load(self.root, _options()))

    # --- state and writers -------------------------------------------------------------

    def load_state(self, resource: str) -> ResourceState:
        """The resource's sync state as its newest commit holds it (fresh before the first);
        LakeCorrupt if that commit's state is unreadable."""
        self.refuse_old_layout(resource)
        table = _open(self.uri(resource, "changes"))
        if table is None:
            return ResourceState(resource=resource)
        return self._latest(table, resource, recover=False)[0]

    def _latest(
        self, table: DeltaTable, resource: str, *, recover: bool
    ) -> tuple[ResourceState, dict[str, Any]]:
        """The state and writer of the newest commit that carries them; with `recover`, an
        unreadable state is replaced by a fresh one (no mark: the next run is full)."""
        for limit in (1, 100):
            for entry in table.history(limit=limit):
                if STATE_KEY not in entry:
                    continue
                writer = json.loads(entry.get(WRITER_KEY) or "{}")
                holder = {**writer, "timestamp": entry.get("timestamp", 0)}
                try:
                    where = self.uri(resource, "changes")
                    return ResourceState.from_json(entry[STATE_KEY], resource, where), holder
                except LakeCorrupt:
                    if not recover:
                        raise
                    return ResourceState(resource=resource), holder
        # Commit metadata expires with the log; the mark lives on as an app transaction.
        hwm = table.transaction_version(_hwm_app(resource)) or None
        return ResourceState(resource=resource, high_water_mark_ms=hwm), {}

    @contextmanager
    def writer(
        self,
        resource: str,
        *,
        wait_s: float | None = None,
        recover: bool = False,
        migrating: bool = False,
    ) -> Iterator[LakeWriter]:
        """Claim `resource` for writing, waiting up to `wait_s` (default `lock_wait_s`) for
        another writer; LakeBusy naming it when that one keeps it. Released at the end. With
        `recover`, an unreadable state is started afresh (a full sync); `migrating` writes
        beside the old layout (`pipelines.sync.migrate`)."""
        wait = self.lock_wait_s if wait_s is None else wait_s
        if not migrating:
            self.refuse_old_layout(resource)
        writer = self._claim(resource, wait, recover=recover)
        try:
            yield writer
        finally:
            writer.release()

    def refuse_old_layout(self, resource: str) -> None:
        """LakeCorrupt naming the fix when `resource` is still in customer-sync 0.1's layout."""
        folder = Path(self.root) / resource
        if not self.remote and any((folder / n).exists() for n in ("_state.json", ".legacy")):
            raise LakeCorrupt(
                f"{folder} holds a lake written by customer-sync 0.1 (Parquet files and "
                "_state.json): run `customer-sync lake migrate` once, then run this again"
            )

    def _claim(self, resource: str, wait_s: float, *, recover: bool) -> LakeWriter:
        deadline = time.monotonic() + wait_s
        while True:
            table = self._changes(resource)
            state, holder = self._latest(table, resource, recover=recover)
            busy = _holder_alive(holder)
            if busy is None:
                token = (table.transaction_version(_writer_app(resource)) or 0) + 1
                writer = LakeWriter(self, resource, table, token, state)
                try:
                    writer.commit(state)
                    return writer
                except LakeBusy:
                    # Claimed by another at the same instant: look again, within the wait.
                    if time.monotonic() >= deadline + RACE_S:
                        raise
            elif time.monotonic() >= deadline:
                raise LakeBusy(
                    f"another sync of {resource} is running ({busy}) on {self.root}; let it "
                    "finish, then run this again"
                )
            time.sleep(0.2)

    def _changes(self, resource: str) -> DeltaTable:
        return _ensure(self.uri(resource, "changes"), _log_schema(resource, "changes"), "changes")

    # --- reads -------------------------------------------------------------------------

    def dataset(self, resource: str, table: str) -> pads.Dataset | None:
        """A table as a pyarrow dataset (scanned lazily, files pruned by filters); None when
        it does not exist yet."""
        delta = _open(self.uri(resource, table))
        return None if delta is None else delta.to_pyarrow_dataset()

    def read_snapshot(
        self,
        resource: str,
        table: str,
        columns: list[str] | None = None,
        ids: list[str] | None = None,
    ) -> pa.Table:
        """A snapshot table in its declared schema (empty before the first compaction): all
        columns or `columns`, all rows or those whose `id` is in `ids`."""
        schema = TABLES[resource][table]
        names = list(dict.fromkeys(columns or schema.names))
        data = self.dataset(resource, f"snapshot/{table}")
        if data is None:
            return schema.empty_table().select(names)
        stored = set(data.schema.names)
        flt = pc.field("id").isin(ids) if ids is not None else None
        out = data.to_table(columns=[c for c in names if c in stored], filter=flt)
        for c in names:
            if c not in stored:  # declared since the snapshot was written (evolve.py)
                out = out.append_column(schema.field(c), pa.nulls(len(out), schema.field(c).type))
        return out.select(names).cast(pa.schema([schema.field(c) for c in names]))

    def snapshot_rows(self, resource: str, table: str) -> int:
        data = self.dataset(resource, f"snapshot/{table}")
        return 0 if data is None else data.count_rows()

    def has_snapshot(self, resource: str) -> bool:
        return _open(self.snapshot_uri(resource, resource)) is not None

    def run_rows(
        self, resource: str, table: str, runs: list[str], columns: list[str] | None = None
    ) -> pa.Table:
        """The rows that `runs` wrote to a log table, in memory (for small reads)."""
        data = self.dataset(resource, table)
        schema = _log_schema(resource, table)
        names = columns or schema.names
        if data is None or not runs:
            return schema.empty_table().select(names)
        got = data.to_table(columns=names, filter=pc.field("_run_id").isin(runs))
        return got.cast(pa.schema([schema.field(c) for c in names]))

    def register_runs(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        resource: str,
        table: str,
        runs: list[str] | None,
    ) -> None:
        """Expose the rows `runs` (None: every run) wrote to a log table to SQL as the view
        `name`, scanned as the SQL reads it, in the declared schema (fields declared since a
        row was written filled from its `api_extra`, `evolve.py`)."""
        schema = _log_schema(resource, table)
        data = self.dataset(resource, table)
        if data is None or runs == []:
            con.register(name, schema.empty_table())
            return
        if runs is not None:
            data = data.filter(pc.field("_run_id").isin(runs))
        self._register(con, name, resource, schema, data, primary=table == "changes")

    def register_snapshot(
        self, con: duckdb.DuckDBPyConnection, name: str, resource: str, table: str
    ) -> None:
        """Expose a snapshot table to SQL as the view `name`, in the declared schema."""
        schema = TABLES[resource][table]
        data = self.dataset(resource, f"snapshot/{table}")
        if data is None:
            con.register(name, schema.empty_table())
            return
        self._register(con, name, resource, schema, data, primary=table == resource)

    def _register(
        self,
        con: duckdb.DuckDBPyConnection,
        name: str,
        resource: str,
        schema: pa.Schema,
        data: pads.Dataset,
        *,
        primary: bool,
    ) -> None:
        missing = set(schema.names) - set(data.schema.names)
        con.register(f"raw_{name}", data)
        con.register(f"typed_{name}", schema.empty_table())
        declared = spec(resource)
        added = evolve.backfillable(declared, missing) if primary else []
        select = (
            evolve.conform_sql(declared, f"raw_{name}", f"typed_{name}", added)
            if primary
            else f"SELECT * FROM typed_{name} UNION ALL BY NAME SELECT * FROM raw_{name}"
        )
        con.register(name, con.sql(select))

    def run_ids(self, resource: str, table: str) -> set[str]:
        """Every run that wrote rows to a log table."""
        delta = _open(self.uri(resource, table))
        if delta is None:
            return set()
        files = pa.table(delta.get_add_actions(flatten=True))
        lo, hi = "min._run_id", "max._run_id"
        if (
            lo in files.column_names
            and len(files)
            and not pc.any(
                pc.or_kleene(pc.is_null(files[lo]), pc.not_equal(files[lo], files[hi]))
            ).as_py()
        ):
            return {str(r) for r in files[lo].to_pylist()}
        # Files holding several runs (after optimize): read the column itself.
        got = delta.to_pyarrow_dataset().to_table(columns=["_run_id"])
        return {str(r) for r in pc.unique(got.column(0)).to_pylist()}

    def write_snapshot(self, resource: str, table: str, data: pa.Table) -> None:
        """Replace a snapshot table's rows with `data` (migration, fixtures, benchmarks)."""
        schema = TABLES[resource][table]
        write_deltalake(
            self.snapshot_uri(resource, table),
            data.select(schema.names).cast(schema),
            mode="overwrite",
            schema_mode="overwrite",
            writer_properties=_WRITE,
            storage_options=_options(),
        )

    # --- compaction --------------------------------------------------------------------

    def compact(self, resource: str) -> CompactionResult:
        """Merge every committed run not yet merged into the snapshot."""
        if not self.load_state(resource).pending_compaction and self._snapshot_complete(resource):
            # Nothing fetched since (the common case of a quiet 15-minute schedule).
            rows = self.snapshot_rows(resource, resource)
            return CompactionResult(
                [], 0, 0, 0, 0, rows, self.snapshot_rows(resource, "quarantine")
            )
        with self.writer(resource) as writer:
            runs = list(writer.state.pending_compaction)
            rebuild = not self.has_snapshot(resource)
            if (
                not rebuild
                and self._snapshot_complete(resource)
                and not self._wrote(resource, runs)
            ):
                # Runs that fetched nothing (an incremental run of a quiet resource) leave the
                # snapshot as it is: rewriting it would cost the table, not the change.
                counts = (0, 0, 0, 0)
                rows = self.snapshot_rows(resource, resource)
                quarantined = self.snapshot_rows(resource, "quarantine")
            else:
                counts, rows, quarantined = self._merge_or_rebuild(resource, runs, rebuild)
            writer.state.pending_compaction = [
                r for r in writer.state.pending_compaction if r not in runs
            ]
            for log in ("changes", *LOGS):
                writer.tidy(log)
            writer.commit(writer.state, release=True)
        new, changed, unchanged, deleted = counts
        return CompactionResult(runs, new, changed, unchanged, deleted, rows, quarantined)

    def _merge_or_rebuild(
        self, resource: str, runs: list[str], rebuild: bool
    ) -> tuple[tuple[int, int, int, int], int, int]:
        # A snapshot lost (or never written) is rebuilt from every run: the logs keep every
        # version fetched.
        try:
            return self._merge(resource, runs, rebuild=rebuild)
        except (OSError, DeltaError, duckdb.Error):
            # A snapshot file lost or damaged: rebuilt the same way (a damaged log fails again,
            # and is named).
            return self._merge(resource, runs, rebuild=True)

    def _wrote(self, resource: str, runs: list[str]) -> bool:
        """Whether `runs` added any row to the resource's log tables (files pruned by their
        `_run_id` statistics, so this reads the log, not the table)."""
        if not runs:
            return False
        for log in ("changes", *LOGS):
            data = self.dataset(resource, log)
            if data is not None and data.count_rows(filter=pc.field("_run_id").isin(runs)):
                return True
        return False

    def _snapshot_complete(self, resource: str) -> bool:
        """The snapshot exists with a column for every declared field: one written before a
        field was declared is rewritten with its column even when no run brings changes."""
        data = self.dataset(resource, f"snapshot/{resource}")
        return data is not None and set(TABLES[resource][resource].names) <= set(data.schema.names)

    def _merge(
        self, resource: str, runs: list[str], *, rebuild: bool
    ) -> tuple[tuple[int, int, int, int], int, int]:
        """Rewrite the snapshot as itself plus `runs` (to `rebuild`: as every run); returns the (new, changed, unchanged,
        deleted) counts, the records and the quarantined in the new snapshot."""
        tables = TABLES[resource]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".compaction-", dir=self.data_dir))
        # DuckDB streams the tables in and spills to `scratch` beyond its memory limit, so
        # compaction's memory stays bounded however large the snapshot grows.
        con = duckdb.connect(
            config={"memory_limit": COMPACTION_MEMORY, "temp_directory": str(scratch)}
        )
        try:
            for table, prefix in ((resource, "rows"), *((t, t) for t in LOGS)):
                log = "changes" if table == resource else table
                if rebuild:
                    con.register(f"current_{prefix}", tables[table].empty_table())
                    self.register_runs(con, f"incoming_{prefix}", resource, log, None)
                else:
                    self.register_snapshot(con, f"current_{prefix}", resource, table)
                    self.register_runs(con, f"incoming_{prefix}", resource, log, runs)
            con.execute(sql("merge_deletions"))
            new, changed, unchanged, deleted = con.sql(sql("change_counts")).fetchall()[0]
            con.execute(sql("merge_current"))
            results = {
                resource: lambda: self._merged(con, resource, rebuild=rebuild),
                "deletions": lambda: con.table("deleted_ids"),
                "quarantine": lambda: con.sql(sql("merge_quarantine")),
            }
            counts: dict[str, int] = {}
            for table in snapshot_tables(resource):
                rows = (
                    results[table]()
                    if table in results
                    else self._link(con, resource, table, rebuild=rebuild)
                )
                uri = self.snapshot_uri(resource, table)
                counts[table] = _overwrite(uri, rows, tables[table])
        finally:
            con.close()
            shutil.rmtree(scratch, ignore_errors=True)
        return (new, changed, unchanged, deleted), counts[resource], counts["quarantine"]

    def _merged(
        self, con: duckdb.DuckDBPyConnection, resource: str, *, rebuild: bool
    ) -> duckdb.DuckDBPyRelation | pa.RecordBatchReader:
        """The merged records: the snapshot's rows past the superseded ids, streamed by Arrow
        when the snapshot's schema is the declared one (DuckDB's scan of the 1,000,000
        customers takes twice Arrow's, measured), then the winners; else the `merged` view."""
        schema = TABLES[resource][resource]
        data = None if rebuild else self.dataset(resource, f"snapshot/{resource}")
        if data is None or not data.schema.equals(schema):
            return con.table("merged")
        # One array: pyarrow takes a chunked array of no chunks for a set of nulls.
        superseded = con.table("superseded").to_arrow_table().column("id").combine_chunks()
        kept = data.to_batches(columns=schema.names, filter=~pc.field("id").isin(superseded))
        winners = _cast_batches(con.table("winners"), schema)
        return pa.RecordBatchReader.from_batches(schema, itertools.chain(kept, winners))

    def _link(
        self, con: duckdb.DuckDBPyConnection, resource: str, table: str, *, rebuild: bool
    ) -> duckdb.DuckDBPyRelation:
        """A link table of the merged records by `sql/<table>.sql`: derived only for the records
        the incoming batches touch when the snapshot holds the table whole, otherwise (and to
        `rebuild`) for every merged record."""
        schema = TABLES[resource][table]
        data = None if rebuild else self.dataset(resource, f"snapshot/{table}")
        if data is None or not set(schema.names) <= set(data.schema.names):
            con.execute("CREATE OR REPLACE TEMP VIEW link_source AS SELECT * FROM merged")
            return con.sql(sql(table))
        self._register(con, f"current_{table}", resource, schema, data, primary=False)
        con.execute("CREATE OR REPLACE TEMP VIEW link_source AS SELECT * FROM winners")
        key = next(link.key for link in spec(resource).links if link.table == table)
        return con.sql(sql("merge_links").format(link=table, key=key, link_sql=sql(table)))


def _writer_app(resource: str) -> str:
    return f"customer-sync/{resource}/writer"


def _hwm_app(resource: str) -> str:
    return f"customer-sync/{resource}/high-water-mark"


def _holder_alive(holder: dict[str, Any]) -> str | None:
    """Who holds the claim, if a live writer does (else None: it may be taken over)."""
    if not holder.get("held"):
        return None
    pid, host = holder.get("pid"), holder.get("host")
    age = max(0.0, (_now_ms() - int(holder.get("timestamp") or 0)) / 1000)
    if host == socket.gethostname():
        if pid == os.getpid() or not (isinstance(pid, int) and pid_alive(pid)):
            return None  # this process (an attempt that failed) or a process that is gone
    elif age > LEASE_S:
        return None
    return f"run {holder.get('run') or '-'}, pid {pid} on {host}, last commit {age:.0f} s ago"


def _ensure(uri: str, schema: pa.Schema, kind: str) -> DeltaTable:
    """The log table at `uri`, created empty if it does not exist yet."""
    table = _open(uri)
    if table is not None:
        return table
    if "://" not in uri:
        # The OS's own error (read-only, full, no permission) names the folder, not delta-rs.
        Path(uri).mkdir(parents=True, exist_ok=True)
    try:
        write_deltalake(
            uri,
            schema.empty_table(),
            mode="append",
            configuration={"delta.dataSkippingStatsColumns": _STATS[kind], **_CHECKPOINT_EVERY},
            writer_properties=_WRITE,
            storage_options=_options(),
        )
    except (CommitFailedError, DeltaError):
        if (table := _open(uri)) is None:  # not created by another writer at the same instant
            raise
        return table
    return DeltaTable(uri, storage_options=_options())


def _cast_batches(relation: duckdb.DuckDBPyRelation, schema: pa.Schema) -> pa.RecordBatchReader:
    """A DuckDB result as Arrow batches in the contract's exact schema (DuckDB's own types
    differ in details: list field names, nullability)."""

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in relation.to_arrow_reader(64_000):
            table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
            yield from table.to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())


# Files a compaction or optimize replaced stay this long for readers still scanning them.
REPLACED_RETENTION_HOURS = 1


def _overwrite(
    uri: str, rows: duckdb.DuckDBPyRelation | pa.RecordBatchReader, schema: pa.Schema
) -> int:
    """Replace a snapshot table's rows with `rows` in one commit, then delete the files
    of versions older than the retention (each compaction would otherwise keep a full copy);
    returns the row count."""
    write_deltalake(
        uri,
        rows if isinstance(rows, pa.RecordBatchReader) else _cast_batches(rows, schema),
        mode="overwrite",
        schema_mode="overwrite",
        configuration=_CHECKPOINT_EVERY,
        writer_properties=_WRITE,
        storage_options=_options(),
    )
    table = DeltaTable(uri, storage_options=_options())
    table.vacuum(
        retention_hours=REPLACED_RETENTION_HOURS, dry_run=False, enforce_retention_duration=False
    )
    return table.to_pyarrow_dataset().count_rows()


class LakeWriter:
    """A claim on one resource's `changes` table: every commit of the claimant goes through it,
    each carrying the claim (the fence) and the whole sync state."""

    def __init__(
        self, lake: Lake, resource: str, table: DeltaTable, token: int, state: ResourceState
    ) -> None:
        self.lake = lake
        self.resource = resource
        self.table = table
        self.token = token
        self.state = state
        self.committed = state.to_json()
        self.last_commit = time.monotonic()
        self.released = False
        # Read once per claim: an erasure takes every claim, so none changes it meanwhile.
        self.guard = lake.guard()

    def append(self, table: str, data: pa.Table) -> None:
        """Add rows to a log table (`quarantine`, `deletions`) in a commit of its own, before
        the checkpoint that accounts for them (a rerun may add them again: readers dedupe)."""
        data = self.guard.rows(self.resource, table, data)
        if not len(data):
            return
        uri = self.lake.uri(self.resource, table)
        schema = _log_schema(self.resource, table)
        _ensure(uri, schema, table)
        write_deltalake(
            uri,
            data.cast(schema),
            mode="append",
            schema_mode="merge",
            writer_properties=_WRITE,
            storage_options=_options(),
        )

    def commit(
        self, state: ResourceState, rows: pa.Table | None = None, *, release: bool = False
    ) -> None:
        """Commit `rows` (none: just the state) with `state` as the resource's sync state;
        LakeBusy when another writer took the claim over since."""
        metadata = self._metadata(state, release=release)
        commit_id = json.loads(metadata[WRITER_KEY])["commit"]
        schema = _log_schema(self.resource, "changes")
        data = schema.empty_table() if rows is None else rows.cast(schema)
        # An erased person's rows never reach the lake again (pipelines.erase.guard).
        data = self.guard.rows(self.resource, "changes", data)
        props = self.commit_properties(state, release=release, metadata=metadata)
        try:
            write_deltalake(
                self.table,
                data,
                mode="append",
                schema_mode="merge",
                writer_properties=_WRITE,
                commit_properties=props,
            )
        except CommitFailedError as exc:
            self._landed_anyway(commit_id, exc)
        self.committed = metadata[STATE_KEY]
        self.last_commit = time.monotonic()
        self.released = release

    def commit_properties(
        self,
        state: ResourceState | None = None,
        *,
        release: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> CommitProperties:
        """What every commit to `changes` carries: the sync state and who wrote it (the newest
        commit is where the state is read from), the claim and the mark."""
        state = self.state if state is None else state
        return CommitProperties(
            custom_metadata=metadata or self._metadata(state, release=release),
            app_transactions=self._transactions(state),
        )

    def _metadata(self, state: ResourceState, *, release: bool) -> dict[str, str]:
        """A commit's metadata: the whole sync state, and who wrote it (a new commit id)."""
        writer = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "token": self.token,
            "held": not release,
            "run": state.in_progress.run_id if state.in_progress else None,
            "commit": uuid.uuid4().hex,
            "at": datetime.now(UTC).isoformat(),
        }
        return {STATE_KEY: state.to_json(), WRITER_KEY: json.dumps(writer)}

    def _transactions(self, state: ResourceState) -> list[Transaction]:
        """The claim (fences a writer taken over) and the mark (outlives the commit log)."""
        return [
            Transaction(_writer_app(self.resource), self.token),
            Transaction(_hwm_app(self.resource), state.high_water_mark_ms or 0),
        ]

    def tidy(self, table: str, *, max_files: int = MAX_LOG_FILES) -> bool:
        """Fold a log table's files (one per checkpoint) into few once there are more than
        `max_files`, then delete the replaced ones past the retention; whether it did."""
        delta = self.table if table == "changes" else _open(self.lake.uri(self.resource, table))
        if delta is None or len(delta.file_uris()) <= max_files:
            return False
        props = None
        if table == "changes":  # under the claim, and carrying the state as every commit does
            props = CommitProperties(
                custom_metadata=self._metadata(self.state, release=False),
                app_transactions=self._transactions(self.state),
            )
        delta.optimize.compact(writer_properties=_WRITE, commit_properties=props)
        delta.vacuum(
            retention_hours=REPLACED_RETENTION_HOURS,
            dry_run=False,
            enforce_retention_duration=False,
        )
        self.last_commit = time.monotonic()
        return True

    def due(self) -> bool:
        """Whether a checkpoint is due (keeps the claim alive and bounds what a kill costs)."""
        return time.monotonic() - self.last_commit > CHECKPOINT_S

    def _landed_anyway(self, commit_id: str, exc: Exception) -> None:
        """After a failed commit: return if it landed after all (the store applied it and the
        reply was lost), else LakeBusy: another writer took the claim over."""
        fresh = DeltaTable(self.lake.uri(self.resource, "changes"), storage_options=_options())
        for entry in fresh.history(limit=20):
            if json.loads(entry.get(WRITER_KEY) or "{}").get("commit") == commit_id:
                self.table = fresh
                return
        raise LakeBusy(
            f"another sync of {self.resource} took over {self.lake.uri(self.resource, 'changes')} "
            f"({exc}); this one stopped, and what it checkpointed is kept"
        ) from None

    def release(self) -> None:
        """Give the claim up, with the state as last committed (never a half-updated one)."""
        if self.released:
            return
        self.released = True
        try:
            state = ResourceState.from_json(self.committed, self.resource, "the last commit")
            self.commit(state, release=True)
        except (LakeBusy, LakeCorrupt, OSError, DeltaError):
            pass  # taken over, or the store is down: the lease expires on its own
