"""What a real sync records in the UI's instance: row counts and column schemas per asset."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from pipelines.definitions import defs
from pipelines.instance import install_instance
from pipelines.sync.lake import TABLES
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store


# Slow: a CLI subprocess (dagster and GX imports) running the whole sync_job into a persistent
# instance, 10-15 s on an idle 2-core machine.
@pytest.mark.slow
def test_cli_sync_records_row_counts_and_column_schemas(tmp_path):
    data_dir = tmp_path / "data"
    home = install_instance(data_dir / "dagster_home")
    with SimulatorServer(Store.seeded(200, 5)) as sim:
        env = {
            **os.environ,
            "VIVENU_BASE_URL": sim.base_url,
            "VIVENU_API_KEY": sim.api_key,
            "CUSTOMER_SYNC_DATA_DIR": str(data_dir),
            "CUSTOMER_SYNC_MAX_RPS": "1000",
            "DAGSTER_HOME": str(home),
        }
        cli = Path(sys.executable).with_name("customer-sync")
        subprocess.run([str(cli), "sync", "--quiet"], env=env, check=True, timeout=120)
        truth = sim.store.counts()

    with dg.DagsterInstance.from_config(str(home)) as instance:

        def meta(asset: str) -> dict:
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.asset_materialization is not None, asset
            return {k: v.value for k, v in event.asset_materialization.metadata.items()}

        changes = meta("customer_changes")
        assert changes["dagster/row_count"] == changes["rows_written"] == truth["customers"]
        assert meta("transaction_snapshot")["dagster/row_count"] == truth["transactions"]
        assert meta("segment_exports")["dagster/row_count"] >= 0
        schema = meta("customer_spend")["dagster/column_schema"]

    with duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True) as con:
        built = [row[0] for row in con.execute("DESCRIBE customer_spend").fetchall()]
    assert [c.name for c in schema.columns] == built and "revenue" in built
    # The lake assets' schemas are definition metadata, from the Arrow declarations.
    node = defs.resolve_asset_graph().get(dg.AssetKey("customer_changes"))
    names = [c.name for c in node.metadata["dagster/column_schema"].columns]
    assert names == TABLES["customers"]["customers"].names
