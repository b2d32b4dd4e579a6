"""Compaction derives a link table only for the records the incoming batches touch; the result
must equal the link table of the whole merged snapshot (and the simulator's truth) after
changed, emptied, new and deleted records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

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


def test_link_rows_of_a_record_gone_from_the_snapshot_go_too(simulator, tmp_path: Path):
    """A record removed from the records snapshot alone (an erasure killed between its tables)
    takes its link rows along at the next compaction, though no run brings the record."""
    sync(simulator, tmp_path, full=True)
    lake = Lake(tmp_path)
    ids = simulator.store.live_customer_ids()
    gone = next(c for c in ids if _unnested(lake, "tags") & {(c, t) for t in ("vip", "newsletter")})
    write_deltalake(
        lake.snapshot_uri("customers", "customers"),
        lake.read_snapshot("customers", "customers").slice(0, 0),
        mode="overwrite",
        predicate=f"id IN ('{gone}')",
    )
    simulator.store.update_customer(ids[-1], {"tags": ["after"]})
    sync(simulator, tmp_path)

    tags = _pairs(lake.read_snapshot("customers", "customer_tags"), "customer_id", "tag")
    assert tags == _unnested(lake, "tags")
    assert gone not in {cid for cid, _ in tags}
    links = lake.read_snapshot("customers", "customer_transactions")
    assert _pairs(links, "customer_id", "transaction_id") == _unnested(lake, "transaction_ids")


def test_a_duplicated_id_in_the_snapshot_never_loses_the_record(simulator, tmp_path: Path):
    """A snapshot holding one id twice (a hand-written or damaged one), older and newer than the
    version a run brings: the record stays, as the newest version the snapshot or the run has."""
    sync(simulator, tmp_path, full=True)
    lake = Lake(tmp_path)
    cid = simulator.store.live_customer_ids()[3]
    simulator.store.update_customer(cid, {"notes": "between"})
    rows = lake.read_snapshot("customers", "customers")
    row = rows.filter(pc.equal(rows["id"], cid))
    later = row.set_column(
        row.schema.get_field_index("updated_at"),
        "updated_at",
        pa.array([datetime.now(UTC) + timedelta(days=1)], row.schema.field("updated_at").type),
    )
    lake.write_snapshot("customers", "customers", pa.concat_tables([rows, later.cast(rows.schema)]))
    sync(simulator, tmp_path)

    kept = lake.read_snapshot("customers", "customers", ["id", "updated_at"], ids=[cid])
    assert len(kept) >= 1
    assert max(kept["updated_at"].to_pylist()) == later["updated_at"][0].as_py()
