"""API records -> Arrow tables with the explicit schemas of `pipelines.sync.schemas`.

Secrets are removed first (`scrub`), before anything is kept, quarantined or logged. A record
whose shape is wrong (no `_id`, wrong types, unparseable dates) is not dropped: it goes to the
quarantine table with the reason and its (scrubbed) payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from pipelines.sync import columnar, schemas
from pipelines.sync.redact import secret_keys, to_json
from pipelines.sync.schemas import LOCATION_KEYS

# What stands in for an `_account` that is not an object: its contents cannot be told apart.
UNREADABLE_ACCOUNT = "[dropped: not an object]"

_CUSTOMER_MODELED = frozenset(
    {
        "_id", "sellerId", "number", "primaryEmail", "company", "name", "prename", "lastname",
        "phone", "notes", "location", "tags", "blocked", "verified", "extraFields", "meta",
        "_account", "transactions", "createdAt", "updatedAt",
    }
)  # fmt: skip
_TRANSACTION_MODELED = frozenset(
    {
        "_id", "customerId", "eventId", "sellerId", "status", "paymentStatus", "paymentMethod",
        "origin", "realPrice", "regularPrice", "currency", "taxRate", "tickets", "email", "name",
        "prename", "lastname", "company", "city", "country", "cancellationReason", "createdAt",
        "updatedAt",
    }
)  # fmt: skip


class RecordError(ValueError):
    """A record whose shape breaks the schema; the message is the quarantine reason."""


def _drop_secret_keys(doc: dict[str, Any]) -> None:
    for key in secret_keys(doc):
        del doc[key]


def scrub_customer(doc: Any) -> Any:
    """The customer without its secret fields (`Secret`, `_account.verificationToken`, ... by
    `is_secret_key`), and without an `_account` that is not an object (a JSON string, say); in
    place: the records are the client's freshly parsed objects, and copying them cost a tenth of
    a sync. Nested secrets elsewhere are dropped when the blobs are written (`to_json`)."""
    if not isinstance(doc, dict):
        return doc
    _drop_secret_keys(doc)
    account = doc.get("_account")
    if isinstance(account, dict):
        _drop_secret_keys(account)
    elif account is not None:
        doc["_account"] = UNREADABLE_ACCOUNT
    return doc


def scrub_transaction(doc: Any) -> Any:
    """The transaction without its secret fields (`secret`, `Secret`, `Barcode`, ... by
    `is_secret_key`; in place, as `scrub_customer`)."""
    if isinstance(doc, dict):
        _drop_secret_keys(doc)
    return doc


def parse_timestamp(value: Any, field: str) -> datetime:
    """An ISO-8601 timestamp with a zone, as an aware UTC datetime."""
    if not isinstance(value, str):
        raise RecordError(f"{field} is {type(value).__name__}, expected an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{field} {value[:40]!r} is not an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise RecordError(f"{field} {value[:40]!r} has no time zone")
    return parsed.astimezone(UTC)


def updated_at_ms(doc: Any) -> int | None:
    """The record's updatedAt in epoch milliseconds, or None when missing or unparseable."""
    try:
        return int(parse_timestamp(doc.get("updatedAt"), "updatedAt").timestamp() * 1000)
    except (RecordError, AttributeError):
        return None


@dataclass(frozen=True)
class Lineage:
    """Who wrote a row: the sync run and when."""

    run_id: str
    synced_at: datetime


@dataclass
class CustomerBatch:
    customers: pa.Table
    tags: pa.Table
    links: pa.Table
    quarantine: pa.Table


@dataclass
class TransactionBatch:
    transactions: pa.Table
    quarantine: pa.Table


def _str(doc: dict[str, Any], key: str, label: str | None = None) -> str | None:
    value = doc.get(key)
    if value is None or isinstance(value, str):
        return value
    raise RecordError(f"{label or key} is {type(value).__name__}, expected a string")


def _bool(doc: dict[str, Any], key: str) -> bool | None:
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise RecordError(f"{key} is {type(value).__name__}, expected a boolean")


def _str_list(doc: dict[str, Any], key: str) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise RecordError(f"{key} must be a list of strings")


def _json(value: Any) -> str | None:
    return None if value is None else to_json(value)


def _money(doc: dict[str, Any], key: str) -> Decimal | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{key} is {type(value).__name__}, expected a number")
    try:
        return columnar.to_money(value)
    except ValueError as exc:
        raise RecordError(f"{key} {exc}") from None


def _record_id(doc: Any) -> str:
    if not isinstance(doc, dict):
        raise RecordError(f"record is {type(doc).__name__}, expected an object")
    record_id = doc.get("_id")
    if not isinstance(record_id, str) or not record_id:
        raise RecordError(
            "_id is missing" if record_id is None else "_id is not a non-empty string"
        )
    return record_id


def _extra(doc: dict[str, Any], modeled: frozenset[str]) -> str | None:
    extra = {k: v for k, v in doc.items() if k not in modeled}
    return _json(extra) if extra else None


def _customer_row(doc: Any) -> dict[str, Any]:
    record_id = _record_id(doc)
    location = doc.get("location") or {}
    if not isinstance(location, dict):
        raise RecordError("location is not an object")
    account = doc.get("_account")
    if account is not None and not isinstance(account, dict):
        raise RecordError("_account is not an object")
    number = doc.get("number")
    if number is not None:
        if isinstance(number, bool) or not isinstance(number, int | float) or number != int(number):
            raise RecordError(f"number {number!r} is not a whole number")
        number = int(number)
    created_at = doc.get("createdAt")
    return {
        "id": record_id,
        "seller_id": _str(doc, "sellerId"),
        "number": number,
        "primary_email": _str(doc, "primaryEmail"),
        "company": _str(doc, "company"),
        "name": _str(doc, "name"),
        "prename": _str(doc, "prename"),
        "lastname": _str(doc, "lastname"),
        "phone": _str(doc, "phone"),
        "notes": _str(doc, "notes"),
        **{f"location_{k}": _str(location, k, f"location.{k}") for k in LOCATION_KEYS},
        "tags": _str_list(doc, "tags"),
        "blocked": _bool(doc, "blocked"),
        "verified": _bool(doc, "verified"),
        "extra_fields": _json(doc.get("extraFields")),
        "meta": _json(doc.get("meta")),
        "has_account": account is not None,
        "account_login_type": _str(account, "loginType", "_account.loginType") if account else None,
        "transaction_ids": _str_list(doc, "transactions"),
        "api_extra": _extra(doc, _CUSTOMER_MODELED),
        "created_at": None if created_at is None else parse_timestamp(created_at, "createdAt"),
        "updated_at": parse_timestamp(doc.get("updatedAt"), "updatedAt"),
    }


def _transaction_row(doc: Any) -> dict[str, Any]:
    record_id = _record_id(doc)
    tickets = doc.get("tickets")
    if tickets is not None and not isinstance(tickets, list):
        raise RecordError("tickets is not a list")
    tax_rate = doc.get("taxRate")
    if tax_rate is not None and (
        isinstance(tax_rate, bool) or not isinstance(tax_rate, int | float)
    ):
        raise RecordError(f"taxRate is {type(tax_rate).__name__}, expected a number")
    created_at = doc.get("createdAt")
    return {
        "id": record_id,
        "customer_id": _str(doc, "customerId"),
        "event_id": _str(doc, "eventId"),
        "seller_id": _str(doc, "sellerId"),
        "status": _str(doc, "status"),
        "payment_status": _str(doc, "paymentStatus"),
        "payment_method": _str(doc, "paymentMethod"),
        "origin": _str(doc, "origin"),
        "real_price": _money(doc, "realPrice"),
        "regular_price": _money(doc, "regularPrice"),
        "currency": _str(doc, "currency"),
        "tax_rate": None if tax_rate is None else float(tax_rate),
        "ticket_count": None if tickets is None else len(tickets),
        "email": _str(doc, "email"),
        "name": _str(doc, "name"),
        "prename": _str(doc, "prename"),
        "lastname": _str(doc, "lastname"),
        "company": _str(doc, "company"),
        "city": _str(doc, "city"),
        "country": _str(doc, "country"),
        "cancellation_reason": _str(doc, "cancellationReason"),
        "api_extra": _extra(doc, _TRANSACTION_MODELED),
        "created_at": None if created_at is None else parse_timestamp(created_at, "createdAt"),
        "updated_at": parse_timestamp(doc.get("updatedAt"), "updatedAt"),
    }


def _split(
    resource: str,
    docs: Iterable[Any],
    to_row: Callable[[Any], dict[str, Any]],
    lineage: Lineage,
) -> tuple[list[dict[str, Any]], pa.Table]:
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for doc in docs:
        try:
            rows.append(to_row(doc))
        except RecordError as exc:
            record_id = doc.get("_id") if isinstance(doc, dict) else None
            ts = updated_at_ms(doc) if isinstance(doc, dict) else None
            bad.append(
                {
                    "resource": resource,
                    "record_id": record_id if isinstance(record_id, str) else None,
                    "reason": str(exc),
                    "payload": to_json(doc),
                    "updated_at": None if ts is None else datetime.fromtimestamp(ts / 1000, UTC),
                }
            )
    return rows, _table(bad, schemas.QUARANTINE, lineage)


def _table(rows: list[dict[str, Any]], schema: pa.Schema, lineage: Lineage) -> pa.Table:
    columns = {
        name: [row[name] for row in rows] for name in schema.names if not name.startswith("_")
    }
    columns["_run_id"] = [lineage.run_id] * len(rows)
    columns["_synced_at"] = [lineage.synced_at] * len(rows)
    return pa.Table.from_pydict(columns, schema=schema)


def normalize_customers(docs: Iterable[Any], lineage: Lineage) -> CustomerBatch:
    """Customers (already scrubbed) as the customers, tags, links and quarantine tables."""
    docs = list(docs)
    try:
        tables = columnar.customers(docs, _CUSTOMER_MODELED, lineage.run_id, lineage.synced_at)
        return CustomerBatch(*tables, quarantine=schemas.QUARANTINE.empty_table())
    except columnar.NotColumnar:
        pass  # a malformed record: the row path below quarantines exactly it
    rows, quarantine = _split("customers", docs, _customer_row, lineage)
    tags = [
        {"customer_id": r["id"], "tag": tag, "updated_at": r["updated_at"]}
        for r in rows
        for tag in dict.fromkeys(r["tags"])
    ]
    links = [
        {"customer_id": r["id"], "transaction_id": tid, "updated_at": r["updated_at"]}
        for r in rows
        for tid in dict.fromkeys(r["transaction_ids"])
    ]
    return CustomerBatch(
        customers=_table(rows, schemas.CUSTOMERS, lineage),
        tags=_table(tags, schemas.CUSTOMER_TAGS, lineage),
        links=_table(links, schemas.CUSTOMER_TRANSACTIONS, lineage),
        quarantine=quarantine,
    )


def normalize_transactions(docs: Iterable[Any], lineage: Lineage) -> TransactionBatch:
    """Transactions (already scrubbed) as the transactions and quarantine tables."""
    docs = list(docs)
    try:
        table = columnar.transactions(docs, _TRANSACTION_MODELED, lineage.run_id, lineage.synced_at)
        return TransactionBatch(table, quarantine=schemas.QUARANTINE.empty_table())
    except columnar.NotColumnar:
        pass
    rows, quarantine = _split("transactions", docs, _transaction_row, lineage)
    return TransactionBatch(
        transactions=_table(rows, schemas.TRANSACTIONS, lineage), quarantine=quarantine
    )
