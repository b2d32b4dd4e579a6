"""Customers deleted in vivenu, through the real CLI against the simulator: the sync keeps
working, their transactions reach the warehouse, they leave every segment export, and
`quarantine list` says truthfully what the warehouse holds."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse.loader import connect

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path):
    """The simulator and `customer-sync ARGS` as a user runs it (its own process: the code
    location binds the data directory when imported)."""
    store = Store.seeded(300, 7)
    with SimulatorServer(store, api_key="sim-key") as sim:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_", "DAGSTER_"))
        }
        env.update(
            VIVENU_BASE_URL=sim.base_url,
            VIVENU_API_KEY=sim.api_key,
            CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
            CUSTOMER_SYNC_MAX_RPS="1000",
            CUSTOMER_SYNC_SEGMENTS="vip",
            COLUMNS="300",  # one table row per line
        )

        def run(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "pipelines.cli", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
            return done.stdout

        yield store, run


def exported_ids(data_dir) -> set[str]:
    with (data_dir / "exports" / "vip.plain.csv").open(newline="") as f:
        return {row["id"] for row in csv.DictReader(f)}


def warehouse(data_dir, query: str, params: dict) -> list[tuple]:
    con = connect(data_dir / "analytics.duckdb", read_only=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


@pytest.mark.slow
@pytest.mark.attack("11.2 deleting the heaviest buyers blocks every later sync")
def test_deleting_the_heaviest_buyers_keeps_syncs_passing(cli, tmp_path):
    store, run = cli
    run("sync", "--quiet")
    buyers = Counter(t["customerId"] for t in store.transactions_truth() if t.get("customerId"))
    vips = {c["_id"] for c in store.customers_truth() if "vip" in (c.get("tags") or [])}
    vips -= {c["_id"] for c in store.customers_truth() if c.get("blocked")}
    heaviest_vip = max(vips, key=buyers.__getitem__)
    assert heaviest_vip in exported_ids(tmp_path)
    deleted = {heaviest_vip, *(c for c, _ in buyers.most_common(3))}
    orphaned = sorted(t["_id"] for t in store.transactions_truth() if t["customerId"] in deleted)
    assert len(orphaned) / sum(buyers.values()) > 0.01  # beyond customer_id_is_known's `mostly`
    # One-off exports into the same folder: no sync rewrites them as segments.
    run("segments", "export", "--tag", "vip", "--tag", "newsletter")
    run("segments", "export", "--tag", "vip", "--format", "parquet", "--hash-emails")
    one_off_csv = tmp_path / "exports" / "vip_or_newsletter.plain.csv"
    one_off_parquet = tmp_path / "exports" / "vip.hashed.parquet"
    lines_before = one_off_csv.read_text().splitlines()
    assert heaviest_vip in set(pq.read_table(one_off_parquet)["id"].to_pylist())
    for customer_id in deleted:
        store.delete_customer(customer_id)

    run("reconcile", "--quiet")
    assert not exported_ids(tmp_path) & deleted  # the deleted customers left the export
    # ... and every other export in the folder, the remaining rows unchanged to the byte.
    assert one_off_csv.read_text().splitlines() == [
        line for line in lines_before if not any(f'"{c}"' in line for c in deleted)
    ]
    assert len(lines_before) > len(one_off_csv.read_text().splitlines())
    assert not set(pq.read_table(one_off_parquet)["id"].to_pylist()) & deleted
    run("sync", "--quiet")
    ids = {"ids": sorted(deleted)}
    assert warehouse(tmp_path, "SELECT id FROM customers WHERE id IN $ids", ids) == []
    assert {i for (i,) in warehouse(tmp_path, "SELECT id FROM deletions", {})} >= deleted
    kept = warehouse(
        tmp_path, "SELECT id FROM transactions WHERE customer_id IN $ids ORDER BY id", ids
    )
    assert [i for (i,) in kept] == orphaned
    assert not exported_ids(tmp_path) & deleted
    quarantined = json.loads(run("quarantine", "list", "--json"))
    assert not [e for e in quarantined if e["record_id"] in orphaned]
    # The first sync was a full one, within the hour: its listing stands in, at no request.
    again = json.loads(run("reconcile", "--json", "--reuse-listing"))
    assert again["customers_listing_reused_from"] and again["customers_list_requests"] == 0
    assert again["customers_confirmed_deleted"] == 0


@pytest.mark.slow
@pytest.mark.attack("11.2 quarantine list says 'held back from the warehouse' of loaded records")
def test_quarantine_list_says_what_the_warehouse_holds(cli, tmp_path):
    store, run = cli
    run("sync", "--quiet")
    customer_id = sorted(store.live_customer_ids())[0]
    store.update_customer(customer_id, {"primaryEmail": "not an email"})
    time.sleep(2.1)  # past the sync's safety lag
    run("sync", "--quiet")

    (entry,) = json.loads(run("quarantine", "list", "--json"))
    assert (entry["record_id"], entry["source"]) == (customer_id, "quality")
    # The rejected version is not merged, but the record's earlier version is in the warehouse.
    assert entry["in_warehouse"] is True
    assert entry["warehouse_updated_at"] < entry["updated_at"]
    shown = run("quarantine", "list")
    assert "held back" not in shown and "not merged into the warehouse" in shown
    (row,) = [line for line in shown.splitlines() if customer_id in line]
    assert f"yes, version {entry['warehouse_updated_at']}" in row


@pytest.mark.attack("11.2 customers deleted before the first sync: their transactions block it")
def test_customers_deleted_before_the_first_sync_do_not_block_it(cli, tmp_path):
    store, run = cli
    buyers = Counter(t["customerId"] for t in store.transactions_truth() if t.get("customerId"))
    deleted = {c for c, _ in buyers.most_common(3)}
    orphaned = sorted(t["_id"] for t in store.transactions_truth() if t["customerId"] in deleted)
    assert len(orphaned) / sum(buyers.values()) > 0.01  # beyond customer_id_is_known's `mostly`
    for customer_id in deleted:
        store.delete_customer(customer_id)

    summary = json.loads(run("sync", "--json"))
    assert summary["transactions"]["quality_passed"] is True
    ids = {"ids": sorted(deleted)}
    assert {i for (i,) in warehouse(tmp_path, "SELECT id FROM deletions", {})} == deleted
    kept = warehouse(
        tmp_path, "SELECT id FROM transactions WHERE customer_id IN $ids ORDER BY id", ids
    )
    assert [i for (i,) in kept] == orphaned
    run("sync", "--quiet")  # known now: nothing asked twice
    state = json.loads(run("state", "show", "--json"))
    assert state["customers"]["last_run"]["kind"] != "references"
