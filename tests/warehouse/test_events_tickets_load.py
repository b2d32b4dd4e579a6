"""Events and tickets in the warehouse: current rows as vivenu holds them, every version in their
history, deletions applied, and the analyst copy documenting their columns."""

from __future__ import annotations

from pipelines.registry import RESOURCES
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse.loader import analyst_path, connect, load
from tests.sync.truth import sync


def test_tickets_and_events_load_with_history_deletions_and_comments(tmp_path):
    store = Store.seeded(150, 8)
    db = tmp_path / "warehouse.duckdb"
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path, resources=RESOURCES)
        first = load(Lake(tmp_path), db)
        assert first.resources["tickets"].inserted == len(store.tickets_truth())
        assert first.resources["events"].inserted == len(store.events_truth())

        ticket = store.tickets_truth()[0]
        store.update_ticket(ticket["_id"], {"firstname": "Ada", "personalized": True})
        event = store.events_truth()[0]
        store.update_event(event["_id"], {"name": "Renamed in vivenu"})
        canceled = store.live_transaction_ids()[-1]
        gone = [k["_id"] for k in store.tickets_truth() if k["transactionId"] == canceled]
        store.delete_transaction(canceled)
        sync(sim, tmp_path, resources=RESOURCES, reconcile=True)
        second = load(Lake(tmp_path), db)

    assert second.resources["tickets"].updated == 1
    assert second.resources["tickets"].deleted == len(gone) > 0
    assert second.resources["events"].updated == 1
    con = connect(analyst_path(db), read_only=True)
    try:
        assert con.execute(
            "SELECT firstname, personalized FROM tickets WHERE id = $id", {"id": ticket["_id"]}
        ).fetchall() == [("Ada", True)]
        versions = con.execute(
            "SELECT firstname, valid_to IS NULL FROM tickets_history WHERE id = $id "
            "ORDER BY valid_from",
            {"id": ticket["_id"]},
        ).fetchall()
        assert versions == [(ticket.get("firstname"), False), ("Ada", True)]
        assert con.execute(
            "SELECT count(*) FROM tickets WHERE id IN (SELECT unnest($ids))", {"ids": gone}
        ).fetchall() == [(0,)]
        # A deleted ticket's last version ends at its deletion.
        assert con.execute(
            "SELECT count(*) FROM tickets_history WHERE id IN (SELECT unnest($ids)) "
            "AND valid_to IS NULL",
            {"ids": gone},
        ).fetchall() == [(0,)]
        assert con.execute(
            "SELECT name FROM events WHERE id = $id", {"id": event["_id"]}
        ).fetchall() == [("Renamed in vivenu",)]
        assert con.execute("SELECT count(*) FROM tickets").fetchall() == [
            (len(store.tickets_truth()),)
        ]
        # Neither credential is a column; every column is documented from the SQL headers.
        columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE table_name IN ('events', 'tickets')"
        ).fetchall()
        assert {c for _, c, _ in columns}.isdisjoint({"secret", "barcode"})
        assert [(t, c) for t, c, comment in columns if not comment] == []
    finally:
        con.close()
