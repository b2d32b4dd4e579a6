"""API records -> Arrow tables with the schemas their declaration (`pipelines.registry`) gives.

Secrets are removed first (`scrub`), before anything is kept, quarantined or logged. A record
whose shape is wrong (no `_id`, wrong types, unparseable dates) is not dropped: it goes to the
quarantine table with the reason and its (scrubbed) payload. A batch is first tried on the
columnar fast path (`pipelines.sync.columnar`); this row-by-row path judges a batch it refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

from pipelines.registry import Kind, ResourceSpec
from pipelines.sync import columnar, schemas
from pipelines.sync.redact import secret_keys, to_json

# What stands in for a secret-holding object that is not an object: its contents cannot be told
# apart.
UNREADABLE_OBJECT = "[dropped: not an object]"


class RecordError(ValueError):
    """A record whose shape breaks the schema; the message is the quarantine reason."""


def _drop_secret_keys(doc: dict[str, Any]) -> None:
    for key in secret_keys(doc):
        del doc[key]


def scrub(spec: ResourceSpec, doc: Any) -> Any:
    """The record without its secret fields (`Secret`, `_account.verificationToken`, ... by
    `is_secret_key`, at the top level and in the objects `spec.secrets` names), and without such
    an object that is not an object (a JSON string, say); in place: the records are the client's
    freshly parsed objects, and copying them cost a tenth of a sync. Nested secrets elsewhere
    are dropped when the blobs are written (`to_json`)."""
    if not isinstance(doc, dict):
        return doc
    _drop_secret_keys(doc)
    for name in spec.secret_objects:
        value = doc.get(name)
        if isinstance(value, dict):
            _drop_secret_keys(value)
        elif value is not None:
            doc[name] = UNREADABLE_OBJECT
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


def updated_at_ms(doc: Any, field: str = "updatedAt") -> int | None:
    """The record's `field` (its last change) in epoch milliseconds, or None when missing or
    unparseable."""
    return timestamp_ms(doc.get(field), field) if isinstance(doc, dict) else None


def timestamp_ms(value: Any, field: str) -> int | None:
    """A timestamp `value` of `field` in epoch milliseconds, or None when missing or
    unparseable."""
    try:
        return int(parse_timestamp(value, field).timestamp() * 1000)
    except RecordError:
        return None


@dataclass(frozen=True)
class Lineage:
    """Who wrote a row: the sync run and when."""

    run_id: str
    synced_at: datetime


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


def _record_id(doc: Any, field: str) -> str:
    if not isinstance(doc, dict):
        raise RecordError(f"record is {type(doc).__name__}, expected an object")
    record_id = doc.get(field)
    if not isinstance(record_id, str) or not record_id:
        raise RecordError(
            f"{field} is missing" if record_id is None else f"{field} is not a non-empty string"
        )
    return record_id


def _extra(doc: dict[str, Any], modeled: frozenset[str], unmodeled: set[str] | None) -> str | None:
    extra = {k: v for k, v in doc.items() if k not in modeled}
    if extra and unmodeled is not None:
        unmodeled.update(extra)
    return _json(extra) if extra else None


def _whole(doc: dict[str, Any], key: str, label: str) -> int | None:
    number = doc.get(key)
    if number is None:
        return None
    if isinstance(number, bool) or not isinstance(number, int | float) or number != int(number):
        raise RecordError(f"{label} {number!r} is not a whole number")
    return int(number)


def _number(doc: dict[str, Any], key: str, label: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordError(f"{label} is {type(value).__name__}, expected a number")
    return float(value)


def _count(doc: dict[str, Any], key: str, label: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise RecordError(f"{label} is not a list")
    return len(value)


def _timestamp(doc: dict[str, Any], key: str, label: str) -> datetime | None:
    value = doc.get(key)
    return None if value is None else parse_timestamp(value, label)


# How each kind of field is read from a record, row by row (`pipelines.sync.columnar` has the
# batch twin of each): (the object holding it, its key there, its name for messages) -> value.
_READ: dict[Kind, Callable[[dict[str, Any], str, str], Any]] = {
    Kind.TEXT: _str,
    Kind.WHOLE: _whole,
    Kind.NUMBER: _number,
    Kind.MONEY: lambda doc, key, label: _money(doc, key),
    Kind.BOOL: lambda doc, key, label: _bool(doc, key),
    Kind.TEXT_LIST: lambda doc, key, label: _str_list(doc, key),
    Kind.JSON: lambda doc, key, label: _json(doc.get(key)),
    Kind.TIMESTAMP: _timestamp,
    Kind.COUNT: _count,
    Kind.PRESENT: lambda doc, key, label: doc.get(key) is not None,
}


def _row(spec: ResourceSpec, doc: Any, unmodeled: set[str] | None = None) -> dict[str, Any]:
    """One record as the resource's row; RecordError (the quarantine reason) if malformed."""
    record_id = _record_id(doc, spec.id_field)
    objects = {}
    for name in spec.objects:
        # A falsy value (`[]`, "") stands for an empty object; secret-holding objects that are
        # not objects were replaced by a marker at `scrub`, so they fail here.
        value = doc.get(name) or {}
        if not isinstance(value, dict):
            raise RecordError(f"{name} is not an object")
        objects[name] = value
    row: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind is Kind.ID:
            row[f.column] = record_id
        elif f.kind is Kind.UNMODELED:
            row[f.column] = _extra(doc, spec.modeled, unmodeled)
        elif f.kind is Kind.TIMESTAMP and f.required:
            row[f.column] = parse_timestamp(doc.get(f.api), f.api)
        elif f.key is None:
            row[f.column] = _READ[f.kind](doc, f.api, f.api)
        else:
            row[f.column] = _READ[f.kind](objects[f.top], f.key, f.api)
        if f.required and row[f.column] is None:
            raise RecordError(f"{f.api} is missing")
    return row


def _split(
    spec: ResourceSpec, docs: Iterable[Any], lineage: Lineage, unmodeled: set[str] | None
) -> tuple[list[dict[str, Any]], pa.Table]:
    rows: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for doc in docs:
        try:
            rows.append(_row(spec, doc, unmodeled))
        except RecordError as exc:
            record_id = doc.get(spec.id_field) if isinstance(doc, dict) else None
            ts = updated_at_ms(doc, spec.updated_field) if isinstance(doc, dict) else None
            bad.append(
                {
                    "resource": spec.name,
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


def normalize(
    spec: ResourceSpec,
    docs: Iterable[Any],
    lineage: Lineage,
    *,
    unmodeled: set[str] | None = None,
) -> dict[str, pa.Table]:
    """Records (already scrubbed) as the tables a run writes: the resource's own, its link
    tables and `quarantine`. The names of the top-level fields the declaration does not model
    (kept in `api_extra`) are added to `unmodeled`."""
    docs = list(docs)
    try:
        tables = columnar.build(spec, docs, lineage.run_id, lineage.synced_at, unmodeled=unmodeled)
        return {**tables, "quarantine": schemas.QUARANTINE.empty_table()}
    except columnar.NotColumnar:
        pass  # a malformed record: the row path below quarantines exactly it
    rows, quarantine = _split(spec, docs, lineage, unmodeled)
    tables = {spec.name: _table(rows, spec.schema, lineage)}
    for link in spec.links:
        pairs = [
            {link.key: r["id"], link.value: value, "updated_at": r["updated_at"]}
            for r in rows
            for value in dict.fromkeys(r[link.source])
        ]
        tables[link.table] = _table(pairs, link.schema, lineage)
    return {**tables, "quarantine": quarantine}
