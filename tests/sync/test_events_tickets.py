"""Events and tickets, declared only in the registry, are synced exactly as customers are:
verified windows while vivenu changes, checkpoints, reconcile, referenced deletions."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta

import pytest
from starlette.requests import Request
from starlette.responses import Response

from pipelines.quality import validate_snapshot
from pipelines.registry import EVENTS, RESOURCES, TICKETS
from pipelines.sync.engine import (
    SyncFailed,
    SyncOptions,
    SyncResult,
    reconcile_resource,
    sync_resource,
)
from pipelines.sync.lake import Lake
from pipelines.sync.windows import WindowPolicy
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter
from tests.adversarial.hostile import Forward, HostileAPI
from tests.sync.truth import cli_in_process, client_for, mismatches, sync

BOTH = ("events", "tickets")
# Small pages and windows: a few thousand tickets take many pages and windows, each answered
# while the writer works.
SMALL_PAGES = WindowPolicy(top=100, window_pages=8)


# Sales (new tickets), cancellations (tickets invalidated), personalizations and event edits.
def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


TICKET_MIX = {
    "create_transaction": 0.3,
    "update_transaction": 0.2,
    "update_ticket": 0.3,
    "update_event": 0.2,
}


@pytest.mark.attack("vivenu selling, canceling and personalizing tickets while the sync pages")
@pytest.mark.parametrize("seed", [1, 2])
def test_events_and_tickets_are_exact_while_the_seller_sells(tmp_path, seed):
    store = Store.seeded(1200, seed)
    writer = BackgroundWriter(store, rate=300, seed=seed, mix=TICKET_MIX)
    with SimulatorServer(store, writer=writer, faults=Faults(latency_ms=3, seed=seed)) as sim:
        results = sync(sim, tmp_path, resources=(TICKETS, EVENTS), policy=SMALL_PAGES)
        assert writer.running
        assert writer.counts["update_ticket"] and writer.counts["create_transaction"]
        assert results["tickets"].records > 2500 and results["tickets"].windows > 1
        for name in BOTH:
            hwm = Lake(tmp_path).load_state(name).high_water_mark_ms
            # Everything not touched after the run's frozen upper bound is exact already.
            assert mismatches(sim, tmp_path, upto_ms=hwm, resources=(name,)) == {}
        writer.stop()
        sim.clear_requests()
        again = sync(sim, tmp_path, resources=(TICKETS, EVENTS), reconcile=True)
        assert mismatches(sim, tmp_path, resources=BOTH) == {}
    # The incremental run read what changed, not the table again.
    assert again["tickets"].records < results["tickets"].records / 2


@pytest.mark.attack("a tickets run stopped by a failing API resumes from its checkpoint")
def test_an_interrupted_tickets_run_resumes_from_its_checkpoint(tmp_path):
    lake = Lake(tmp_path)
    options = SyncOptions(safety_lag=timedelta(0), policy=SMALL_PAGES, batch_rows=200)
    served = {"pages": 0, "failing": True}

    async def fail_midway(request: Request, body: bytes, forward: Forward) -> Response | None:
        if request.url.path != "/api/tickets":
            return None
        served["pages"] += 1
        if served["failing"] and served["pages"] > 25:
            return Response("upstream unavailable", 503)
        return None

    async def run() -> SyncResult:
        async with client_for(sim, via=hostile.base_url, max_attempts=2) as client:
            return await sync_resource(client, lake, TICKETS, options)

    with SimulatorServer(Store.seeded(1500, 5)) as sim, HostileAPI(sim.base_url) as hostile:
        hostile.rules.append(fail_midway)
        with pytest.raises(SyncFailed, match="high-water mark unchanged"):
            asyncio.run(run())
        state = lake.load_state("tickets")
        assert state.high_water_mark_ms is None and state.in_progress is not None
        assert state.in_progress.parts  # windows written before it failed are checkpointed
        served["failing"], served["pages"] = False, 0
        result = asyncio.run(run())
        assert result.resumed and _ms(result.upper) == state.in_progress.upper_ms
        # The resumed run reads only the windows not checkpointed yet.
        assert result.records < len(sim.store.tickets_truth())
        lake.compact("tickets")
        assert mismatches(sim, tmp_path, resources=("tickets",)) == {}


def test_reconcile_removes_the_tickets_of_deleted_transactions(tmp_path):
    store = Store.seeded(600, 7)
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path, resources=RESOURCES)
        # vivenu deletes a transaction's tickets with it; nothing lists a deletion.
        deleted = store.live_transaction_ids()[::50]
        gone = {k["_id"] for k in store.tickets_truth() if k["transactionId"] in set(deleted)}
        for transaction_id in deleted:
            store.delete_transaction(transaction_id)
        assert gone and mismatches(sim, tmp_path, resources=("tickets",)) != {}

        async def reconcile():
            async with client_for(sim) as client:
                return await reconcile_resource(client, Lake(tmp_path), TICKETS)

        found = asyncio.run(reconcile())
        assert (found.candidates, found.confirmed_deleted) == (len(gone), len(gone))
        Lake(tmp_path).compact("tickets")
        assert mismatches(sim, tmp_path, resources=("tickets",)) == {}


@pytest.mark.attack("tickets of customers vivenu deleted before any sync saw them")
def test_tickets_of_customers_deleted_before_any_sync_pass_the_gate(tmp_path):
    store = Store.seeded(300, 9)
    buyers = Counter(k["customerId"] for k in store.tickets_truth() if k.get("customerId"))
    deleted = [c for c, _ in buyers.most_common(12)]
    orphaned = sum(buyers[c] for c in deleted)
    assert orphaned > 0.02 * len(store.tickets_truth())  # far beyond the suite's 1% tolerance
    for customer_id in deleted:
        store.delete_customer(customer_id)
    with SimulatorServer(store) as sim:
        done = cli_in_process(sim, tmp_path, "sync", "--json")
    assert done.exit_code == 0, done.output[-3000:]
    tickets = json.loads(done.stdout)["tickets"]
    assert tickets["quality_passed"] and tickets["warehouse_rows"] == len(store.tickets_truth())
    report = validate_snapshot(Lake(tmp_path), "tickets")
    assert report.passed and report.rejected == 0
    # sync_job ran the resources in the registry's order (tickets before what they name).
    lake = Lake(tmp_path)
    finished = {
        r.name: next(x["finished_at"] for x in lake.load_state(r.name).runs if x["kind"] == "sync")
        for r in RESOURCES
    }
    assert sorted(finished, key=finished.__getitem__) == [r.name for r in RESOURCES]
