"""Pushing CRM change files to the simulator: diff, conflicts, idempotency, guardrail, audit."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import orjson
import pytest

from tests.push.conftest import Synced


def _put_bodies(env: Synced) -> dict[str, dict]:
    return {
        r.path.rsplit("/", 1)[1]: orjson.loads(r.body)
        for r in env.requests("PUT")
        if r.status == 200
    }


def test_only_changed_fields_are_sent(synced: Synced) -> None:
    a, b, c = synced.customers()[:3]
    path = synced.write_csv(
        [
            # company changes; prename is the same as synced, so it is not sent
            {"id": a["_id"], "company": "Acme CRM GmbH", "prename": a["prename"]},
            # one location sub-field: the whole location goes, the other sub-fields kept
            {"id": b["_id"], "location.city": "Zwickau"},
            # tags merged per operation onto the live list
            {"id": c["_id"], "tags.add": "crm-vip|newsletter", "tags.remove": "nonexistent"},
        ]
    )
    report = synced.push(path)
    assert report.status == "completed", report.error
    counts = report.counts()
    assert counts["applied"] == 3 and counts["rejected"] == 0

    bodies = _put_bodies(synced)
    assert bodies[a["_id"]] == {"company": "Acme CRM GmbH"}
    assert set(bodies[b["_id"]]) == {"location"}
    assert bodies[b["_id"]]["location"] == {**b["location"], "city": "Zwickau"}
    assert bodies[c["_id"]] == {"tags": [*c["tags"], "crm-vip", "newsletter"]}
    # a GET of the live record precedes every PUT
    assert [r.method for r in synced.requests()].count("GET") == 3

    live_b = synced.live(b["_id"])
    assert live_b["location"] == {**b["location"], "city": "Zwickau"}
    assert live_b["prename"] == b["prename"] and live_b["tags"] == b["tags"]


def test_same_file_twice_sends_nothing_and_sync_echo_is_not_a_conflict(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    rows = [
        {"id": a["_id"], "notes": "called 2024-05-01", "tags.add": "crm"},
        {"email": b["primaryEmail"].upper(), "verified": "false", "blocked": "true"},
    ]
    path = synced.write_csv(rows)
    first = synced.push(path)
    assert first.counts()["applied"] == 2
    assert len(synced.requests("PUT")) == 2

    # Second push before any sync: the warehouse is stale, the live record already matches.
    synced.sim.clear_requests()
    second = synced.push(path)
    assert second.status == "completed"
    assert second.counts()["already_applied"] == 2 and second.counts()["conflicts"] == 0
    assert synced.writes() == []

    # After the next sync our own writes are ordinary updates: unchanged, no request at all.
    synced.resync()
    synced.sim.clear_requests()
    third = synced.push(path)
    assert third.counts()["unchanged"] == 2 and third.counts()["conflicts"] == 0
    assert synced.requests() == []


@pytest.mark.attack("another client edits a customer before the push")
def test_concurrent_edit_becomes_a_conflict_not_an_overwrite(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    # vivenu-side edits after our sync
    synced.sim.store.update_customer(a["_id"], {"company": "Edited In Vivenu"})
    synced.sim.store.update_customer(b["_id"], {"notes": "support note"})
    path = synced.write_csv(
        [
            {"id": a["_id"], "company": "From The CRM"},
            # b's notes changed in vivenu, but we change phone only: no conflict
            {"id": b["_id"], "phone": "+49 30 1234567"},
        ]
    )
    report = synced.push(path)
    by_id = {p.customer_id: p for p in report.customers}
    assert by_id[a["_id"]].outcome == "conflict"
    assert [c.label for c in by_id[a["_id"]].conflicts] == ["company"]
    assert by_id[b["_id"]].outcome == "applied"
    assert synced.live(a["_id"])["company"] == "Edited In Vivenu"
    assert synced.live(b["_id"])["notes"] == "support note"
    assert synced.live(b["_id"])["phone"] == "+49 30 1234567"
    assert set(_put_bodies(synced)) == {b["_id"]}
    saved = json.loads(Path(report.report_path).read_text())
    conflict = next(c for c in saved["customers"] if c["customer_id"] == a["_id"])
    assert conflict["conflicts"][0] == {
        "field": "company",
        "synced": a["company"],
        "live": "Edited In Vivenu",
        "new": "From The CRM",
    }

    # The policy flag overrides.
    synced.sim.clear_requests()
    forced = synced.push(path, on_conflict="overwrite")
    assert forced.counts()["applied"] == 1
    assert synced.live(a["_id"])["company"] == "From The CRM"


@pytest.mark.attack("a 429 storm during a push")
def test_429_storm_applies_every_change_exactly_once(synced: Synced) -> None:
    targets = synced.customers()[10:30]
    path = synced.write_csv(
        [
            {"id": c["_id"], "company": f"Storm {i}", "tags.add": "storm"}
            for i, c in enumerate(targets)
        ]
    )
    synced.sim.faults.rate_429 = 0.4
    synced.sim.faults.retry_after = "0"
    report = synced.push(path, client_overrides={"max_attempts": 30, "backoff_initial_s": 0.005})
    synced.sim.faults.reset()
    assert report.status == "completed", report.error
    assert report.counts()["applied"] == len(targets)
    assert Counter(r.status for r in synced.requests())[429] > 5
    applied = Counter(r.path for r in synced.requests("PUT") if r.status == 200)
    assert sorted(applied.values()) == [1] * len(targets)
    for i, c in enumerate(targets):
        live = synced.live(c["_id"])
        assert live["company"] == f"Storm {i}"
        assert live["tags"].count("storm") == 1


@pytest.mark.attack("a CRM file that changes too many customers")
def test_guardrail_refuses_a_file_changing_too_many_customers(synced: Synced) -> None:
    customers = synced.customers()[:31]  # 31 of 300 > 10%
    rows = [{"id": c["_id"], "notes": "bulk"} for c in customers]
    inbox = synced.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True)
    path = synced.write_csv(rows)
    target = inbox / "bulk.csv"
    path.replace(target)

    report = synced.push(target)
    assert report.status == "refused" and "--force" in (report.error or "")
    assert synced.requests() == []
    assert not target.exists()
    assert Path(report.file_moved_to).parent == synced.data_dir / "crm" / "failed"
    assert Path(report.report_path).exists()

    # a higher limit or --force lets it through
    report = synced.push(Path(report.file_moved_to), max_share=0.2)
    assert report.status == "completed" and report.counts()["applied"] == 31


def test_dry_run_makes_no_write_request_and_writes_the_plan(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    synced.sim.store.update_customer(b["_id"], {"lastname": "Vivenu-Side"})
    inbox = synced.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True)
    path = synced.write_csv(
        [
            {"id": a["_id"], "company": "Planned Co", "location.country": "at"},
            {"id": b["_id"], "lastname": "CRM-Side"},
            {"id": "000000000000000000000000", "company": "nobody"},
        ]
    )
    target = inbox / "plan.csv"
    path.replace(target)
    report = synced.push(target, dry_run=True)
    assert report.status == "dry_run"
    assert synced.writes() == []
    assert target.exists()  # a dry run does not consume the inbox
    plan = json.loads(Path(report.report_path).read_text())
    assert Path(report.report_path).parent.name == "plans"
    by_id = {c["customer_id"]: c for c in plan["customers"]}
    assert by_id[a["_id"]]["outcome"] == "would_apply"
    assert {c["field"]: c["new"] for c in by_id[a["_id"]]["changes"]} == {
        "company": "Planned Co",
        "location.country": "AT",
    }
    assert by_id[b["_id"]]["outcome"] == "conflict"
    assert plan["rejects"][0]["reason"].startswith("unknown customer id")
    # the dry run wrote nothing to the warehouse either
    con = duckdb.connect(str(synced.db_path), read_only=True)
    tables = {
        t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    con.close()
    assert "push_log" not in tables


@pytest.mark.attack("invalid CRM rows of every kind")
def test_each_kind_of_invalid_row_is_rejected_with_its_reason(synced: Synced) -> None:
    a, b, c, d = synced.customers()[:4]
    path = synced.write_csv(
        [
            {"id": a["_id"], "company": "Valid Row Co"},
            {"id": "ffffffffffffffffffffffff", "company": "x"},
            {"email": "nobody.here@example.org", "company": "x"},
            {"id": b["_id"], "favourite_colour": "blue"},
            {"id": b["_id"], "updatedAt": "2024-01-01T00:00:00.000Z"},
            {"id": b["_id"], "primaryEmail": "not-an-email"},
            {"id": b["_id"], "location.country": "Germany"},
            {"id": c["_id"], "notes": "first"},
            {"id": c["_id"], "notes": "second"},
            {"id": d["_id"], "verified": "maybe"},
            {"id": d["_id"], "name": "<clear>"},
        ]
    )
    report = synced.push(path)
    assert report.status == "completed"
    reasons = {r.row: r.reason for r in report.rejects}
    assert reasons[2] == "unknown customer id 'ffffffffffffffffffffffff'"
    assert reasons[3] == "unknown customer email 'nobody.here@example.org'"
    assert reasons[4] == "unknown column 'favourite_colour'"
    assert reasons[5] == "read-only field 'updatedAt'"
    assert reasons[6] == "invalid email 'not-an-email' in primaryEmail"
    assert reasons[7].startswith("invalid country 'Germany'")
    assert reasons[8] == reasons[9] == f"several rows for customer {c['_id']} (rows 8, 9)"
    assert reasons[10] == "verified must be true or false, got 'maybe'"
    assert reasons[11] == "name cannot be cleared (vivenu requires a value)"
    assert sorted(reasons) == list(range(2, 12))
    assert report.counts()["applied"] == 1
    assert set(_put_bodies(synced)) == {a["_id"]}


def test_push_log_and_inbox_file_move(synced: Synced) -> None:
    a, b = synced.customers()[:2]
    synced.sim.store.update_customer(b["_id"], {"company": "Theirs"})
    inbox = synced.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True)
    src = synced.write_csv(
        [
            {"id": a["_id"], "company": "Ours", "meta": '{"crm_id": 7}'},
            {"id": b["_id"], "company": "Ours"},
        ]
    )
    target = inbox / "daily.csv"
    src.replace(target)
    report = synced.push(target)
    assert report.status == "completed"
    moved = Path(report.file_moved_to)
    assert moved.parent.name == "processed" and moved.exists() and not target.exists()
    assert Path(report.report_path) == moved.with_name(moved.name + ".report.json")
    assert synced.live(a["_id"])["meta"] == {**a["meta"], "crm_id": 7}

    con = duckdb.connect(str(synced.db_path), read_only=True)
    rows = con.execute(
        "SELECT customer_id, fields, outcome, http_status, started_at <= finished_at "
        "FROM push_log ORDER BY row_number"
    ).fetchall()
    con.close()
    assert rows == [
        (a["_id"], ["company", "meta.crm_id"], "applied", 200, True),
        (b["_id"], ["company"], "conflict", None, True),
    ]


def test_jsonl_and_parquet_files(synced: Synced) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    a, b, c = synced.customers()[:3]
    jsonl = synced.data_dir / "incoming" / "changes.jsonl"
    jsonl.parent.mkdir(parents=True, exist_ok=True)
    jsonl.write_text(
        json.dumps(
            {"id": a["_id"], "phone": "<clear>", "tags": ["x", "y"], "extraFields": "<CLEAR>"}
        )
        + "\n"
        + json.dumps({"id": b["_id"], "location": {"city": "nested objects are not columns"}})
        + "\n"
    )
    report = synced.push(jsonl)
    assert report.counts()["applied"] == 1
    assert report.rejects[0].reason == "unknown column 'location'"
    live = synced.live(a["_id"])
    assert "phone" not in live and live["tags"] == ["x", "y"] and live["extraFields"] is None

    parquet = synced.data_dir / "incoming" / "changes.parquet"
    pq.write_table(
        pa.table({"id": [c["_id"]], "tags_add": [["pq"]], "blocked": [True], "notes": [None]}),
        parquet,
    )
    report = synced.push(parquet)
    assert report.counts()["applied"] == 1, report.to_dict()
    assert _put_bodies(synced)[c["_id"]] == {"tags": [*c["tags"], "pq"], "blocked": True}


def test_a_removed_object_key_stays_removed_and_verify_checks_the_intent(synced: Synced) -> None:
    a = synced.customers()[0]
    synced.sim.store.update_customer(a["_id"], {"extraFields": {"a": 1}})
    synced.resync()
    synced.sim.clear_requests()
    path = synced.write_csv([{"id": a["_id"], "extraFields": '{"a": null, "c": 2}'}])
    report = synced.push(path)
    assert report.status == "completed", report.error
    assert _put_bodies(synced)[a["_id"]] == {"extraFields": {"c": 2}}
    assert synced.live(a["_id"])["extraFields"] == {"c": 2}


def test_verify_compares_the_answer_with_the_atoms_not_with_the_body() -> None:
    from pipelines.push import fields
    from pipelines.push.runner import verify

    live = {"_id": "c1", "name": "N", "tags": [], "extraFields": {"a": 1}}
    atoms = fields.atoms_of({"extraFields": {"a": None, "c": 2}})
    right = fields.apply(atoms, fields.view(live), live)
    assert right == {"extraFields": {"c": 2}}
    assert verify(live, right, {**live, **right}, atoms) == []
    # A body that lost the removal, answered faithfully, is not "applied".
    wrong = {"extraFields": {"a": 1, "c": 2}}
    assert verify(live, wrong, {**live, **wrong}, atoms) == [
        "extraFields.a: expected None, vivenu has 1"
    ]


WRITER = "import duckdb, sys; duckdb.connect(sys.argv[1]).execute('CREATE TABLE probe (x INT)')"


def test_another_process_can_write_the_warehouse_while_a_push_waits_on_vivenu(
    synced: Synced,
) -> None:
    import asyncio
    import subprocess
    import sys

    from pipelines.push.runner import PushOptions, push_file
    from tests.sync.truth import client_for

    a, b = synced.customers()[:2]
    path = synced.write_csv([{"id": c["_id"], "notes": "while loading"} for c in (a, b)])
    writers: list[subprocess.CompletedProcess] = []

    async def go():
        async with client_for(synced.sim, concurrency=1) as client:
            put = client.update_customer

            async def slow_put(customer_id, body):
                # A sync's warehouse load in another process, between the GET and the PUT.
                probe = WRITER.replace("probe", f"probe_{len(writers)}")
                command = [sys.executable, "-c", probe, str(synced.db_path)]
                writers.append(subprocess.run(command, capture_output=True, text=True, timeout=60))
                return await put(customer_id, body)

            client.update_customer = slow_put
            return await push_file(
                path,
                client=client,
                db_path=synced.db_path,
                data_dir=synced.data_dir,
                options=PushOptions(),
            )

    report = asyncio.run(go())
    assert report.status == "completed", report.error
    assert [w.returncode for w in writers] == [0, 0], [w.stderr[-300:] for w in writers]
    con = duckdb.connect(str(synced.db_path), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM probe_1").fetchall() == [(0,)]
        logged = con.execute("SELECT outcome, count(*) FROM push_log GROUP BY ALL").fetchall()
    finally:
        con.close()
    assert logged == [("applied", 2)]


def test_an_unexpected_error_fails_the_file_into_crm_failed(synced: Synced, monkeypatch) -> None:
    from pipelines.push import runner

    a, b = synced.customers()[:2]
    inbox = synced.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True)
    synced.write_csv([{"id": a["_id"], "notes": "x"}], "bug1.csv").replace(inbox / "bug1.csv")

    def broken_plan(*args, **kwargs):
        raise RuntimeError("a bug while planning")

    monkeypatch.setattr(runner, "plan", broken_plan)
    report = synced.push(inbox / "bug1.csv")
    assert report.status == "failed" and "a bug while planning" in report.error
    assert not (inbox / "bug1.csv").exists()
    assert Path(report.file_moved_to).parent == synced.data_dir / "crm" / "failed"
    monkeypatch.undo()

    # A bug during delivery: that customer fails, no further PUT, the file still leaves.
    def broken_apply(*args, **kwargs):
        raise KeyError("a bug while building the body")

    monkeypatch.setattr(runner.fields, "apply", broken_apply)
    synced.write_csv([{"id": b["_id"], "notes": "y"}], "bug2.csv").replace(inbox / "bug2.csv")
    report = synced.push(inbox / "bug2.csv")
    assert report.status == "failed" and "a bug while building the body" in report.error
    assert [p.outcome for p in report.customers] == ["failed"]
    assert not (inbox / "bug2.csv").exists() and synced.writes() == []
    con = duckdb.connect(str(synced.db_path), read_only=True)
    try:
        assert con.execute("SELECT outcome FROM push_log").fetchall() == [("failed",)]
    finally:
        con.close()
