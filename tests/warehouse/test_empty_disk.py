"""A run on an empty disk (a fresh container sharing only the bucket): three `customer-sync sync`
runs, each in a new empty data directory, end with the warehouse equal to vivenu's truth (less
the record the gate rejects), and each incremental run costs what changed, in the gate too."""

from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.clirun import clean_env, run_cli
from tests.s3 import S3Lake


def _warehouse_from_the_bucket(lake: S3Lake, into: Path) -> dict[str, str]:
    """id -> primary email of the customers in the warehouse file the bucket holds."""
    body = lake.client.get_object(Bucket=lake.bucket, Key="lake/_warehouse/warehouse.duckdb")
    into.write_bytes(body["Body"].read())
    con = duckdb.connect(str(into), read_only=True)
    try:
        return dict(con.execute("SELECT id, primary_email FROM customers").fetchall())
    finally:
        con.close()


@pytest.mark.attack("a run in a fresh container: the warehouse and its marks lost with the disk")
@pytest.mark.slow
def test_three_syncs_in_three_empty_data_dirs_share_the_bucket(tmp_path, s3_lake: S3Lake):
    store = Store.seeded(700, 48)
    bad = store.live_customer_ids()[-1]
    store.update_customer(bad, {"primaryEmail": "not an address"})  # the gate rejects it
    fetched, modes = [], []
    with SimulatorServer(store) as sim:
        for run in range(3):
            if run:
                for cid in store.live_customer_ids()[run * 10 : run * 10 + 15]:
                    store.update_customer(cid, {"primaryEmail": f"run{run}.{cid}@example.org"})
            # Past the sync's safety lag: a change younger than it is the next run's (a run whose
            # process started within 2 s of the edits, the rejected one's too, missed them).
            time.sleep(2.1)
            data_dir = tmp_path / f"container-{run}"  # new and empty each time
            env = clean_env(
                VIVENU_BASE_URL=sim.base_url,
                VIVENU_API_KEY=sim.api_key,
                CUSTOMER_SYNC_DATA_DIR=str(data_dir),
                **s3_lake.env,
            )
            done = run_cli("sync", "--json", env=env, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            fetched.append(json.loads(done.stdout)["customers"]["records_fetched"])
            report = json.loads((data_dir / "quality" / "customers.json").read_text())
            modes.append(report["mode"])
            truth = {
                c["_id"]: c.get("primaryEmail") for c in store.customers_truth() if c["_id"] != bad
            }
            assert _warehouse_from_the_bucket(s3_lake, tmp_path / f"check-{run}.duckdb") == truth
        # Another empty disk sees what the gate rejected, wherever it ran.
        elsewhere = clean_env(CUSTOMER_SYNC_DATA_DIR=str(tmp_path / "analyst"), **s3_lake.env)
        listed = run_cli("quarantine", "list", "--json", env=elsewhere)
        assert listed.returncode == 0, listed.stderr
        assert [e["record_id"] for e in json.loads(listed.stdout)] == [bad], listed.stderr
    # The gate's memory is in the bucket: a fresh container judges what changed, not every row.
    assert modes == ["full", "incremental", "incremental"], modes
    assert fetched[0] == 700
    assert all(15 <= n < 60 for n in fetched[1:]), fetched  # what changed, plus the lookback
    assert "lake/_warehouse/analytics.duckdb" in s3_lake.listing()
