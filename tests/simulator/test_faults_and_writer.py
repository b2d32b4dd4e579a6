"""Fault knobs and the background writer, observed over real HTTP."""

from __future__ import annotations

import statistics
import time
from collections import Counter

import httpx
import pytest

from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter

AUTH = {"Authorization": "Bearer sim-key"}


def _client(server: SimulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10)


def test_latency_is_observed(make_simulator) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=20, faults=Faults(latency_ms=80))
    with _client(server) as api:
        took = []
        for _ in range(3):
            t0 = time.perf_counter()
            assert api.get("/api/customers/rich").status_code == 200
            took.append(time.perf_counter() - t0)
        assert statistics.median(took) >= 0.08
        server.faults.latency_ms = 0
        t0 = time.perf_counter()
        api.get("/api/customers/rich")
        assert time.perf_counter() - t0 < 0.08


def test_5xx_share(make_simulator) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=20, faults=Faults(error_5xx_rate=0.3, seed=1))
    with _client(server) as api:
        statuses = Counter(
            api.get("/api/customers/rich", params={"top": 1}).status_code for _ in range(200)
        )
    assert set(statuses) <= {200, 502, 503}
    assert 0.2 < (statuses[502] + statuses[503]) / 200 < 0.4
    assert statuses[502] and statuses[503]


@pytest.mark.parametrize(("mode", "header"), [("absent", None), ("0", "0"), ("7", "7")])
def test_429_retry_after_modes(make_simulator, mode: str, header: str | None) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=20, faults=Faults(rate_429=1.0, retry_after=mode))
    with _client(server) as api:
        r = api.get("/api/customers/rich")
    assert r.status_code == 429 and r.json()["statusCode"] == 429
    assert r.headers.get("retry-after") == header


def test_dropped_connection_is_a_transport_error(make_simulator) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=20, faults=Faults(drop_rate=1.0))
    with _client(server) as api, pytest.raises(httpx.TransportError) as info:
        api.get("/api/customers/rich")
    assert isinstance(info.value, httpx.RemoteProtocolError | httpx.ReadError)
    server.faults.drop_rate = 0
    with _client(server) as api:
        assert api.get("/api/customers/rich").status_code == 200


def test_rps_limit(make_simulator) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=20, faults=Faults(rps_limit=5, retry_after="1"))
    with _client(server) as api:
        statuses = [
            api.get("/api/customers/rich", params={"top": 1}).status_code for _ in range(12)
        ]
        assert statuses[:5] == [200] * 5 and statuses.count(429) >= 6
        limited = api.get("/api/customers/rich")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        time.sleep(1.05)
        assert api.get("/api/customers/rich").status_code == 200


def test_requests_are_recorded(simulator: SimulatorServer) -> None:
    with _client(simulator) as api:
        api.get("/api/customers/rich?updatedAt%5B%24gte%5D=2024-01-01T00:00:00Z&top=3")
        api.post("/api/customers", json={"primaryEmail": "rec@example.org"})
    get, post = simulator.requests[-2:]
    assert (get.method, get.path, get.status) == ("GET", "/api/customers/rich", 200)
    assert get.query == "updatedAt%5B%24gte%5D=2024-01-01T00:00:00Z&top=3"
    assert post.method == "POST" and b"rec@example.org" in post.body and post.time >= get.time
    simulator.clear_requests()
    assert simulator.requests == []


def test_background_writer_mutates_and_stops() -> None:
    store = Store.seeded(300, 2)
    before = {c["_id"]: c["updatedAt"] for c in store.customers_truth()}
    writer = BackgroundWriter(store, rate=400, seed=3)
    with SimulatorServer(store, writer=writer) as server:
        time.sleep(0.5)
        assert writer.running
        with _client(server) as api:
            assert api.get("/api/customers/rich").status_code == 200
    assert not writer.running
    done = sum(writer.counts.values())
    assert done > 50 and writer.counts["update_customer"] > writer.counts["delete_customer"]
    after = {c["_id"]: c["updatedAt"] for c in store.customers_truth()}
    assert after != before
    assert any(i not in before for i in after) and any(i not in after for i in before)
    time.sleep(0.1)
    assert sum(writer.counts.values()) == done  # stopped means stopped


def test_background_writer_is_deterministic_per_seed() -> None:
    runs = []
    for _ in range(2):
        store = Store.seeded(100, 2)
        writer = BackgroundWriter(store, rate=1, seed=9)
        runs.append([writer.step() for _ in range(50)])
    assert runs[0] == runs[1]
