"""Thread-safe in-memory state of the simulated vivenu seller: customers, transactions, events
and tickets.

Layout: one slot per record ever created. Per slot the store keeps numpy columns (updatedAt as
int64 epoch ms, an alive mask, a fixed order key, small coded columns for transaction filters)
and the record itself only as a pre-serialized orjson blob, re-serialized on every write. A page
is therefore a few vectorized comparisons plus `b",".join(blobs)`: a `top=1000` page over a
million customers costs milliseconds.

Choices where vivenu's document is silent (the real service must never be relied on for them):

- Default list order is neither `updatedAt` nor `_id`: records are ordered by a fixed 64-bit hash
  of their id (splitmix64). New records land anywhere in the order, and an update does not move a
  record, so offset paging during concurrent writes shifts pages the way the real service does.
- `name` and `company` match case-insensitively as substrings (`name` against the stored `name`,
  which is "prename lastname"); `email` matches case-insensitively and exactly; `tags` matches a
  customer that has any of the given tags (comma-separated and/or repeated parameter).
- `updatedAt[$op]` operators combine with AND; comparisons are exact at microsecond precision
  against the stored millisecond timestamps.
- Every write bumps the record's `updatedAt` from a clock that never goes backwards. Creating or
  deleting a transaction changes its customer's `transactions` id list (the field older vivenu
  responses carried), so it bumps the customer's `updatedAt` too. Updating a transaction does not.
- Deleting a customer keeps its transactions (they still point to it with `customerId`).
- Transaction `start`/`end` bound `createdAt`; `name` is a case-insensitive substring, `email`
  case-insensitive exact, `event`/`status`/`paymentStatus` comma-separated lists of exact values.
- Events list by `start` (`sortDir` 1 ascending, the default, or -1; ties in the fixed hash
  order): the document has `sortDir` without naming its key. Event `name` is a case-insensitive
  substring; `start`/`end`/`createdAt`/`updatedAt` take the same `[$op]` operators.
- Tickets list in the fixed hash order (the document has no sort parameter for them). `name` is a
  case-insensitive substring of the holder's name, `barcode` and `customerId` exact,
  `status`/`event`/`deliveryType` comma-separated lists, `start`/`end` bound `createdAt`. Filters
  on fields the seeded tickets never carry (seats, batches, packages, checkouts) match nothing.
- A transaction's tickets follow it: created with it (one per unit of its line item), INVALID
  when it is canceled, gone when it is deleted. A ticket sale never bumps its event.
- A partial cancellation (`cancel_tickets`) invalidates some of a sale's tickets and bumps the
  sale, whose status stays COMPLETE (vivenu's transaction statuses have no partial one).

Every write is told to `listeners` (vivenu's webhook event types: `customer.created`,
`customer.updated`, `transaction.complete`, `transaction.canceled`,
`transaction.partiallyCanceled`, `ticket.created`, `ticket.updated`, `event.updated`), under the
lock and in the order the writes happen, with the records as the API would serve them. No event
for a deletion: vivenu has no `customer.deleted`.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson

from pipelines.vivenu.simulator import data

_MASK64 = (1 << 64) - 1
# Fields the API computes itself; request bodies never set them.
READ_ONLY = frozenset(
    {
        "_id",
        "sellerId",
        "createdAt",
        "updatedAt",
        "transactions",
        "segments",
        "_account",
        "consents",
        "upsert",
        "number",
    }
)


# What erase-data removes: a customer's personal fields, and the contact fields its
# transactions and tickets copied from it at checkout.
_CUSTOMER_PERSONAL = frozenset(
    {"name", "prename", "lastname", "phone", "company", "notes", "location", "birthdate", "gender"}
)
_CONTACT = frozenset(
    {"email", "name", "prename", "firstname", "lastname", "company", "street", "line2", "postal",
     "city", "state", "country", "phone"}
)  # fmt: skip


class NotFound(Exception):
    """No live record with this id."""


class Conflict(Exception):
    """The write collides with an existing record (e.g. email with upsert=false)."""


@dataclass
class CustomerQuery:
    """A validated customers list query."""

    name: str | None = None
    email: str | None = None
    company: str | None = None
    tags: list[str] | None = None
    updated: list[tuple[str, int]] = field(default_factory=list)  # (op, epoch microseconds)
    top: int = 25
    skip: int = 0


@dataclass
class TransactionQuery:
    """A validated transactions list query."""

    id: str | None = None
    name: str | None = None
    email: str | None = None
    coupon: str | None = None
    start_us: int | None = None
    end_us: int | None = None
    status: list[str] | None = None
    payment_status: list[str] | None = None
    pos_payment_methods: str | None = None
    event: list[str] | None = None
    customer: str | None = None
    subscription_id: str | None = None
    psp: str | None = None
    updated: list[tuple[str, int]] = field(default_factory=list)
    top: int = 25
    skip: int = 0


@dataclass
class ListQuery:
    """A validated events or tickets list query: plain filters, `[$op]` filters, paging."""

    params: dict[str, str] = field(default_factory=dict)
    ops: dict[str, list[tuple[str, Any]]] = field(default_factory=dict)  # date-times as epoch µs
    top: int = 25
    skip: int = 0


class NothingOnSale(NotFound):
    """No event is on sale with tickets left."""


def dump(doc: dict) -> bytes:
    """The record as compact JSON bytes, exactly sized."""
    # orjson returns a bytes object with a ~4 KiB allocation behind it; a copy trims it to size,
    # which is the difference between ~1 GiB and ~10 GiB for a million records.
    return memoryview(orjson.dumps(doc)).tobytes()


def order_keys(ids: list[str]) -> np.ndarray:
    """The fixed splitmix64 hash of each id that defines the default list order."""
    x = np.array([(int(i[8:], 16) ^ int(i[:8], 16)) & _MASK64 for i in ids], dtype=np.uint64)
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


ms_to_iso = data.ms_iso


def _time_mask(updated_ms: np.ndarray, ops: list[tuple[str, int]]) -> np.ndarray | None:
    """AND of `updatedAt[$op]` conditions; query instants are µs, stored values ms."""
    mask = None
    for op, us in ops:
        lo, hi = us // 1000, -(-us // 1000)  # floor and ceil in ms
        if op == "$gt":
            m = updated_ms > lo
        elif op == "$gte":
            m = updated_ms >= hi
        elif op == "$lt":
            m = updated_ms < hi
        elif op == "$lte":
            m = updated_ms <= lo
        elif op == "$eq":
            m = updated_ms == lo if us % 1000 == 0 else np.zeros(len(updated_ms), bool)
        else:  # $ne
            m = updated_ms != lo if us % 1000 == 0 else np.ones(len(updated_ms), bool)
        mask = m if mask is None else mask & m
    return mask


class _Table:
    """Slots of one record type: ids, blobs and the numpy columns every query uses."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.blobs: list[bytes | None] = []
        self.slot_of: dict[str, int] = {}
        self.n = 0
        self.updated = np.zeros(1024, np.int64)
        self.alive = np.zeros(1024, bool)
        self.order = np.zeros(1024, np.uint64)

    def _reserve(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self.updated):
            return
        cap = max(need, 2 * len(self.updated))
        for name in ("updated", "alive", "order"):
            old = getattr(self, name)
            new = np.zeros(cap, old.dtype)
            new[: self.n] = old[: self.n]
            setattr(self, name, new)

    def add(self, ids: list[str], blobs: list[bytes], updated_ms: Iterable[int]) -> int:
        """Append records; returns the first new slot."""
        first = self.n
        k = len(ids)
        self._reserve(k)
        self.ids.extend(ids)
        self.blobs.extend(blobs)
        self.slot_of.update(zip(ids, range(first, first + k), strict=True))
        if isinstance(updated_ms, np.ndarray):
            self.updated[first : first + k] = updated_ms
        else:
            self.updated[first : first + k] = np.fromiter(updated_ms, np.int64, count=k)
        self.alive[first : first + k] = True
        self.order[first : first + k] = order_keys(ids)
        self.n += k
        return first

    def slot(self, record_id: str) -> int:
        """The live slot of an id, or NotFound."""
        s = self.slot_of.get(record_id)
        if s is None or not self.alive[s]:
            raise NotFound(record_id)
        return s

    def doc(self, slot: int) -> dict:
        """A fresh dict of a slot's record."""
        blob = self.blobs[slot]
        assert blob is not None
        return orjson.loads(blob)

    def put(self, slot: int, doc: dict) -> bytes:
        """Store a record's new state."""
        blob = dump(doc)
        self.blobs[slot] = blob
        self.updated[slot] = iso_to_ms_fast(doc["updatedAt"])
        return blob

    def kill(self, slot: int) -> None:
        """Mark a slot deleted."""
        self.alive[slot] = False
        self.blobs[slot] = None

    def page(
        self,
        mask: np.ndarray | None,
        extra: list[int] | None,
        skip: int,
        top: int,
        *,
        key: bytes = b"docs",
        sort: np.ndarray | None = None,
    ) -> bytes:
        """`{<key>, total}` for the matching slots in default order, or by `sort` (ties: default)."""
        n = self.n
        m = self.alive[:n] if mask is None else self.alive[:n] & mask[:n]
        idx = np.flatnonzero(m)
        if extra is not None:
            idx = np.intersect1d(idx, np.asarray(extra, dtype=np.int64), assume_unique=False)
        total = len(idx)
        end = skip + top
        if skip >= total:
            chosen: list[int] = []
        elif sort is not None:
            chosen = idx[np.lexsort((self.order[idx], sort[idx]))[skip:end]].tolist()
        else:
            keys = self.order[idx]
            if end < total:
                part = np.argpartition(keys, end - 1)[:end]
                part = part[np.argsort(keys[part], kind="stable")]
            else:
                part = np.argsort(keys, kind="stable")
            chosen = idx[part[skip:end]].tolist()
        blobs = self.blobs
        body = b",".join(blobs[s] for s in chosen)  # type: ignore[misc]
        return b'{"' + key + b'":[' + body + b'],"total":' + str(total).encode() + b"}"

    def live_docs(self) -> list[dict]:
        """Every live record, decoded."""
        return [orjson.loads(b) for b in self.blobs if b is not None]

    def live_views(self, view: Callable[[dict], Any]) -> dict[str, Any]:
        """`view` of every live record by `_id`, each decoded in turn (no list of them all)."""
        out = {}
        for b in self.blobs:
            if b is not None:
                doc = orjson.loads(b)
                out[doc["_id"]] = view(doc)
        return out


class _Codes:
    """A str <-> small int coding for a filterable transaction column."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}

    def __call__(self, value: str | None) -> int:
        key = value or ""
        c = self.code.get(key)
        if c is None:
            c = self.code[key] = len(self.code)
        return c

    def many(self, values: list[str | None]) -> list[int]:
        """Codes of many values, new ones assigned."""
        code = self.code
        out = []
        for value in values:
            key = value or ""
            c = code.get(key)
            if c is None:
                c = code[key] = len(code)
            out.append(c)
        return out

    def lookup(self, values: list[str]) -> list[int]:
        """Codes of known values (unknown values match nothing)."""
        return [self.code[v] for v in values if v in self.code]


class Store:
    """The simulated seller's customers and transactions behind one lock."""

    def __init__(
        self,
        seed: int = 0,
        *,
        seller: str | None = None,
        today: date | None = None,
        event_count: int = 40,
    ) -> None:
        self.lock = threading.RLock()
        # (event type, seller id, webhook `data`) per write; see the module docstring.
        self.listeners: list[Callable[[str, str, dict[str, Any]], None]] = []
        self.seed = seed
        self.seller_id = seller or data.seller_id(seed)
        self.today = today
        self.event_pool = data.Events(seed, event_count, today)
        self._rng = np.random.default_rng([seed, 77])
        self._last_ms = 0
        self._id_counter = 0
        self._next_number = 1
        self.customers = _Table()
        self.transactions = _Table()
        # customer filter columns (by slot)
        self._email: dict[str, int] = {}
        self._email_of: list[str] = []
        self._name: list[str] = []
        self._company: list[str] = []
        self._tags: list[tuple[str, ...]] = []
        self._tag_slots: dict[str, set[int]] = {}
        # transaction filter columns (by slot)
        self._codes = {k: _Codes() for k in ("status", "paymentStatus", "eventId")}
        self._t_cols = {k: np.zeros(1024, np.int32) for k in self._codes}
        self._t_created = np.zeros(1024, np.int64)
        self._t_email: list[str] = []
        self._t_name: list[str] = []
        # events: slot i is event i of the pool; tickets sold per event
        self.events = _Table()
        self._e_start = np.zeros(0, np.int64)
        self._e_end = np.zeros(0, np.int64)
        self._e_created = np.zeros(0, np.int64)
        self._e_name: list[str] = []
        self._sold = np.zeros(len(self.event_pool), np.int64)
        self._capacity = np.zeros(len(self.event_pool), np.int64)
        # ticket filter columns (by slot)
        self.tickets = _Table()
        self._k_codes = {
            k: _Codes() for k in ("status", "eventId", "customerId", "type", "deliveryType")
        }
        self._k_cols = {k: np.zeros(1024, np.int32) for k in self._k_codes}
        self._k_created = np.zeros(1024, np.int64)
        self._k_name: list[str] = []
        self._barcode: dict[str, int] = {}
        self._tickets_of: dict[str, list[int]] = {}  # transaction id -> ticket slots
        self._ticket_counter = 0

    # ---------------------------------------------------------------- construction

    @classmethod
    def empty(cls, seed: int = 0, *, today: date | None = None) -> Store:
        """A store with its events but no customers, transactions or tickets."""
        store = cls(seed, today=today)
        store._add_events()
        return store

    @classmethod
    def seeded(cls, customers: int, seed: int, *, today: date | None = None) -> Store:
        """`customers` deterministic customers with their transactions, tickets and events.

        The history ends at midnight UTC starting `today` (default: the current date).
        """
        store = cls(seed, today=today, event_count=data.event_count(customers))
        # Millions of short-lived dicts would trigger full GC passes over everything built so far.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            for docs, txns, tickets in data.iter_records(
                customers, seed, today=today, events=store.event_pool
            ):
                store._add_customers(docs)
                store._add_transactions(txns)
                store._add_tickets(tickets)
            store._add_events()
        finally:
            if was_enabled:
                gc.enable()
        store._next_number = customers + 1
        return store

    def _add_events(self) -> None:
        pool = self.event_pool
        docs = [pool.doc(i, self.seller_id, int(self._sold[i])) for i in range(len(pool))]
        self.events.add(
            pool.ids, [dump(d) for d in docs], iso_to_ms_many([d["updatedAt"] for d in docs])
        )
        self._capacity = np.array([d["maxAmount"] for d in docs], np.int64)
        self._e_start = pool.start.copy()
        self._e_end = pool.end.copy()
        self._e_created = iso_to_ms_many([d["createdAt"] for d in docs])
        self._e_name = [d["name"].lower() for d in docs]

    def _add_tickets(self, tickets: list[dict]) -> None:
        if not tickets:
            return
        t = self.tickets
        first = t.add(
            [k["_id"] for k in tickets],
            [dump(k) for k in tickets],
            iso_to_ms_many([k["updatedAt"] for k in tickets]),
        )
        need = t.n
        if need > len(self._k_created):
            cap = max(need, 2 * len(self._k_created))
            self._k_created = np.resize(self._k_created, cap)
            for k in self._k_cols:
                self._k_cols[k] = np.resize(self._k_cols[k], cap)
        for k, codes in self._k_codes.items():
            self._k_cols[k][first:need] = codes.many([x.get(k) for x in tickets])
        self._k_created[first:need] = iso_to_ms_many([x["createdAt"] for x in tickets])
        self._k_name.extend((x.get("name") or "").lower() for x in tickets)
        index = self.event_pool.index
        np.add.at(self._sold, [index[x["eventId"]] for x in tickets], 1)
        for slot, x in enumerate(tickets, first):
            self._barcode[x["barcode"]] = slot
            self._tickets_of.setdefault(x["transactionId"], []).append(slot)
        self._ticket_counter += len(tickets)

    def _index_ticket(self, slot: int, x: dict) -> None:
        for k, codes in self._k_codes.items():
            self._k_cols[k][slot] = codes(x.get(k))
        self._k_name[slot] = (x.get("name") or "").lower()

    def _add_customers(self, docs: list[dict]) -> None:
        dumps = dump
        first = self.customers.add(
            [d["_id"] for d in docs],
            [dumps(d) for d in docs],
            iso_to_ms_many([d["updatedAt"] for d in docs]),
        )
        for i, d in enumerate(docs, first):
            self._index_customer(i, d, new=True)

    def _index_customer(
        self, slot: int, d: dict, *, new: bool = False, old: dict | None = None
    ) -> None:
        email = (d.get("primaryEmail") or "").lower()
        tags = tuple(d.get("tags") or ())
        if new:
            self._email_of.append(email)
            self._name.append((d.get("name") or "").lower())
            self._company.append((d.get("company") or "").lower())
            self._tags.append(tags)
        else:
            if self._email.get(self._email_of[slot]) == slot:
                del self._email[self._email_of[slot]]
            for t in self._tags[slot]:
                self._tag_slots.get(t, set()).discard(slot)
            self._email_of[slot] = email
            self._name[slot] = (d.get("name") or "").lower()
            self._company[slot] = (d.get("company") or "").lower()
            self._tags[slot] = tags
        if email:
            self._email[email] = slot
        for t in tags:
            self._tag_slots.setdefault(t, set()).add(slot)

    def _unindex_customer(self, slot: int) -> None:
        if self._email.get(self._email_of[slot]) == slot:
            del self._email[self._email_of[slot]]
        for t in self._tags[slot]:
            self._tag_slots.get(t, set()).discard(slot)
        self._tags[slot] = ()

    def _add_transactions(self, txns: list[dict]) -> None:
        if not txns:
            return
        dumps = dump
        first = self.transactions.add(
            [t["_id"] for t in txns],
            [dumps(t) for t in txns],
            iso_to_ms_many([t["updatedAt"] for t in txns]),
        )
        need = self.transactions.n
        if need > len(self._t_created):
            cap = max(need, 2 * len(self._t_created))
            self._t_created = np.resize(self._t_created, cap)
            for k in self._t_cols:
                self._t_cols[k] = np.resize(self._t_cols[k], cap)
        for k, codes in self._codes.items():
            self._t_cols[k][first:need] = codes.many([t.get(k) for t in txns])
        self._t_created[first:need] = iso_to_ms_many([t["createdAt"] for t in txns])
        self._t_email.extend((t.get("email") or "").lower() for t in txns)
        self._t_name.extend((t.get("name") or "").lower() for t in txns)

    def _index_transaction(self, slot: int, t: dict) -> None:
        for k, codes in self._codes.items():
            self._t_cols[k][slot] = codes(t.get(k))
        self._t_email[slot] = (t.get("email") or "").lower()
        self._t_name[slot] = (t.get("name") or "").lower()

    def _emit(self, event_type: str, data: dict[str, Any]) -> None:
        for listener in self.listeners:
            listener(event_type, self.seller_id, data)

    def _transaction_event(self, event_type: str, txn: dict, tickets: list[dict] | None) -> None:
        payload: dict[str, Any] = {"transaction": {"tid": txn["_id"], "coupons": [], **txn}}
        if tickets is not None:
            payload["tickets"] = tickets
        self._emit(event_type, payload)

    # ---------------------------------------------------------------- clock and ids

    def now_ms(self) -> int:
        """The write clock: wall-clock ms, never going backwards."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms)
            return self._last_ms

    def new_id(self, ms: int | None = None) -> str:
        """A fresh 24-hex ObjectId-like id."""
        with self.lock:
            secs = np.array([(ms if ms is not None else self.now_ms()) // 1000], np.int64)
            self._id_counter += 1
            oid = data.object_ids(self._rng, secs, 0x800000 + self._id_counter)[0]
            while any(
                oid in t.slot_of
                for t in (self.customers, self.transactions, self.tickets, self.events)
            ):
                oid = data.object_ids(self._rng, secs, self._id_counter)[0]
            return oid

    # ---------------------------------------------------------------- customers

    def list_customers(self, query: CustomerQuery) -> bytes:
        """The `{docs, total}` JSON body of a customers list query."""
        with self.lock:
            t = self.customers
            n = t.n
            mask = _time_mask(t.updated[:n], query.updated)
            extra: list[int] | None = None
            if query.email is not None:
                s = self._email.get(query.email.lower())
                extra = [s] if s is not None else []
            if query.tags is not None:
                slots: set[int] = set()
                for tag in query.tags:
                    slots |= self._tag_slots.get(tag, set())
                extra = sorted(slots) if extra is None else sorted(slots.intersection(extra))
            for col, needle in ((self._name, query.name), (self._company, query.company)):
                if needle is None:
                    continue
                q = needle.lower()
                cand = range(n) if extra is None else extra
                extra = [s for s in cand if q in col[s]]
            return t.page(mask, extra, query.skip, query.top)

    def customer_blob(self, customer_id: str) -> bytes:
        """The serialized customer, or NotFound."""
        with self.lock:
            blob = self.customers.blobs[self.customers.slot(customer_id)]
            assert blob is not None
            return blob

    def get_customer(self, customer_id: str) -> dict:
        """A copy of the customer, or NotFound."""
        with self.lock:
            return self.customers.doc(self.customers.slot(customer_id))

    def find_customer_by_email(self, email: str) -> dict | None:
        """The live customer with this email (case-insensitive), if any."""
        with self.lock:
            s = self._email.get(email.lower())
            if s is None or not self.customers.alive[s]:
                return None
            return self.customers.doc(s)

    def create_customer(self, body: dict[str, Any], upsert: bool = True) -> tuple[dict, bool]:
        """Create a customer; with upsert an existing email updates that customer instead.

        Returns the stored customer and whether it was newly created.
        """
        fields = {k: v for k, v in body.items() if k not in READ_ONLY or k == "number"}
        with self.lock:
            existing = self._email.get(str(fields.get("primaryEmail", "")).lower())
            if existing is not None and self.customers.alive[existing]:
                if not upsert:
                    raise Conflict(f"a customer with email {fields['primaryEmail']} already exists")
                return self.update_customer(self.customers.ids[existing], fields), False
            ms = self.now_ms()
            now = ms_to_iso(ms)
            number = fields.pop("number", None)
            if number is None:
                number = self._next_number
            if abs(number) < 2**53:  # a huge client-chosen number must not poison the counter
                self._next_number = max(self._next_number, int(number) + 1)
            doc: dict[str, Any] = {
                "_id": self.new_id(ms),
                "sellerId": self.seller_id,
                "number": number,
                "tags": [],
                "segments": [],
                "blocked": False,
                "verified": False,
                "meta": {},
                "extraFields": {},
            }
            doc.update(fields)
            if "name" not in fields and (doc.get("prename") or doc.get("lastname")):
                doc["name"] = " ".join(x for x in (doc.get("prename"), doc.get("lastname")) if x)
            if doc.get("phone", "") is None:
                del doc["phone"]
            doc["createdAt"] = now
            doc["updatedAt"] = now
            doc["transactions"] = []
            slot = self.customers.add([doc["_id"]], [dump(doc)], [ms])
            self._index_customer(slot, doc, new=True)
            self._emit("customer.created", {"customer": doc})
            return doc, True

    def update_customer(self, customer_id: str, body: dict[str, Any]) -> dict:
        """Top-level partial update: a sent field replaces the stored value wholesale."""
        return self._write_customer(
            customer_id, {k: v for k, v in body.items() if k not in READ_ONLY}
        )

    def _write_customer(self, customer_id: str, fields: dict[str, Any]) -> dict:
        with self.lock:
            t = self.customers
            slot = t.slot(customer_id)
            doc = t.doc(slot)
            email = fields.get("primaryEmail")
            if email is not None:
                other = self._email.get(str(email).lower())
                if other is not None and other != slot and t.alive[other]:
                    raise Conflict(f"a customer with email {email} already exists")
            doc.update(fields)
            if "name" not in fields and ("prename" in fields or "lastname" in fields):
                doc["name"] = " ".join(x for x in (doc.get("prename"), doc.get("lastname")) if x)
            if doc.get("phone", "") is None:
                del doc["phone"]  # PUT may null the phone; the resource's phone is not nullable
            doc["updatedAt"] = ms_to_iso(self.now_ms())
            t.put(slot, doc)
            self._index_customer(slot, doc)
            self._emit("customer.updated", {"customer": doc})
            return doc

    def delete_customer(self, customer_id: str) -> dict:
        """Delete a customer (its transactions stay); returns the deleted record."""
        with self.lock:
            t = self.customers
            slot = t.slot(customer_id)
            doc = t.doc(slot)
            self._unindex_customer(slot)
            t.kill(slot)
            return doc

    def erase_customer_data(self, customer_id: str) -> dict:
        """vivenu's `POST /api/customers/{id}/erase-data`: the customer stays (its id, number,
        dates and transactions) without its personal data, and so do its transactions and
        their tickets; each is bumped. vivenu does not document what it keeps; the primary
        email, which the resource requires, becomes an address at the reserved `.invalid`."""
        with self.lock:
            t = self.customers
            slot = t.slot(customer_id)
            doc = {k: v for k, v in t.doc(slot).items() if k not in _CUSTOMER_PERSONAL}
            doc.update(
                primaryEmail=f"{customer_id}@erased.invalid", tags=[], meta={}, extraFields={}
            )
            ms = self.now_ms()
            doc["updatedAt"] = ms_to_iso(ms)
            t.put(slot, doc)
            self._index_customer(slot, doc)
            for txn_id in doc.get("transactions") or []:
                self._erase_transaction_contact(txn_id, ms)
            self._emit("customer.updated", {"customer": doc})
            return doc

    def _erase_transaction_contact(self, transaction_id: str, ms: int) -> None:
        try:
            slot = self.transactions.slot(transaction_id)
        except NotFound:
            return
        txn = {k: v for k, v in self.transactions.doc(slot).items() if k not in _CONTACT}
        txn["updatedAt"] = ms_to_iso(ms)
        self.transactions.put(slot, txn)
        self._index_transaction(slot, txn)
        for ks in self._tickets_of.get(transaction_id, []):
            if self.tickets.alive[ks]:
                ticket = {k: v for k, v in self.tickets.doc(ks).items() if k not in _CONTACT}
                ticket["updatedAt"] = ms_to_iso(ms)
                self.tickets.put(ks, ticket)
                self._index_ticket(ks, ticket)

    def tags(self) -> list[str]:
        """Every tag some live customer has, sorted."""
        with self.lock:
            return sorted(t for t, slots in self._tag_slots.items() if slots)

    def create_account(self, customer_id: str) -> dict:
        """Give the customer an account (password login) if it has none."""
        with self.lock:
            doc = self.get_customer(customer_id)
            if doc.get("_account"):
                return doc
            secrets = data.hex_secrets(self._rng, 2)
            account = {
                "verificationToken": secrets[0],
                "passwordResetToken": secrets[1],
                "limitations": {
                    "nextVerificationMailRequest": ms_to_iso(self.now_ms() + 3_600_000)
                },
                "loginType": "password",
            }
            return self._write_customer(customer_id, {"_account": account})

    def bulk_import(self, n: int, updated_at_ms: int | None = None) -> list[str]:
        """Create n customers sharing one createdAt/updatedAt millisecond, like a bulk import."""
        with self.lock:
            ms = self.now_ms() if updated_at_ms is None else updated_at_ms
            self._last_ms = max(self._last_ms, ms)
            stamp = ms_to_iso(ms)
            seed = int(self._rng.integers(0, 2**31))
            base = self._next_number - 1
            docs: list[dict] = []
            for chunk, _, _ in data.iter_records(
                n, seed, today=self.today, number_start=base, events=self.event_pool
            ):
                docs.extend(chunk)
            for d in docs:
                d["_id"] = self.new_id(ms)
                d["sellerId"] = self.seller_id
                d["createdAt"] = d["updatedAt"] = stamp
                d["transactions"] = []
                d.pop("_account", None)
                if d["primaryEmail"].lower() in self._email:
                    d["primaryEmail"] = f"import.{d['_id']}@example.org"
            self._add_customers(docs)
            self._next_number = base + n + 1
            for d in docs:
                self._emit("customer.created", {"customer": d})
            return [d["_id"] for d in docs]

    # ---------------------------------------------------------------- transactions

    def list_transactions(self, query: TransactionQuery) -> bytes:
        """The `{docs, total}` JSON body of a transactions list query."""
        with self.lock:
            t = self.transactions
            n = t.n
            mask = _time_mask(t.updated[:n], query.updated)

            def both(m: np.ndarray) -> None:
                nonlocal mask
                mask = m if mask is None else mask & m

            for key, values in (
                ("status", query.status),
                ("paymentStatus", query.payment_status),
                ("eventId", query.event),
            ):
                if values is not None:
                    both(np.isin(self._t_cols[key][:n], self._codes[key].lookup(values)))
            if query.start_us is not None:
                both(self._t_created[:n] * 1000 >= query.start_us)
            if query.end_us is not None:
                both(self._t_created[:n] * 1000 <= query.end_us)
            extra: list[int] | None = None
            if query.id is not None:
                s = t.slot_of.get(query.id)
                extra = [s] if s is not None else []
            if query.customer is not None:
                cs = self.customers.slot_of.get(query.customer)
                ids = (
                    self.customers.doc(cs).get("transactions", [])
                    if cs is not None and self.customers.alive[cs]
                    else []
                )
                # Transactions of a deleted customer are still found by customerId.
                if cs is not None and not self.customers.alive[cs]:
                    ids = [
                        t.ids[s]
                        for s in range(n)
                        if t.blobs[s] and self._owner(s) == query.customer
                    ]
                slots = [t.slot_of[i] for i in ids if i in t.slot_of]
                extra = slots if extra is None else [s for s in extra if s in set(slots)]
            if query.email is not None:
                q = query.email.lower()
                cand = range(n) if extra is None else extra
                extra = [s for s in cand if self._t_email[s] == q]
            if query.name is not None:
                q = query.name.lower()
                cand = range(n) if extra is None else extra
                extra = [s for s in cand if q in self._t_name[s]]
            rare = {
                "psp": query.psp,
                "subscriptionId": query.subscription_id,
                "coupon": query.coupon,
                "posPaymentMethods": query.pos_payment_methods,
            }
            if any(v is not None for v in rare.values()):
                cand = range(n) if extra is None else extra
                extra = [s for s in cand if t.blobs[s] and _rare_match(t.doc(s), rare)]
            return t.page(mask, extra, query.skip, query.top)

    def _owner(self, slot: int) -> str | None:
        return self.transactions.doc(slot).get("customerId")

    def transaction_blob(self, transaction_id: str) -> bytes:
        """The serialized transaction, or NotFound."""
        with self.lock:
            blob = self.transactions.blobs[self.transactions.slot(transaction_id)]
            assert blob is not None
            return blob

    def get_transaction(self, transaction_id: str) -> dict:
        """A copy of the transaction, or NotFound."""
        with self.lock:
            return self.transactions.doc(self.transactions.slot(transaction_id))

    def create_transaction(self, customer_id: str, **fields: Any) -> dict:
        """A new sale to a customer (contact fields copied) with its tickets; bumps the customer.

        The event is one on sale now (starting later, tickets left), picked by popularity; the
        price is its ticket type's in the customer's currency.
        """
        with self.lock:
            cust = self.get_customer(customer_id)
            ms = self.now_ms()
            stamp = ms_to_iso(ms)
            r = self._rng
            pool = self.event_pool
            left = self._capacity - self._sold
            on_sale = np.flatnonzero((self._e_start > ms) & (left > 0))
            if not len(on_sale):
                raise NothingOnSale("no event is on sale with tickets left")
            p = pool.popularity[on_sale] / pool.popularity[on_sale].sum()
            e = int(on_sale[int(r.choice(len(on_sale), p=p))])
            country = (cust.get("location") or {}).get("country") or "DE"
            meta = next((c for c in data.COUNTRIES if c[0] == country), data.COUNTRIES[0])
            j = int(r.integers(0, len(pool.types[e])))
            ttype = pool.types[e][j]
            amount = min(int(r.integers(1, 5)), int(left[e]))
            tid = self.new_id(ms)
            secret = data.hex_secrets(r, 1)[0]
            txn = data.make_transaction(
                tid, self.seller_id, cust, pool.ids[e], 0, float(r.random()), amount,
                pool.prices(meta[2])[e][j], ttype[1], int(r.integers(0, 5)), False, ttype[0],
                secret, meta[2], meta[4], meta[5], stamp, stamp,
            )  # fmt: skip
            txn.update(fields)
            txn["updatedAt"] = stamp
            self._add_transactions([txn])
            ids = [self.new_id(ms) for _ in range(amount)]
            tickets = data.make_tickets(
                txn,
                ttype,
                ids,
                data.hex_secrets(r, amount),
                data.barcodes(r, amount, self._ticket_counter),
                [None] * amount,
                [False] * amount,
            )
            self._add_tickets(tickets)
            cust["transactions"] = [*cust.get("transactions", []), tid]
            cust["updatedAt"] = stamp
            cslot = self.customers.slot(customer_id)
            self.customers.put(cslot, cust)
            if txn.get("status") == "COMPLETE":
                self._transaction_event("transaction.complete", txn, tickets)
            for ticket in tickets:
                self._emit("ticket.created", {"ticket": ticket})
            self._emit("customer.updated", {"customer": cust})
            return txn

    def update_transaction(self, transaction_id: str, fields: dict[str, Any]) -> dict:
        """Top-level partial update of a transaction (e.g. a refund); bumps its updatedAt.

        A new status carries over to its tickets (canceled: INVALID), which are bumped too.
        """
        with self.lock:
            t = self.transactions
            slot = t.slot(transaction_id)
            doc = t.doc(slot)
            old_status = doc.get("status")
            doc.update({k: v for k, v in fields.items() if k != "_id"})
            ms = self.now_ms()
            doc["updatedAt"] = ms_to_iso(ms)
            t.put(slot, doc)
            self._index_transaction(slot, doc)
            new_status = data.TICKET_STATUS.get(doc.get("status", ""))
            changed = []
            if doc.get("status") != old_status and new_status:
                for ks in self._tickets_of.get(transaction_id, []):
                    if self.tickets.alive[ks]:
                        changed.append(
                            self._write_ticket(
                                ks, {"status": new_status, "completed": new_status == "VALID"}, ms
                            )
                        )
            event = {"CANCELED": "transaction.canceled", "COMPLETE": "transaction.complete"}.get(
                doc.get("status", "")
            )
            if event and doc.get("status") != old_status:
                self._transaction_event(event, doc, self._live_tickets(transaction_id))
            for ticket in changed:
                self._emit("ticket.updated", {"ticket": ticket})
            return doc

    def cancel_tickets(self, transaction_id: str, count: int = 1) -> dict:
        """Cancel `count` of a sale's valid tickets (not all: that is a cancellation of the
        sale); bumps the sale, which stays COMPLETE. Returns the transaction."""
        with self.lock:
            t = self.transactions
            slot = t.slot(transaction_id)
            valid = [
                ks
                for ks in self._tickets_of.get(transaction_id, [])
                if self.tickets.alive[ks] and self.tickets.doc(ks).get("status") == "VALID"
            ]
            if len(valid) < 2:
                raise NotFound(f"transaction {transaction_id} has no tickets to cancel in part")
            ms = self.now_ms()
            changed = [
                self._write_ticket(ks, {"status": "INVALID", "completed": False}, ms)
                for ks in valid[: min(count, len(valid) - 1)]
            ]
            doc = t.doc(slot)
            doc["updatedAt"] = ms_to_iso(ms)
            t.put(slot, doc)
            self._transaction_event("transaction.partiallyCanceled", doc, None)
            for ticket in changed:
                self._emit("ticket.updated", {"ticket": ticket})
            return doc

    def _live_tickets(self, transaction_id: str) -> list[dict]:
        return [
            self.tickets.doc(ks)
            for ks in self._tickets_of.get(transaction_id, [])
            if self.tickets.alive[ks]
        ]

    def delete_transaction(self, transaction_id: str) -> dict:
        """Delete a transaction and its tickets; its customer's `transactions` list shrinks."""
        with self.lock:
            t = self.transactions
            slot = t.slot(transaction_id)
            doc = t.doc(slot)
            t.kill(slot)
            for ks in self._tickets_of.pop(transaction_id, []):
                if self.tickets.alive[ks]:
                    self._kill_ticket(ks)
            cid = doc.get("customerId")
            cs = self.customers.slot_of.get(cid) if cid else None
            if cs is not None and self.customers.alive[cs]:
                cust = self.customers.doc(cs)
                cust["transactions"] = [
                    x for x in cust.get("transactions", []) if x != transaction_id
                ]
                cust["updatedAt"] = ms_to_iso(self.now_ms())
                self.customers.put(cs, cust)
                self._emit("customer.updated", {"customer": cust})
            return doc

    # ---------------------------------------------------------------- events

    def list_events(self, query: ListQuery) -> bytes:
        """The `{rows, total}` JSON body of an events list query."""
        with self.lock:
            t = self.events
            n = t.n
            mask = np.ones(n, bool)
            for name, col in (
                ("start", self._e_start),
                ("end", self._e_end),
                ("createdAt", self._e_created),
                ("updatedAt", t.updated[:n]),
            ):
                ops = query.ops.get(name)
                if ops:
                    mask &= _time_mask(col[:n], ops)  # type: ignore[operator]
            p = query.params
            if "name" in p:
                q = p["name"].lower()
                mask &= np.fromiter((q in x for x in self._e_name), bool, count=n)
            if "sellerId" in p and p["sellerId"] != self.seller_id:
                mask[:] = False
            rare = {
                "rootId": p.get("rootId"),
                "eventType": _csv(p.get("type")),
                "groupEventId": p.get("groupEventId"),
                "salesChannelId": p.get("salesChannelId"),
                "subscriptionPlanId": p.get("subscriptionPlanId"),
                "childEvents": _csv(p.get("childEvents")),
            }
            extra = None
            if any(v is not None for v in rare.values()):
                extra = [
                    s
                    for s in np.flatnonzero(mask & t.alive[:n]).tolist()
                    if _event_match(t.doc(s), rare)
                ]
            order = -self._e_start if p.get("sortDir") == "-1" else self._e_start
            return t.page(mask, extra, query.skip, query.top, key=b"rows", sort=order)

    def event_blob(self, event_id: str) -> bytes:
        """The serialized event, or NotFound."""
        with self.lock:
            blob = self.events.blobs[self.events.slot(event_id)]
            assert blob is not None
            return blob

    def get_event(self, event_id: str) -> dict:
        """A copy of the event, or NotFound."""
        with self.lock:
            return self.events.doc(self.events.slot(event_id))

    def update_event(self, event_id: str, fields: dict[str, Any]) -> dict:
        """Top-level partial update of an event (never its id, dates or seller); bumps updatedAt."""
        keep = {"_id", "sellerId", "createdAt", "updatedAt", "start", "end"}
        with self.lock:
            t = self.events
            slot = t.slot(event_id)
            doc = t.doc(slot)
            doc.update({k: v for k, v in fields.items() if k not in keep})
            doc["updatedAt"] = ms_to_iso(self.now_ms())
            t.put(slot, doc)
            self._e_name[slot] = (doc.get("name") or "").lower()
            if "maxAmount" in fields:
                self._capacity[slot] = int(doc["maxAmount"])
            self._emit("event.updated", {"event": doc})
            return doc

    # ---------------------------------------------------------------- tickets

    def list_tickets(self, query: ListQuery) -> bytes:
        """The `{rows, total}` JSON body of a tickets list query."""
        with self.lock:
            t = self.tickets
            n = t.n
            mask = _time_mask(t.updated[:n], query.ops.get("updatedAt", []))
            if mask is None:
                mask = np.ones(n, bool)
            p = query.params
            for key, param in (
                ("status", "status"),
                ("eventId", "event"),
                ("deliveryType", "deliveryType"),
                ("type", "type"),
                ("customerId", "customerId"),
            ):
                if param in p:
                    values = _csv(p[param]) if param != "customerId" else [p[param]]
                    codes = self._k_codes[key].lookup([v for v in values or [] if v])
                    mask &= np.isin(self._k_cols[key][:n], codes)
            created = query.ops.get("createdAt")  # the `start`/`end` parameters
            if created:
                mask &= _time_mask(self._k_created[:n], created)  # type: ignore[operator]
            extra: list[int] | None = None
            if "barcode" in p:
                s = self._barcode.get(p["barcode"])
                extra = [s] if s is not None else []
            if "name" in p:
                q = p["name"].lower()
                cand = np.flatnonzero(mask & t.alive[:n]).tolist() if extra is None else extra
                extra = [s for s in cand if q in self._k_name[s]]
            rare = {k: p[k] for k in _TICKET_RARE if k in p}
            counter = query.ops.get("batchCounter")
            if rare or counter:
                cand = np.flatnonzero(mask & t.alive[:n]).tolist() if extra is None else extra
                extra = [s for s in cand if _ticket_match(t.doc(s), rare, counter or [])]
            return t.page(mask, extra, query.skip, query.top, key=b"rows")

    def ticket_blob(self, ticket_id: str) -> bytes:
        """The serialized ticket, or NotFound."""
        with self.lock:
            blob = self.tickets.blobs[self.tickets.slot(ticket_id)]
            assert blob is not None
            return blob

    def get_ticket(self, ticket_id: str) -> dict:
        """A copy of the ticket, or NotFound."""
        with self.lock:
            return self.tickets.doc(self.tickets.slot(ticket_id))

    def update_ticket(self, ticket_id: str, fields: dict[str, Any]) -> dict:
        """Top-level partial update of a ticket (e.g. personalized to its holder); bumps it."""
        with self.lock:
            doc = self._write_ticket(self.tickets.slot(ticket_id), fields, self.now_ms())
            self._emit("ticket.updated", {"ticket": doc})
            return doc

    def _write_ticket(self, slot: int, fields: dict[str, Any], ms: int) -> dict:
        t = self.tickets
        doc = t.doc(slot)
        fixed = {"_id", "sellerId", "transactionId", "createdAt", "updatedAt", "barcode"}
        doc.update({k: v for k, v in fields.items() if k not in fixed})
        doc["updatedAt"] = ms_to_iso(ms)
        doc["__v"] = int(doc.get("__v", 0)) + 1
        t.put(slot, doc)
        self._index_ticket(slot, doc)
        return doc

    def _kill_ticket(self, slot: int) -> None:
        doc = self.tickets.doc(slot)
        self._barcode.pop(doc["barcode"], None)
        self._sold[self.event_pool.index[doc["eventId"]]] -= 1
        self.tickets.kill(slot)

    # ---------------------------------------------------------------- truth and helpers

    def truth_views(self, resource: str, view: Callable[[dict], Any]) -> dict[str, Any]:
        """`view` of every live record of `resource` by `_id`: the truth of a large store
        compared without holding a copy of every record."""
        with self.lock:
            return getattr(self, resource).live_views(view)

    def customers_truth(self) -> list[dict]:
        """Deep copies of every live customer (secrets included)."""
        with self.lock:
            return self.customers.live_docs()

    def transactions_truth(self) -> list[dict]:
        """Deep copies of every live transaction (secrets included)."""
        with self.lock:
            return self.transactions.live_docs()

    def events_truth(self) -> list[dict]:
        """Deep copies of every event."""
        with self.lock:
            return self.events.live_docs()

    def tickets_truth(self) -> list[dict]:
        """Deep copies of every live ticket (secrets and barcodes included)."""
        with self.lock:
            return self.tickets.live_docs()

    def live_customer_ids(self) -> list[str]:
        """Ids of every live customer."""
        with self.lock:
            t = self.customers
            return [t.ids[s] for s in np.flatnonzero(t.alive[: t.n]).tolist()]

    def live_transaction_ids(self) -> list[str]:
        """Ids of every live transaction."""
        with self.lock:
            t = self.transactions
            return [t.ids[s] for s in np.flatnonzero(t.alive[: t.n]).tolist()]

    def counts(self) -> dict[str, int]:
        """Live record counts."""
        with self.lock:
            return {
                "customers": int(self.customers.alive[: self.customers.n].sum()),
                "transactions": int(self.transactions.alive[: self.transactions.n].sum()),
                "events": int(self.events.alive[: self.events.n].sum()),
                "tickets": int(self.tickets.alive[: self.tickets.n].sum()),
            }


def _csv(value: str | None) -> list[str] | None:
    return None if value is None else [v for v in value.split(",") if v]


def _event_match(doc: dict, rare: dict[str, Any]) -> bool:
    """Equality on fields the seeded events may lack (absent never matches a given value)."""
    for key, want in rare.items():
        if want is None:
            continue
        have = doc.get(key)
        if key == "childEvents":
            if not set(have or ()) & set(want):
                return False
        elif isinstance(want, list):
            if have not in want:
                return False
        elif have != want:
            return False
    return True


# Ticket filters on fields the seeded tickets never carry: parameter -> path in the ticket.
_TICKET_RARE: dict[str, tuple[str, ...]] = {
    "statusId": ("seatingInfo", "statusId"),
    "gaName": ("seatingInfo", "name"),
    "sectionName": ("seatingInfo", "sectionName"),
    "groupName": ("seatingInfo", "groupName"),
    "rowName": ("seatingInfo", "rowName"),
    "seatName": ("seatingInfo", "seatName"),
    "purchaseIntentId": ("purchaseIntentId",),
    "checkoutId": ("checkoutId",),
    "subscriptionId": ("subscriptionId",),
    "batch": ("batch",),
    "packageId": ("packageInfo", "packageId"),
}


def _ticket_match(doc: dict, rare: dict[str, str], counter: list[tuple[str, Any]]) -> bool:
    for key, want in rare.items():
        have: Any = doc
        for part in _TICKET_RARE[key]:
            have = have.get(part) if isinstance(have, dict) else None
        if have != want:
            return False
    value = doc.get("batchCounter")
    for op, bound in counter:
        # MongoDB semantics: a missing field is "not equal" to anything and fails the rest.
        if value is None:
            if op != "$ne":
                return False
            continue
        ok = {
            "$gt": value > bound,
            "$gte": value >= bound,
            "$lt": value < bound,
            "$lte": value <= bound,
            "$eq": value == bound,
            "$ne": value != bound,
        }[op]
        if not ok:
            return False
    return True


def _rare_match(doc: dict, rare: dict[str, str | None]) -> bool:
    for key, want in rare.items():
        if want is None:
            continue
        if key == "coupon":
            codes = [c.get("code") for c in doc.get("appliedCoupons", [])] + doc.get("coupons", [])
            if want not in codes:
                return False
        elif key == "posPaymentMethods":
            if doc.get("paymentMethod") not in want.split(","):
                return False
        elif doc.get(key) != want:
            return False
    return True


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso_to_ms_many(texts: list[str]) -> np.ndarray:
    """Epoch ms of many simulator timestamps ("YYYY-MM-DDTHH:MM:SS.mmmZ"), parsed by numpy."""
    return np.array([t[:23] for t in texts], dtype="datetime64[ms]").view(np.int64)


def iso_to_ms_fast(text: str) -> int:
    """Epoch ms of a simulator timestamp ("YYYY-MM-DDTHH:MM:SS.mmmZ") without float rounding."""
    dt = datetime.fromisoformat(text[:19]).replace(tzinfo=UTC)
    return (dt - _EPOCH) // _ONE_SEC * 1000 + int(text[20:23])


_ONE_SEC = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC) - _EPOCH
