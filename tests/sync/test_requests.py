"""The sync sends the least requests exactness allows: the floor when nothing changes, and a
page more only where offsets shifted further than pages overlap."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.sync.engine import (
    REUSE_LISTING_WITHIN,
    ReconcileResult,
    SyncOptions,
    _normalized,
    reconcile_resource,
)
from pipelines.sync.lake import Lake
from pipelines.sync.normalize import Lineage
from pipelines.sync.windows import WindowPolicy, page_skips
from pipelines.vivenu.client import Resource
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import client_for, mismatches, sync
from tests.test_registry import _customer

CUSTOMERS = "/api/customers/rich"


def _floor(records: int) -> int:
    return max(1, math.ceil(records / 1000))


@pytest.mark.parametrize(
    "policy", [WindowPolicy(), WindowPolicy(window_pages=5)], ids=["whole", "cut"]
)
def test_a_quiet_full_sync_sends_the_floor(tmp_path, policy):
    # 2% over the floor, plus per resource the first page of a range that is cut into windows
    # (a sample, not reused) and one part page per window.
    with SimulatorServer(Store.seeded(12_000, 3)) as sim:
        results = sync(sim, tmp_path, policy=policy)
        assert mismatches(sim, tmp_path) == {}
    for name, result in results.items():
        windows = result.windows
        assert result.requests <= 1.02 * _floor(result.records) + (windows > 1) + windows, name
        assert result.reverifications == result.bridges == 0
    if policy.window_pages > 12:
        # One window of 12,000 records: 13 pages overlapping by 5 or more; the clock read from
        # the first.
        assert results["customers"].requests == 13


def _sync_customers(sim, proxy, tmp_path, policy=None):
    # One request at a time: the shifts land between pages exactly as told.
    result = sync(
        sim, tmp_path, via=proxy.base_url, resources=(Resource.CUSTOMERS,), concurrency=1,
        policy=policy,
    )["customers"]  # fmt: skip
    hwm = Lake(tmp_path).load_state("customers").high_water_mark_ms
    return result, mismatches(sim, tmp_path, upto_ms=hwm, resources=("customers",))


@pytest.mark.attack("offsets shifting between the pages of one window")
def test_a_shift_within_the_overlap_costs_no_request(tmp_path, shifted):
    sim, proxy, shifts = shifted
    # 6,000 customers: 7 pages at offsets 0, 833, 1666, ...; 3 records leave before each.
    assert len(page_skips(6000, WindowPolicy())) == 7
    shifts.update(dict.fromkeys(range(1, 7), 3))
    result, wrong = _sync_customers(sim, proxy, tmp_path)
    assert wrong == {}
    assert proxy.hits[CUSTOMERS] == 7  # the planned pages, nothing read again
    assert result.bridges == result.reverifications == 0
    assert not shifts, "every shift happened"


@pytest.mark.attack("offsets shifting between pages by more than they overlap")
def test_a_shift_past_the_overlap_is_bridged_from_where_it_failed(tmp_path, shifted):
    sim, proxy, shifts = shifted
    shifts[2] = 400  # before the third page: 400 records move down, far past the overlap
    result, wrong = _sync_customers(sim, proxy, tmp_path, WindowPolicy(overlap=5))
    assert not shifts
    assert wrong == {}
    # One bridging page from where the linked pages end, not the window read again.
    assert result.bridges == 1 and result.reverifications == 0
    assert proxy.hits[CUSTOMERS] == 7 + 1


def test_reconcile_reports_its_requests_beside_the_sync_s(tmp_path):
    store = Store.seeded(5000, 8)
    with SimulatorServer(store) as sim:
        synced = sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))["customers"]
        for customer_id in store.live_customer_ids()[:3]:
            store.delete_customer(customer_id)
        lake = Lake(tmp_path)

        async def go():
            async with client_for(sim) as client:
                options = SyncOptions(safety_lag=timedelta(0))
                return await reconcile_resource(client, lake, Resource.CUSTOMERS, options)

        found = asyncio.run(go())
    assert found.confirmed_deleted == 3 and found.listing_reused_from is None
    # Listing every id costs what the full sync did; each deletion one GET more.
    assert found.list_requests == synced.requests == found.last_sync_requests == 6
    assert found.confirm_requests == 3
    assert found.requests == found.list_requests + found.confirm_requests


def _reconcile(sim: SimulatorServer, lake: Lake, **kwargs) -> ReconcileResult:
    async def go() -> ReconcileResult:
        async with client_for(sim) as client:
            options = SyncOptions(safety_lag=timedelta(0))
            return await reconcile_resource(client, lake, Resource.CUSTOMERS, options, **kwargs)

    return asyncio.run(go())


def test_reconcile_after_a_full_sync_takes_its_listing_at_no_request(tmp_path):
    store = Store.seeded(5000, 8)
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))
        for customer_id in store.live_customer_ids()[:3]:
            store.delete_customer(customer_id)
        # A full sync lists everyone but the three (the snapshot keeps them: a sync never
        # deletes); created after it listed, only the incremental run below holds the fourth.
        full = sync(sim, tmp_path, full=True, resources=(Resource.CUSTOMERS,))["customers"]
        created, _ = store.create_customer({"primaryEmail": "late@example.org"})
        sync(sim, tmp_path, resources=(Resource.CUSTOMERS,))
        lake = Lake(tmp_path)
        found = _reconcile(sim, lake, reuse_listing_within=REUSE_LISTING_WITHIN)
        lake.compact("customers")
        # An hour later the full sync's listing is stale: reconcile lists again.
        store.delete_customer(created["_id"])
        later = _reconcile(
            sim,
            lake,
            reuse_listing_within=REUSE_LISTING_WITHIN,
            now=lambda: datetime.now(UTC) + timedelta(hours=2),
        )
    assert found.listing_reused_from == full.run_id
    assert found.list_requests == 0
    # The three deleted, each proven by its 404; the late customer is not even asked for.
    assert (found.candidates, found.confirm_requests, found.confirmed_deleted) == (3, 3, 3)
    assert later.listing_reused_from is None and later.list_requests > 0
    assert later.confirmed_deleted == 1


def test_overlapping_pages_write_each_record_once(tmp_path):
    # One window of 32 pages of 100 overlapping by 5: held normalized page by page until proven
    # (a page more than requests in flight), and only one copy of each shared record taken.
    policy = WindowPolicy(top=100)
    assert len(page_skips(3000, policy)) == 32
    with SimulatorServer(Store.seeded(3000, 5)) as sim:
        result = sync(sim, tmp_path, resources=(Resource.CUSTOMERS,), policy=policy)["customers"]
        assert mismatches(sim, tmp_path, resources=("customers",)) == {}
    assert result.windows == 1 and result.records == result.written == 3000
    ids = Lake(tmp_path).run_rows("customers", "changes", [result.run_id], ["id"])["id"]
    assert len(ids) == len(set(ids.to_pylist())) == 3000


def test_a_page_with_a_quarantined_record_is_held_as_records_and_taken_by_position():
    keep = _normalized(Resource.CUSTOMERS, Lineage("r", datetime(2026, 1, 1, tzinfo=UTC)), set())
    docs = [_customer(_id=f"{i:024x}") for i in range(3)]
    valid = keep.hold(docs)
    assert keep.take(valid, (0, 2))["customers"]["id"].to_pylist() == [
        docs[0]["_id"],
        docs[2]["_id"],
    ]
    docs[1]["updatedAt"] = "not a time"
    mixed = keep.hold(docs)
    taken = keep.take(mixed, (1, 2))
    assert taken["customers"]["id"].to_pylist() == [docs[2]["_id"]]
    assert taken["quarantine"]["record_id"].to_pylist() == [docs[1]["_id"]]
    assert len(keep.take(mixed, None)["customers"]) == 2
