"""The write path's guard on its own: what it drops, what it redacts, what it leaves."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from pipelines.erase.guard import Guard
from pipelines.erase.keys import ErasedSet
from pipelines.registry import BY_NAME
from pipelines.sync.schemas import QUARANTINE

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SALT = bytes(range(32))


def _rows(resource: str, rows: list[dict]) -> pa.Table:
    schema = BY_NAME[resource].schema
    full = [
        {**{n: None for n in schema.names}, "_run_id": "r", "_synced_at": NOW, **r} for r in rows
    ]
    return pa.Table.from_pylist(full, schema=schema)


def _guard() -> Guard:
    return Guard(ErasedSet(salt=SALT).plus([("customers", "c1"), ("transactions", "t1")]))


def test_nothing_erased_costs_nothing() -> None:
    data = _rows("customers", [{"id": "c1", "updated_at": NOW}])
    assert Guard(ErasedSet(salt=None)).rows("customers", "changes", data) is data


def test_an_erased_customer_is_dropped_and_others_kept() -> None:
    data = _rows("customers", [{"id": "c1", "updated_at": NOW}, {"id": "c2", "updated_at": NOW}])
    assert _guard().rows("customers", "changes", data)["id"].to_pylist() == ["c2"]


def test_their_orders_keep_money_and_lose_the_person() -> None:
    data = _rows(
        "transactions",
        [
            {"id": "t1", "customer_id": "c1", "email": "a@b.de", "real_price": 12, "updated_at": NOW,
             "api_extra": '{"street": "Hauptstr. 1"}'},
            {"id": "t2", "customer_id": "c2", "email": "x@y.de", "real_price": 5, "updated_at": NOW},
        ],
    )  # fmt: skip
    got = _guard().rows("transactions", "changes", data).to_pylist()
    assert got[0]["customer_id"] == ErasedSet(salt=SALT).pseudonym("c1")
    assert got[0]["email"] is None and got[0]["api_extra"] is None
    assert got[0]["real_price"] == 12 and got[0]["updated_at"] == NOW
    assert got[1]["customer_id"] == "c2" and got[1]["email"] == "x@y.de"


def test_a_companion_ticket_goes_by_its_transaction() -> None:
    data = _rows(
        "tickets",
        [{"id": "k1", "transaction_id": "t1", "lastname": "Meier", "updated_at": NOW}],
    )
    (got,) = _guard().rows("tickets", "changes", data).to_pylist()
    assert got["lastname"] is None and got["customer_id"] is None


def test_quarantine_payloads_and_tombstones() -> None:
    guard = _guard()
    payload = json.dumps({"_id": "t1", "customerId": "c1", "email": "a@b.de", "realPrice": 3})
    quarantined = pa.Table.from_pylist(
        [{"resource": "transactions", "record_id": "t1", "reason": "x", "payload": payload,
          "updated_at": NOW, "_run_id": "r", "_synced_at": NOW}],
        schema=QUARANTINE,
    )  # fmt: skip
    (row,) = guard.rows("transactions", "quarantine", quarantined).to_pylist()
    kept = json.loads(row["payload"])
    assert kept == {"_id": "t1", "customerId": ErasedSet(salt=SALT).pseudonym("c1"), "realPrice": 3}
    people = quarantined.set_column(0, "resource", pa.array(["customers"]))
    people = people.set_column(1, "record_id", pa.array(["c1"]))
    assert len(guard.rows("customers", "quarantine", people)) == 0
    tombstones = pa.table({"resource": ["customers"] * 2, "id": ["c1", "c2"]})
    assert guard.rows("customers", "deletions", tombstones)["id"].to_pylist() == ["c2"]
