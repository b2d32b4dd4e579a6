"""How a record of an erased person is redacted: the same rules for the erasure and the write
path (`guard`), from each resource's declaration (`owner`, `owned_via`, `personal`)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.registry import UNMODELED, ResourceSpec


def redact_rows(spec: ResourceSpec, rows: pa.Table, mask: pa.Array, owners: pa.Array) -> pa.Table:
    """`rows` with those in `mask` redacted: the owner column replaced by `owners` where it is
    not null (the pseudonym), every personal column and `api_extra` emptied. Money, dates,
    statuses and ids of the record itself stay, so revenue is unchanged."""
    if not pc.any(mask).as_py():
        return rows
    for column in (*spec.personal, UNMODELED.column):
        if column in rows.column_names:
            i = rows.column_names.index(column)
            empty = pa.nulls(len(rows), rows.schema.field(i).type)
            rows = rows.set_column(i, rows.schema.field(i), pc.if_else(mask, empty, rows[column]))
    if spec.owner and spec.owner in rows.column_names:
        i = rows.column_names.index(spec.owner)
        new = pc.coalesce(owners, rows[spec.owner])
        rows = rows.set_column(i, rows.schema.field(i), pc.if_else(mask, new, rows[spec.owner]))
    return rows


def kept_api_fields(spec: ResourceSpec) -> set[str]:
    """The API fields of a record that survive redaction: modeled, and not personal."""
    personal = set(spec.personal)
    return {f.top for f in spec.fields if f.column and f.column not in personal}


def redact_payload(spec: ResourceSpec, payload: str, pseudonym: str | None) -> str:
    """A quarantined record's JSON payload reduced to its non-personal modeled fields, its
    owner replaced by `pseudonym` (the payload may be malformed: it was quarantined)."""
    try:
        doc: Any = json.loads(payload)
    except ValueError:
        return json.dumps({"erased": True})
    if not isinstance(doc, dict):
        return json.dumps({"erased": True})
    keep = kept_api_fields(spec)
    out = {k: v for k, v in doc.items() if k in keep}
    owner = next((f.api for f in spec.fields if f.column == spec.owner), None)
    if owner and pseudonym and owner in out:
        out[owner] = pseudonym
    return json.dumps(out, default=str)


def payload_owner(spec: ResourceSpec, payload: str | None) -> tuple[str | None, list[str]]:
    """The owner id a quarantined payload names and the ids it names through `owned_via`."""
    try:
        doc = json.loads(payload) if payload else None
    except ValueError:
        return None, []
    if not isinstance(doc, dict):
        return None, []
    api = {f.column: f.api for f in spec.fields}
    owner = doc.get(api.get(spec.owner or "", ""))
    via = [doc.get(api[c]) for c, _ in spec.owned_via if c in api]
    return (owner if isinstance(owner, str) else None), [v for v in via if isinstance(v, str)]
