"""`customer-sync lake migrate`: a lake written by customer-sync 0.1 (Parquet files beside a
`_state.json` per resource) becomes Delta tables, once, in place.

Per resource: the old files move aside into `<resource>/.legacy/` (one local rename each, so a
killed migration finds them there and starts that resource over); the snapshot files become the
snapshot tables; every committed run's files are appended to the logs in run order (their run
ids kept, so the warehouse's loaded runs still match); the last commit carries the state
(high-water mark, runs not yet compacted, history). A run in progress is dropped: its mark never
moved, so the next sync reads its windows again. Then `.legacy/` is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.sync.lake import LOGS, TABLES, Lake
from pipelines.sync.state import ResourceState

OLD_STATE = "_state.json"
LEGACY = ".legacy"
OLD_ITEMS = ("changes", "snapshot", OLD_STATE)
RELEASE = "customer-sync 0.1 Parquet lake"


@dataclass(frozen=True)
class Migrated:
    """What migrating one resource wrote."""

    resource: str
    runs: int
    rows: int
    dropped_run: str | None
    snapshot_rows: int


def old_format(lake: Lake, resource: str) -> bool:
    """Whether `resource` still holds (or is halfway out of) the 0.1 Parquet layout."""
    if lake.remote:
        return False
    folder = Path(lake.root) / resource
    return (folder / OLD_STATE).exists() or (folder / LEGACY).exists()


def migrate(lake: Lake, resource: str, *, dry_run: bool = False) -> Migrated | None:
    """Migrate one resource; None when it is not in the old format (already migrated)."""
    if not old_format(lake, resource):
        return None
    folder = Path(lake.root) / resource
    legacy = folder / LEGACY
    state = _old_state(legacy / OLD_STATE if legacy.exists() else folder / OLD_STATE)
    running = (state.get("in_progress") or {}).get("run_id")
    runs = _committed_runs(legacy if legacy.exists() else folder, running)
    if dry_run:
        base = legacy if legacy.exists() else folder
        rows = sum(
            pq.read_metadata(f).num_rows for _, files in runs for f in _files(files, resource)
        )
        snap = base / "snapshot" / f"{resource}.parquet"
        snapshot_rows = pq.read_metadata(snap).num_rows if snap.exists() else 0
        return Migrated(resource, len(runs), rows, running, snapshot_rows)
    if not legacy.exists():
        _set_aside(folder, legacy)
    else:
        _remove_partial(folder)  # a migration killed halfway: start this resource over
    runs = _committed_runs(legacy, running)
    snapshot_rows = _snapshot(lake, resource, legacy / "snapshot")
    rows = _logs(lake, resource, runs)
    _commit_state(lake, resource, state)
    _move_quality(lake, resource, legacy / "quality")
    shutil.rmtree(legacy)
    return Migrated(resource, len(runs), rows, running, snapshot_rows)


def finish(lake: Lake) -> None:
    """Remove what the old layout kept beside the resources (its lock file)."""
    if not lake.remote:
        (Path(lake.root) / ".lock").unlink(missing_ok=True)


def _old_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); it cannot be migrated") from None
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not an object; it cannot be migrated")
    return state


def _committed_runs(base: Path, running: str | None) -> list[tuple[str, Path]]:
    changes = base / "changes"
    if not changes.exists():
        return []
    runs = sorted(
        (d.name.removeprefix("run="), d) for d in changes.iterdir() if d.name.startswith("run=")
    )
    return [(r, d) for r, d in runs if r != running]


def _files(run_dir: Path, table: str) -> list[Path]:
    return sorted(run_dir.glob(f"{table}-*.parquet"))


def _set_aside(folder: Path, legacy: Path) -> None:
    legacy.mkdir()
    for item in OLD_ITEMS:
        if (folder / item).exists():
            os.replace(folder / item, legacy / item)
    if (folder / "quality").exists():
        os.replace(folder / "quality", legacy / "quality")


def _remove_partial(folder: Path) -> None:
    for name in ("changes", *LOGS, "snapshot"):
        shutil.rmtree(folder / name, ignore_errors=True)


def _read(path: Path, schema: pa.Schema) -> pa.Table:
    """An old file in today's declared schema: columns declared since then are null (the
    compaction fills the backfillable ones from `api_extra`)."""
    data = pq.read_table(path)
    for field in schema:
        if field.name not in data.column_names:
            data = data.append_column(field, pa.nulls(len(data), field.type))
    return data.select(schema.names).cast(schema)


def _snapshot(lake: Lake, resource: str, snapshot: Path) -> int:
    rows = 0
    for table, schema in TABLES[resource].items():
        path = snapshot / f"{table}.parquet"
        if path.exists():
            data = _read(path, schema)
            lake.write_snapshot(resource, table, data)
            rows += len(data) if table == resource else 0
    return rows


def _logs(lake: Lake, resource: str, runs: list[tuple[str, Path]]) -> int:
    """Append every run's rows, quarantine and tombstones to the logs, run by run."""
    rows = 0
    with lake.writer(resource, migrating=True) as writer:
        for _, run_dir in runs:
            for log in LOGS:
                for path in _files(run_dir, log):
                    writer.append(log, _read(path, TABLES[resource][log]))
            parts = [_read(p, TABLES[resource][resource]) for p in _files(run_dir, resource)]
            if parts:
                data = pa.concat_tables(parts)
                rows += len(data)
                writer.commit(writer.state, data)
    return rows


def _commit_state(lake: Lake, resource: str, old: dict[str, Any]) -> None:
    with lake.writer(resource, migrating=True) as writer:
        state = ResourceState(
            resource=resource,
            high_water_mark_ms=old.get("high_water_mark_ms"),
            pending_compaction=list(old.get("pending_compaction") or []),
            runs=[*(old.get("runs") or []), {"kind": "migrated", "from": RELEASE}],
            unmodeled_fields=list(old.get("unmodeled_fields") or []),
        )
        writer.commit(state, release=True)


def _move_quality(lake: Lake, resource: str, old: Path) -> None:
    """The quality gate's own files move to this data directory's quality folder."""
    if not old.exists():
        return
    target = lake.local(resource)
    target.mkdir(parents=True, exist_ok=True)
    for path in old.iterdir():
        os.replace(path, target / path.name)
