"""Events and tickets of the simulated vivenu API (openapi-more.json) over real HTTP."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from pipelines.vivenu.simulator import data
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter

TODAY = date(2026, 12, 1)
AUTH = {"Authorization": "Bearer sim-key"}


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """A simulator of 600 customers (seed 7) whose history ends on TODAY, unchanged by tests."""
    with SimulatorServer(Store.seeded(600, 7, today=TODAY), api_key="sim-key") as server:
        yield server


@pytest.fixture(scope="module")
def api(sim: SimulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=AUTH, timeout=10) as client:
        yield client


def _rows(api: httpx.Client, path: str, page: int = 1000, **params: object) -> list[dict]:
    rows: list[dict] = []
    while True:
        body = api.get(path, params={**params, "top": page, "skip": len(rows)}).json()
        assert set(body) == {"rows", "total"}
        rows += body["rows"]
        if len(rows) >= body["total"]:
            assert len(rows) == body["total"]
            return rows


def _ids(rows: list[dict]) -> list[str]:
    return [r["_id"] for r in rows]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status and body["error"]
    return body["message"]


# ------------------------------------------------------------------ events


def test_events_page_with_top_and_skip_in_start_order(
    api: httpx.Client, sim: SimulatorServer
) -> None:
    truth = sim.store.events_truth()
    first = api.get("/api/events", params={"top": 7, "skip": 0}).json()
    assert len(first["rows"]) == 7 and first["total"] == len(truth) == data.event_count(600)
    everything = _rows(api, "/api/events")
    assert sorted(_ids(everything)) == sorted(e["_id"] for e in truth)
    assert _ids(_rows(api, "/api/events", page=9)) == _ids(everything)  # pages add up
    starts = [e["start"] for e in everything]
    assert starts == sorted(starts)  # sortDir defaults to "1"
    down = _rows(api, "/api/events", sortDir="-1")
    assert [e["start"] for e in down] == sorted(starts, reverse=True)
    tail = api.get("/api/events", params={"top": 1000, "skip": len(truth) - 3}).json()
    assert _ids(tail["rows"]) == _ids(everything)[-3:] and tail["total"] == len(truth)


def test_events_top_and_skip_are_required(api: httpx.Client) -> None:
    # openapi-more.json marks both `required: true` for GET /api/events (not for tickets).
    assert "top" in _error(api.get("/api/events", params={"skip": 0}), 400)
    assert "skip" in _error(api.get("/api/events", params={"top": 5}), 400)
    assert "sortDir" in _error(api.get("/api/events?top=5&skip=0&sortDir=asc"), 400)
    assert "top" in _error(api.get("/api/events?top=1001&skip=0"), 400)
    assert api.get("/api/tickets").json()["rows"].__len__() == 25  # tickets default to 25


def test_event_filters(api: httpx.Client, sim: SimulatorServer) -> None:
    truth = sim.store.events_truth()

    def ids(**params: object) -> set[str]:
        return set(_ids(_rows(api, "/api/events", **params)))

    mid = sorted(e["start"] for e in truth)[len(truth) // 2]
    assert ids(**{"start[$gte]": mid}) == {e["_id"] for e in truth if e["start"] >= mid}
    assert ids(**{"end[$lt]": mid}) == {e["_id"] for e in truth if e["end"] < mid}
    upd = sorted(e["updatedAt"] for e in truth)[len(truth) // 3]
    assert ids(**{"updatedAt[$gt]": upd}) == {e["_id"] for e in truth if e["updatedAt"] > upd}
    assert ids(**{"createdAt[$lte]": upd}) == {e["_id"] for e in truth if e["createdAt"] <= upd}
    word = truth[0]["name"].split()[0][1:].upper()
    assert ids(name=word) == {e["_id"] for e in truth if word.lower() in e["name"].lower()}
    assert ids(type="SINGLE") == {e["_id"] for e in truth}
    assert ids(type="GROUP") == set() and ids(rootId=truth[0]["_id"]) == set()
    assert ids(sellerId=sim.store.seller_id) == {e["_id"] for e in truth}
    assert ids(sellerId="0" * 24) == set()


def test_event_get_and_shape(api: httpx.Client, sim: SimulatorServer) -> None:
    event = sim.store.events_truth()[3]
    assert api.get(f"/api/events/{event['_id']}").json() == event
    assert event["start"] < event["end"] and event["sellStart"] < event["start"]
    assert event["locationName"] and event["locationCity"] and event["locationCountry"]
    assert event["maxAmount"] == sum(t["amount"] for t in event["tickets"]) > 0
    assert {t["categoryRef"] for t in event["tickets"]} == {c["ref"] for c in event["categories"]}
    assert "event" in _error(api.get("/api/events/" + "0" * 24), 404)
    assert _error(api.get("/api/events/x", params={"top": 1}), 400)  # no query on GET by id


# ------------------------------------------------------------------ tickets


def test_tickets_page_with_top_and_skip(api: httpx.Client, sim: SimulatorServer) -> None:
    truth = sim.store.tickets_truth()
    everything = _rows(api, "/api/tickets")
    assert sorted(_ids(everything)) == sorted(t["_id"] for t in truth)
    assert _ids(_rows(api, "/api/tickets", page=97)) == _ids(everything)
    beyond = api.get("/api/tickets", params={"skip": len(truth) + 5}).json()
    assert beyond == {"rows": [], "total": len(truth)}
    one = truth[11]
    assert api.get(f"/api/tickets/{one['_id']}").json() == one
    assert one["secret"] and len(one["barcode"]) >= 8 and one["__v"] == 0  # served as vivenu does


def test_ticket_filters(api: httpx.Client, sim: SimulatorServer) -> None:
    truth = sim.store.tickets_truth()

    def ids(**params: object) -> set[str]:
        return set(_ids(_rows(api, "/api/tickets", **params)))

    def where(pred: Callable[[dict], bool]) -> set[str]:
        return {t["_id"] for t in truth if pred(t)}

    event = Counter(t["eventId"] for t in truth).most_common(2)
    assert ids(event=event[0][0]) == where(lambda t: t["eventId"] == event[0][0])
    both = f"{event[0][0]},{event[1][0]}"
    assert ids(event=both) == where(lambda t: t["eventId"] in both)
    owner = Counter(t.get("customerId") for t in truth if t.get("customerId")).most_common(1)[0][0]
    assert ids(customerId=owner) == where(lambda t: t.get("customerId") == owner)
    assert ids(status="INVALID,RESERVED") == where(lambda t: t["status"] != "VALID")
    assert ids(status="VALID") == where(lambda t: t["status"] == "VALID")
    code = truth[5]["barcode"]
    assert ids(barcode=code) == {truth[5]["_id"]} and ids(barcode=code.lower()) == set()
    part = truth[8]["name"].split()[-1].upper()
    assert ids(name=part) == where(lambda t: part.lower() in t.get("name", "").lower())
    mid = sorted(t["updatedAt"] for t in truth)[len(truth) // 2]
    assert ids(**{"updatedAt[$gte]": mid}) == where(lambda t: t["updatedAt"] >= mid)
    made = sorted(t["createdAt"] for t in truth)[len(truth) // 4]
    assert ids(start=made) == where(lambda t: t["createdAt"] >= made)
    assert ids(end=made) == where(lambda t: t["createdAt"] <= made)
    assert ids(deliveryType="HARD") == where(lambda t: t["deliveryType"] == "HARD") != set()
    assert ids(type="MULTI") == set() and ids(seatName="A1") == set()
    assert "type" in _error(api.get("/api/tickets", params={"type": "DOUBLE"}), 400)
    assert "foo" in _error(api.get("/api/tickets", params={"foo": 1}), 400)


# ------------------------------------------------------------------ consistency and data


def test_every_ticket_belongs_to_a_sale_an_event_and_usually_a_customer(
    sim: SimulatorServer,
) -> None:
    store = sim.store
    txns = {t["_id"]: t for t in store.transactions_truth()}
    events = {e["_id"]: e for e in store.events_truth()}
    customers = {c["_id"] for c in store.customers_truth()}
    tickets = store.tickets_truth()
    per_txn = Counter(k["transactionId"] for k in tickets)
    for k in tickets:
        txn, event = txns[k["transactionId"]], events[k["eventId"]]
        assert k["eventId"] == txn["eventId"] and k["currency"] == txn["currency"]
        assert k.get("customerId", txn["customerId"]) == txn["customerId"] in customers
        assert k["ticketTypeId"] in {t["_id"] for t in event["tickets"]}
        assert event["sellStart"] <= k["createdAt"] < event["start"]  # sold while on sale
        assert k["status"] == data.TICKET_STATUS[txn["status"]]
    assert all(per_txn[t["_id"]] == t["tickets"][0]["amount"] for t in txns.values())
    assert 0.8 < sum("customerId" in k for k in tickets) / len(tickets) < 1.0
    sold = Counter(k["eventId"] for k in tickets)
    assert all(sold[e] <= events[e]["maxAmount"] for e in events)
    assert len({k["barcode"] for k in tickets}) == len(tickets)
    # The transaction's price is its tickets' price.
    for t in list(txns.values())[:200]:
        mine = [k for k in tickets if k["transactionId"] == t["_id"]]
        assert round(sum(k["realPrice"] for k in mine), 2) == t["realPrice"]


def test_prices_are_per_currency_price_points() -> None:
    assert data.price_point(34.3, "EUR") == 34.9
    assert data.price_point(34.3, "DKK") == 260.0
    assert data.price_point(34.3, "SEK") == 389.0
    assert data.price_point(34.3, "CHF") == 33.0
    store = Store.seeded(3000, 5, today=TODAY)
    events = {e["_id"]: e for e in store.events_truth()}
    by_currency: dict[str, list[dict]] = {}
    for k in store.tickets_truth():
        by_currency.setdefault(k["currency"], []).append(k)
    assert {"EUR", "DKK", "SEK", "CHF", "GBP", "USD"} <= set(by_currency)
    for currency, tickets in by_currency.items():
        rate, step, offset = data.CURRENCY_PRICING[currency]
        for k in tickets:
            eur = next(
                t["price"] for t in events[k["eventId"]]["tickets"] if t["_id"] == k["ticketTypeId"]
            )
            assert k["realPrice"] == data.price_point(eur, currency)
            # converted at the fixed rate, rounded up to the next price point
            assert eur * rate + offset - 1e-6 <= k["realPrice"] <= eur * rate + step + offset
    assert all(k["realPrice"] % 5 == 0 for k in by_currency["DKK"])
    assert all(str(k["realPrice"]).endswith((".9", ".0")) for k in by_currency["EUR"])


def test_determinism_per_seed_and_today() -> None:
    a, b = Store.seeded(300, 3, today=TODAY), Store.seeded(300, 3, today=TODAY)
    assert a.events_truth() == b.events_truth() and a.tickets_truth() == b.tickets_truth()
    assert a.transactions_truth() == b.transactions_truth()
    other = Store.seeded(300, 4, today=TODAY)
    assert other.tickets_truth() != a.tickets_truth() and other.events_truth() != a.events_truth()
    later = Store.seeded(300, 3, today=TODAY + timedelta(days=10))
    assert [c["primaryEmail"] for c in later.customers_truth()] == [
        c["primaryEmail"] for c in a.customers_truth()
    ]  # the same people, their history shifted
    midnight = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC).isoformat()[:19]
    newest = max(t["updatedAt"] for t in a.tickets_truth() + a.transactions_truth())
    assert (TODAY - timedelta(days=14)).isoformat() < newest < midnight


def test_history_ends_today_by_default() -> None:
    store = Store.seeded(400, 8)
    today = datetime.now(UTC).date()
    newest = max(t["createdAt"] for t in store.transactions_truth())
    assert (today - timedelta(days=30)).isoformat() < newest < today.isoformat() + "T"
    assert any(e["start"] > today.isoformat() for e in store.events_truth())  # on sale ahead


# ------------------------------------------------------------------ writer and faults


def test_sales_cancellations_and_edits_reach_tickets_and_events() -> None:
    store = Store.seeded(300, 2, today=TODAY)
    cid = store.live_customer_ids()[0]
    txn = store.create_transaction(cid)
    mine = [k for k in store.tickets_truth() if k["transactionId"] == txn["_id"]]
    assert len(mine) == txn["tickets"][0]["amount"] >= 1
    event = store.get_event(txn["eventId"])
    assert all(k["status"] == "VALID" and k["customerId"] == cid for k in mine)
    assert event["start"] > store.get_transaction(txn["_id"])["createdAt"]  # on sale now
    canceled = store.update_transaction(txn["_id"], {"status": "CANCELED"})
    after = [store.get_ticket(k["_id"]) for k in mine]
    assert all(k["status"] == "INVALID" and k["updatedAt"] == canceled["updatedAt"] for k in after)
    edited = store.update_event(event["_id"], {"slogan": "Neu"})
    assert edited["updatedAt"] > event["updatedAt"] and edited["start"] == event["start"]
    store.delete_transaction(txn["_id"])
    assert not [k for k in store.tickets_truth() if k["transactionId"] == txn["_id"]]


def test_background_writer_changes_tickets_and_events(make_simulator) -> None:  # type: ignore[no-untyped-def]
    store = Store.seeded(300, 2, today=TODAY)
    tickets_before = {k["_id"]: k["updatedAt"] for k in store.tickets_truth()}
    events_before = {e["_id"]: e["updatedAt"] for e in store.events_truth()}
    mix = {"create_transaction": 0.4, "update_transaction": 0.3, "update_ticket": 0.15,
           "update_event": 0.15}  # fmt: skip
    writer = BackgroundWriter(store, rate=1, seed=5, mix=mix)
    ops = Counter(writer.step() for _ in range(120))
    assert min(ops[op] for op in mix) > 5
    tickets = {k["_id"]: k for k in store.tickets_truth()}
    new = [k for i, k in tickets.items() if i not in tickets_before]
    assert len(new) >= ops["create_transaction"]
    changed = [
        k for i, k in tickets.items() if i in tickets_before and k["updatedAt"] != tickets_before[i]
    ]
    assert any(k["status"] == "INVALID" for k in changed) and any(
        k["personalized"] for k in changed
    )
    assert sum(e["updatedAt"] != events_before[e["_id"]] for e in store.events_truth()) > 0
    # A sync asking for what changed since the seeded history ends finds exactly these.
    server = make_simulator(store=store)
    since = f"{TODAY.isoformat()}T00:00:00.000Z"
    with httpx.Client(base_url=server.base_url, headers=AUTH) as api:
        got = set(_ids(_rows(api, "/api/tickets", **{"updatedAt[$gte]": since})))
        assert got == {k["_id"] for k in new + changed}
        events = _rows(api, "/api/events", **{"updatedAt[$gte]": since})
        assert {e["_id"] for e in events} == {
            e["_id"] for e in store.events_truth() if e["updatedAt"] != events_before[e["_id"]]
        }


@pytest.mark.parametrize("path", ["/api/events?top=5&skip=0", "/api/tickets"])
def test_faults_apply_to_events_and_tickets(make_simulator, path: str) -> None:  # type: ignore[no-untyped-def]
    server = make_simulator(customers=30, faults=Faults(error_5xx_rate=1.0, seed=1))
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as api:
        assert api.get(path).status_code in (502, 503)
        server.faults.reset()
        server.faults.rate_429 = 1.0
        limited = api.get(path)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
        server.faults.reset()
        server.faults.drop_rate = 1.0
        with pytest.raises(httpx.TransportError):
            api.get(path)
        server.faults.reset()
        assert api.get(path).status_code == 200
