"""The simulator's webhooks over real HTTP: subscriptions as vivenu's document has them, and
signed deliveries of the API's and the writer's writes to real receivers on 127.0.0.1 (the
project's own `webhooks serve` app, and a recording one), with retries and fault knobs."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from openapi_schema_validator import OAS30Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.webhooks import (
    MAX_ATTEMPTS,
    RETRY_DELAYS_S,
    WebhookFaults,
    Webhooks,
)
from pipelines.vivenu.simulator.writer import BackgroundWriter
from pipelines.webhooks.server import PATH
from tests.webhooks.conftest import SECRET
from tests.webhooks.conftest import serve as serve_receiver

AUTH = {"Authorization": "Bearer sim-key"}
KEY = SECRET.decode()
SEVEN = (
    "customer.created",
    "customer.updated",
    "transaction.complete",
    "transaction.canceled",
    "transaction.partiallyCanceled",
    "ticket.created",
    "ticket.updated",
)
_DOC = json.loads(
    (Path(__file__).parents[2] / "pipelines/vivenu/simulator/openapi-more.json").read_text()
)


@functools.cache
def _validator(name: str) -> OAS30Validator:
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", **_DOC})


def schema_errors(name: str, value: Any) -> list[str]:
    """Where `value` violates the document's schema `name` (OpenAPI 3.0: `nullable` honoured)."""
    validator = _validator(name)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)
    ]


def sign(body: bytes, key: str = KEY) -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    body: bytes
    signature: str | None
    at: float

    @property
    def envelope(self) -> dict[str, Any]:
        return orjson.loads(self.body)


@dataclass
class Recorder:
    """A receiver on 127.0.0.1 keeping every raw delivery. It refuses a wrong signature with 401
    as a real receiver does; else `answer` picks the status (given the request's number), after
    `delay(number)` seconds; nothing is answered while `gate` is closed."""

    url: str = ""
    got: list[Received] = field(default_factory=list)
    answer: Callable[[int], int] = lambda _n: 200
    delay: Callable[[int], float] = lambda _n: 0.0
    gate: threading.Event = field(default_factory=threading.Event)

    def good(self) -> list[Received]:
        return [r for r in self.got if r.signature == sign(r.body)]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    rec.gate.set()
    lock = threading.Lock()

    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        with lock:
            rec.got.append(
                Received(body, request.headers.get("x-vivenu-signature"), time.monotonic())
            )
            n = len(rec.got)
        while not rec.gate.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(rec.delay(n))
        good = request.headers.get("x-vivenu-signature") == sign(body)
        status = rec.answer(n) if good else 401
        return JSONResponse({"ok": status < 300}, status_code=status)

    app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    sock = socket.socket()
    # Else every answer waits out the simulator's delayed ACK (40 ms).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="critical", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive()
        time.sleep(0.01)
    rec.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    yield rec
    rec.gate.set()
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _sim(make_simulator: Callable[..., SimulatorServer], **knobs: Any) -> SimulatorServer:
    faults = WebhookFaults(**{k: knobs.pop(k) for k in list(knobs) if k != "time_scale"})
    hooks = Webhooks(allow_http=True, time_scale=knobs.get("time_scale", 0.0005), faults=faults)
    return make_simulator(customers=60, seed=3, webhooks=hooks)


def _register(api: httpx.Client, url: str, events: tuple[str, ...] = SEVEN, **body: Any) -> dict:
    answer = api.post(
        "/api/webhooks",
        json={"name": "customer-sync", "url": url, "events": dict.fromkeys(events, True),
              "hmacKey": KEY, **body},
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()


def _client(server: SimulatorServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10)


def _put(api: httpx.Client, cid: str, **fields: Any) -> dict:
    answer = api.put(f"/api/customers/{cid}", json=fields)
    assert answer.status_code == 200, answer.text
    return answer.json()


# ------------------------------------------------------------------ subscriptions


def test_subscriptions_are_created_listed_updated_and_deleted_as_the_document_says(
    make_simulator,
) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=5)
    with _client(server) as api:
        body = {
            "name": "crm-sync",
            "url": "https://hooks.example.com/v",
            "events": {"ticket.created": True},
        }
        made = api.post("/api/webhooks", json=body)
        assert made.status_code == 201
        hook = made.json()
        assert schema_errors("POST_Webhooks_CreateANewWebhook_201_response", hook) == []
        assert hook["enabled"] is True and len(hook["hmacKey"]) == 64  # generated when not sent
        assert len(hook["_id"]) == 24 and hook["createdBy"]["type"] == "API_KEY"

        listed = api.get("/api/webhooks")
        assert listed.status_code == 200
        assert schema_errors("GET_Webhooks_GetAllWebhooks_200_response", listed.json()) == []
        assert listed.json() == {"docs": [hook], "total": 1}

        changed = api.put(
            f"/api/webhook/{hook['_id']}",
            json={"name": "crm-sync", "url": "https://hooks.example.com/w", "enabled": False},
        )
        assert changed.status_code == 201
        assert schema_errors("PUT_Webhooks_UpdateAWebhook_201_response", changed.json()) == []
        assert changed.json() == {**hook, "url": "https://hooks.example.com/w", "enabled": False}

        gone = api.delete(f"/api/webhook/{hook['_id']}")
        assert gone.status_code == 200 and gone.json()["_id"] == hook["_id"]
        assert api.get("/api/webhooks").json() == {"docs": [], "total": 0}
        assert api.delete(f"/api/webhook/{hook['_id']}").status_code == 404
        assert api.put(f"/api/webhook/{hook['_id']}", json=body).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"url": "https://hooks.example.com"}, "body.name is required"),
        ({"name": "crm"}, "body.url is required"),
        ({"name": "abc", "url": "https://a.example.com"}, "body.name must be at least 5"),
        ({"name": "x" * 31, "url": "https://a.example.com"}, "body.name must be at most 30"),
        ({"name": "crm-sync", "url": "hooks"}, "body.url must be an absolute URI"),
        ({"name": "crm-sync", "url": "http://hooks.example.com"}, "url must be an HTTPS URL"),
        ({"name": "crm-sync", "url": "https://127.0.0.1:8787/w"}, "public host, not '127.0.0.1'"),
        ({"name": "crm-sync", "url": "https://localhost/w"}, "public host, not 'localhost'"),
        ({"name": "crm-sync", "url": "https://10.1.2.3/w"}, "public host"),
        ({"name": "crm-sync", "url": "https://ingest.internal/w"}, "public host"),
        ({"name": "crm-sync", "url": "https://a.example.com", "enabled": "yes"}, "boolean"),
        ({"name": "crm-sync", "url": "https://a.example.com", "events": {"ticket.created": 1}},
         "body.events.ticket.created must be of type boolean"),
    ],
)  # fmt: skip
def test_invalid_subscriptions_are_400_with_vivenus_error_body(simulator, body, message) -> None:  # type: ignore[no-untyped-def]
    with _client(simulator) as api:
        answer = api.post("/api/webhooks", json=body)
        assert answer.status_code == 400
        error = answer.json()
        assert error["statusCode"] == 400 and error["error"] == "Bad Request"
        assert message in error["message"]
        assert api.get("/api/webhooks").json()["total"] == 0


def test_subscriptions_need_the_api_key_and_take_only_documented_parameters(simulator) -> None:  # type: ignore[no-untyped-def]
    assert httpx.get(f"{simulator.base_url}/api/webhooks").status_code == 401
    with _client(simulator) as api:
        assert api.get("/api/webhooks", params={"top": 0}).status_code == 400
        assert api.get("/api/webhooks", params={"name": "x"}).status_code == 400
        assert api.get("/api/webhooks", params={"top": 1000, "skip": 0}).status_code == 200


# ------------------------------------------------------------------ deliveries


def test_a_put_is_delivered_signed_to_every_subscription_and_matches_the_schema(
    make_simulator, recorder: Recorder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server = _sim(make_simulator)
    with contextlib.contextmanager(serve_receiver)(tmp_path / "data") as receiver:
        with _client(server) as api:
            real = _register(api, receiver.url + PATH, ("customer.updated",))
            recorded = _register(api, recorder.url, name="recorder", hmacKey=KEY)
            _register(api, recorder.url, ("ticket.updated",), name="not-subscribed")
            cid = server.store.live_customer_ids()[0]
            server.store.create_account(cid)  # the customer now has `_account` tokens
            server.webhooks.wait_idle()
            recorder.got.clear()
            receiver_before = receiver.client.get("/health").json()["inbox"]["customers"]
            stored = _put(api, cid, notes="called on Tuesday")
            assert server.webhooks.wait_idle()

        assert len(recorder.got) == 1
        got = recorder.got[0]
        assert got.signature == sign(got.body)  # lowercase hex HMAC-SHA256 of the raw body
        envelope = got.envelope
        assert set(envelope) == {"id", "type", "mode", "sellerId", "webhookId", "data"}
        assert len(envelope["id"]) == 36
        assert envelope["type"] == "customer.updated" and envelope["mode"] in ("dev", "prod")
        assert envelope["sellerId"] == server.store.seller_id
        assert envelope["webhookId"] == recorded["_id"]
        assert schema_errors("webhook", envelope) == []
        assert schema_errors("webhook.customer.updated", envelope["data"]) == []
        assert envelope["data"]["customer"] == stored  # the API's record, secrets included
        assert envelope["data"]["customer"]["_account"]["verificationToken"]

        # The project's own receiver took its copy (a 200 means the signature held) and
        # stored it scrubbed.
        health = receiver.client.get("/health").json()
        assert health["inbox"]["customers"] == receiver_before + 1
        files = sorted((tmp_path / "data/webhooks/inbox/customers").glob("*.json"))
        saved = [orjson.loads(p.read_bytes())["envelope"] for p in files]
        mine = [
            e["data"]["customer"]
            for e in saved
            if e["webhookId"] == real["_id"] and e["data"]["customer"].get("notes")
        ]
        assert [c["notes"] for c in mine] == ["called on Tuesday"]
        assert set(mine[0]["_account"]).isdisjoint({"verificationToken", "passwordResetToken"})


def test_http_urls_are_refused_unless_the_simulator_allows_them(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    strict = make_simulator(customers=5)
    with _client(strict) as api:
        answer = api.post("/api/webhooks", json={"name": "local", "url": recorder.url})
        assert answer.status_code == 400 and "HTTPS" in answer.json()["message"]
    with _client(_sim(make_simulator)) as api:
        assert (
            api.post("/api/webhooks", json={"name": "local", "url": recorder.url}).status_code
            == 201
        )


def test_the_writers_writes_are_delivered_with_the_apis_data(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    server = _sim(make_simulator)
    store: Store = server.store
    with _client(server) as api:
        _register(api, recorder.url)
    writer = BackgroundWriter(store, rate=1, seed=11)
    ops = Counter(writer.step() for _ in range(400))
    assert server.webhooks.wait_idle()
    assert ops["partially_cancel_transaction"] and ops["update_transaction"]

    good = recorder.good()
    assert len(recorder.got) == len(good) == server.webhooks.counts["emitted"]
    envelopes = [r.envelope for r in good]
    assert len({e["id"] for e in envelopes}) == len(envelopes)
    types = Counter(e["type"] for e in envelopes)
    assert set(types) == set(SEVEN)  # event.updated: not subscribed
    assert types["customer.created"] == ops["create_customer"]
    assert types["transaction.partiallyCanceled"] == ops["partially_cancel_transaction"]
    for e in envelopes:
        assert schema_errors(f"webhook.{e['type']}", e["data"]) == [], e["type"]

    # Each record's last delivery in the order of the writes is the API's current record.
    order = {a.envelope_id: a.number for a in server.webhooks.attempts}
    last: dict[tuple[str, str], dict] = {}
    for e in sorted(envelopes, key=lambda e: order[e["id"]]):
        for kind, record in _records(e["data"]):
            last[(kind, record["_id"])] = record
    for cid in store.live_customer_ids():
        if ("customer", cid) in last:
            assert last[("customer", cid)] == store.get_customer(cid)
    tickets = [r for (kind, _), r in last.items() if kind == "ticket"]
    assert tickets and all(t == store.get_ticket(t["_id"]) for t in tickets)
    assert all(t["secret"] and t["barcode"] for t in tickets)  # as the API serves them
    sales = [e["data"]["transaction"] for e in envelopes if e["type"] == "transaction.complete"]
    assert sales and all(t["secret"] for t in sales)


def _records(data: dict) -> Iterator[tuple[str, dict]]:
    for key, value in data.items():
        if isinstance(value, list):
            yield from ((key.rstrip("s"), v) for v in value)
        else:
            yield key, value


def test_running_writer_deliveries_never_hold_up_the_api(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    server = _sim(make_simulator)
    recorder.gate.clear()  # the receiver answers nothing until the test says so
    with _client(server) as api:
        _register(api, recorder.url)
        cids = server.store.live_customer_ids()[:5]
        for cid in cids:
            _put(api, cid, notes="while the receiver hangs")
        writer = BackgroundWriter(server.store, rate=200, seed=2)
        writer.start()
        while sum(writer.counts.values()) < 20:
            time.sleep(0.01)
        writer.stop()
        # Every write answered while no delivery had been answered.
        assert api.get(f"/api/customers/{cids[0]}").status_code == 200
    assert server.webhooks.counts["delivered"] == 0
    recorder.gate.set()
    assert server.webhooks.wait_idle()
    assert server.webhooks.counts["delivered"] == server.webhooks.counts["emitted"] > 5


def test_a_receiver_answering_500_gets_every_attempt_then_is_given_up(
    make_simulator, recorder
) -> None:  # type: ignore[no-untyped-def]
    recorder.answer = lambda _n: 500
    server = _sim(make_simulator, time_scale=0.0005)  # the 2-hour schedule in about 3.5 s
    with _client(server) as api:
        _register(api, recorder.url, ("customer.updated",))
        _put(api, server.store.live_customer_ids()[0], notes="retry me")
    assert server.webhooks.wait_idle(60)
    assert MAX_ATTEMPTS == 7
    assert len(recorder.got) == 7
    assert len({r.body for r in recorder.got}) == 1  # the same body, so the same envelope id
    assert all(r.signature == sign(r.body) for r in recorder.got)
    sent = [a.time for a in server.webhooks.attempts]
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    # Backing off on vivenu's schedule, scaled: never sooner than it says.
    assert all(gap >= 0.99 * wait * 0.0005 for gap, wait in zip(gaps, RETRY_DELAYS_S, strict=True))
    assert server.webhooks.counts["gave_up"] == 1 and server.webhooks.counts["delivered"] == 0


def test_a_receiver_failing_twice_gets_it_on_the_third_attempt(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    recorder.answer = lambda n: 503 if n <= 2 else 200
    server = _sim(make_simulator)
    with _client(server) as api:
        _register(api, recorder.url, ("customer.updated",))
        _put(api, server.store.live_customer_ids()[0], notes="third time")
    assert server.webhooks.wait_idle(60)
    assert len(recorder.got) == 3 and len({r.body for r in recorder.got}) == 1
    assert [a.attempt for a in server.webhooks.attempts] == [1, 2, 3]
    assert server.webhooks.counts["delivered"] == 1 and not server.webhooks.counts["gave_up"]


def test_a_receiver_slower_than_the_timeout_is_retried(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    server = _sim(make_simulator)
    server.webhooks.timeout_s = 0.3
    recorder.delay = lambda n: 1.0 if n == 1 else 0.0  # the first one longer than the timeout
    with _client(server) as api:
        _register(api, recorder.url, ("customer.updated",))
        _put(api, server.store.live_customer_ids()[0], notes="slow")
    assert server.webhooks.wait_idle(60)
    assert [a.status for a in server.webhooks.attempts] == [None, 200]
    assert len(recorder.got) == 2


def _faulty_run(make_simulator, recorder: Recorder, **faults: Any) -> tuple[Webhooks, list[str]]:  # type: ignore[no-untyped-def]
    recorder.got.clear()
    server = _sim(make_simulator, seed=5, **faults)
    with _client(server) as api:
        _register(api, recorder.url, ("customer.updated",))
        for i, cid in enumerate(server.store.live_customer_ids()[:40]):
            _put(api, cid, notes=f"write {i}")
    assert server.webhooks.wait_idle(60)
    return server.webhooks, [r.envelope["id"] for r in recorder.good()]


def test_drops_duplicates_and_bad_signatures_are_what_the_knobs_say(
    make_simulator, recorder
) -> None:  # type: ignore[no-untyped-def]
    knobs = {"drop_rate": 0.25, "duplicate_rate": 0.3, "bad_signature_rate": 0.2}
    hooks, good_ids = _faulty_run(make_simulator, recorder, **knobs)
    c = hooks.counts
    assert c["emitted"] == 40
    assert 0 < c["dropped"] < 20 and 0 < c["duplicated"] < 20 and 0 < c["bad_signatures"] < 40
    # Dropped: never sent. Every other delivery arrives correctly signed at least once.
    assert len(set(good_ids)) == 40 - c["dropped"] == c["delivered"]
    # Duplicated: the same envelope (id and body) taken twice.
    assert sum(n - 1 for n in Counter(good_ids).values()) == c["duplicated"]
    # Bad signatures: exactly the attempts the simulator signed wrong, each followed by a retry.
    bad = [r for r in recorder.got if r.signature != sign(r.body)]
    assert len(bad) == c["bad_signatures"]
    assert all(r.signature == sign(r.body, "not-" + KEY) for r in bad)
    assert {r.envelope["id"] for r in bad} <= set(good_ids)
    assert len(recorder.got) == c["attempts"]

    # The same seed, the same faults, delivery by delivery.
    again, again_ids = _faulty_run(make_simulator, recorder, **knobs)
    assert Counter(again_ids) == Counter(good_ids)
    assert {k: again.counts[k] for k in c} == dict(c)


def test_reordering_holds_back_a_share_so_later_writes_overtake_it(
    make_simulator, recorder
) -> None:  # type: ignore[no-untyped-def]
    hooks, good_ids = _faulty_run(make_simulator, recorder, reorder_rate=0.3, reorder_delay_s=0.5)
    assert 0 < hooks.counts["reordered"] < 40 and len(good_ids) == 40
    arrived = [int(r.envelope["data"]["customer"]["notes"].split()[1]) for r in recorder.good()]
    assert sorted(arrived) == list(range(40))
    overtaken = {w for i, w in enumerate(arrived) if any(v > w for v in arrived[:i])}
    assert overtaken  # held-back deliveries arrive after later writes


def test_a_delay_holds_every_first_attempt(make_simulator, recorder) -> None:  # type: ignore[no-untyped-def]
    hooks, good_ids = _faulty_run(make_simulator, recorder, delay_s=0.2)
    first = [a for a in hooks.attempts if a.attempt == 1]
    assert len(first) == len(good_ids) == 40
    assert all(a.time - a.queued >= 0.19 for a in first)
