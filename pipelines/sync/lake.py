"""The Parquet lake: change batches per run and a compacted current snapshot per resource.

    <data_dir>/lake/<resource>/_state.json                     high-water mark, checkpoints
    <data_dir>/lake/<resource>/changes/run=<run_id>/<table>-NNNNN.parquet
    <data_dir>/lake/<resource>/snapshot/<table>.parquet        the current state

Every file is written to a temporary name, fsynced and renamed, so a reader (or a kill -9)
never sees half a file. Compaction merges the committed runs not yet merged into the snapshot;
it is idempotent, so a compaction interrupted before it records its work is simply redone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.sqlfiles import read_sql
from pipelines.sync import schemas
from pipelines.sync.state import Part, ResourceState, atomic_write, fsync_dir

SQL_DIR = Path(__file__).parent / "sql"
COMPACTION_MEMORY = "1GB"

# Tables each resource writes per run; the first is the resource's own, keyed by `id`.
TABLES: dict[str, dict[str, pa.Schema]] = {
    "customers": {
        "customers": schemas.CUSTOMERS,
        "customer_tags": schemas.CUSTOMER_TAGS,
        "customer_transactions": schemas.CUSTOMER_TRANSACTIONS,
        "quarantine": schemas.QUARANTINE,
        "deletions": schemas.DELETIONS,
    },
    "transactions": {
        "transactions": schemas.TRANSACTIONS,
        "quarantine": schemas.QUARANTINE,
        "deletions": schemas.DELETIONS,
    },
}


sql = partial(read_sql, SQL_DIR)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` via a temporary file, fsync and rename."""
    with atomic_write(path) as f:
        pq.write_table(table, f, compression="zstd")


def _stream(relation: duckdb.DuckDBPyRelation, schema: pa.Schema, path: Path) -> None:
    """Write a DuckDB result to Parquet batch by batch (bounded memory) with the contract's exact
    schema (DuckDB's own Parquet differs in details: list field names, nullability), durably."""
    with open(path, "wb") as f:
        with pq.ParquetWriter(f, schema, compression="zstd") as writer:
            for batch in relation.to_arrow_reader(64_000):
                writer.write_table(pa.Table.from_batches([batch]).select(schema.names).cast(schema))
        f.flush()
        os.fsync(f.fileno())


class LakeBusy(Exception):
    """Another process holds the data directory's sync lock (a sync, reconcile, compaction or
    state reset)."""


# How long a sync waits for another one to finish before giving up.
LOCK_WAIT_S = 60.0


@dataclass
class _Held:
    """The sync lock as this process holds it: the locked file, `with lock()` blocks open, and
    `session()` blocks that keep it past them."""

    fd: int | None = None
    depth: int = 0
    sessions: int = 0
    # A session waits once: its later steps fail at once instead of each waiting again.
    gave_up: bool = False


# One entry per lake root. One process is one sync: the lock is re-entrant within it.
_HELD: dict[Path, _Held] = {}


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


class Lake:
    """Paths and Parquet I/O under `<data_dir>/lake`."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "lake"

    def folder(self, resource: str) -> Path:
        return self.root / resource

    def run_dir(self, resource: str, run_id: str) -> Path:
        return self.folder(resource) / "changes" / f"run={run_id}"

    def snapshot_path(self, resource: str, table: str) -> Path:
        return self.folder(resource) / "snapshot" / f"{table}.parquet"

    @contextmanager
    def lock(self, *, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
        """The data directory's one sync lock, for every resource at once: two syncs can then
        neither interleave nor each take one resource and both fail. Waits up to `wait_s` for
        another process to release it, then raises LakeBusy naming that process. Re-entrant
        within a process; the OS releases it even on kill -9."""
        held = _HELD.setdefault(self._lock_key(), _Held())
        if held.fd is None:
            try:
                held.fd = self._acquire(0 if held.gave_up else wait_s)
            except LakeBusy:
                held.gave_up = True
                self._release_if_unused()
                raise
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            self._release_if_unused()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the sync lock, once taken inside this block, until the block ends: a Dagster
        run's steps each take it, and another sync must not slip in between them."""
        held = _HELD.setdefault(self._lock_key(), _Held())
        held.sessions += 1
        try:
            yield
        finally:
            held.sessions -= 1
            self._release_if_unused()

    def _lock_key(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root.resolve()

    def _acquire(self, wait_s: float) -> int:
        path = self.root / ".lock"
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LakeBusy(
                        f"another sync is running (pid {holder}) on {self.data_dir} (lock "
                        f"{path}); let it finish, then run this again"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def _release_if_unused(self) -> None:
        key = self.root.resolve()
        held = _HELD[key]
        if held.depth == 0 and held.sessions == 0:
            if held.fd is not None:
                os.close(held.fd)  # closing the only descriptor releases the flock
            del _HELD[key]

    def load_state(self, resource: str) -> ResourceState:
        return ResourceState.load(self.folder(resource), resource)

    def save_state(self, state: ResourceState) -> None:
        state.save(self.folder(state.resource))

    def write_part(self, resource: str, run_id: str, table: str, seq: int, data: pa.Table) -> Part:
        """Durably write one part of a run's change batch."""
        path = self.run_dir(resource, run_id) / f"{table}-{seq:05d}.parquet"
        write_parquet_atomic(data.cast(TABLES[resource][table]), path)
        return Part(table=table, path=str(path.relative_to(self.folder(resource))), rows=len(data))

    def remove_stale_temp_files(self, resource: str) -> None:
        """Delete temporary files left by a write that was killed before its rename."""
        for path in self.folder(resource).rglob(".*.tmp"):
            path.unlink(missing_ok=True)

    def remove_orphans(self, resource: str, run_id: str, keep: list[Part]) -> int:
        """Delete files of a run that no checkpoint lists (written just before a crash)."""
        run_dir = self.run_dir(resource, run_id)
        if not run_dir.exists():
            return 0
        listed = {self.folder(resource) / p.path for p in keep}
        removed = 0
        for path in run_dir.iterdir():
            if path not in listed:
                path.unlink()
                removed += 1
        return removed

    def read_snapshot(self, resource: str, table: str) -> pa.Table:
        """The current snapshot of a table (empty with its schema before the first sync)."""
        schema = TABLES[resource][table]
        path = self.snapshot_path(resource, table)
        return pq.read_table(path, schema=schema) if path.exists() else schema.empty_table()

    def run_files(self, resource: str, runs: list[str], table: str) -> list[str]:
        """The Parquet files of `table` written by `runs`, in run order."""
        return sorted(
            str(f) for run in runs for f in self.run_dir(resource, run).glob(f"{table}-*.parquet")
        )

    def compact(self, resource: str) -> CompactionResult:
        """Merge every committed, not yet merged run into the snapshot."""
        with self.lock():
            return self._compact(resource)

    def _compact(self, resource: str) -> CompactionResult:
        state = self.load_state(resource)
        runs = list(state.pending_compaction)
        tables = TABLES[resource]
        primary = next(iter(tables))
        outputs = [primary, "deletions", "quarantine"]
        if resource == "customers":
            outputs += ["customer_tags", "customer_transactions"]
        snapshot = self.snapshot_path(resource, primary)
        scratch = self.folder(resource) / ".compaction"
        shutil.rmtree(scratch, ignore_errors=True)  # what a killed compaction left
        nothing_new = not any(self.run_files(resource, runs, table) for table in tables)
        if nothing_new and snapshot.exists():
            # Runs that fetched nothing (the common case of a quiet 15-minute schedule).
            if runs:
                state.pending_compaction = [r for r in state.pending_compaction if r not in runs]
                self.save_state(state)
            rows = pq.read_metadata(snapshot).num_rows
            quarantined = pq.read_metadata(self.snapshot_path(resource, "quarantine")).num_rows
            return CompactionResult(runs, 0, 0, 0, 0, rows, quarantined)
        scratch.mkdir(parents=True)
        # DuckDB streams Parquet in and out and spills to `scratch` beyond its memory limit, so
        # compaction's memory stays bounded however large the snapshot grows.
        con = duckdb.connect(
            config={"memory_limit": COMPACTION_MEMORY, "temp_directory": str(scratch / "spill")}
        )
        try:

            def view(name: str, table: str, files: list[str]) -> None:
                if not files:  # read_parquet needs a file: an empty one with the schema
                    empty = scratch / f"empty-{table}.parquet"
                    pq.write_table(tables[table].empty_table(), empty)
                    files = [str(empty)]
                con.read_parquet(files).create_view(name)

            for table, prefix in (
                (primary, "rows"),
                ("deletions", "deletions"),
                ("quarantine", "quarantine"),
            ):
                snapshot = self.snapshot_path(resource, table)
                view(f"current_{prefix}", table, [str(snapshot)] if snapshot.exists() else [])
                view(f"incoming_{prefix}", table, self.run_files(resource, runs, table))
            con.execute(sql("merge_deletions"))
            new, changed, unchanged, deleted = con.sql(sql("change_counts")).fetchall()[0]
            con.execute(sql("merge_current"))
            results = {
                primary: lambda: con.table("merged"),
                "deletions": lambda: con.table("deleted_ids"),
                "quarantine": lambda: con.sql(sql("merge_quarantine")),
                "customer_tags": lambda: con.sql(sql("customer_tags")),
                "customer_transactions": lambda: con.sql(sql("customer_transactions")),
            }
            staged: dict[str, Path] = {}
            for table in outputs:
                staged[table] = scratch / f"{table}.parquet"
                _stream(results[table](), tables[table], staged[table])
            rows = con.table("merged").shape[0]
        finally:
            con.close()
        quarantined = pq.read_metadata(staged["quarantine"]).num_rows
        # All tables staged first, then swapped in one after the other: readers see each file
        # old or new, never half-written.
        for table, path in staged.items():
            target = self.snapshot_path(resource, table)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        fsync_dir(self.snapshot_path(resource, primary).parent)
        shutil.rmtree(scratch, ignore_errors=True)
        state = self.load_state(resource)
        state.pending_compaction = [r for r in state.pending_compaction if r not in runs]
        self.save_state(state)
        return CompactionResult(
            runs=runs,
            new=new,
            changed=changed,
            unchanged=unchanged,
            deleted=deleted,
            rows=rows,
            quarantined=quarantined,
        )
