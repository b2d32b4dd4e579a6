"""The sync against a hostile vivenu: answers that look complete but are not."""

from __future__ import annotations

import orjson
import pytest
from starlette.responses import Response

from pipelines.sync.engine import SyncFailed
from pipelines.sync.lake import Lake
from pipelines.warehouse.loader import connect, load
from tests.adversarial.hostile import as_response
from tests.sync.truth import mismatches, sync


@pytest.mark.attack("11.5 a duplicate id inside a one-page answer hides a record")
def test_duplicate_in_a_one_page_answer_is_not_accepted(hostile, simulator, tmp_path):
    spoiled: list[str] = []

    async def duplicate_once(request, body, forward):
        if request.url.path != "/api/customers/rich" or spoiled:
            return None
        upstream = await forward()
        page = orjson.loads(upstream.content)
        docs = page["docs"]
        assert page["total"] == len(docs) > 1  # one page holds the whole window
        spoiled.append(docs[1]["_id"])
        docs[1] = docs[0]  # len(docs) == total still, one record fewer
        return as_response(upstream, content=orjson.dumps(page))

    hostile.rules.append(duplicate_once)
    sync(simulator, tmp_path, via=hostile.base_url)
    assert spoiled
    assert mismatches(simulator, tmp_path) == {}


def _hide(record_id: str, *, not_found: Response):
    """A rule: `record_id` is left out of every customer listing (its total adjusted) and its
    GET answers `not_found`."""

    async def rule(request, body, forward):
        if request.url.path == f"/api/customers/{record_id}":
            return not_found
        if request.url.path != "/api/customers/rich":
            return None
        upstream = await forward()
        page = orjson.loads(upstream.content)
        kept = [d for d in page["docs"] if d.get("_id") != record_id]
        page["total"] -= len(page["docs"]) - len(kept)
        page["docs"] = kept
        return as_response(upstream, content=orjson.dumps(page))

    return rule


def _vivenu_404(record_id: str) -> Response:
    body = {"statusCode": 404, "error": "Not Found", "message": f"customer {record_id} not found"}
    return Response(orjson.dumps(body), 404, media_type="application/json")


def _ids(data_dir, table: str) -> set[str]:
    return set(Lake(data_dir).read_snapshot("customers", table, ["id"]).column("id").to_pylist())


def _warehouse_ids(data_dir) -> set[str]:
    db = data_dir / "warehouse.duckdb"
    load(Lake(data_dir), db, publish_copy=False)
    con = connect(db, read_only=True)
    try:
        return {i for (i,) in con.execute("SELECT id FROM customers").fetchall()}
    finally:
        con.close()


@pytest.mark.attack("11.1 a proxy's HTML 404 during reconcile deletes a customer")
def test_html_404_during_reconcile_deletes_nothing(hostile, simulator, tmp_path):
    sync(simulator, tmp_path)
    victim = simulator.store.live_customer_ids()[3]
    hostile.rules.append(_hide(victim, not_found=Response("<html>Not Found</html>", 404)))
    with pytest.raises(SyncFailed, match=r"nothing marked deleted: .*404 without vivenu.s JSON"):
        sync(simulator, tmp_path, via=hostile.base_url, reconcile=True)
    assert victim in _ids(tmp_path, "customers")
    assert _ids(tmp_path, "deletions") == set()
    assert mismatches(simulator, tmp_path) == {}


@pytest.mark.attack("11.1 a tombstone bans a record that vivenu lists again")
@pytest.mark.parametrize("comeback", ["updated", "full"])
def test_tombstoned_record_listed_again_comes_back(hostile, simulator, tmp_path, comeback):
    sync(simulator, tmp_path)
    victim = simulator.store.live_customer_ids()[3]
    # vivenu (or something answering as vivenu) lists the record no more and says 404 for it.
    hostile.rules.append(_hide(victim, not_found=_vivenu_404(victim)))
    sync(simulator, tmp_path, via=hostile.base_url, reconcile=True)
    assert victim in _ids(tmp_path, "deletions")
    assert victim not in _ids(tmp_path, "customers") | _warehouse_ids(tmp_path)

    hostile.rules.clear()
    if comeback == "updated":
        simulator.store.update_customer(victim, {"notes": "back again"})
    sync(simulator, tmp_path, full=comeback == "full")
    assert victim in _ids(tmp_path, "customers")
    assert victim not in _ids(tmp_path, "deletions")
    assert victim in _warehouse_ids(tmp_path)
    assert mismatches(simulator, tmp_path) == {}
