"""A host clock running fast: the run's upper bound and the high-water mark follow vivenu's clock
(its `Date` header), never the local one, so nothing changed since is skipped."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.sync.engine import CLOCK_TOLERANCE, SyncFailed, SyncOptions, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import Resource
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter
from tests.lakeio import save_state
from tests.sync.truth import client_for, mismatches

FAST = timedelta(minutes=6)  # more than the 5-minute lookback: the overlap cannot hide it
TOLERANCE_MS = CLOCK_TOLERANCE.total_seconds() * 1000
OPTIONS = SyncOptions(safety_lag=timedelta(0))


def fast_clock() -> datetime:
    return datetime.now(UTC) + FAST


def sync_fast(sim: SimulatorServer, data_dir: Path, options: SyncOptions = OPTIONS) -> None:
    lake = Lake(data_dir)

    async def go() -> None:
        async with client_for(sim) as client:
            for resource in (Resource.CUSTOMERS, Resource.TRANSACTIONS):
                await sync_resource(client, lake, resource, options, now=fast_clock)

    asyncio.run(go())
    for resource in ("customers", "transactions"):
        lake.compact(resource)


@pytest.mark.attack("11.4 host clock 6 min fast: incremental runs stay exact")
def test_a_fast_host_clock_loses_nothing_while_vivenu_changes(tmp_path):
    store = Store.seeded(1500, 44)
    mix = {"update_customer": 0.6, "create_customer": 0.2, "create_transaction": 0.2}
    writer = BackgroundWriter(store, rate=200, seed=44, mix=mix)
    with SimulatorServer(store, writer=writer) as sim:
        sync_fast(sim, tmp_path)
        time.sleep(0.5)  # vivenu keeps changing after the first run
        sync_fast(sim, tmp_path)
        writer.stop()
        assert sum(writer.counts.values()) > 50
        time.sleep(1.1)  # the Date header has whole seconds: let it pass the last write
        sync_fast(sim, tmp_path)
        assert mismatches(sim, tmp_path) == {}
        for resource in ("customers", "transactions"):
            mark = Lake(tmp_path).load_state(resource).high_water_mark_ms
            assert mark <= store.now_ms() + TOLERANCE_MS


@pytest.mark.attack("11.4 a high-water mark stored in the future")
def test_a_mark_stored_ahead_of_vivenu_is_a_clear_error_and_full_recovers(tmp_path, simulator):
    lake = Lake(tmp_path)
    state = lake.load_state("customers")
    state.high_water_mark_ms = int((datetime.now(UTC) + FAST).timestamp() * 1000)
    save_state(lake, state)

    async def go(options: SyncOptions) -> None:
        async with client_for(simulator) as client:
            await sync_resource(client, lake, Resource.CUSTOMERS, options)

    with pytest.raises(SyncFailed) as failed:
        asyncio.run(go(OPTIONS))
    message = str(failed.value)
    assert "\n" not in message
    assert "ahead of vivenu's clock" in message and "sync --full" in message

    asyncio.run(go(SyncOptions(full=True, safety_lag=timedelta(0))))
    mark = lake.load_state("customers").high_water_mark_ms
    assert mark <= simulator.store.now_ms() + TOLERANCE_MS
    asyncio.run(go(OPTIONS))  # the next incremental run works again
