"""A lake written by the code before the resource registry is synced and loaded without a resync."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.registry import RESOURCES
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store, iso_to_ms_fast
from pipelines.warehouse.loader import connect
from tests.sync.truth import cli_in_process

# Written by `bench/old_lake.py --fixture` with the commit before pipelines/registry.py existed
# (fixture.json names it): that code's full sync of a tiny seeded seller, its lake as it left it.
FIXTURE = Path(__file__).parent / "old_lake"
QUERIES = {
    "customers": "SELECT id, updated_at FROM customers",
    "transactions": "SELECT id, updated_at FROM transactions",
}


def _versions(t: pa.Table) -> dict[str, int]:
    ms = pc.cast(pc.cast(t.column("updated_at"), pa.timestamp("ms", "UTC")), "int64")
    return dict(zip(t.column("id").to_pylist(), ms.to_pylist(), strict=True))


def _truth(store: Store) -> dict[str, dict[str, int]]:
    return {
        "customers": {d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.customers_truth()},
        "transactions": {
            d["_id"]: iso_to_ms_fast(d["updatedAt"]) for d in store.transactions_truth()
        },
    }


def _lake(data_dir: Path, name: str) -> dict[str, int]:
    path = data_dir / "lake" / name / "snapshot" / f"{name}.parquet"
    return _versions(pq.read_table(path, columns=["id", "updated_at"]))


def test_an_old_lake_is_synced_incrementally_gated_and_loaded(tmp_path):
    meta = json.loads((FIXTURE / "fixture.json").read_text())
    store = Store.seeded(meta["customers"], meta["seed"], today=date.fromisoformat(meta["today"]))
    data_dir = tmp_path / "data"
    shutil.copytree(FIXTURE / "lake", data_dir / "lake")
    before = _truth(store)
    for name in before:  # else the simulator's seeding changed: regenerate the fixture
        assert _lake(data_dir, name) == before[name], f"{FIXTURE} is not the seeded {name}"

    updated = store.live_customer_ids()[:3]
    for customer_id in updated:
        store.update_customer(customer_id, {"notes": "changed after the upgrade"})
    store.create_customer({"primaryEmail": "upgraded@example.com", "prename": "New"})
    refunded = store.live_transaction_ids()[:2]
    for transaction_id in refunded:
        store.update_transaction(transaction_id, {"paymentStatus": "REFUND"})
    time.sleep(2.1)  # past the sync's safety lag
    with SimulatorServer(store, api_key="sim-key") as sim:
        result = cli_in_process(sim, data_dir, "sync", "--json")
        requests = len(sim.requests)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)

    # Only the changes are fetched: 3 updated customers, the new one, 2 refunded transactions.
    assert summary["customers"]["records_fetched"] == 4
    assert summary["transactions"]["records_fetched"] == 2
    # One window per resource: a resource the old code did not know starts its first sync here.
    assert requests <= 2 * len(RESOURCES)
    after = _truth(store)
    con = connect(data_dir / "warehouse.duckdb", read_only=True)
    try:
        for name, live in after.items():
            assert summary[name]["quality_passed"] is True
            assert _lake(data_dir, name) == live
            warehouse = con.sql(QUERIES[name]).to_arrow_table()
            assert _versions(warehouse) == live
        # The old full run's versions are history now for the 3 updated customers.
        history = con.execute(
            "SELECT count(*) FROM customers_history WHERE list_contains(?, id)", [updated]
        ).fetchone()[0]
    finally:
        con.close()
    assert history == 6
