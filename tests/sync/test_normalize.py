"""Normalization: secrets dropped, explicit schemas, malformed records quarantined with reasons."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import pytest

from pipelines.registry import CUSTOMERS, TRANSACTIONS
from pipelines.sync.normalize import Lineage, normalize, scrub

LINEAGE = Lineage(run_id="r1", synced_at=datetime(2026, 1, 1, tzinfo=UTC))


def customer(**over):
    doc = {
        "_id": "64f0c0ffee0000000000000a",
        "sellerId": "s1",
        "number": 12,
        "primaryEmail": "ada@example.com",
        "name": "Ada Lovelace",
        "location": {"city": "London", "country": "GB"},
        "tags": ["vip", "vip", "newsletter"],
        "blocked": False,
        "verified": True,
        "extraFields": {"shoe": 42},
        "_account": {
            "verificationToken": "VT-SECRET",
            "passwordResetToken": "PR-SECRET",
            "loginType": "password",
        },
        "transactions": ["t1", "t2"],
        "segments": ["seg-a"],
        "externalId": "crm-9",
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2025-06-01T12:00:00.123Z",
    }
    doc.update(over)
    return doc


def test_customer_rows_tags_links_and_unmodeled_fields():
    batch = normalize(CUSTOMERS, [scrub(CUSTOMERS, customer())], LINEAGE)
    assert batch["customers"].schema == CUSTOMERS.schema
    row = batch["customers"].to_pylist()[0]
    assert row["location_country"] == "GB" and row["tags"] == ["vip", "vip", "newsletter"]
    assert row["updated_at"] == datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert orjson.loads(row["api_extra"]) == {"externalId": "crm-9", "segments": ["seg-a"]}
    assert batch["customer_tags"].column("tag").to_pylist() == ["vip", "newsletter"]
    assert batch["customer_transactions"].column("transaction_id").to_pylist() == ["t1", "t2"]
    assert batch["quarantine"].num_rows == 0


@pytest.mark.attack("secrets in valid and malformed records")
def test_secrets_never_survive_normalization_or_quarantine():
    good = scrub(CUSTOMERS, customer())
    bad = scrub(CUSTOMERS, customer(updatedAt="yesterday"))
    batch = normalize(CUSTOMERS, [good, bad], LINEAGE)
    text = str(batch["customers"].to_pylist()) + str(batch["quarantine"].to_pylist())
    assert "VT-SECRET" not in text and "PR-SECRET" not in text
    tx = scrub(TRANSACTIONS, {"_id": "t", "secret": "TX-SECRET", "updatedAt": "nope"})
    tb = normalize(TRANSACTIONS, [tx], LINEAGE)
    assert "TX-SECRET" not in str(tb["quarantine"].to_pylist())


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"_id": None}, "_id is missing"),
        ({"updatedAt": "31/12/2025"}, "updatedAt '31/12/2025' is not an ISO-8601 timestamp"),
        ({"updatedAt": "2025-06-01T12:00:00"}, "has no time zone"),
        ({"tags": "vip"}, "tags must be a list of strings"),
        ({"blocked": "no"}, "blocked is str, expected a boolean"),
        ({"location": {"country": 49}}, "location.country is int, expected a string"),
        ({"number": 1.5}, "number 1.5 is not a whole number"),
    ],
)
@pytest.mark.attack("malformed API records")
def test_malformed_customers_are_quarantined_with_reason(over, reason):
    doc = customer(**over)
    if over.get("_id", "x") is None:
        del doc["_id"]
    batch = normalize(CUSTOMERS, [doc, customer(_id="64f0c0ffee0000000000000b")], LINEAGE)
    assert batch["customers"].num_rows == 1
    q = batch["quarantine"].to_pylist()
    assert len(q) == 1 and reason in q[0]["reason"]
    assert orjson.loads(q[0]["payload"])["primaryEmail"] == "ada@example.com"


def test_transactions_money_is_decimal_and_bad_price_quarantined():
    base = {"_id": "t1", "customerId": "c1", "realPrice": 49.9, "currency": "EUR",
            "status": "COMPLETE", "updatedAt": "2025-01-01T00:00:00.000Z", "tickets": [{}, {}]}  # fmt: skip
    tb = normalize(TRANSACTIONS, [base, {**base, "_id": "t2", "realPrice": "49,90"}], LINEAGE)
    rows = tb["transactions"].to_pylist()
    assert rows[0]["real_price"] == Decimal("49.9000") and rows[0]["ticket_count"] == 2
    assert tb["quarantine"].to_pylist()[0]["reason"] == "realPrice is str, expected a number"
