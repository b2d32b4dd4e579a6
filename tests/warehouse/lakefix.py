"""Hand-made lake change batches: tiny inputs whose metrics can be computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from pipelines.sync.lake import TABLES, Lake
from tests.lakeio import commit_run as _commit


def ts(value: str) -> datetime:
    """'2024-03-05' or '2024-03-05T10:00' as a UTC datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def customer(cid: str, updated: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "primary_email": f"{cid}@example.com",
        "name": f"Name {cid}",
        "prename": f"Pre {cid}",
        "lastname": f"Last {cid}",
        "tags": [],
        "blocked": False,
        "verified": True,
        "has_account": False,
        "transaction_ids": [],
        "created_at": ts("2023-01-01"),
        "updated_at": ts(updated),
        **fields,
    }


def txn(
    tid: str,
    customer_id: str | None,
    created: str,
    price: str,
    *,
    status: str = "COMPLETE",
    payment_status: str = "RECEIVED",
    currency: str = "EUR",
    event_id: str = "ev1",
    updated: str | None = None,
    tickets: int = 1,
) -> dict[str, Any]:
    return {
        "id": tid,
        "customer_id": customer_id,
        "event_id": event_id,
        "status": status,
        "payment_status": payment_status,
        "real_price": Decimal(price),
        "currency": currency,
        "ticket_count": tickets,
        "created_at": ts(created),
        "updated_at": ts(updated or created),
    }


def commit_run(data_dir: Path, resource: str, run_id: str, **tables: list[dict]) -> None:
    """Write a committed run's change batch (as if synced and compacted)."""
    lake = Lake(data_dir)
    synced_at = datetime.now(UTC)
    batches: dict[str, pa.Table] = {}
    for table, rows in tables.items():
        schema = TABLES[resource][table]
        full = [{"_run_id": run_id, "_synced_at": synced_at, **r} for r in rows]
        if table == "deletions":
            full = [{"resource": resource, "deleted_at": synced_at, **r} for r in full]
        batches[table] = pa.Table.from_pylist(full, schema=schema)
    _commit(lake, resource, run_id, batches)


def write_snapshot(data_dir: Path, resource: str, rows: list[dict]) -> None:
    """Write the resource's current snapshot (what the quality gate judges) as given."""
    lake = Lake(data_dir)
    schema = TABLES[resource][resource]
    synced_at = datetime.now(UTC)
    full = [{"_run_id": "snapshot", "_synced_at": synced_at, **r} for r in rows]
    lake.write_snapshot(resource, resource, pa.Table.from_pylist(full, schema=schema))


def event(
    eid: str, name: str, start: str, capacity: int | None, updated: str = "2024-01-01"
) -> dict[str, Any]:
    return {
        "id": eid,
        "name": name,
        "start_at": ts(start),
        "capacity": capacity,
        "created_at": ts("2023-12-01"),
        "updated_at": ts(updated),
    }


def ticket(
    kid: str,
    transaction_id: str,
    event_id: str,
    customer_id: str | None,
    created: str,
    *,
    status: str = "VALID",
) -> dict[str, Any]:
    return {
        "id": kid,
        "transaction_id": transaction_id,
        "event_id": event_id,
        "customer_id": customer_id,
        "status": status,
        "created_at": ts(created),
        "updated_at": ts(created),
    }
