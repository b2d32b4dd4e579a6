"""Compaction derives a link table only for the records the incoming batches touch; the result
must equal the link table of the whole merged snapshot (and the simulator's truth) after
changed, emptied, new and deleted records."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from tests.sync.truth import mismatches, sync


def _pairs(table: pa.Table, key: str, value: str) -> set[tuple[str, str]]:
    return set(zip(table[key].to_pylist(), table[value].to_pylist(), strict=True))


def _unnested(lake: Lake, column: str) -> set[tuple[str, str]]:
    rows = lake.read_snapshot("customers", "customers", ["id", column]).to_pylist()
    return {(r["id"], v) for r in rows for v in r[column] or () if v is not None}


def _truth_tags(sim: SimulatorServer) -> set[tuple[str, str]]:
    store = sim.store
    docs = (store.customers.doc(store.customers.slot(cid)) for cid in store.live_customer_ids())
    return {(d["_id"], t) for d in docs for t in d.get("tags") or ()}


def test_link_tables_follow_changed_new_and_deleted_records(simulator, tmp_path: Path):
    sync(simulator, tmp_path, full=True)
    store = simulator.store
    ids = store.live_customer_ids()
    for n, cid in enumerate(ids[:40]):
        store.update_customer(cid, {"tags": [f"relabelled-{n}", "shared"]})
    for cid in ids[40:50]:
        store.update_customer(cid, {"tags": []})
    for cid in ids[50:55]:
        store.delete_customer(cid)
    for n in range(5):
        store.create_customer({"primaryEmail": f"new-{n}@example.com", "tags": [f"fresh-{n}"]})
    sync(simulator, tmp_path, reconcile=True)

    lake = Lake(tmp_path)
    tags = _pairs(lake.read_snapshot("customers", "customer_tags"), "customer_id", "tag")
    assert tags == _unnested(lake, "tags") == _truth_tags(simulator)
    links = lake.read_snapshot("customers", "customer_transactions")
    assert _pairs(links, "customer_id", "transaction_id") == _unnested(lake, "transaction_ids")
    assert not {cid for cid, _ in tags} & set(ids[40:55])
    assert mismatches(simulator, tmp_path) == {}
