"""`customer-sync lake migrate`: a lake written by customer-sync 0.1 (tests/fixtures/lake-0.1.0)
becomes Delta tables in place; marks, pending runs and history are kept, and the next sync is
incremental and exact."""

from __future__ import annotations

import json
import shutil
import time
from datetime import date
from pathlib import Path

import pytest

from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.clirun import clean_env, run_cli
from tests.sync.truth import mismatches

FIXTURE = Path(__file__).parents[1] / "fixtures" / "lake-0.1.0"
FACTS = json.loads((FIXTURE / "fixture.json").read_text())


def _old_marks() -> dict[str, int]:
    return {
        p.parent.name: json.loads(p.read_text())["high_water_mark_ms"]
        for p in (FIXTURE / "lake").glob("*/_state.json")
    }


@pytest.fixture
def old_lake(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE / "lake", tmp_path / "lake")
    return tmp_path


@pytest.mark.attack("a lake written by the last release, read by this one")
def test_an_old_lake_is_refused_then_migrated_once_and_synced_exactly(old_lake: Path):
    env = clean_env(CUSTOMER_SYNC_DATA_DIR=str(old_lake))
    shown = run_cli("state", "show", env=env)
    assert shown.returncode == 1 and "run `customer-sync lake migrate` once" in shown.stderr

    dry = run_cli("lake", "migrate", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "customers: would migrate" in dry.stderr
    assert (old_lake / "lake" / "customers" / "_state.json").exists()

    first = run_cli("lake", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "customers: migrated 4 run(s)" in first.stderr
    again = run_cli("lake", "migrate", env=env)
    assert again.returncode == 0 and "already migrated" in again.stderr
    assert not list((old_lake / "lake").glob("*/_state.json"))
    assert not list((old_lake / "lake").glob("*/.legacy"))

    lake = Lake(old_lake)
    for resource, mark in _old_marks().items():
        assert lake.load_state(resource).high_water_mark_ms == mark
    state = lake.load_state("customers")
    assert len(state.pending_compaction) == 1
    assert sorted(lake.read_snapshot("customers", "deletions")["id"].to_pylist()) == sorted(
        FACTS["deleted"]
    )
    quarantined = lake.read_snapshot("customers", "quarantine")["record_id"].to_pylist()
    assert sorted(quarantined) == sorted(FACTS["quarantined"])

    # The same seed again, and the fixture's edits: the pending run is merged, later changes
    # fetched incrementally, and the lake ends equal to the simulator.
    store = Store.seeded(*FACTS["seed"], today=date.fromisoformat(FACTS["today"]))
    for cid in FACTS["deleted"]:
        store.delete_customer(cid)
    # The quarantined two are fixed in vivenu since: fetched again, they leave quarantine.
    for cid in [*FACTS["updated_pending"], *FACTS["quarantined"]]:
        store.update_customer(cid, {"notes": "changed after the migration"})
    time.sleep(2.1)  # past the sync's safety lag: a quick start would leave the edits for next run
    with SimulatorServer(store) as sim:
        sync_env = {**env, "VIVENU_BASE_URL": sim.base_url, "VIVENU_API_KEY": sim.api_key}
        done = run_cli("sync", "--json", env=sync_env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        wrong = mismatches(sim, old_lake)
    assert wrong == {}
    assert Lake(old_lake).read_snapshot("customers", "quarantine").num_rows == 0
    summary = json.loads(done.stdout)
    assert summary["customers"]["records_fetched"] < 300  # incremental, not a full resync
