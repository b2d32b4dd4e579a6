"""Applying the webhook inbox: its envelopes become ordinary lake runs, which the compaction, the
quality gate and the warehouse load then treat like a sync's.

Every record an envelope carries (`data.customer`, `data.transaction`, `data.tickets[]`, ...)
is normalized as the sync normalizes a page, and each resource's records are committed to its
`changes` table as one run of kind `webhooks`, pending compaction. Wherever two versions of a
record meet, the newer `updatedAt` wins (`merge_current.sql`, the warehouse's upsert), so an
envelope older than what the lake holds, a duplicate, or one delivered out of order changes
nothing. The envelope files move to `done/` after the commit: a crash in between applies them
again, and the same versions collapse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pipelines.registry import RESOURCES
from pipelines.sync.engine import new_run_id
from pipelines.sync.lake import Lake
from pipelines.sync.normalize import Lineage, normalize, scrub
from pipelines.webhooks.inbox import BY_PLURAL, BY_SINGULAR, DONE, INBOX, Inbox

# Envelopes per application: a backlog is applied in runs of this many, each one commit.
BATCH = 5_000


@dataclass(frozen=True)
class Applied:
    """What one resource's run of webhook records wrote."""

    resource: str
    run_id: str
    records: int
    quarantined: int


def waiting(inbox: Inbox) -> list[Path]:
    """The envelope files in the inbox, oldest name first per resource (temp files left out)."""
    return [
        path
        for spec in RESOURCES
        for path in sorted((inbox.root / INBOX / spec.name).glob("[!.]*.json"))
    ]


def records(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The records one stored envelope carries, by resource name."""
    data = orjson.loads(path.read_bytes())["envelope"]["data"]
    found: dict[str, list[dict[str, Any]]] = {}
    for key, value in data.items():
        if key in BY_SINGULAR and isinstance(value, dict):
            found.setdefault(BY_SINGULAR[key].name, []).append(value)
        elif key in BY_PLURAL and isinstance(value, list):
            found.setdefault(key, []).extend(v for v in value if isinstance(v, dict))
    return found


def apply_inbox(
    lake: Lake,
    inbox: Inbox,
    *,
    batch: int = BATCH,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[Applied]:
    """Commit up to `batch` waiting envelopes to the lake, one run per resource they touch,
    then move them to `done/`; what each run wrote."""
    files = waiting(inbox)[:batch]
    docs: dict[str, list[dict[str, Any]]] = {}
    for path in files:
        for name, found in records(path).items():
            docs.setdefault(name, []).extend(found)
    applied = [_commit(lake, name, found, now) for name, found in docs.items()]
    for path in files:
        done = inbox.root / DONE / path.relative_to(inbox.root / INBOX)
        done.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, done)
    return applied


def _commit(
    lake: Lake, name: str, docs: list[dict[str, Any]], now: Callable[[], datetime]
) -> Applied:
    spec = BY_PLURAL[name]
    run_id = new_run_id(now())
    tables = normalize(spec, [scrub(spec, d) for d in docs], Lineage(run_id, now()))
    rows, quarantine = tables[name], tables["quarantine"]
    with lake.writer(name) as writer:
        writer.append("quarantine", quarantine)
        state = writer.state
        state.pending_compaction.append(run_id)
        state.runs.append(
            {
                "kind": "webhooks",
                "run_id": run_id,
                "finished_at": now().isoformat(),
                "rows_written": len(rows),
                "quarantined": len(quarantine),
            }
        )
        writer.commit(state, rows, release=True)
    return Applied(name, run_id, len(rows), len(quarantine))
