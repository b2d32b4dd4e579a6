"""Upkeep of the logs: one file per checkpoint is folded into few by Delta's optimize, the
replaced files are vacuumed, and every read stays the same."""

from __future__ import annotations

from pathlib import Path

from deltalake import DeltaTable

from pipelines.sync.lake import Lake
from tests.sync.truth import mismatches, sync


def test_many_small_files_are_optimized_and_reads_stay_equal(simulator, tmp_path):
    for _ in range(4):
        for cid in simulator.store.live_customer_ids()[:5]:
            simulator.store.update_customer(cid, {"notes": "one more run"})
        sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    uri = lake.uri("customers", "changes")
    before = len(DeltaTable(uri).file_uris())
    runs = lake.run_ids("customers", "changes")
    rows = lake.run_rows("customers", "changes", sorted(runs), ["id", "_run_id"])
    with lake.writer("customers") as writer:
        assert writer.tidy("changes", max_files=2)
    after = DeltaTable(uri)
    assert len(after.file_uris()) < before
    assert lake.run_ids("customers", "changes") == runs
    again = lake.run_rows("customers", "changes", sorted(runs), ["id", "_run_id"])
    assert sorted(again.to_pylist(), key=str) == sorted(rows.to_pylist(), key=str)
    state = lake.load_state("customers")
    assert state.high_water_mark_ms and not state.in_progress
    sync(simulator, tmp_path)
    assert mismatches(simulator, tmp_path) == {}


def test_every_table_checkpoints_its_log_so_opening_it_reads_few_commits(simulator, tmp_path):
    # Opening a table reads each commit since its last checkpoint: one GET apiece on S3, and
    # a run commits to `changes` several times (Delta's default: a checkpoint per 100).
    lake = Lake(tmp_path)
    uri = lake.uri("customers", "changes")
    while not DeltaTable.is_deltatable(uri) or DeltaTable(uri).version() < 12:
        for cid in simulator.store.live_customer_ids()[:3]:
            simulator.store.update_customer(cid, {"notes": "one more run"})
        sync(simulator, tmp_path)
    checkpoints = (Path(uri) / "_delta_log").glob("*.checkpoint.parquet")
    assert DeltaTable(uri).version() - max(int(p.name.split(".")[0]) for p in checkpoints) < 10
    tables = [log.parent for log in (tmp_path / "lake").rglob("_delta_log")]
    assert len(tables) >= 10
    for table in tables:
        config = DeltaTable(table).metadata().configuration
        assert config.get("delta.checkpointInterval") == "10", table


def test_a_run_that_wrote_nothing_leaves_the_snapshot_as_it_is(simulator, tmp_path):
    sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    versions = {
        r: DeltaTable(lake.snapshot_uri(r, r)).version() for r in ("customers", "transactions")
    }
    sync(simulator, tmp_path)  # nothing changed: each run writes no row
    for resource, version in versions.items():
        assert DeltaTable(lake.snapshot_uri(resource, resource)).version() == version
        assert not lake.load_state(resource).pending_compaction
    assert mismatches(simulator, tmp_path) == {}
    cid = simulator.store.live_customer_ids()[0]
    simulator.store.update_customer(cid, {"notes": "changed"})
    sync(simulator, tmp_path)
    assert DeltaTable(lake.snapshot_uri("customers", "customers")).version() > versions["customers"]
    assert (
        DeltaTable(lake.snapshot_uri("transactions", "transactions")).version()
        == (versions["transactions"])
    )
    assert mismatches(simulator, tmp_path) == {}
