"""Explicit Arrow types and the tables every resource shares: nothing is inferred.

Each resource's own table and link tables are derived from its declaration in
`pipelines.registry`.

Timestamps are microsecond UTC (DuckDB's TIMESTAMPTZ), money is a decimal, nested objects we
do not flatten are JSON strings, and each row carries its lineage (`_run_id`, `_synced_at`).
"""

from __future__ import annotations

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 4)
JSON = pa.string()

# Every row of every table carries its lineage.
LINEAGE = [
    pa.field("_run_id", pa.string(), nullable=False),
    pa.field("_synced_at", TIMESTAMP, nullable=False),
]

QUARANTINE = pa.schema(
    [
        pa.field("resource", pa.string(), nullable=False),
        pa.field("record_id", pa.string()),
        pa.field("reason", pa.string(), nullable=False),
        # The record as received, secrets removed.
        pa.field("payload", JSON, nullable=False),
        pa.field("updated_at", TIMESTAMP),
        *LINEAGE,
    ]
)

# A tombstone per record confirmed deleted (404) by reconcile.
DELETIONS = pa.schema(
    [
        pa.field("resource", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("deleted_at", TIMESTAMP, nullable=False),
        *LINEAGE,
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
        *LINEAGE,
    ]
)
