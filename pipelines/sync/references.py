"""Records that others refer to but that vivenu deleted before any sync saw them.

vivenu keeps a deleted customer's transactions. A customer deleted before the first sync (or
between listing pages of a full one) is never in the snapshot, so reconcile, which compares the
snapshot with vivenu's list, can never find it: its transactions would fail the reference check
forever. Each unknown referenced id is therefore asked for once; vivenu's own 404 records the
deletion (a tombstone, as reconcile writes), anything else leaves it for the quality gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.quality.incremental import RememberedReference
from pipelines.registry import ResourceSpec
from pipelines.sync.engine import confirm_gone, record_deletions
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import VivenuClient
from pipelines.vivenu.ids import is_vivenu_id

# A bound on the requests one run spends; the rest are asked for by the next runs.
MAX_CONFIRMATIONS = 500


@dataclass(frozen=True)
class ReferenceCheck:
    unknown: int
    asked: int
    confirmed_deleted: int


async def confirm_deleted_references(
    client: VivenuClient,
    lake: Lake,
    *,
    referencing: str,
    column: str,
    referenced: ResourceSpec,
    limit: int = MAX_CONFIRMATIONS,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    remembered: RememberedReference | None = None,
) -> ReferenceCheck:
    """Ask vivenu for each `referenced` id that `referencing.column` names but no synced record
    or tombstone knows; tombstone those it answers 404 for (merged at the next compaction).

    `remembered` (what the quality gate last found of this reference) narrows the values to
    look at to those of rows it did not judge and those it found unknown: known ids only gain
    members, so every other value is still known (fewer known ids than then: all are looked at).
    """
    name = referenced.name.lower()
    # Change batches not merged yet count too: this runs before the snapshots' compaction.
    try:
        if remembered is not None and _known_count(lake, name) < remembered.keys:
            remembered = None
        named = (
            _ids(lake, referencing, referencing, column)
            if remembered is None
            else _unjudged(lake, referencing, column, remembered)
        )
        known = pa.chunked_array(
            [
                *_values(lake, name, name, "id").chunks,
                *_values(lake, name, "deletions", "id").chunks,
            ],
            pa.string(),
        )
    except (pa.ArrowInvalid, OSError):
        # A damaged snapshot or batch: the compaction that follows names it and the fix.
        return ReferenceCheck(unknown=0, asked=0, confirmed_deleted=0)
    # Vectorized (Python sets of every id took seconds a run at a million records), and the known
    # ids probed into the named ones: those are distinct already, and few when remembered.
    found = known.filter(pc.is_in(known, value_set=named.combine_chunks()))
    candidates = named.filter(pc.invert(pc.is_in(named, value_set=found.combine_chunks())))
    # An id that cannot be a vivenu id never goes into a URL; the gate judges its row.
    unknown = sorted(i for i in candidates.to_pylist() if i and is_vivenu_id(i))
    asked = unknown[:limit]
    deleted = await confirm_gone(client, referenced, asked)
    record_deletions(lake, name, deleted, now(), now, kind="references")
    return ReferenceCheck(unknown=len(unknown), asked=len(asked), confirmed_deleted=len(deleted))


def _known_count(lake: Lake, resource: str) -> int:
    """The quality gate's count of known ids: the snapshot's records and tombstones."""
    return lake.snapshot_rows(resource, resource) + lake.snapshot_rows(resource, "deletions")


def _unjudged(
    lake: Lake, resource: str, column: str, remembered: RememberedReference
) -> pa.ChunkedArray:
    """The distinct values of `column` that the gate did not find known: those of snapshot rows
    of runs it did not judge, of change batches not merged yet, and those it found unknown."""
    pending = lake.load_state(resource).pending_compaction
    data = lake.dataset(resource, f"snapshot/{resource}")
    unjudged = (
        data.to_table(
            columns=[column],
            filter=~pc.field("_run_id").isin(pa.array(remembered.runs, pa.string())),
        ).column(0)
        if data is not None
        else pa.chunked_array([], pa.string())
    )
    values = pa.chunked_array(
        [
            *unjudged.chunks,
            *lake.run_rows(resource, "changes", pending, [column]).column(0).chunks,
            pa.array(remembered.unknown, pa.string()),
        ],
        pa.string(),
    )
    return pa.chunked_array([pc.unique(values.drop_null())], pa.string())


def _values(lake: Lake, resource: str, table: str, column: str) -> pa.ChunkedArray:
    """The values of `column` of `table` over the snapshot and the change batches not merged
    yet."""
    pending = lake.load_state(resource).pending_compaction
    log = "changes" if table == resource else table
    return pa.chunked_array(
        [
            *lake.read_snapshot(resource, table, [column]).column(0).chunks,
            *lake.run_rows(resource, log, pending, [column]).column(0).chunks,
        ],
        pa.string(),
    )


def _ids(lake: Lake, resource: str, table: str, column: str) -> pa.ChunkedArray:
    """The distinct values of `column` of `table` (`_values`, nulls dropped)."""
    values = _values(lake, resource, table, column)
    return pa.chunked_array([pc.unique(values.drop_null())], pa.string())
