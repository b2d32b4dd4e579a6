"""Contract tests of the simulated vivenu API over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from pipelines.vivenu.simulator.data import SIMULATED_PASSWORD
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store


@pytest.fixture
def api(simulator: SimulatorServer) -> Iterator[httpx.Client]:
    """An authenticated client of the `simulator` fixture."""
    headers = {"Authorization": f"Bearer {simulator.api_key}"}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=10) as client:
        yield client


def _all(api: httpx.Client, path: str, **params: object) -> list[dict]:
    docs: list[dict] = []
    while True:
        page = api.get(path, params={**params, "top": 1000, "skip": len(docs)}).json()
        docs += page["docs"]
        if len(docs) >= page["total"]:
            return docs


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["statusCode"] == status and body["error"] and body["message"]
    return body["message"]


def test_auth_missing_or_wrong_key(simulator: SimulatorServer) -> None:
    url = f"{simulator.base_url}/api/customers/rich"
    assert _error(httpx.get(url), 401) == "API Key not found or expired"
    assert _error(httpx.get(url, headers={"Authorization": "Bearer nope"}), 401)
    assert _error(httpx.get(url, headers={"Authorization": "sim-key"}), 401)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("foo=1", "foo"),
        ("top=0", "top"),
        ("top=1001", "top"),
        ("top=abc", "top"),
        ("skip=-1", "skip"),
        ("skip=1.5", "skip"),
        ("updatedAt[$gte]=yesterday", "updatedAt"),
        ("top=5&top=6", "top"),
        ("updatedAt=2024-01-01T00:00:00Z", "updatedAt"),
    ],
)
def test_bad_list_parameters_are_400(api: httpx.Client, query: str, names: str) -> None:
    assert names in _error(api.get(f"/api/customers/rich?{query}"), 400)


def test_unknown_operators_follow_the_document(api: httpx.Client) -> None:
    """An operator the document does not list is ignored where its object is open, 400 where
    the document closes it (`additionalProperties: false`, events only)."""
    op = "updatedAt[$after]=2024-01-01T00:00:00Z"
    everyone = api.get("/api/customers/rich").json()["total"]
    assert api.get(f"/api/customers/rich?{op}").json()["total"] == everyone
    assert api.get(f"/api/transactions?{op}").status_code == 200
    assert api.get(f"/api/tickets?{op}").status_code == 200
    assert "$after" in _error(api.get(f"/api/events?top=5&skip=0&{op}"), 400)
    assert "$after" in _error(api.get("/api/events?top=5&skip=0&start[$after]=x"), 400)


def test_bad_bodies_are_400(api: httpx.Client) -> None:
    assert "primaryEmail" in _error(api.post("/api/customers", json={"prename": "x"}), 400)
    assert "email" in _error(api.post("/api/customers", json={"primaryEmail": "nope"}), 400)
    assert "tags" in _error(
        api.post("/api/customers", json={"primaryEmail": "a@b.de", "tags": "x"}), 400
    )
    assert "JSON" in _error(
        api.post("/api/customers", content=b"{", headers={"content-type": "application/json"}), 400
    )
    cid = api.get("/api/customers/rich", params={"top": 1}).json()["docs"][0]["_id"]
    assert "verified" in _error(api.put(f"/api/customers/{cid}", json={"verified": "yes"}), 400)
    # The account body is required (the document: `requestBody.required`), though it may be null.
    assert "body" in _error(api.post(f"/api/customers/{cid}/account"), 400)
    assert api.post(f"/api/customers/{cid}/account", content=b"null").status_code == 200
    assert _error(api.get("/api/transactions", params={"start": "soon"}), 400)


def test_404s(api: httpx.Client) -> None:
    assert _error(api.get("/api/customers"), 404)
    assert _error(api.get("/api/customers/" + "0" * 24), 404)
    assert _error(api.get("/api/customers/not-an-id"), 404)  # malformed ids are unknown ids
    assert _error(api.put("/api/customers/" + "0" * 24, json={"notes": "x"}), 404)
    assert _error(api.get("/api/transactions/" + "0" * 24), 404)
    assert _error(api.post(f"/api/customers/{'0' * 24}/account", json={}), 404)
    assert _error(api.get("/api/nothing"), 404)
    assert _error(api.delete("/api/customers/" + "0" * 24), 404)  # as GET answers it
    assert _error(api.get("/api/events/" + "0" * 24), 404)
    assert _error(api.get("/api/tickets/" + "0" * 24), 404)


def test_405_with_allow(api: httpx.Client) -> None:
    r = api.delete("/api/customers/rich")
    _error(r, 405)
    assert r.headers["allow"] == "GET"


def test_create_upsert_get_delete(api: httpx.Client, simulator: SimulatorServer) -> None:
    body = {"primaryEmail": "New.Person@Example.org", "prename": "New", "lastname": "Person"}
    created = api.post("/api/customers", json=body).json()
    assert created["name"] == "New Person" and len(created["_id"]) == 24
    again = api.post("/api/customers", json={**body, "company": "Acme"}).json()
    assert again["_id"] == created["_id"] and again["company"] == "Acme"
    assert "exists" in _error(api.post("/api/customers", json={**body, "upsert": False}), 400)
    assert api.get(f"/api/customers/{created['_id']}").json()["company"] == "Acme"
    deleted = api.delete(f"/api/customers/{created['_id']}")
    assert deleted.status_code == 200 and deleted.json()["_id"] == created["_id"]
    assert _error(api.get(f"/api/customers/{created['_id']}"), 404)
    assert created["_id"] not in {c["_id"] for c in simulator.store.customers_truth()}


def test_put_is_top_level_partial_and_bumps_updated_at(api: httpx.Client) -> None:
    before = api.get("/api/customers/rich", params={"top": 1}).json()["docs"][0]
    time.sleep(0.002)
    after = api.put(
        f"/api/customers/{before['_id']}", json={"tags": ["x"], "location": {"city": "Bonn"}}
    ).json()
    assert after["tags"] == ["x"] and after["location"] == {"city": "Bonn"}  # replaced wholesale
    assert after["primaryEmail"] == before["primaryEmail"]  # untouched fields kept
    assert after["updatedAt"] > before["updatedAt"]
    assert api.get(f"/api/customers/{before['_id']}").json() == after


def test_list_total_top_and_skip(api: httpx.Client, simulator: SimulatorServer) -> None:
    page = api.get("/api/customers/rich").json()
    assert len(page["docs"]) == 25 and page["total"] == 300
    assert len(api.get("/api/customers/rich", params={"top": 1000}).json()["docs"]) == 300
    assert api.get("/api/customers/rich", params={"skip": 290}).json()["docs"].__len__() == 10
    ids = [d["_id"] for d in _all(api, "/api/customers/rich")]
    assert len(set(ids)) == 300
    # Paging is stable: 3 pages of 100 are the single page of 300.
    pages = [
        api.get("/api/customers/rich", params={"top": 100, "skip": s}).json() for s in (0, 100, 200)
    ]
    assert [d["_id"] for p in pages for d in p["docs"]] == ids


def test_default_order_is_neither_updated_at_nor_id(api: httpx.Client) -> None:
    docs = _all(api, "/api/customers/rich")
    ids = [d["_id"] for d in docs]
    updated = [d["updatedAt"] for d in docs]
    assert ids != sorted(ids) and ids != sorted(ids, reverse=True)
    assert updated != sorted(updated) and updated != sorted(updated, reverse=True)


def test_updated_at_filters(api: httpx.Client, simulator: SimulatorServer) -> None:
    truth = simulator.store.customers_truth()
    stamps = sorted(c["updatedAt"] for c in truth)
    mid, hi = stamps[100], stamps[200]

    def total(query: str) -> int:
        return api.get(f"/api/customers/rich?{query}").json()["total"]

    assert total(f"updatedAt[$gte]={mid}") == sum(s >= mid for s in stamps)
    assert total(f"updatedAt%5B%24gte%5D={mid}") == sum(s >= mid for s in stamps)
    assert total(f"updatedAt[$gt]={mid}") == sum(s > mid for s in stamps)
    assert total(f"updatedAt[$gte]={mid}&updatedAt[$lt]={hi}") == sum(mid <= s < hi for s in stamps)
    assert total(f"updatedAt[$lte]={mid}") == sum(s <= mid for s in stamps)
    assert total(f"updatedAt[$eq]={mid}") == stamps.count(mid)
    assert total(f"updatedAt[$ne]={mid}") == 300 - stamps.count(mid)
    docs = _all(api, "/api/customers/rich", **{"updatedAt[$gte]": mid, "updatedAt[$lt]": hi})
    assert all(mid <= d["updatedAt"] < hi for d in docs)


def test_customer_filters_and_tags(api: httpx.Client, simulator: SimulatorServer) -> None:
    truth = simulator.store.customers_truth()
    c = truth[17]
    assert [
        d["_id"] for d in _all(api, "/api/customers/rich", email=c["primaryEmail"].upper())
    ] == [c["_id"]]
    part = c["lastname"][1:4].upper()
    expected = {x["_id"] for x in truth if part.lower() in x["name"].lower()}
    assert {d["_id"] for d in _all(api, "/api/customers/rich", name=part)} == expected
    vip = {x["_id"] for x in truth if "vip" in x["tags"]}
    news = {x["_id"] for x in truth if "newsletter" in x["tags"]}
    assert {d["_id"] for d in _all(api, "/api/customers/rich", tags="vip")} == vip
    assert {d["_id"] for d in _all(api, "/api/customers/rich", tags="vip,newsletter")} == vip | news
    both = api.get("/api/customers/rich?tags=vip&tags=newsletter&top=1000").json()
    assert both["total"] == len(vip | news)
    tags = api.get("/api/customers/tags").json()
    assert tags == sorted({t for x in truth for t in x["tags"]}) and "vip" in tags
    companies = {x["_id"] for x in truth if x.get("company") and "gmbh" in x["company"].lower()}
    assert {d["_id"] for d in _all(api, "/api/customers/rich", company="GmbH")} == companies


def test_transactions_list_and_filters(api: httpx.Client, simulator: SimulatorServer) -> None:
    truth = simulator.store.transactions_truth()
    page = api.get("/api/transactions").json()
    assert page["total"] == len(truth) and len(page["docs"]) == 25
    owner = max(simulator.store.customers_truth(), key=lambda c: len(c["transactions"]))
    mine = _all(api, "/api/transactions", customer=owner["_id"])
    assert sorted(t["_id"] for t in mine) == sorted(owner["transactions"])
    assert all(t["customerId"] == owner["_id"] for t in mine)
    canceled = _all(api, "/api/transactions", status="CANCELED")
    assert len(canceled) == sum(t["status"] == "CANCELED" for t in truth)
    one = truth[3]
    assert api.get(f"/api/transactions/{one['_id']}").json() == one
    mid = sorted(t["updatedAt"] for t in truth)[len(truth) // 2]
    assert api.get(f"/api/transactions?updatedAt[$gte]={mid}").json()["total"] == sum(
        t["updatedAt"] >= mid for t in truth
    )
    ev = one["eventId"]
    assert api.get("/api/transactions", params={"event": ev}).json()["total"] == sum(
        t["eventId"] == ev for t in truth
    )
    assert "foo" in _error(api.get("/api/transactions", params={"foo": 1}), 400)


def test_transaction_writes_bump_the_customer(simulator: SimulatorServer) -> None:
    store = simulator.store
    cid = store.live_customer_ids()[0]
    before = store.get_customer(cid)
    time.sleep(0.002)
    txn = store.create_transaction(cid)
    after = store.get_customer(cid)
    assert after["transactions"] == [*before["transactions"], txn["_id"]]
    assert after["updatedAt"] > before["updatedAt"] and txn["customerId"] == cid
    refunded = store.update_transaction(txn["_id"], {"paymentStatus": "REFUND"})
    assert refunded["paymentStatus"] == "REFUND" and refunded["updatedAt"] >= txn["updatedAt"]
    store.delete_transaction(txn["_id"])
    assert txn["_id"] not in store.get_customer(cid)["transactions"]


def test_account_login_and_me(api: httpx.Client, simulator: SimulatorServer) -> None:
    store = simulator.store
    c = next(x for x in store.customers_truth() if not x.get("_account"))
    with_account = api.post(f"/api/customers/{c['_id']}/account", json={}).json()
    assert with_account["_account"]["loginType"] == "password"
    creds = {
        "sellerId": store.seller_id,
        "email": c["primaryEmail"],
        "password": SIMULATED_PASSWORD,
    }
    assert _error(api.post("/api/customers/login", json={**creds, "password": "x"}), 400)
    token = api.post("/api/customers/login", json=creds).json()["token"]
    assert token.count(".") == 2
    me = httpx.Client(base_url=simulator.base_url, headers={"Authorization": f"Bearer {token}"})
    assert me.get("/api/customers/me").json()["_id"] == c["_id"]
    txns = me.get("/api/customers/me/transactions").json()
    assert [t["tid"] for t in txns["transactions"]] == c["transactions"]
    assert {e["_id"] for e in txns["events"]} == {t["eventId"] for t in txns["transactions"]}
    assert "shops" in me.get("/api/customers/me/shops", params={"eventId": "x"}).json()
    assert "eventId" in _error(me.get("/api/customers/me/shops"), 400)
    # The /me endpoints want the customer token, not the API key, and vice versa.
    assert _error(api.get("/api/customers/me"), 401)
    assert _error(me.get("/api/customers/rich"), 401)


def test_bulk_import_shares_one_millisecond(make_simulator) -> None:  # type: ignore[no-untyped-def]
    store = Store.seeded(50, 3)
    ids = store.bulk_import(1500, 1_700_000_000_123)
    server = make_simulator(store=store)
    with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer sim-key"}) as api:
        q = "updatedAt[$eq]=2023-11-14T22:13:20.123Z"
        page = api.get(f"/api/customers/rich?{q}&top=1000").json()
        assert page["total"] == 1500 and len(page["docs"]) == 1000
        assert {
            d["_id"]
            for d in _all(
                api, "/api/customers/rich", **{"updatedAt[$eq]": "2023-11-14T22:13:20.123Z"}
            )
        } == set(ids)


def test_seed_determinism() -> None:
    a, b, c = Store.seeded(200, 5), Store.seeded(200, 5), Store.seeded(200, 6)
    assert a.customers_truth() == b.customers_truth()
    assert a.transactions_truth() == b.transactions_truth()
    assert a.customers_truth() != c.customers_truth()


def test_seeded_data_is_realistic() -> None:
    store = Store.seeded(2000, 1)
    customers, txns = store.customers_truth(), store.transactions_truth()
    assert len({c["primaryEmail"] for c in customers}) == 2000
    assert 0.005 < sum(c["blocked"] for c in customers) / 2000 < 0.04
    assert 0.6 < sum(c["verified"] for c in customers) / 2000 < 0.8
    assert 1.0 < len(txns) / 2000 < 2.0
    assert {c["location"]["country"] for c in customers} >= {"DE", "AT", "CH", "GB", "US", "FR"}
    assert all(c["createdAt"] <= c["updatedAt"] for c in customers)
    assert all(len(c["_id"]) == 24 and c["updatedAt"].endswith("Z") for c in customers)
    assert [c["number"] for c in sorted(customers, key=lambda c: c["number"])] == list(
        range(1, 2001)
    )
    by_id = {c["_id"]: c for c in customers}
    assert all(t["_id"] in by_id[t["customerId"]]["transactions"] for t in txns)
    assert any(" " in t or not t.isascii() for c in customers for t in c["tags"])
