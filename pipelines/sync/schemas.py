"""Explicit Arrow schemas of everything the sync writes to Parquet: nothing is inferred.

Timestamps are microsecond UTC (DuckDB's TIMESTAMPTZ), money is a decimal, nested objects we
do not flatten are JSON strings, and each row carries its lineage (`_run_id`, `_synced_at`).
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
# vivenu's customer `location` object, flattened into `location_<key>` columns.
LOCATION_KEYS = ("street", "line2", "postal", "city", "state", "country")
MONEY = pa.decimal128(18, 4)
JSON = pa.string()

_LINEAGE = [
    pa.field("_run_id", pa.string(), nullable=False),
    pa.field("_synced_at", TIMESTAMP, nullable=False),
]

CUSTOMERS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("seller_id", pa.string()),
        pa.field("number", pa.int64()),
        pa.field("primary_email", pa.string()),
        pa.field("company", pa.string()),
        pa.field("name", pa.string()),
        pa.field("prename", pa.string()),
        pa.field("lastname", pa.string()),
        pa.field("phone", pa.string()),
        pa.field("notes", pa.string()),
        pa.field("location_street", pa.string()),
        pa.field("location_line2", pa.string()),
        pa.field("location_postal", pa.string()),
        pa.field("location_city", pa.string()),
        pa.field("location_state", pa.string()),
        pa.field("location_country", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("blocked", pa.bool_()),
        pa.field("verified", pa.bool_()),
        pa.field("extra_fields", JSON),
        pa.field("meta", JSON),
        pa.field("has_account", pa.bool_(), nullable=False),
        pa.field("account_login_type", pa.string()),
        pa.field("transaction_ids", pa.list_(pa.string())),
        # Top-level fields the API sends that we do not model (segments, externalId, ...).
        pa.field("api_extra", JSON),
        pa.field("created_at", TIMESTAMP),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)

CUSTOMER_TAGS = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)

CUSTOMER_TRANSACTIONS = pa.schema(
    [
        pa.field("customer_id", pa.string(), nullable=False),
        pa.field("transaction_id", pa.string(), nullable=False),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)

TRANSACTIONS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("customer_id", pa.string()),
        pa.field("event_id", pa.string()),
        pa.field("seller_id", pa.string()),
        pa.field("status", pa.string()),
        pa.field("payment_status", pa.string()),
        pa.field("payment_method", pa.string()),
        pa.field("origin", pa.string()),
        pa.field("real_price", MONEY),
        pa.field("regular_price", MONEY),
        pa.field("currency", pa.string()),
        pa.field("tax_rate", pa.float64()),
        pa.field("ticket_count", pa.int32()),
        pa.field("email", pa.string()),
        pa.field("name", pa.string()),
        pa.field("prename", pa.string()),
        pa.field("lastname", pa.string()),
        pa.field("company", pa.string()),
        pa.field("city", pa.string()),
        pa.field("country", pa.string()),
        pa.field("cancellation_reason", pa.string()),
        pa.field("api_extra", JSON),
        pa.field("created_at", TIMESTAMP),
        pa.field("updated_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)

QUARANTINE = pa.schema(
    [
        pa.field("resource", pa.string(), nullable=False),
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        # The record as received, secrets removed.
        pa.field("payload", JSON, nullable=False),
        pa.field("updated_at", TIMESTAMP),
        *_LINEAGE,
    ]
)

# A tombstone per record confirmed deleted (404) by reconcile.
DELETIONS = pa.schema(
    [
        pa.field("resource", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("deleted_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)

# A record version the quality gate rejected (written by pipelines.quality, replaced on every
# validation): the warehouse skips these (record_id, updated_at) pairs until they validate.
QUALITY_REJECTS = pa.schema(
    [
        pa.field("resource", pa.string(), nullable=False),
        pa.field("record_id", pa.string(), nullable=False),
        pa.field("updated_at", TIMESTAMP),
        # Names of the failed expectations, "<suite>.<expectation>".
        pa.field("expectations", pa.list_(pa.string()), nullable=False),
        # The offending row of the resource's own table, as JSON.
        pa.field("payload", JSON, nullable=False),
        pa.field("validated_at", TIMESTAMP, nullable=False),
        *_LINEAGE,
    ]
)
