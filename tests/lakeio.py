"""Hand-written lake states and runs for tests: through the lake's own writer, as a sync would."""

from __future__ import annotations

import pyarrow as pa

from pipelines.sync.lake import Lake
from pipelines.sync.state import ResourceState


def save_state(lake: Lake, state: ResourceState) -> None:
    """Commit `state` as the resource's sync state."""
    with lake.writer(state.resource) as writer:
        writer.commit(state)


def commit_run(
    lake: Lake, resource: str, run_id: str, tables: dict[str, pa.Table], *, pending: bool = False
) -> None:
    """Commit a finished run that wrote `tables` (the resource's rows, `quarantine`,
    `deletions`); compacted already unless `pending`."""
    with lake.writer(resource) as writer:
        state = writer.state
        state.runs.append({"kind": "sync", "run_id": run_id})
        if pending:
            state.pending_compaction.append(run_id)
        for log in ("quarantine", "deletions"):
            if log in tables:
                writer.append(log, tables[log])
        writer.commit(state, tables.get(resource))
