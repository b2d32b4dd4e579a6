"""History retention: replaced versions older than the retention leave the lake; current ones
stay, so the snapshot rebuilt from the logs is the same."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.erase.retention import compact_history, compact_warehouse_history
from pipelines.registry import Resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader
from tests.erase.world import scan
from tests.sync.truth import mismatches, sync


def _emails_on_disk(lake_dir: Path) -> str:
    out = []
    for path in (lake_dir / "customers").rglob("*.parquet"):
        out.append(str(pq.read_table(path).to_pylist()))
    return " ".join(out)


def test_replaced_versions_go_and_current_ones_stay(tmp_path: Path) -> None:
    with SimulatorServer(Store.seeded(40, 2)) as sim:
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))
        victim = sim.store.live_customer_ids()[0]
        old = sim.store.get_customer(victim)["primaryEmail"]
        sim.store.update_customer(victim, {"primaryEmail": f"new.{victim}@example.org"})
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))
        lake = Lake(tmp_path)
        assert old in _emails_on_disk(tmp_path / "lake")
        later = datetime.now(UTC) + timedelta(days=31)

        assert compact_history(lake, timedelta(days=30), now=later, dry_run=True)["customers"] == 1
        assert compact_history(lake, timedelta(days=30), now=later)["customers"] == 1

        assert old not in _emails_on_disk(tmp_path / "lake")
        changes = lake.dataset("customers", "changes")
        assert changes is not None and changes.count_rows() == 40
        # Nothing current was lost: a snapshot rebuilt from the logs is vivenu's state.
        shutil.rmtree(tmp_path / "lake" / "customers" / "snapshot" / "customers")
        lake.compact("customers")
        assert mismatches(sim, tmp_path, resources=("customers",)) == {}
        assert compact_history(lake, timedelta(days=30), now=later)["customers"] == 0


def _history(db: Path, customer_id: str) -> list[tuple]:
    con = loader.connect(db, read_only=True)
    try:
        return con.execute(
            "SELECT primary_email, valid_to IS NULL FROM customers_history WHERE id = $id "
            "ORDER BY valid_from",
            {"id": customer_id},
        ).fetchall()
    finally:
        con.close()


def test_the_warehouse_history_keeps_only_what_the_retention_allows(tmp_path: Path) -> None:
    with SimulatorServer(Store.seeded(40, 2)) as sim:
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))
        db = tmp_path / "warehouse.duckdb"
        lake = Lake(tmp_path)
        loader.load(lake, db)
        victim, gone = sim.store.live_customer_ids()[:2]
        old = sim.store.get_customer(victim)["primaryEmail"]
        new = f"new.{victim}@example.org"
        sim.store.update_customer(victim, {"primaryEmail": new})
        sim.store.delete_customer(gone)
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,), reconcile=True)
        loader.load(lake, db)
        assert _history(db, victim) == [(old, False), (new, True)]
        (last,) = _history(db, gone)
        held = {n for n, _, _ in scan(tmp_path, {victim: {old}})}
        assert {"warehouse.duckdb", "analytics.duckdb"} <= held
        retention = timedelta(days=30)

        assert compact_warehouse_history(lake, db, retention) == {}  # replaced today: kept
        later = datetime.now(UTC) + timedelta(days=31)
        dry = compact_warehouse_history(lake, db, retention, now=later, dry_run=True)
        assert dry == {"customers_history": 1}
        assert compact_warehouse_history(lake, db, retention, now=later) == dry

        assert _history(db, victim) == [(new, True)]
        # A deleted customer's last version was closed by the deletion, not replaced: it stays.
        assert _history(db, gone) == [last]
        # Neither DuckDB file holds it (rewritten; the lake keeps it until compact_history).
        assert [n for n, _, _ in scan(tmp_path, {victim: {old}}) if ".duckdb" in n] == []
        assert compact_warehouse_history(lake, db, retention, now=later) == {}


def test_the_command_needs_the_retention(tmp_path: Path, monkeypatch) -> None:
    from click.testing import CliRunner

    from pipelines.cli import main

    monkeypatch.setenv("CUSTOMER_SYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTOMER_SYNC_HISTORY_RETENTION", raising=False)
    result = CliRunner().invoke(main, ["lake", "compact-history"])
    assert result.exit_code == 3 and "CUSTOMER_SYNC_HISTORY_RETENTION is not set" in result.output
    monkeypatch.setenv("CUSTOMER_SYNC_HISTORY_RETENTION", "0")
    result = CliRunner().invoke(main, ["lake", "compact-history", "--dry-run"])
    assert result.exit_code == 3 and "not a whole number of days >= 1" in result.output
