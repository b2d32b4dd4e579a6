"""The sync is exact: mutation while paging, bulk imports, faults; always compared with truth."""

from __future__ import annotations

import pytest

from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter
from tests.sync.truth import mismatches, sync


@pytest.mark.attack("vivenu changing while the sync pages")
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_writer_mutating_while_the_sync_pages(tmp_path, seed):
    store = Store.seeded(6000, seed)
    writer = BackgroundWriter(store, rate=400, seed=seed)
    with SimulatorServer(store, writer=writer, faults=Faults(latency_ms=2, seed=seed)) as sim:
        results = sync(sim, tmp_path)
        assert writer.running and sum(writer.counts.values()) > 0
        hwm = Lake(tmp_path).load_state("customers").high_water_mark_ms
        # Everything not touched after the frozen upper bound is exact already.
        assert mismatches(sim, tmp_path, upto_ms=hwm) == {}
        assert results["customers"].records > 5000
        writer.stop()
        sync(sim, tmp_path, reconcile=True)
        assert mismatches(sim, tmp_path) == {}


def test_more_than_a_page_sharing_one_millisecond(tmp_path):
    store = Store.seeded(500, 11)
    ms = store.now_ms() - 60_000
    store.bulk_import(1700, updated_at_ms=ms)
    with SimulatorServer(store) as sim:
        results = sync(sim, tmp_path)
        assert mismatches(sim, tmp_path) == {}
        assert results["customers"].records == 2200


@pytest.mark.attack("more than a page in one millisecond, changing while paged")
def test_more_than_a_page_in_one_millisecond_while_it_changes(tmp_path):
    store = Store.seeded(8000, 12)
    ms = store.now_ms() - 60_000
    store.bulk_import(2500, updated_at_ms=ms)
    # ~1 in 4 updates lands in the bulk-imported millisecond while it is paged.
    writer = BackgroundWriter(store, rate=150, seed=12, mix={"update_customer": 1.0})
    with SimulatorServer(store, writer=writer, faults=Faults(latency_ms=5)) as sim:
        sync(sim, tmp_path)
        assert writer.counts["update_customer"] > 0
        writer.stop()
        sync(sim, tmp_path)
        assert mismatches(sim, tmp_path) == {}


@pytest.mark.parametrize(
    "faults",
    [
        Faults(rate_429=0.3, retry_after=None, seed=1),
        Faults(rate_429=0.3, retry_after="0", seed=2),
        Faults(rate_429=0.15, retry_after="1", seed=3),
        Faults(error_5xx_rate=0.25, seed=4),
        Faults(drop_rate=0.2, seed=5),
    ],
    ids=["429-absent", "429-zero", "429-numeric", "5xx", "dropped"],
)
@pytest.mark.attack("429 storms, 5xx and dropped connections")
def test_faults_are_retried_and_nothing_is_lost(tmp_path, faults):
    store = Store.seeded(4000, 21)
    with SimulatorServer(store, faults=faults) as sim:
        results = sync(sim, tmp_path, max_attempts=12)
        assert sum(r.retries for r in results.values()) > 0
        assert mismatches(sim, tmp_path) == {}


def test_incremental_run_costs_what_changed(tmp_path):
    store = Store.seeded(20000, 31)
    with SimulatorServer(store) as sim:
        full = sync(sim, tmp_path)["customers"]
        changed = store.live_customer_ids()[::100]  # 1%
        for cid in changed:
            store.update_customer(cid, {"notes": "changed in vivenu"})
        sim.clear_requests()
        incr = sync(sim, tmp_path)["customers"]
        customer_requests = [r for r in sim.requests if r.path == "/api/customers/rich"]
        assert mismatches(sim, tmp_path) == {}
    assert incr.written == len(changed) == 200
    assert len(customer_requests) <= 3 < full.requests
    assert incr.requests / full.requests < 0.05


@pytest.mark.attack("a run stopped by a failing API resumes with the same bounds")
def test_interrupted_run_resumes_with_the_same_bounds(tmp_path):
    store = Store.seeded(8000, 41)
    with SimulatorServer(store) as sim:
        sim.faults.error_5xx_rate = 1.0
        with pytest.raises(Exception, match="high-water mark unchanged"):
            sync(sim, tmp_path, max_attempts=2)
        state = Lake(tmp_path).load_state("customers")
        assert state.high_water_mark_ms is None and state.in_progress is not None
        sim.faults.error_5xx_rate = 0.0
        results = sync(sim, tmp_path)
        assert results["customers"].resumed
        assert results["customers"].upper.timestamp() * 1000 == state.in_progress.upper_ms
        assert mismatches(sim, tmp_path) == {}
