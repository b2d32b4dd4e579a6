"""The Parquet lake: change batches per run and a compacted current snapshot per resource.

    <data_dir>/lake/<resource>/_state.json                     high-water mark, checkpoints
    <data_dir>/lake/<resource>/changes/run=<run_id>/<table>-NNNNN.parquet
    <data_dir>/lake/<resource>/snapshot/<table>.parquet        the current state

Every file is written to a temporary name, fsynced and renamed, so a reader (or a kill -9)
never sees half a file. Compaction merges the committed runs not yet merged into the snapshot;
it is idempotent, so a compaction interrupted before it records its work is simply redone. A
snapshot lost or truncated is rebuilt from every change batch (the state counts the batches
since the last full sync, so a rebuild that would miss some refuses instead).
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

from pipelines.registry import RESOURCES, spec
from pipelines.sqlfiles import read_sql
from pipelines.sync import evolve
from pipelines.sync.state import (
    STATE_FILE,
    LakeCorrupt,
    Part,
    ResourceState,
    atomic_write,
    fsync_dir,
)

SQL_DIR = Path(__file__).parent / "sql"
COMPACTION_MEMORY = "1GB"

# Tables each resource writes per run; the first is the resource's own, keyed by `id`.
TABLES: dict[str, dict[str, pa.Schema]] = {spec.name: spec.tables for spec in RESOURCES}


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


def _snapshot_tables(resource: str) -> list[str]:
    """The snapshot's files: the resource's own table first."""
    return [resource, "deletions", "quarantine", *(link.table for link in spec(resource).links)]


class Lake:
    """Paths and Parquet I/O under `<data_dir>/lake`."""

    def __init__(self, data_dir: Path, *, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "lake"
        self.lock_wait_s = lock_wait_s

    def folder(self, resource: str) -> Path:
        return self.root / resource

    def run_dir(self, resource: str, run_id: str) -> Path:
        return self.folder(resource) / "changes" / f"run={run_id}"

    def snapshot_path(self, resource: str, table: str) -> Path:
        return self.folder(resource) / "snapshot" / f"{table}.parquet"

    @contextmanager
    def lock(self, *, wait_s: float | None = None) -> Iterator[None]:
        """The data directory's one sync lock, for every resource at once: two syncs can then
        neither interleave nor each take one resource and both fail. Waits up to `wait_s`
        (default `lock_wait_s`) for another process to release it, then raises LakeBusy naming
        that process. Re-entrant within a process; the OS releases it even on kill -9."""
        wait_s = self.lock_wait_s if wait_s is None else wait_s
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
        # No mkdir here: a session opens before any step, where a failure would lose its cause.
        return self.root.resolve()

    def _acquire(self, wait_s: float) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
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
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            os.close(fd)  # a full disk must not leave the lock held by nobody's descriptor
            raise
        return fd

    def _release_if_unused(self) -> None:
        key = self.root.resolve()
        held = _HELD[key]
        if held.depth == 0 and held.sessions == 0:
            if held.fd is not None:
                os.close(held.fd)  # closing the only descriptor releases the flock
            del _HELD[key]

    def load_state(self, resource: str, *, recover: bool = False) -> ResourceState:
        """The resource's sync state; LakeCorrupt if unreadable, unless `recover` (see
        `recover_state`)."""
        try:
            return ResourceState.load(self.folder(resource), resource)
        except LakeCorrupt:
            if not recover:
                raise
            return self.recover_state(resource)

    def recover_state(self, resource: str) -> ResourceState:
        """A fresh state in place of an unreadable one, which is kept beside it as
        `_state.json.corrupt`: no high-water mark (the next sync is full), and every change
        batch pending compaction, since which were merged is unknown (merging is idempotent)."""
        folder = self.folder(resource)
        os.replace(folder / STATE_FILE, folder / f"{STATE_FILE}.corrupt")
        state = ResourceState(resource=resource, pending_compaction=self.batch_runs(resource))
        self.save_state(state)
        return state

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

    def batch_runs(self, resource: str) -> list[str]:
        """Every run with a change batch on disk (committed or not), oldest first."""
        changes = self.folder(resource) / "changes"
        if not changes.exists():
            return []
        return sorted(
            d.name.removeprefix("run=")
            for d in changes.iterdir()
            if d.name.startswith("run=") and any(d.glob("*.parquet"))
        )

    def snapshot_problem(self, resource: str) -> str | None:
        """Why the snapshot cannot be read as it is (a file missing or unreadable) while the
        lake holds change batches for it; None when it can (or nothing was synced yet)."""
        for table in _snapshot_tables(resource):
            path = self.snapshot_path(resource, table)
            if not path.exists():
                if not self.batch_runs(resource):
                    return None
                return f"{path} is missing"
            try:
                pq.read_metadata(path)
            except (OSError, pa.ArrowException) as exc:
                return f"{path} is unreadable ({exc})"
        return None

    def _rebuild_runs(self, resource: str, state: ResourceState, problem: str) -> list[str]:
        """Every committed run with a change batch, to rebuild a lost snapshot from; LakeCorrupt
        when batches since the last full sync are missing too."""
        running = state.in_progress.run_id if state.in_progress else None
        runs = [r for r in self.batch_runs(resource) if r != running]
        if state.full_run is not None:
            since = sum(r >= state.full_run for r in runs)
            if since < state.batches_since_full:
                raise LakeCorrupt(
                    f"{problem}, and {state.batches_since_full - since} of the "
                    f"{state.batches_since_full} change batches since the last full sync are "
                    f"gone, so it cannot be rebuilt: run `customer-sync sync --full`"
                )
        return runs

    def _readable(self, state: ResourceState, files: list[str]) -> list[str]:
        """`files` whose Parquet footer reads. An unreadable one from before the last full sync
        (which re-read everything it held) is set aside as `<name>.corrupt`; any other is
        LakeCorrupt, naming the fix."""
        readable = []
        for name in files:
            try:
                pq.read_metadata(name)
            except (OSError, pa.ArrowException) as exc:
                run = Path(name).parent.name.removeprefix("run=")
                if state.full_run is None or run >= state.full_run:
                    raise LakeCorrupt(
                        f"change batch {name} is unreadable ({exc}): run "
                        "`customer-sync sync --full` to re-read what it held"
                    ) from None
                os.replace(name, f"{name}.corrupt")
                continue
            readable.append(name)
        return readable

    def compact(self, resource: str) -> CompactionResult:
        """Merge every committed, not yet merged run into the snapshot."""
        with self.lock():
            return self._compact(resource)

    def _compact(self, resource: str) -> CompactionResult:
        state = self.load_state(resource)
        scratch = self.folder(resource) / ".compaction"
        shutil.rmtree(scratch, ignore_errors=True)  # what a killed compaction left
        runs, rebuild = self._runs_to_merge(resource, state)
        files = {
            t: self._readable(state, self.run_files(resource, runs, t)) for t in TABLES[resource]
        }
        if not any(files.values()) and not rebuild and self._snapshot_has_every_column(resource):
            # Runs that fetched nothing (the common case of a quiet 15-minute schedule).
            return self._nothing_to_merge(resource, state, runs)
        scratch.mkdir(parents=True)
        (new, changed, unchanged, deleted), staged, rows = self._merge(
            resource, files, rebuild, scratch
        )
        quarantined = pq.read_metadata(staged["quarantine"]).num_rows
        self._swap_in(resource, staged)
        shutil.rmtree(scratch, ignore_errors=True)
        self._merged(resource, runs)
        return CompactionResult(
            runs=runs,
            new=new,
            changed=changed,
            unchanged=unchanged,
            deleted=deleted,
            rows=rows,
            quarantined=quarantined,
        )

    def _runs_to_merge(self, resource: str, state: ResourceState) -> tuple[list[str], bool]:
        """The runs whose change batches this compaction merges, and whether the snapshot is
        rebuilt from them: a snapshot lost (deleted, truncated) is rebuilt from every change
        batch, never from the pending ones alone."""
        runs = list(state.pending_compaction)
        problem = self.snapshot_problem(resource)
        if problem is None:
            return runs, False
        return sorted({*self._rebuild_runs(resource, state, problem), *runs}), True

    def _snapshot_has_every_column(self, resource: str) -> bool:
        """The snapshot exists with a column for every declared field: one written before a
        field was declared is rewritten with its column even when no run brings changes."""
        current = self.snapshot_path(resource, next(iter(TABLES[resource])))
        return current.exists() and not evolve.missing_columns(spec(resource), [current])

    def _nothing_to_merge(
        self, resource: str, state: ResourceState, runs: list[str]
    ) -> CompactionResult:
        """The snapshot stays as it is; `runs` are no longer pending."""
        if runs:
            state.pending_compaction = [r for r in state.pending_compaction if r not in runs]
            self.save_state(state)
        rows = pq.read_metadata(self.snapshot_path(resource, resource)).num_rows
        quarantined = pq.read_metadata(self.snapshot_path(resource, "quarantine")).num_rows
        return CompactionResult(runs, 0, 0, 0, 0, rows, quarantined)

    def _merge(
        self, resource: str, files: dict[str, list[str]], rebuild: bool, scratch: Path
    ) -> tuple[tuple[int, int, int, int], dict[str, Path], int]:
        """Merge the change batches `files` into the snapshot (or, to `rebuild`, into nothing),
        each new table staged in `scratch`. Returns the (new, changed, unchanged, deleted)
        counts, the staged files by table and the merged record count."""
        tables = TABLES[resource]
        # DuckDB streams Parquet in and out and spills to `scratch` beyond its memory limit, so
        # compaction's memory stays bounded however large the snapshot grows.
        con = duckdb.connect(
            config={"memory_limit": COMPACTION_MEMORY, "temp_directory": str(scratch / "spill")}
        )
        try:
            self._create_views(con, resource, files, rebuild, scratch)
            con.execute(sql("merge_deletions"))
            new, changed, unchanged, deleted = con.sql(sql("change_counts")).fetchall()[0]
            con.execute(sql("merge_current"))
            results = {
                resource: lambda: con.table("merged"),
                "deletions": lambda: con.table("deleted_ids"),
                "quarantine": lambda: con.sql(sql("merge_quarantine")),
            }
            staged: dict[str, Path] = {}
            for table in _snapshot_tables(resource):
                staged[table] = scratch / f"{table}.parquet"
                # A link table is rebuilt from the merged records by `sql/<table>.sql`.
                relation = results[table]() if table in results else con.sql(sql(table))
                _stream(relation, tables[table], staged[table])
            rows = con.table("merged").shape[0]
        finally:
            con.close()
        return (new, changed, unchanged, deleted), staged, rows

    def _create_views(
        self,
        con: duckdb.DuckDBPyConnection,
        resource: str,
        files: dict[str, list[str]],
        rebuild: bool,
        scratch: Path,
    ) -> None:
        """The `current_*` (snapshot) and `incoming_*` (change batches) views the merge SQL
        reads, for the records, deletions and quarantine, in the declared schema."""
        tables = TABLES[resource]
        primary = next(iter(tables))
        snapshot = self.snapshot_path(resource, primary)
        # Files written before a field was declared lack its column (evolve.py).
        declared = spec(resource)
        every = [*files[primary], *([str(snapshot)] if snapshot.exists() and not rebuild else [])]
        missing = evolve.missing_columns(declared, every)
        added = evolve.backfillable(declared, missing)
        con.register("typed_rows", declared.schema.empty_table())

        def view(name: str, table: str, files: list[str]) -> None:
            if not files:  # read_parquet needs a file: an empty one with the schema
                empty = scratch / f"empty-{table}.parquet"
                pq.write_table(tables[table].empty_table(), empty)
                files = [str(empty)]
            if table != primary or not missing:
                con.read_parquet(files).create_view(name)
                return
            con.read_parquet(files, union_by_name=True).create_view(f"raw_{name}")
            con.execute(
                f"CREATE VIEW {name} AS "
                + evolve.conform_sql(declared, f"raw_{name}", "typed_rows", added)
            )

        for table, prefix in (
            (primary, "rows"),
            ("deletions", "deletions"),
            ("quarantine", "quarantine"),
        ):
            path = self.snapshot_path(resource, table)
            view(f"current_{prefix}", table, [str(path)] if path.exists() and not rebuild else [])
            view(f"incoming_{prefix}", table, files[table])

    def _swap_in(self, resource: str, staged: dict[str, Path]) -> None:
        """Replace the snapshot's tables with the staged ones."""
        # All tables staged first, then swapped in one after the other: readers see each file
        # old or new, never half-written.
        for table, path in staged.items():
            target = self.snapshot_path(resource, table)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        fsync_dir(self.snapshot_path(resource, resource).parent)

    def _merged(self, resource: str, runs: list[str]) -> None:
        """`runs` are in the snapshot: no longer pending."""
        state = self.load_state(resource)
        state.pending_compaction = [r for r in state.pending_compaction if r not in runs]
        self.save_state(state)
