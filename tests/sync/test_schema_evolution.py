"""Fields vivenu starts sending: kept, reported once, never a failed load."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import timedelta

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from pipelines import registry
from pipelines.registry import CUSTOMERS, Field, ResourceSpec
from pipelines.sync.engine import SyncOptions, sync_resource
from pipelines.sync.lake import TABLES, Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader
from pipelines.warehouse.loader import connect
from tests.sync.truth import cli_in_process, client_for, sync


def test_a_new_undeclared_field_is_kept_reported_once_and_loaded(tmp_path):
    store = Store.seeded(120, 3)
    data_dir = tmp_path / "data"
    with SimulatorServer(store, api_key="sim-key") as sim:
        first = cli_in_process(sim, data_dir, "sync", "--json")
        assert first.exit_code == 0, first.output
        known = json.loads(first.stdout)["customers"]["new_api_fields"]
        assert "segments" in known  # what the seed sends beyond the declaration: first met now

        customer_id = store.live_customer_ids()[0]
        # A new field, with a secret nested in it: kept, scrubbed, and named without its value.
        store.update_customer(customer_id, {"loyalty": {"tier": "gold", "apiToken": "LT-SECRET"}})
        time.sleep(2.1)  # past the sync's safety lag
        second = cli_in_process(sim, data_dir, "sync")
        assert second.exit_code == 0, second.output
        assert "new API field `loyalty` on customers, kept in api_extra" in second.stdout
        assert "`segments`" not in second.stdout  # reported once, by the run that met it first

        store.update_customer(customer_id, {"loyalty": {"tier": "platinum"}})
        time.sleep(2.1)
        third = cli_in_process(sim, data_dir, "sync", "--json")
        assert third.exit_code == 0, third.output
        summary = json.loads(third.stdout)["customers"]
        assert summary["new_api_fields"] == [] and summary["records_fetched"] >= 1

    state = Lake(data_dir).load_state("customers")
    assert {"loyalty", "segments"} <= set(state.unmodeled_fields)
    assert state.runs[-2]["new_api_fields"] == ["loyalty"]
    con = connect(data_dir / "warehouse.duckdb", read_only=True)
    try:
        (extra,) = con.execute(
            "SELECT api_extra FROM customers WHERE id = ?", [customer_id]
        ).fetchone()
        versions = con.execute(
            "SELECT count(*) FROM customers_history WHERE id = ? AND api_extra LIKE '%loyalty%'",
            [customer_id],
        ).fetchone()[0]
    finally:
        con.close()
    assert orjson.loads(extra)["loyalty"] == {"tier": "platinum"}
    assert versions == 2
    texts = [
        str(pq.read_table(p).to_pylist())
        if p.suffix == ".parquet"
        else p.read_text("utf-8", "replace")
        for p in (data_dir / "lake").rglob("*")
        if p.is_file() and p.name != ".lock"
    ]
    assert "LT-SECRET" not in "".join(texts)


def _declare(monkeypatch: pytest.MonkeyPatch, new: ResourceSpec) -> None:
    """Ship `new` in place of the resource of its name, as an upgraded checkout would."""
    monkeypatch.setitem(registry.BY_NAME, new.name, new)
    resources = tuple(new if r.name == new.name else r for r in registry.RESOURCES)
    monkeypatch.setattr(registry, "RESOURCES", resources)
    monkeypatch.setattr(loader, "RESOURCES", resources)
    monkeypatch.setitem(TABLES, new.name, new.tables)


def test_a_field_declared_later_becomes_a_column_filled_from_api_extra(tmp_path, monkeypatch):
    store = Store.seeded(150, 4)
    data_dir, db = tmp_path / "data", tmp_path / "data" / "warehouse.duckdb"
    lake = Lake(data_dir)
    with SimulatorServer(store, api_key="sim-key") as sim:
        sync(sim, data_dir)
        loader.load(lake, db, publish_copy=False)
        had = {c["_id"]: c["externalId"] for c in store.customers_truth() if c.get("externalId")}
        assert had  # the seed sends externalId, undeclared so far: in api_extra

        fields = list(CUSTOMERS.fields)
        fields.insert(
            fields.index(CUSTOMERS.field_for("api_extra")), Field("externalId", "external_id")
        )
        upgraded = dataclasses.replace(CUSTOMERS, fields=tuple(fields))
        _declare(monkeypatch, upgraded)
        lake.compact("customers")  # nothing new to merge: the column comes all the same
        snapshot = DeltaTable(lake.snapshot_uri("customers", "customers")).to_pyarrow_table()
        assert {r["id"]: r["external_id"] for r in snapshot.to_pylist() if r["external_id"]} == had
        changed = next(iter(had))
        store.update_customer(changed, {"externalId": "crm-new", "notes": "changed"})
        time.sleep(2.1)  # past the safety lag

        async def incremental() -> int:
            async with client_for(sim) as client:
                result = await sync_resource(
                    client, lake, upgraded, SyncOptions(safety_lag=timedelta(0))
                )
            return result.records

        fetched = asyncio.run(incremental())
    assert fetched < 10  # an incremental run, not a resync
    lake.compact("customers")
    loader.load(lake, db, publish_copy=False)

    expected = {**had, changed: "crm-new"}
    snapshot = DeltaTable(lake.snapshot_uri("customers", "customers")).to_pyarrow_table()
    assert snapshot.schema.field("external_id").type == pa.string()
    rows = {r["id"]: r for r in snapshot.to_pylist()}
    assert {i: r["external_id"] for i, r in rows.items() if r["external_id"]} == expected
    assert not any("externalId" in (r["api_extra"] or "") for r in rows.values())
    assert any("segments" in (r["api_extra"] or "") for r in rows.values())  # still unmodeled
    con = loader.connect(db, read_only=True)
    try:
        live = dict(con.execute("SELECT id, external_id FROM customers").fetchall())
        stale = con.execute(
            "SELECT count(*) FROM customers_history WHERE api_extra LIKE '%externalId%'"
        ).fetchone()[0]
        old = con.execute(
            "SELECT external_id FROM customers_history WHERE id = ? AND valid_to IS NOT NULL",
            [changed],
        ).fetchone()[0]
    finally:
        con.close()
    assert {i: v for i, v in live.items() if v} == expected
    assert stale == 0 and old == had[changed]  # the history is back-filled too
