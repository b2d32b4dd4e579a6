"""Referenced records vivenu deleted before any sync saw them (pipelines/sync/references.py),
against the simulator and the hostile API in front of it."""

from __future__ import annotations

import asyncio
from collections import Counter

import orjson
import pytest
from starlette.responses import Response

from pipelines.quality.gate import validate_snapshot
from pipelines.quality.incremental import RememberedReference, remembered_reference
from pipelines.quality.suites import load_suites
from pipelines.sync.lake import Lake
from pipelines.sync.references import ReferenceCheck, confirm_deleted_references
from pipelines.vivenu.client import Resource
from pipelines.vivenu.errors import VivenuError
from tests.adversarial.hostile import as_response
from tests.sync.truth import client_for, sync


def _confirm(sim, data_dir, *, via=None, limit=500, remembered=None) -> ReferenceCheck:
    async def go() -> ReferenceCheck:
        async with client_for(sim, via=via) as client:
            return await confirm_deleted_references(
                client,
                Lake(data_dir),
                referencing="transactions",
                column="customer_id",
                referenced=Resource.CUSTOMERS,
                limit=limit,
                remembered=remembered,
            )

    return asyncio.run(go())


def _tombstones(data_dir) -> set[str]:
    lake = Lake(data_dir)
    lake.compact("customers")
    return set(lake.read_snapshot("customers", "deletions", ["id"]).column("id").to_pylist())


def _delete_buyers(store, n: int) -> list[str]:
    buyers = Counter(t["customerId"] for t in store.transactions_truth() if t.get("customerId"))
    deleted = sorted(c for c, _ in buyers.most_common(n))
    for customer_id in deleted:
        store.delete_customer(customer_id)
    return deleted


def test_buyers_deleted_before_the_first_sync_are_tombstoned_once(simulator, tmp_path):
    deleted = _delete_buyers(simulator.store, 3)
    sync(simulator, tmp_path)
    assert _confirm(simulator, tmp_path) == ReferenceCheck(3, 3, 3)
    assert _tombstones(tmp_path) == set(deleted)
    assert _confirm(simulator, tmp_path) == ReferenceCheck(0, 0, 0)  # nothing asked twice


def test_a_run_asks_at_most_its_limit_and_the_next_run_goes_on(simulator, tmp_path):
    deleted = _delete_buyers(simulator.store, 3)
    sync(simulator, tmp_path)
    assert _confirm(simulator, tmp_path, limit=2) == ReferenceCheck(3, 2, 2)
    assert _confirm(simulator, tmp_path, limit=2) == ReferenceCheck(1, 1, 1)
    assert _tombstones(tmp_path) == set(deleted)


def _remembered(data_dir) -> RememberedReference | None:
    lake = Lake(data_dir)
    for resource in ("customers", "transactions"):
        lake.compact(resource)
    validate_snapshot(lake, "transactions", max_bad_share=1.0)
    suites = load_suites()
    suite = next(s for s in suites if s.name == "transactions")
    return remembered_reference(lake, suites, suite, "customer_id_is_known")


def test_what_the_gate_found_unknown_is_asked_and_only_that(simulator, tmp_path):
    deleted = _delete_buyers(simulator.store, 3)
    sync(simulator, tmp_path)
    remembered = _remembered(tmp_path)
    assert remembered is not None and remembered.unknown == deleted
    runs, keys = remembered.runs, remembered.keys
    # The rows the gate judged are not looked at again: only the values it found unknown.
    nothing = RememberedReference(runs, [], keys)
    assert _confirm(simulator, tmp_path, remembered=nothing) == ReferenceCheck(0, 0, 0)
    # Rows of runs it did not judge are.
    unjudged = RememberedReference([], [], keys)
    assert _confirm(simulator, tmp_path, limit=2, remembered=unjudged) == ReferenceCheck(3, 2, 2)
    left = RememberedReference(runs, deleted, keys)
    assert _confirm(simulator, tmp_path, remembered=left) == ReferenceCheck(1, 1, 1)
    assert _tombstones(tmp_path) == set(deleted)


def test_fewer_known_ids_than_the_gate_counted_looks_at_every_value(simulator, tmp_path):
    deleted = _delete_buyers(simulator.store, 2)
    sync(simulator, tmp_path)
    remembered = _remembered(tmp_path)
    assert remembered is not None
    # As if the gate had counted more known ids than there are: its findings no longer hold.
    stale = RememberedReference(remembered.runs, [], remembered.keys + 1)
    assert _confirm(simulator, tmp_path, remembered=stale) == ReferenceCheck(2, 2, 2)
    assert _tombstones(tmp_path) == set(deleted)


@pytest.mark.attack("unseen deletions: a proxy's HTML 404 taken as vivenu's proof")
def test_a_proxys_html_404_tombstones_nothing(hostile, simulator, tmp_path):
    (victim,) = _delete_buyers(simulator.store, 1)
    sync(simulator, tmp_path)

    async def html_404(request, body, forward):
        if request.url.path == f"/api/customers/{victim}":
            return Response("<html>Not Found</html>", 404, media_type="text/html")
        return None

    hostile.rules.append(html_404)
    with pytest.raises(VivenuError, match=r"404 without vivenu.s JSON"):
        _confirm(simulator, tmp_path, via=hostile.base_url)
    assert _tombstones(tmp_path) == set()


@pytest.mark.attack("unseen deletions: a customerId that rewrites the GET's URL path")
def test_a_hostile_customer_id_never_reaches_a_url(hostile, simulator, tmp_path):
    hostile_id = "../transactions/x"

    async def rewrite(request, body, forward):
        if request.url.path != "/api/transactions":
            return None
        upstream = await forward()
        page = orjson.loads(upstream.content)
        if request.query_params.get("skip") == "0" and page["docs"]:
            page["docs"][0]["customerId"] = hostile_id
        return as_response(upstream, content=orjson.dumps(page))

    hostile.rules.append(rewrite)
    sync(simulator, tmp_path, via=hostile.base_url)
    simulator.clear_requests()
    assert _confirm(simulator, tmp_path, via=hostile.base_url) == ReferenceCheck(0, 0, 0)
    assert [r.path for r in simulator.requests] == []
