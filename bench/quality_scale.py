"""Time the quality gate on a synthesized 1,000,000-customer lake (no simulator needed).

    .venv/bin/python -m bench.quality_scale [--customers 1000000] [--changed 0.01]
        [--data-dir /tmp/quality-bench]

Writes customers, customer_tags, customer_transactions and transactions snapshots with pyarrow
(~2 tags, ~1.5 transactions per customer), then runs `validate_snapshot` for both resources (a
full validation: the first one). Then it simulates an incremental sync that changed `--changed`
of the customers and of the transactions, as compaction leaves it (a change batch under
`changes/run=<id>/`, the changed rows, and their tag and link rows, with the new `_run_id`, a
`sync` run in the lake's sync state; a few changed customers get a broken email), and validates again
(incremental). Prints the GX import time and each validation's wall time.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.sync import schemas
from pipelines.sync.lake import TABLES, Lake


def _ids(prefix: int, n: int) -> pa.Array:
    return pa.array([f"{prefix:08x}{i:016x}" for i in range(n)])


def _ts(ms: np.ndarray) -> pa.Array:
    return pa.array(ms * 1000, pa.int64()).cast(schemas.TIMESTAMP)


def synthesize(data_dir: Path, n: int, seed: int = 1) -> Lake:
    rng = np.random.default_rng(seed)
    lake = Lake(data_dir)
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    created = rng.integers(now_ms - 5 * 365 * 86_400_000, now_ms - 86_400_000, n)
    updated = created + rng.integers(0, 86_400_000, n)
    ids = _ids(1, n)
    n_tx = n * 3 // 2
    tx_ids = _ids(2, n_tx)
    owner = rng.integers(0, n, n_tx)
    lineage = {"_run_id": pa.array(["bench"] * n), "_synced_at": _ts(np.full(n, now_ms))}
    countries = np.array(["DE", "AT", "CH", "GB", "FR", "NL", "US", None], dtype=object)
    customers = {
        "id": ids,
        "primary_email": pa.array([f"user{i}@example.com" for i in range(n)]),
        "location_country": pa.array(countries[rng.integers(0, len(countries), n)]),
        "has_account": pa.array(np.zeros(n, bool)),
        "created_at": _ts(created),
        "updated_at": _ts(updated),
        **lineage,
    }
    table = pa.table(
        {
            f.name: customers.get(f.name, pa.nulls(n, f.type))
            for f in TABLES["customers"]["customers"]
        }
    ).cast(TABLES["customers"]["customers"])
    lake.write_snapshot("customers", "customers", table)

    tag_vocab = np.array(["vip", "newsletter", "member", "Früh bucher", "kids club", "jazz"])
    tag_owner = rng.integers(0, n, 2 * n)
    tags = pa.table(
        {
            "customer_id": ids.take(pa.array(tag_owner)),
            "tag": pa.array(tag_vocab[rng.integers(0, len(tag_vocab), 2 * n)]),
            "updated_at": _ts(updated[tag_owner]),
            "_run_id": pa.array(["bench"] * 2 * n),
            "_synced_at": _ts(np.full(2 * n, now_ms)),
        }
    )
    lake.write_snapshot(
        "customers", "customer_tags", tags.cast(TABLES["customers"]["customer_tags"])
    )
    tx_lineage = {"_run_id": pa.array(["bench"] * n_tx), "_synced_at": _ts(np.full(n_tx, now_ms))}
    links = pa.table(
        {
            "customer_id": ids.take(pa.array(owner)),
            "transaction_id": tx_ids,
            "updated_at": _ts(updated[owner]),
            **tx_lineage,
        }
    )
    lake.write_snapshot(
        "customers",
        "customer_transactions",
        links.cast(TABLES["customers"]["customer_transactions"]),
    )
    tx_created = updated[owner]
    tx = {
        "id": tx_ids,
        "customer_id": ids.take(pa.array(owner)),
        "status": pa.array(np.array(["COMPLETE", "CANCELED", "NEW"])[rng.integers(0, 3, n_tx)]),
        "payment_status": pa.array(np.array(["RECEIVED", "REFUND"])[rng.integers(0, 2, n_tx)]),
        "real_price": pc.cast(pa.array(rng.integers(0, 50_000, n_tx) / 100), schemas.MONEY),
        "regular_price": pc.cast(pa.array(rng.integers(0, 50_000, n_tx) / 100), schemas.MONEY),
        "currency": pa.array(np.array(["EUR", "CHF", "GBP"])[rng.integers(0, 3, n_tx)]),
        "created_at": _ts(tx_created),
        "updated_at": _ts(tx_created + 1000),
        **tx_lineage,
    }
    tx_table = pa.table(
        {
            f.name: tx.get(f.name, pa.nulls(n_tx, f.type))
            for f in TABLES["transactions"]["transactions"]
        }
    ).cast(TABLES["transactions"]["transactions"])
    lake.write_snapshot("transactions", "transactions", tx_table)
    return lake


def _update(lake: Lake, resource: str, table: str, key: str, ids: pa.Array, change: dict) -> int:
    """Give the rows of `table` whose `key` is in `ids` new column values; returns their count."""
    snapshot = lake.read_snapshot(resource, table)
    hit = pc.is_in(snapshot.column(key), value_set=ids)
    rows = snapshot.filter(hit)
    for name, value in change.items():
        column = value(rows) if callable(value) else pa.array([value] * len(rows))
        i = rows.schema.get_field_index(name)
        rows = rows.set_column(i, rows.schema.field(i), column.cast(rows.schema.field(i).type))
    merged = pa.concat_tables([snapshot.filter(pc.invert(hit)), rows])
    order = [(key, "ascending")] + ([("tag", "ascending")] if table == "customer_tags" else [])
    lake.write_snapshot(resource, table, merged.sort_by(order))
    return len(rows)


def simulate_incremental_sync(
    lake: Lake, share: float, run_id: str, seed: int = 2
) -> dict[str, int]:
    """Change `share` of the customers and of the transactions as a compacted sync run would."""
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    changed = {}
    for resource in TABLES:
        ids = lake.read_snapshot(resource, resource).column("id").combine_chunks()
        picked = ids.take(pa.array(rng.choice(len(ids), int(len(ids) * share), replace=False)))
        lineage = {"_run_id": run_id, "_synced_at": now}

        def later(rows: pa.Table) -> pa.Array:
            return pc.add(rows.column("updated_at"), pa.scalar(3_600_000_000, pa.duration("us")))

        change = {"updated_at": later, **lineage}
        if resource == "customers":
            broken = len(picked) // 100  # 1% of the changed customers now fail the email check

            def email(rows: pa.Table, broken_ids: pa.Array = picked[:broken]) -> pa.Array:
                bad = pc.is_in(rows.column("id"), value_set=broken_ids)
                return pc.if_else(bad, "broken", rows.column("primary_email"))

            change["primary_email"] = email
            for table in ("customer_tags", "customer_transactions"):
                _update(
                    lake, resource, table, "customer_id", picked, {"updated_at": later, **lineage}
                )
        n = _update(lake, resource, resource, "id", picked, change)
        batch = lake.read_snapshot(resource, resource)
        batch = batch.filter(pc.is_in(batch.column("id"), value_set=picked))
        with lake.writer(resource) as writer:
            writer.state.runs.append(
                {"run_id": run_id, "kind": "sync", "records_fetched": n, "rows_written": n,
                 "quarantined": 0}
            )  # fmt: skip
            writer.commit(writer.state, batch)
        changed[resource] = n
    return changed


def _validate_all(label: str, lake: Lake) -> None:
    from pipelines.quality import validate_snapshot

    for resource in ("customers", "transactions"):
        started = time.monotonic()
        report = validate_snapshot(lake, resource)
        print(
            f"{label} {resource}: {report.rows:,} rows, {len(report.expectations)} expectations, "
            f"{report.mode}, re-judged {report.rows_revalidated:,} rows, carried over "
            f"{report.rows_carried_over:,}, passed={report.passed}, rejected={report.rejected}, "
            f"{time.monotonic() - started:.2f} s"
        )
        for s in report.suites:
            print(f"    {s.suite}: {s.judged:,} of {s.rows:,} rows judged, {s.seconds:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/quality-bench"))
    args = parser.parse_args()
    if args.data_dir.exists():
        shutil.rmtree(args.data_dir)
    started = time.monotonic()
    lake = synthesize(args.data_dir, args.customers)
    print(f"synthesized {args.customers:,} customers in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    import great_expectations  # noqa: F401

    print(f"import great_expectations: {time.monotonic() - started:.1f} s")
    _validate_all("full", lake)
    started = time.monotonic()
    n = simulate_incremental_sync(lake, args.changed, run_id="bench-incremental")
    print(f"changed {n} in {time.monotonic() - started:.1f} s")
    _validate_all("incremental", lake)


if __name__ == "__main__":
    main()
