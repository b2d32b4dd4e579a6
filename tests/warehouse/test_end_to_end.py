"""A real sync from the simulator into the warehouse, the analytics and segments via Dagster."""

from __future__ import annotations

import dagster as dg

from assets import analytics, segments, warehouse
from pipelines.resources import LakeResource
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse.loader import analyst_path, connect
from pipelines.warehouse.resource import WarehouseResource
from tests.sync.truth import sync

ASSETS = [
    warehouse.warehouse,
    *(getattr(analytics, name) for name in analytics.TABLES),
    analytics.analyst_copy,
    segments.segment_exports,
]


def run(data_dir):
    result = dg.materialize(
        ASSETS,
        resources={
            "lake": LakeResource(data_dir=str(data_dir)),
            "warehouse": WarehouseResource(db_path=str(data_dir / "warehouse.duckdb")),
        },
        run_config={"ops": {"customer_rfm": {"config": {"as_of": "2030-01-01"}}}},
    )
    assert result.success
    return {
        m.asset_key.to_user_string(): m.metadata
        for node in [a.op.name for a in ASSETS]
        for m in result.asset_materializations_for_node(node)
    }


def live(data_dir, resource):
    snap = Lake(data_dir).read_snapshot(resource, resource, ["id", "updated_at"])
    return sorted(zip(snap["id"].to_pylist(), snap["updated_at"].to_pylist(), strict=True))


def test_sync_load_analytics_segments_and_a_deletion(tmp_path, monkeypatch):
    store = Store.seeded(150, 5)
    db = tmp_path / "warehouse.duckdb"
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path)
        customers = Lake(tmp_path).read_snapshot("customers", "customers").to_pylist()
        tag = next(c["tags"][0] for c in customers if c["tags"] and not c["blocked"])
        monkeypatch.setenv("CUSTOMER_SYNC_SEGMENTS", tag)
        meta = run(tmp_path)
        con = connect(analyst_path(db), read_only=True)
        try:
            for resource in ("customers", "transactions"):
                got = con.execute(f"SELECT id, updated_at FROM {resource} ORDER BY id").fetchall()
                assert got == live(tmp_path, resource)
            (in_segment,) = con.execute(
                "SELECT min(id) FROM customers WHERE list_contains(tags, $t) AND NOT blocked",
                {"t": tag},
            ).fetchall()[0]
            (tables,) = zip(*con.execute("SHOW TABLES").fetchall(), strict=True)
            assert set(analytics.TABLES) <= set(tables)
        finally:
            con.close()
        assert "| month | " in meta["monthly_spend"]["revenue_by_month"].value
        assert "| segment | " in meta["customer_rfm"]["segment_sizes"].value
        assert "| tag | customers |" in meta["tag_summary"]["top_tags"].value
        (export,) = (tmp_path / "exports").iterdir()
        assert in_segment in export.read_text()

        store.delete_customer(in_segment)
        sync(sim, tmp_path, reconcile=True)
        meta = run(tmp_path)
        assert meta["warehouse"]["customers_deleted"].value == 1
        assert in_segment not in export.read_text()
        con = connect(analyst_path(db), read_only=True)
        try:
            assert con.execute(
                "SELECT count(*) FROM customers WHERE id = $i", {"i": in_segment}
            ).fetchall() == [(0,)]
        finally:
            con.close()
        # Nothing new: a rerun changes nothing.
        meta = run(tmp_path)
        assert meta["warehouse"]["customers_runs_loaded"].value == 0


def test_a_run_publishes_the_analyst_copy_once_with_fresh_analytics(tmp_path, monkeypatch):
    from pipelines.warehouse import loader
    from tests.warehouse.lakefix import commit_run, customer, txn

    run_id = "20240101T000000000Z-000001"
    commit_run(tmp_path, "customers", run_id, customers=[customer("c1", "2024-01-01")])
    commit_run(tmp_path, "transactions", run_id, transactions=[txn("t1", "c1", "2024-01-02", "9")])
    published = []
    real = loader.publish

    def spy(db_path, target=None, **kwargs):
        published.append(db_path)
        return real(db_path, target, **kwargs)

    monkeypatch.setattr(loader, "publish", spy)
    monkeypatch.setenv("CUSTOMER_SYNC_SEGMENTS", "vip")
    meta = run(tmp_path)
    # Once, by analyst_copy after the analytics (not also by the load, with stale analytics).
    assert len(published) == 1
    assert "analyst_copy" not in meta["warehouse"]
    con = connect(analyst_path(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT customer_id, revenue FROM customer_spend").fetchall() == [
            ("c1", 9)
        ]
    finally:
        con.close()
    # segment_exports reads analytics.duckdb, so it runs after analyst_copy.
    assert (
        dg.AssetKey("analyst_copy")
        in segments.segment_exports.asset_deps[dg.AssetKey("segment_exports")]
    )
