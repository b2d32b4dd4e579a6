"""Erasing people from the lake's Delta tables, and leaving no file that still holds them.

Per table of every resource that holds people's data (`owner` in the registry):

- the people's own rows (customers, their tags and transaction links, their tombstones) are
  deleted;
- the records they own (transactions, tickets) are updated: personal columns and `api_extra`
  emptied, the customer link replaced by the pseudonym; money and dates stay;
- quarantine (payloads as received) is rewritten through the write path's own guard.

Both are one replaceWhere per table (`write_deltalake(mode="overwrite", predicate=...)`), which
rewrites only the files holding matched rows. The replaced files are then vacuumed
with no retention, and the commit log is cut at a fresh checkpoint: old commits carry per-file
column statistics (a file's smallest and largest email), which would keep the person otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pipelines.erase.guard import PEOPLE, Guard
from pipelines.erase.redact import redact_rows
from pipelines.registry import RESOURCES, ResourceSpec
from pipelines.sync.lake import Lake, LakeWriter, snapshot_tables
from pipelines.sync.lake import _options as lake_options  # pyright: ignore[reportPrivateUsage]
from pipelines.sync.schemas import DELETIONS

LOG_RETENTION = "delta.logRetentionDuration"
# As the lake writes its own files.
WRITE = WriterProperties(compression="ZSTD")
# Delta's own default, put back after the cut (commits then expire as before).
DEFAULT_LOG_RETENTION = "interval 30 days"


@dataclass(frozen=True)
class TableEffect:
    """What the erasure finds (dry run) or changed in one table."""

    resource: str
    table: str
    action: str  # delete | redact | rewrite
    rows: int


def personal_resources() -> list[ResourceSpec]:
    return [s for s in RESOURCES if s.owner is not None]


def tables_of(resource: str) -> list[str]:
    """Every Delta table of a resource: its logs and its snapshot tables."""
    return [
        "changes",
        "quarantine",
        "deletions",
        *(f"snapshot/{t}" for t in snapshot_tables(resource)),
    ]


def _kind(spec: ResourceSpec, table: str) -> tuple[str, str] | None:
    """(action, key column) for one table, None when it holds nobody's data."""
    name = table.removeprefix("snapshot/")
    if name == "quarantine":
        return "rewrite", "record_id"
    people = spec.owner == "id"
    if name in ("changes", spec.name):
        return ("delete", "id") if people else ("redact", "id")
    if name == "deletions":
        return ("delete", "id") if people else None
    link = next((link for link in spec.links if link.table == name), None)
    if link is not None and people:
        return "delete", link.key
    return None


def _open(lake: Lake, resource: str, table: str) -> DeltaTable | None:
    """The table, None when there is none. Any other error stops the erasure (a table it
    could not read may hold the person); run it again once the lake is readable."""
    try:
        return DeltaTable(lake.uri(resource, table), storage_options=lake_options())
    except TableNotFoundError:
        return None


def _matches(guard: Guard, spec: ResourceSpec, table: DeltaTable, key: str, action: str):
    """The matched rows' keys, and how many rows match."""
    data = table.to_pyarrow_dataset()
    if action == "delete":
        rows = data.to_table(columns=[key])
        hit = rows.filter(guard.match(PEOPLE, rows[key]))
        return sorted({str(k) for k in hit[key].to_pylist()}), len(hit)
    columns = ["id", spec.owner or "id", *(c for c, _ in spec.owned_via)]
    rows = data.to_table(columns=list(dict.fromkeys(columns)))
    mask, _ = guard.owned(spec, rows)
    hit = rows.filter(mask)
    return sorted({str(k) for k in hit["id"].to_pylist()}), len(hit)


def _in(key: str, values: list[str]) -> str:
    """`key IN (...)` for a Delta predicate. delta-rs binds no parameters; the values are ids
    (quotes doubled all the same), and the commit holding this text is cut from the log."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{key} IN ({quoted})"


def _replace(
    guard: Guard,
    spec: ResourceSpec,
    table: DeltaTable,
    uri: str,
    keys: tuple[str, str, list[str]],
    props: CommitProperties | None,
) -> None:
    """Replace the rows whose `keys` match: by nothing (the person's own rows) or by their
    redacted selves. A replaceWhere rewrites only the files holding them, and writes the new
    rows from Arrow as they are (a MERGE or UPDATE would write `string_view` columns, which
    pyarrow cannot filter together with the lake's other files)."""
    action, column, values = keys
    data = table.to_pyarrow_dataset()
    schema = data.schema
    if action == "delete":
        rows = schema.empty_table()
    else:
        rows = data.to_table(filter=pc.field(column).isin(pa.array(values, pa.string())))
        mask, owners = guard.owned(spec, rows)
        rows = redact_rows(spec, rows, mask, owners)
    write_deltalake(
        uri,
        rows.cast(schema),
        mode="overwrite",
        predicate=_in(column, values),
        writer_properties=WRITE,
        commit_properties=props,
        storage_options=lake_options(),
    )


def _rewrite_quarantine(
    guard: Guard, spec: ResourceSpec, table: DeltaTable, uri: str, *, dry_run: bool
) -> int:
    """Rewrite a quarantine table through the guard; returns the rows dropped or redacted."""
    data = table.to_pyarrow_table()
    kept = guard.rows(spec.name, "quarantine", data)
    before = set(data["payload"].to_pylist())
    changed = len(data) - len(kept) + sum(p not in before for p in kept["payload"].to_pylist())
    if changed and not dry_run:
        write_deltalake(
            uri, kept, mode="overwrite", writer_properties=WRITE, storage_options=lake_options()
        )
    return changed


def erase_table(
    guard: Guard,
    lake: Lake,
    spec: ResourceSpec,
    table_name: str,
    writer: LakeWriter | None,
    *,
    dry_run: bool,
) -> TableEffect | None:
    """Find (and unless `dry_run`, erase) the erased set's people in one table."""
    kind = _kind(spec, table_name)
    table = _open(lake, spec.name, table_name)
    if kind is None or table is None:
        return None
    action, key = kind
    uri = lake.uri(spec.name, table_name)
    if action == "rewrite":
        rows = _rewrite_quarantine(guard, spec, table, uri, dry_run=dry_run)
        return TableEffect(spec.name, table_name, action, rows)
    keys, rows = _matches(guard, spec, table, key, action)
    if rows and not dry_run:
        props = writer.commit_properties() if table_name == "changes" and writer else None
        _replace(guard, spec, table, uri, (action, key, keys), props)
    return TableEffect(spec.name, table_name, action, rows)


def purge(lake: Lake, resource: str, table_name: str, writer: LakeWriter | None) -> None:
    """Delete every file no longer in the table's current version, and every commit before a
    checkpoint made now (their statistics name old rows); the log's retention is put back."""
    table = _open(lake, resource, table_name)
    if table is None:
        return
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    before = table.metadata().configuration.get(LOG_RETENTION)
    table.alter.set_table_properties({LOG_RETENTION: "interval 0 seconds"})
    table = _open(lake, resource, table_name)
    assert table is not None
    table.create_checkpoint()
    table.cleanup_metadata()
    table.alter.set_table_properties({LOG_RETENTION: before or DEFAULT_LOG_RETENTION})
    if writer is not None and table_name == "changes":
        # The sync state lives in the newest commit to `changes`; the cut removed it.
        writer.table = DeltaTable(lake.uri(resource, "changes"), storage_options=lake_options())
        writer.commit(writer.state)


def tombstone_pseudonyms(
    writer: LakeWriter, lake: Lake, pseudonyms: list[str], run_id: str
) -> None:
    """Record each pseudonym as a deleted customer: the quality gate then counts the redacted
    transactions' link as known (a deleted customer's orders are kept), now and after every
    later compaction (the run is merged by the next one)."""
    now = datetime.now(UTC)
    rows = pa.table(
        {
            "resource": [PEOPLE] * len(pseudonyms),
            "id": pseudonyms,
            "deleted_at": [now] * len(pseudonyms),
            "_run_id": [run_id] * len(pseudonyms),
            "_synced_at": [now] * len(pseudonyms),
        }
    )
    if not pseudonyms:
        return
    writer.append("deletions", rows)
    snapshot = lake.snapshot_uri(PEOPLE, "deletions")
    if _open(lake, PEOPLE, "snapshot/deletions") is not None:
        write_deltalake(
            snapshot,
            rows.cast(DELETIONS),
            mode="append",
            storage_options=lake_options(),
        )
    writer.state.pending_compaction = [*writer.state.pending_compaction, run_id]
    writer.commit(writer.state)


@contextlib.contextmanager
def claims(lake: Lake) -> Iterator[dict[str, LakeWriter]]:
    """Every personal resource's writer claim, held for the whole erasure: no sync writes
    while the tables are rewritten, and every later one starts with the new erased set."""
    with contextlib.ExitStack() as stack:
        yield {s.name: stack.enter_context(lake.writer(s.name)) for s in personal_resources()}


def erase(
    guard: Guard,
    lake: Lake,
    writers: dict[str, LakeWriter] | None,
    *,
    dry_run: bool,
) -> list[TableEffect]:
    """Every table of every personal resource; with `writers` (not a dry run), erased and
    purged."""
    effects: list[TableEffect] = []
    for spec in personal_resources():
        writer = (writers or {}).get(spec.name)
        for table_name in tables_of(spec.name):
            effect = erase_table(guard, lake, spec, table_name, writer, dry_run=dry_run)
            if effect is not None:
                effects.append(effect)
            if not dry_run:
                purge(lake, spec.name, table_name, writer)
    return effects
