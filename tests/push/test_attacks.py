"""Attacks on the push (issue 11): hostile cells, odd files, unsafe ids, racing writers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from pipelines.push.runner import PushOptions, PushReport, push_file
from pipelines.vivenu.client import ClientSettings, VivenuClient
from pipelines.vivenu.ids import ID_RULE
from tests.adversarial.hostile import Forward, HostileAPI, as_response
from tests.push.conftest import Synced


def _with(env: Synced, *keys: str) -> list[dict]:
    """Customers whose `keys` (dotted for location) all hold a non-empty value."""

    def value(c: dict, key: str) -> object:
        head, _, tail = key.partition(".")
        return (c.get(head) or {}).get(tail) if tail else c.get(head)

    return [c for c in env.customers() if all(value(c, k) for k in keys)]


def _write(env: Synced, name: str, text: str) -> Path:
    path = env.data_dir / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.attack("11.3 whitespace-only CRM cells wipe fields in vivenu")
def test_whitespace_cells_change_nothing_and_clear_is_explicit(synced: Synced) -> None:
    a, b, c = _with(synced, "company", "phone", "location.city")[:3]
    path = synced.write_csv(
        [
            {
                "id": a["_id"],
                "company": " ",
                "phone": "\t",
                "location.city": "  \t ",
                "notes": "whitespace row",
            },
            {"id": b["_id"], "company": "<clear>", "phone": " \t"},
            {"id": c["_id"], "company": "NULL"},
        ]
    )
    report = synced.push(path)
    assert report.status == "completed", report.error
    live_a, live_b = synced.live(a["_id"]), synced.live(b["_id"])
    assert (live_a["company"], live_a["phone"], live_a["location"]["city"]) == (
        a["company"],
        a["phone"],
        a["location"]["city"],
    )
    assert live_a["notes"] == "whitespace row"
    assert live_b.get("company") is None and live_b["phone"] == b["phone"]
    # `NULL` is what SQL exports write for "no value": refused, never taken as "clear".
    [reject] = report.rejects
    assert reject.row == 3 and "'NULL' is ambiguous" in reject.reason and "<clear>" in reject.reason
    assert synced.live(c["_id"])["company"] == c["company"]

    # JSON Lines: blank strings keep, null is refused as ambiguous, "<clear>" clears.
    d, e = _with(synced, "company", "phone")[3:5]
    lines = [
        {"id": d["_id"], "company": "  ", "phone": "<clear>"},
        {"id": e["_id"], "company": None},
    ]
    report = synced.push(_write(synced, "c.jsonl", "".join(json.dumps(x) + "\n" for x in lines)))
    live_d = synced.live(d["_id"])
    assert live_d["company"] == d["company"] and live_d.get("phone") is None
    assert [r.row for r in report.rejects] == [2] and "null is ambiguous" in report.rejects[
        0
    ].reason
    assert synced.live(e["_id"])["company"] == e["company"]


@pytest.mark.attack("11.19 ids from CRM files go into URL paths")
def test_ids_that_are_not_vivenu_ids_are_rejected_before_any_request(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    path = synced.write_csv(
        [
            {"id": "../transactions/x", "company": "path traversal"},
            {"id": "a b?c=1#f", "company": "query and fragment"},
            {"id": a["_id"], "company": "Valid Co"},
        ]
    )
    report = synced.push(path)
    assert report.status == "completed", report.error
    reasons = {r.row: r.reason for r in report.rejects}
    assert reasons == {
        1: f"id '../transactions/x' is not a vivenu id ({ID_RULE})",
        2: f"id 'a b?c=1#f' is not a vivenu id ({ID_RULE})",
    }
    assert {r.path for r in synced.requests()} == {f"/api/customers/{a['_id']}"}

    # An id resolved by email comes from the warehouse: checked there too.
    con = duckdb.connect(str(synced.db_path))
    con.execute("UPDATE customers SET id = '../transactions/x' WHERE id = ?", [b["_id"]])
    con.close()
    synced.sim.clear_requests()
    report = synced.push(synced.write_csv([{"email": b["primaryEmail"], "notes": "by email"}]))
    [reject] = report.rejects
    assert reject.reason == f"the warehouse id '../transactions/x' is not a vivenu id ({ID_RULE})"
    assert synced.requests() == []


# ------------------------------------------------------------------ 11.18 odd input files


@pytest.mark.attack("11.18 push input: semicolon, tab and pipe separated CSV")
def test_csv_separator_is_sniffed(synced: Synced) -> None:
    a, b, c = synced.customers()[:3]
    files = [
        _write(synced, "semi.csv", f'id;company;notes\n{a["_id"]};Semi Co;"say ""hi"";ok"\n'),
        _write(synced, "tab.csv", f"id\tcompany\n{b['_id']}\tTab Co\n"),
        _write(synced, "pipe.csv", f'id|tags.add\n{c["_id"]}|"x|y"\n'),
    ]
    for path in files:
        report = synced.push(path)
        assert (report.status, report.rejects, report.counts()["applied"]) == ("completed", [], 1)
    assert synced.live(a["_id"])["company"] == "Semi Co"
    assert synced.live(a["_id"])["notes"] == 'say "hi";ok'
    assert synced.live(b["_id"])["company"] == "Tab Co"
    assert synced.live(c["_id"])["tags"][-2:] == ["x", "y"]


@pytest.mark.attack("11.18 push input: a repeated column or JSON key keeps the last")
def test_repeated_columns_and_keys_are_refused(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    path = _write(synced, "dup.csv", f"id,phone,phone\n{a['_id']},+49 1,+49 2\n")
    report = synced.push(path)
    assert report.status == "failed"
    assert report.error == "dup.csv: column 'phone' appears more than once in the header: keep one"
    assert synced.requests() == []

    text = (
        f'{{"id": "{a["_id"]}", "phone": "+49 1", "phone": "+49 2"}}\n'
        f'{{"id": "{b["_id"]}", "extraFields": {{"k": 1, "k": 2}}}}\n'
        f'{{"id": "{b["_id"]}", "notes": NaN}}\n'
    )
    report = synced.push(_write(synced, "dup.jsonl", text))
    assert [(r.row, r.reason) for r in report.rejects] == [
        (1, "key 'phone' appears more than once: keep one"),
        (2, "key 'k' appears more than once: keep one"),
        (3, "not valid JSON"),
    ]
    assert synced.writes() == []


@pytest.mark.attack("11.18 push input: an empty file exits 0 silently")
def test_a_file_without_rows_says_nothing_to_push(synced: Synced) -> None:
    from click.testing import CliRunner

    from pipelines.push.cli import push

    for name, text in (("empty.csv", ""), ("header.csv", "id,company\n"), ("blank.jsonl", "\n\n")):
        report = synced.push(_write(synced, name, text))
        assert (report.status, report.note) == (
            "completed",
            f"nothing to push: {name} holds no rows",
        )
    assert synced.requests() == []
    env = {
        "VIVENU_BASE_URL": synced.sim.base_url,
        "VIVENU_API_KEY": synced.sim.api_key,
        "CUSTOMER_SYNC_DATA_DIR": str(synced.data_dir),
    }
    done = CliRunner().invoke(push, [str(synced.data_dir / "incoming" / "empty.csv")], env=env)
    assert done.exit_code == 0 and "nothing to push: empty.csv holds no rows" in done.output


@pytest.mark.attack("11.18 push input: a refused big file leaves a copy and a bigger report")
def test_a_refused_file_is_not_copied_and_its_report_is_bounded(synced: Synced) -> None:
    rows = [{"id": c["_id"], "notes": "bulk"} for c in synced.customers()[:31]]
    rows += [{"id": f"{i:024x}", "notes": "unknown"} for i in range(1500)]
    report = synced.push(synced.write_csv(rows, "big.csv"))
    assert report.status == "refused" and report.counts()["rejected"] == 1500
    assert report.file_moved_to is None
    assert [p.name for p in (synced.data_dir / "crm" / "failed").iterdir()] == [
        Path(report.report_path).name
    ]
    saved = json.loads(Path(report.report_path).read_text())
    assert len(saved["rejects"]) == 1000 and saved["rejects_not_listed"] == 500
    assert saved["counts"]["rejected"] == 1500
    assert synced.requests() == []


# ------------------------------------------------------------------ 11.6 racing writers

Edit = Callable[[dict[str, Any]], dict[str, Any]]


async def _other_client_edits(env: Synced, customer_id: str, edit: Edit) -> None:
    """Another vivenu client (straight to the simulator's API): GET, change, PUT."""
    headers = {"Authorization": f"Bearer {env.sim.api_key}"}
    async with httpx.AsyncClient(base_url=env.sim.base_url, headers=headers) as other:
        doc = (await other.get(f"/api/customers/{customer_id}")).raise_for_status().json()
        (await other.put(f"/api/customers/{customer_id}", json=edit(doc))).raise_for_status()


def _push_through(api: HostileAPI, env: Synced, path: Path) -> PushReport:
    settings = ClientSettings(
        base_url=api.base_url, api_key=env.sim.api_key, max_rps=2000, backoff_initial_s=0.02
    )

    async def go() -> PushReport:
        async with VivenuClient(settings) as client:
            return await push_file(
                path,
                client=client,
                db_path=env.db_path,
                data_dir=env.data_dir,
                options=PushOptions(),
            )

    return asyncio.run(go())


@pytest.mark.attack("11.6 a concurrent edit during a PUT's retry backoff is overwritten")
def test_a_retried_put_is_rebuilt_from_a_fresh_get(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    # While our first PUT is answered 429, another client adds a tag to a and edits b's company.
    edits: dict[str, Edit] = {
        a["_id"]: lambda doc: {"tags": [*doc.get("tags", []), "theirs"]},
        b["_id"]: lambda doc: {"company": "Theirs"},
    }

    async def busy_once(request: Request, body: bytes, forward: Forward) -> Response | None:
        customer_id = request.url.path.rsplit("/", 1)[1]
        if request.method != "PUT" or customer_id not in edits:
            return None
        await _other_client_edits(synced, customer_id, edits.pop(customer_id))
        return Response(
            b'{"statusCode": 429, "message": "Too Many Requests"}',
            status_code=429,
            headers={"Retry-After": "0", "Content-Type": "application/json"},
        )

    path = synced.write_csv(
        [{"id": a["_id"], "tags.add": "ours"}, {"id": b["_id"], "company": "Ours"}]
    )
    with HostileAPI(synced.sim.base_url) as api:
        api.rules.append(busy_once)
        report = _push_through(api, synced, path)
    by_id = {p.customer_id: p for p in report.customers}
    assert by_id[a["_id"]].outcome == "applied"
    assert synced.live(a["_id"])["tags"] == [*a["tags"], "theirs", "ours"]
    # b's company changed in vivenu during the backoff: a conflict, held back, theirs kept.
    assert by_id[b["_id"]].outcome == "conflict"
    assert synced.live(b["_id"])["company"] == "Theirs"
    assert report.status == "completed", report.error


@pytest.mark.attack("11.6 a concurrent edit between GET and PUT is reported applied")
def test_an_edit_between_get_and_put_is_a_race_not_applied(synced: Synced) -> None:
    a = synced.customers()[0]

    async def edit_first(request: Request, body: bytes, forward: Forward) -> Response | None:
        if request.method == "PUT" and request.url.path.endswith(a["_id"]):
            await _other_client_edits(synced, a["_id"], lambda doc: {"notes": "theirs"})
            return as_response(await forward())
        return None

    path = synced.write_csv([{"id": a["_id"], "company": "Ours"}])
    with HostileAPI(synced.sim.base_url) as api:
        api.rules.append(edit_first)
        report = _push_through(api, synced, path)
    [plan] = report.customers
    assert plan.outcome == "race" and "notes" in (plan.error or "")
    assert report.status == "failed" and report.counts()["races"] == 1
    live = synced.live(a["_id"])
    assert (live["company"], live["notes"]) == ("Ours", "theirs")
    con = duckdb.connect(str(synced.db_path), read_only=True)
    try:
        assert con.execute("SELECT outcome FROM push_log").fetchall() == [("race",)]
    finally:
        con.close()
