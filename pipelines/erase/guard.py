"""The write path's guard: a person once erased never comes back into the lake.

Every row the lake's writer commits (a sync's batch, a retry, a resumed checkpoint, the lookback
window, a webhook, a reconcile tombstone) passes here first: an erased customer's own rows are
dropped, and the records they own (transactions, tickets) are redacted as the erasure redacted
them, with the same pseudonym. With nothing erased the guard costs nothing.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.erase.keys import ErasedSet
from pipelines.erase.redact import payload_owner, redact_payload, redact_rows
from pipelines.registry import BY_NAME, RESOURCES, ResourceSpec

# The resource whose records are people (`owner == "id"`).
PEOPLE = next(s.name for s in RESOURCES if s.owner == "id")


class Guard:
    """Filters rows bound for the lake against the erased set."""

    def __init__(self, erased: ErasedSet, targets: dict[str, set[str]] | None = None) -> None:
        self.erased = erased
        # An erasure's own people and records in clear (memory only): its scans of whole
        # tables match by them instead of hashing every id.
        self.targets = targets

    @property
    def active(self) -> bool:
        return self.erased.active

    def rows(self, resource: str, table: str, data: pa.Table) -> pa.Table:
        """`data` bound for `resource`'s log `table` (changes, quarantine, deletions), with
        what the erased set forbids dropped or redacted."""
        spec = BY_NAME.get(resource)
        if not self.active or spec is None or spec.owner is None or not len(data):
            return data
        if table == "quarantine":
            return self._quarantine(spec, data)
        if spec.owner == "id":  # the people themselves: changes and tombstones
            if "id" not in data.column_names:
                return data
            return data.filter(pc.invert(self.erased.erased(resource, data["id"])))
        if table != "changes":
            return data
        return self._owned(spec, data)

    def _owned(self, spec: ResourceSpec, data: pa.Table) -> pa.Table:
        mask, owners = self.owned(spec, data)
        return redact_rows(spec, data, mask, owners)

    def owned(self, spec: ResourceSpec, data: pa.Table) -> tuple[pa.Array, pa.Array]:
        """Which rows of `spec`'s records belong to an erased person (by the owner column or
        `owned_via`), and the pseudonym of their owner (null where the row names none)."""
        owner = data[spec.owner or "id"]
        by_owner = self.match(PEOPLE, owner)
        mask = by_owner
        for column, resource in spec.owned_via:
            mask = pc.or_(mask, self.match(resource, data[column]))
        names = [
            self.erased.pseudonym(v) if v is not None and hit else None
            for v, hit in zip(owner.to_pylist(), by_owner.to_pylist(), strict=True)
        ]
        return mask, pa.array(names, pa.string())

    def match(self, resource: str, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """Which of `ids` are erased `resource` records: by the targets in clear when given."""
        if self.targets is None:
            return self.erased.erased(resource, ids)
        wanted = pa.array(sorted(self.targets.get(resource, set())), pa.string())
        return pc.is_in(ids, value_set=wanted, skip_nulls=True)

    def _quarantine(self, spec: ResourceSpec, data: pa.Table) -> pa.Table:
        ids = data["record_id"].to_pylist()
        payloads = data["payload"].to_pylist()
        keep: list[bool] = []
        out: list[str | None] = []
        for record_id, payload in zip(ids, payloads, strict=True):
            owner, via = payload_owner(spec, payload)
            if spec.owner == "id":
                person = record_id or owner
                keep.append(not (person and self._is(PEOPLE, person)))
                out.append(payload)
                continue
            hit_owner = bool(owner) and self._is(PEOPLE, owner)
            hit = hit_owner or any(
                self._is(r, v) for (_, r), v in zip(spec.owned_via, via, strict=False)
            )
            keep.append(True)
            pseudonym = self.erased.pseudonym(owner) if hit_owner and owner else None
            out.append(redact_payload(spec, payload or "", pseudonym) if hit else payload)
        data = data.set_column(
            data.column_names.index("payload"),
            data.schema.field("payload"),
            pa.array(out, data.schema.field("payload").type),
        )
        return data.filter(pa.array(keep, pa.bool_()))

    def _is(self, resource: str, record_id: str) -> bool:
        return self.erased.hash(record_id) in self.erased.hashes.get(resource, set())
