"""Upkeep of the logs: one file per checkpoint is folded into few by Delta's optimize, the
replaced files are vacuumed, and every read stays the same."""

from __future__ import annotations

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
