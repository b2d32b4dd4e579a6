"""`customer-sync sync --plan`: counted before any record is fetched, written nowhere, and the
requests it predicts are the ones a real sync sends on a quiet simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines import settings
from pipelines.registry import RESOURCES, spec
from pipelines.settings import SettingsError
from pipelines.sync.engine import SyncOptions, sync_resource
from pipelines.sync.lake import Lake
from pipelines.sync.plan import plan_resource, plan_sync
from pipelines.sync.state import RunInProgress
from pipelines.sync.windows import WindowPolicy
from pipelines.vivenu.client import (
    BUDGET_DIR,
    ClientSettings,
    HourlyBudget,
    VivenuClient,
    least_seconds,
)
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.clirun import clean_env, run_cli
from tests.lakeio import save_state

BY_PATH = {r.list_path: r.name for r in RESOURCES}


def _client(sim: SimulatorServer, **overrides: object) -> VivenuClient:
    return VivenuClient(
        ClientSettings(base_url=sim.base_url, api_key=sim.api_key, max_rps=1000, **overrides)  # type: ignore[arg-type]
    )


# No safety lag: edits made just before are inside the windows (the plan and the sync alike).
NO_LAG = SyncOptions(safety_lag=timedelta(0))


async def _sync_all(
    sim: SimulatorServer, lake: Lake, options: SyncOptions = NO_LAG
) -> dict[str, int]:
    """A real sync of every resource; the requests the server saw for each."""
    seen: dict[str, int] = {}
    async with _client(sim) as client:
        for resource in RESOURCES:
            sim.clear_requests()
            await sync_resource(client, lake, resource, options)
            seen[resource.name] = len(sim.requests)
    return seen


async def _plan(
    sim: SimulatorServer, lake: Lake, options: SyncOptions = NO_LAG
) -> dict[str, tuple[int, int]]:
    """The plan's least and most requests per resource."""
    async with _client(sim) as client:
        found = await plan_sync(client, lake, list(RESOURCES), options)
    return {r.resource: (r.requests, r.requests_at_most) for r in found.resources}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


_cli = run_cli


def _env(sim: SimulatorServer | None, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI run against `sim` (None: an address nothing is asked at)."""
    return clean_env(
        VIVENU_BASE_URL=sim.base_url if sim else "http://127.0.0.1:9",
        VIVENU_API_KEY=sim.api_key if sim else "plan-key",
        CUSTOMER_SYNC_DATA_DIR=str(data_dir),
        CUSTOMER_SYNC_MAX_RPS="1000",
        **extra,
    )


def test_plan_writes_nothing_and_sends_only_the_requests_it_counts(tmp_path):
    store = Store.seeded(1500, 3)
    with SimulatorServer(store, api_key="plan-key") as sim:
        lake = Lake(tmp_path)
        asyncio.run(_sync_all(sim, lake))
        for customer_id in store.live_customer_ids()[:7]:
            store.update_customer(customer_id, {"company": "Planned GmbH"})
        time.sleep(2.1)  # past the sync's safety lag, so the window holds the edits
        before = _files(tmp_path)
        sim.clear_requests()
        done = _cli("sync", "--plan", "--json", env=_env(sim, tmp_path))
        assert done.returncode == 0, done.stderr[-2000:]
        requests = list(sim.requests)
    assert _files(tmp_path) == before  # not even the lock file
    plan = json.loads(done.stdout)
    # Every request is a counted top=1 listing of a planned window, and each was counted.
    planned = {
        (r["resource"], w["lower"], w["upper"])
        for r in plan["resources"].values()
        for w in r["windows"]
    }
    sent = set()
    for request in requests:
        query = dict(urllib.parse.parse_qsl(request.query))
        assert (request.method, query["top"], query["skip"]) == ("GET", "1", "0")
        lower = datetime.fromisoformat(query["updatedAt[$gte]"])
        upper = datetime.fromisoformat(query["updatedAt[$lt]"])
        sent.add((BY_PATH[request.path], lower.isoformat(), upper.isoformat()))
    assert sent == planned
    assert len(requests) == plan["plan_requests"] == len(RESOURCES)
    customers = plan["resources"]["customers"]
    # An incremental window from the high-water mark less the lookback, as the sync chooses it.
    mark = Lake(tmp_path).load_state("customers").high_water_mark_ms
    assert mark is not None
    lookback = datetime.fromtimestamp(mark / 1000, UTC) - SyncOptions().lookback
    assert customers["run"] == "incremental"
    assert customers["windows"][0]["lower"] == lookback.isoformat()
    assert customers["records"] >= 7 and customers["requests"] == 1


def test_plan_of_a_missing_data_dir_creates_nothing(tmp_path):
    with SimulatorServer(Store.seeded(200, 1), api_key="plan-key") as sim:
        data_dir = tmp_path / "never"
        done = _cli(
            "sync", "--plan", "--resource", "customers", env=_env(sim, data_dir)
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        assert len(sim.requests) == 1
    assert not data_dir.exists()
    assert "customers" in done.stdout and "tickets" not in done.stdout
    assert "a sync would send 1 requests" in done.stdout.replace("\n", " ")


def test_predicted_requests_are_the_sync_s_on_a_quiet_simulator(tmp_path):
    # 3,000 customers come with 8,628 tickets: more than 4 pages, so with windows of 4 pages
    # that window is split.
    store = Store.seeded(3000, 5)
    options = dataclasses.replace(NO_LAG, policy=WindowPolicy(window_pages=4))
    with SimulatorServer(store, api_key="plan-key") as sim:
        lake = Lake(tmp_path)
        full_plan = asyncio.run(_plan(sim, lake, options))
        full_sync = asyncio.run(_sync_all(sim, lake, options))
        for customer_id in store.live_customer_ids()[:40]:
            store.update_customer(customer_id, {"company": "Planned GmbH"})
        incremental_plan = asyncio.run(_plan(sim, lake, options))
        incremental_sync = asyncio.run(_sync_all(sim, lake, options))
    assert {k: (v, v) for k, v in incremental_sync.items()} == incremental_plan
    unsplit = {"customers", "events"}
    assert {k: (full_sync[k], full_sync[k]) for k in unsplit} == {k: full_plan[k] for k in unsplit}
    # A split window's narrower windows end in part pages: more than the plan's least, by at
    # most one per narrower window (8,628 tickets in windows of about 2,900: 3 pages each,
    # and the first page, a sample).
    assert full_plan["tickets"] == (10, 13)
    for split in ("tickets", "transactions"):
        least, most = full_plan[split]
        assert least <= full_sync[split] <= most


def test_an_unsplit_window_is_predicted_exactly(tmp_path):
    # 8,628 tickets in one window of 9 pages overlapping by 5 records or more.
    with SimulatorServer(Store.seeded(3000, 5), api_key="plan-key") as sim:
        lake = Lake(tmp_path)
        plan = asyncio.run(_plan(sim, lake))
        synced = asyncio.run(_sync_all(sim, lake))
    assert plan["tickets"] == (9, 9)
    assert {k: (v, v) for k, v in synced.items()} == plan


def test_plan_of_an_interrupted_run_counts_its_remaining_windows(tmp_path):
    store = Store.seeded(300, 2)
    with SimulatorServer(store, api_key="plan-key") as sim:
        lake = Lake(tmp_path)
        customers = spec("customers")
        upper = int(datetime.now(UTC).timestamp() * 1000)
        # Checkpointed up to the median change: the other half remains.
        changes = sorted(datetime.fromisoformat(c["updatedAt"]) for c in store.customers_truth())
        middle = int(changes[150].timestamp() * 1000)
        state = lake.load_state("customers")
        state.in_progress = RunInProgress("r1", 0, upper, full=False, done=[[0, middle]])
        save_state(lake, state)

        async def plan(full: bool):
            async with _client(sim) as client:
                return await plan_resource(client, lake, customers, SyncOptions(full=full))

        resumed = asyncio.run(plan(False))
        replaced = asyncio.run(plan(True))
    assert resumed.run == "resume" and len(resumed.windows) == 1
    assert resumed.windows[0].lower == datetime.fromtimestamp(middle / 1000, UTC).isoformat()
    assert 140 < resumed.records < 160
    # A full sync replaces an incremental run in progress: everything, from 0.
    assert replaced.run == "full" and replaced.records == 300
    assert replaced.windows[0].lower == datetime.fromtimestamp(0, UTC).isoformat()


@pytest.mark.parametrize("raw", ["0", "-5", "abc", "1.5", "1e3"])
def test_an_hourly_budget_that_is_not_a_positive_whole_number_is_a_config_error(tmp_path, raw):
    with pytest.raises(SettingsError, match="CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR"):
        settings.max_requests_per_hour({"CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR": raw})
    if raw == "0":
        env = _env(None, tmp_path, CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR=raw)
        done = _cli("sync", "--plan", env=env)
        assert done.returncode == 3
        assert done.stderr.strip() == (
            "error: CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR='0': not a whole number of requests > 0"
        )


def test_hourly_budget_setting():
    assert settings.max_requests_per_hour({}) is None
    assert settings.max_requests_per_hour({"CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR": "1000"}) == 1000
    env = {"VIVENU_BASE_URL": "https://vivenu.com", "VIVENU_API_KEY": "k"}
    budget = {**env, "CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR": "900"}
    assert ClientSettings.from_env(env).max_requests_per_hour is None
    assert ClientSettings.from_env(budget).max_requests_per_hour == 900


def test_time_under_the_caps():
    per_second = ClientSettings(base_url="https://vivenu.com", api_key="k", max_rps=10)
    assert least_seconds(0, per_second) == 0
    assert least_seconds(1001, per_second) == pytest.approx(100)
    hourly = ClientSettings(
        base_url="https://vivenu.com", api_key="k", max_rps=10, max_requests_per_hour=1000
    )
    # The budget's first 1,000 at 10/s, then one every 3.6 s.
    assert least_seconds(1000, hourly) == pytest.approx(99.9)
    assert least_seconds(3000, hourly) == pytest.approx(2 * 3600)


def test_hourly_budget_holds_requests_back_across_the_clients_of_a_process(simulator):
    customers = spec("customers")
    waits: list[float] = []

    async def wait(seconds: float) -> None:
        waits.append(seconds)  # told, not slept: the budget's state is what is asserted

    async def send(count: int) -> None:
        # A client and an event loop of its own, as each step of a Dagster run has.
        settings = ClientSettings(
            base_url=simulator.base_url,
            api_key=simulator.api_key,
            max_rps=1000,
            max_requests_per_hour=3,
        )
        async with VivenuClient(settings, sleep=wait) as client:
            for _ in range(count):
                await client.list_page(customers, top=1)

    asyncio.run(send(2))
    asyncio.run(send(1))
    assert waits == []  # the budget's 3 go at once
    asyncio.run(send(2))
    # The 4th and 5th of the hour wait for the bucket to drain: 20 and 40 minutes.
    assert waits == [pytest.approx(1200, abs=5), pytest.approx(2400, abs=5)]
    assert len(simulator.requests) == 5


def test_a_failing_plan_is_one_line_and_json_with_json(tmp_path):
    with SimulatorServer(Store.seeded(50, 1), api_key="plan-key") as sim:
        env = {**_env(sim, tmp_path), "VIVENU_API_KEY": "wrong-key"}
        done = _cli("sync", "--plan", "--json", env=env)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "VIVENU_API_KEY" in done.stderr
    assert json.loads(done.stdout)["exit_code"] == 1


def test_resource_goes_with_plan(tmp_path):
    done = _cli("sync", "--resource", "customers", env=_env(None, tmp_path))
    assert done.returncode == 2 and "--resource goes with --plan" in done.stderr


def test_plan_time_counts_the_budget_other_processes_spent(tmp_path):
    with SimulatorServer(Store.seeded(2500, 4), api_key="plan-key") as sim:
        env = _env(sim, tmp_path, CUSTOMER_SYNC_MAX_REQUESTS_PER_HOUR="1000")
        # 990 requests of this hour spent by another process of the data directory.
        spent = HourlyBudget.of(sim.base_url, "plan-key", 1000, tmp_path / BUDGET_DIR)
        for _ in range(990):
            spent.reserve()
        done = _cli("sync", "--plan", "--json", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
        plan = json.loads(done.stdout)
        text = " ".join(_cli("sync", "--plan", env=env).stdout.split())
    # The plan's own 4 listings spent budget too; what is left of the hour's 1,000 goes first.
    # (The bucket drains by one request every 3.6 s meanwhile.)
    assert 980 < plan["budget_used"] <= 994.1
    past = plan["budget_used"] + plan["sync_requests"] - 1000
    assert plan["sync_requests"] > 6 and plan["sync_seconds"] == pytest.approx(past * 3.6, abs=0.5)
    assert "spent in the last hour" in text and "MAX_REQUESTS_PER_HOUR=1000" in text
