"""The columnar fast path and the row-by-row path give identical tables for valid records."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from pipelines.registry import CUSTOMERS, TRANSACTIONS
from pipelines.sync import columnar
from pipelines.sync.normalize import Lineage, normalize, scrub
from pipelines.vivenu.simulator.store import Store

LINEAGE = Lineage(run_id="r", synced_at=datetime(2026, 1, 1, tzinfo=UTC))


def _row_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise columnar.NotColumnar("forced")

    monkeypatch.setattr(columnar, "build", refuse)


def _sorted(table: pa.Table) -> list[dict]:
    keys = [k for k in ("id", "customer_id", "tag", "transaction_id") if k in table.column_names]
    return sorted(table.to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys))


@pytest.fixture(scope="module")
def records():
    store = Store.seeded(1500, 9)
    customers = [scrub(CUSTOMERS, c) for c in store.customers_truth()]
    rng = random.Random(1)
    for c in rng.sample(customers, 200):  # shapes the seed rarely makes
        c.pop(rng.choice(["location", "tags", "company", "createdAt", "number", "_account"]), None)
        c["tags"] = [*c.get("tags", []), *c.get("tags", [])[:1]]  # duplicates
        c["surprise"] = {"new": "field"}
    transactions = [scrub(TRANSACTIONS, t) for t in store.transactions_truth()]
    for t in rng.sample(transactions, 100):
        t.pop(rng.choice(["tickets", "regularPrice", "customerId", "createdAt"]), None)
        t["realPrice"] = rng.choice([0, 12, 0.1 + 0.2, 99999.99995, 0.00015, 2.675, 1e-300])
    return customers, transactions


def test_paths_agree_on_valid_records(records, monkeypatch):
    customers, transactions = records
    fast_c, fast_t = (
        normalize(CUSTOMERS, customers, LINEAGE),
        normalize(TRANSACTIONS, transactions, LINEAGE),
    )
    _row_path(monkeypatch)
    slow_c, slow_t = (
        normalize(CUSTOMERS, customers, LINEAGE),
        normalize(TRANSACTIONS, transactions, LINEAGE),
    )
    for name in ("customers", "customer_tags", "customer_transactions"):
        fast, slow = fast_c[name], slow_c[name]
        assert fast.schema == slow.schema
        assert _sorted(fast) == _sorted(slow), name
    assert _sorted(fast_t["transactions"]) == _sorted(slow_t["transactions"])
    assert fast_c["quarantine"].num_rows == slow_c["quarantine"].num_rows == 0


@pytest.mark.parametrize(
    "bad",
    [{"tags": "vip"}, {"number": True}, {"location": [["city", "x"]]}, {"updatedAt": "soon"},
     {"_id": ""}, {"tags": ["a", None]}, {"blocked": 1}],
)  # fmt: skip
def test_a_bad_record_sends_the_batch_to_the_row_path(records, bad):
    customers, _ = records
    batch = normalize(CUSTOMERS, [*customers[:50], {**customers[50], **bad}], LINEAGE)
    assert batch["customers"].num_rows == 50 and batch["quarantine"].num_rows == 1
