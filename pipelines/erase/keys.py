"""The erased set: who was erased, kept as salted hashes, and the pseudonyms of their records.

    <lake>/_erasure/salt     one row: the lake's random salt (hex), made by the first erasure
    <lake>/_erasure/erased   one row per erased record: (resource, id_hash, erased_at, erasure)

Both are Delta tables beside the data they guard, so a sync on another machine (or a fresh
container reading the lake on S3) keeps the erased out as this one does. Only hashes are kept:
the set proves who was erased to someone who already knows the id, and tells nobody else.
The salt is no credential (it unlocks nothing) but it must stay with the lake: without it the
hashes match nobody and the erased would come back at the next sync.

No Dagster and no `pipelines.sync.lake` import: the lake's writer imports this module.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import TableNotFoundError

from pipelines.sync.schemas import TIMESTAMP

FOLDER = "_erasure"
PSEUDONYM_PREFIX = "erased-"

SALT = pa.schema([pa.field("salt", pa.string(), nullable=False)])
ERASED = pa.schema(
    [
        # `customers` for a person, `transactions` for one of their orders (whose tickets
        # may name no customer).
        pa.field("resource", pa.string(), nullable=False),
        pa.field("id_hash", pa.string(), nullable=False),
        pa.field("erased_at", TIMESTAMP, nullable=False),
        pa.field("erasure_id", pa.string(), nullable=False),
    ]
)


def uri(root: str, table: str) -> str:
    return f"{root}/{FOLDER}/{table}"


def _read(root: str, table: str, options: dict[str, str] | None) -> pa.Table | None:
    try:
        return DeltaTable(uri(root, table), storage_options=options).to_pyarrow_table()
    except TableNotFoundError:
        return None


def id_hash(salt: bytes, record_id: str) -> str:
    """The salted hash of an id (keyed BLAKE2b: a MAC, so no rainbow table reverses it)."""
    return hashlib.blake2b(record_id.encode(), key=salt, digest_size=16).hexdigest()


def pseudonym(salt: bytes, record_id: str) -> str:
    """What replaces an erased customer's id in the records that keep their money: stable, so
    marts group one erased customer's orders together, and irreversible without the salt."""
    return PSEUDONYM_PREFIX + id_hash(salt, record_id)[:24]


@dataclass
class ErasedSet:
    """The salt and the hashes of every erased record, per resource."""

    salt: bytes | None
    hashes: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: str, options: dict[str, str] | None = None) -> ErasedSet:
        """The lake's erased set; empty (and no salt) before the first erasure."""
        salts = _read(root, "salt", options)
        if salts is None or not len(salts):
            return cls(salt=None)
        # Several rows only if two first erasures raced; every erasure holds the customers'
        # writer claim, so the smallest one is the one every writer uses.
        salt = bytes.fromhex(min(str(v) for v in salts.column("salt").to_pylist()))
        erased = _read(root, "erased", options)
        hashes: dict[str, set[str]] = {}
        if erased is not None:
            pairs = zip(erased["resource"].to_pylist(), erased["id_hash"].to_pylist(), strict=True)
            for resource, h in pairs:
                hashes.setdefault(str(resource), set()).add(str(h))
        return cls(salt=salt, hashes=hashes)

    @classmethod
    def ensure(cls, root: str, options: dict[str, str] | None = None) -> ErasedSet:
        """The erased set, with a salt made now if the lake has none yet."""
        found = cls.load(root, options)
        if found.salt is not None:
            return found
        salt = secrets.token_hex(32)
        write_deltalake(
            uri(root, "salt"),
            pa.table({"salt": [salt]}, schema=SALT),
            mode="append",
            storage_options=options,
        )
        return cls.load(root, options)

    def plus(self, entries: list[tuple[str, str]]) -> ErasedSet:
        """A copy that also holds `entries` (resource, id), in memory only: what a dry run or
        an erasure in progress judges by. Without a salt yet, a throwaway one."""
        salt = self.salt if self.salt is not None else secrets.token_bytes(32)
        hashes = {r: set(h) for r, h in self.hashes.items()}
        for resource, record_id in entries:
            hashes.setdefault(resource, set()).add(id_hash(salt, record_id))
        return ErasedSet(salt=salt, hashes=hashes)

    @property
    def active(self) -> bool:
        return self.salt is not None and any(self.hashes.values())

    def hash(self, record_id: str) -> str:
        assert self.salt is not None
        return id_hash(self.salt, record_id)

    def pseudonym(self, record_id: str) -> str:
        assert self.salt is not None
        return pseudonym(self.salt, record_id)

    def erased(self, resource: str, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """A boolean mask: which of `ids` (nulls: never) were erased as `resource` records."""
        wanted = self.hashes.get(resource)
        values = ids.to_pylist()
        if not wanted or self.salt is None:
            return pa.array([False] * len(values), pa.bool_())
        unique = {v for v in values if v is not None}
        hit = {v for v in unique if self.hash(v) in wanted}
        return pc.is_in(ids, value_set=pa.array(sorted(hit), pa.string())).fill_null(False)

    def record(
        self,
        root: str,
        entries: list[tuple[str, str]],
        erasure_id: str,
        options: dict[str, str] | None = None,
    ) -> None:
        """Add (resource, record id) entries, as hashes, in one commit."""
        now = datetime.now(UTC)
        known = {(r, h) for r, hs in self.hashes.items() for h in hs}
        rows = sorted({(r, self.hash(i)) for r, i in entries} - known)
        if not rows:
            return
        write_deltalake(
            uri(root, "erased"),
            pa.table(
                {
                    "resource": [r for r, _ in rows],
                    "id_hash": [h for _, h in rows],
                    "erased_at": [now] * len(rows),
                    "erasure_id": [erasure_id] * len(rows),
                },
                schema=ERASED,
            ),
            mode="append",
            storage_options=options,
        )
        for r, h in rows:
            self.hashes.setdefault(r, set()).add(h)
