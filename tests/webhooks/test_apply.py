"""Applying the inbox: envelopes become lake runs that converge to vivenu's state whatever the
order and repetition of their deliveries, and never overwrite a newer version."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

from pipelines.sync.lake import Lake
from pipelines.warehouse.loader import connect, load
from pipelines.webhooks.apply import apply_inbox, waiting
from pipelines.webhooks.inbox import Inbox, parse
from tests.clirun import clean_env, run_cli
from tests.sync.truth import mismatches, sync
from tests.webhooks.conftest import envelope


def _store(inbox: Inbox, event_type: str, data: dict) -> None:
    inbox.store(parse(envelope(event_type, copy.deepcopy(data))))


def test_out_of_order_and_repeated_deliveries_converge_to_vivenus_state(simulator, tmp_path):
    store = simulator.store
    sync(simulator, tmp_path)
    ids = store.live_customer_ids()[:6]
    before = {c["_id"]: c for c in store.customers_truth() if c["_id"] in ids}
    time.sleep(0.01)
    for cid in ids:
        store.update_customer(cid, {"primaryEmail": f"hook.{cid}@example.org"})
    after = {c["_id"]: c for c in store.customers_truth() if c["_id"] in ids}
    inbox = Inbox(tmp_path / "webhooks")
    inbox.prepare()
    for cid in ids:
        _store(inbox, "customer.updated", {"customer": after[cid]})
        _store(inbox, "customer.updated", {"customer": after[cid]})  # a redelivery, new id
        _store(inbox, "customer.updated", {"customer": before[cid]})  # late, older
    assert len(waiting(inbox)) == 18

    applied = apply_inbox(Lake(tmp_path), inbox)
    assert [(a.resource, a.records, a.quarantined) for a in applied] == [("customers", 18, 0)]
    assert waiting(inbox) == [] and inbox.counts()["done"]["customers"] == 18
    Lake(tmp_path).compact("customers")
    assert mismatches(simulator, tmp_path, resources=("customers",)) == {}

    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db, publish_copy=False)
    con = connect(Path(db), read_only=True)
    try:
        emails = dict(
            con.execute("SELECT id, primary_email FROM customers WHERE id IN ?", [ids]).fetchall()
        )
    finally:
        con.close()
    assert emails == {cid: f"hook.{cid}@example.org" for cid in ids}
    # The next sync reads the same versions again and skips them: nothing written twice.
    again = sync(simulator, tmp_path)["customers"]
    assert again.records >= len(ids) and again.already_in_lake == again.records
    assert again.written == 0 and again.as_metadata()["rows_written"] == 0
    assert mismatches(simulator, tmp_path) == {}


def test_webhooks_apply_runs_the_job_to_the_warehouse(simulator, tmp_path):
    env = clean_env(
        VIVENU_BASE_URL=simulator.base_url,
        VIVENU_API_KEY=simulator.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
    )
    assert run_cli("sync", "--quiet", env=env, timeout=300).returncode == 0
    cid = simulator.store.live_customer_ids()[0]
    simulator.store.update_customer(cid, {"primaryEmail": "pushed@example.org"})
    (doc,) = [c for c in simulator.store.customers_truth() if c["_id"] == cid]
    inbox = Inbox(tmp_path / "webhooks")
    inbox.prepare()
    _store(inbox, "customer.updated", {"customer": doc})
    # No vivenu variables: applying the inbox sends no request.
    done = run_cli(
        "webhooks",
        "apply",
        "--json",
        env=clean_env(CUSTOMER_SYNC_DATA_DIR=str(tmp_path)),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    metadata = json.loads(done.stdout)
    assert metadata["webhook_changes"]["customers_records"] == 1
    con = connect(tmp_path / "analytics.duckdb", read_only=True)
    try:
        (email,) = con.execute("SELECT primary_email FROM customers WHERE id = ?", [cid]).fetchone()
    finally:
        con.close()
    assert email == "pushed@example.org"


def test_a_sync_skips_webhook_customers_but_rewrites_webhook_transactions(simulator, tmp_path):
    store = simulator.store
    sync(simulator, tmp_path)
    time.sleep(0.01)
    cid = store.live_customer_ids()[0]
    customer = store.update_customer(cid, {"notes": "via a webhook"})
    tid = store.transactions_truth()[0]["_id"]
    transaction = store.update_transaction(tid, {"origin": "webhook"})
    inbox = Inbox(tmp_path / "webhooks")
    inbox.prepare()
    _store(inbox, "customer.updated", {"customer": customer})
    # webhook.transaction.* carry another shape than the list: the sync's version replaces it.
    _store(inbox, "transaction.complete", {"transaction": transaction, "tickets": []})
    apply_inbox(Lake(tmp_path), inbox)

    results = sync(simulator, tmp_path)
    lake = Lake(tmp_path)
    customers = lake.run_rows("customers", "changes", [results["customers"].run_id], ["id"])
    transactions = lake.run_rows("transactions", "changes", [results["transactions"].run_id])
    assert cid not in customers["id"].to_pylist()
    assert results["customers"].already_in_lake >= 1
    assert tid in transactions["id"].to_pylist()
    assert mismatches(simulator, tmp_path) == {}
