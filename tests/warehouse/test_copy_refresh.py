"""The analyst copy refreshed from its previous version equals a copy written afresh: after a
real incremental load (changes, deletions, new records), after the copy's definitions changed,
and after an analyst wrote into the copy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from pipelines.registry import RESOURCES
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import catalog
from pipelines.warehouse.loader import analyst_path, publish
from tests.sync.truth import sync
from tests.warehouse.test_end_to_end import run


def snapshot(path: Path) -> dict[str, object]:
    """Everything an analyst can see in the file at `path`: every table's comment, columns (name,
    type, comment, in order) and rows (sorted), every view's SQL, comment and columns."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out: dict[str, object] = {}
        for schema, table, comment in con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() "
            "WHERE database_name = current_database()"
        ).fetchall():
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            out[f"{schema}.{table}"] = (
                comment,
                _columns(con, schema, table),
                sorted(rows, key=repr),
            )
        for schema, view, text, comment in con.execute(
            "SELECT schema_name, view_name, sql, comment FROM duckdb_views() "
            "WHERE database_name = current_database() AND NOT internal"
        ).fetchall():
            out[f"view {schema}.{view}"] = (text, comment, _columns(con, schema, view))
        return out
    finally:
        con.close()


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[tuple]:
    return con.execute(
        "SELECT column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [schema, table],
    ).fetchall()


@pytest.fixture
def written(monkeypatch) -> dict[str, list[str]]:
    """The tables each refresh replaced, whole ("table") or by the rows that changed ("rows")."""
    from pipelines.warehouse import refresh

    original = refresh.sql
    seen: dict[str, list[str]] = {"table": [], "rows": []}

    def spy(name: str, **identifiers: str) -> str:
        if name in ("publish_table", "publish_rows_delete"):
            seen["table" if name == "publish_table" else "rows"].append(identifiers["table"])
        return original(name, **identifiers)

    monkeypatch.setattr(refresh, "sql", spy)
    return seen


def test_a_refreshed_copy_equals_a_fresh_one_after_changes_deletions_and_new_rows(
    tmp_path, written
):
    data = tmp_path / "data"
    store = Store.seeded(300, 11)
    db = data / "warehouse.duckdb"
    with SimulatorServer(store) as sim:
        sync(sim, data, resources=RESOURCES)
        run(data)  # the first copy: written afresh
        ids = store.live_customer_ids()
        for cid in ids[:4]:
            store.update_customer(cid, {"primaryEmail": f"new-{cid}@example.org", "tags": ["x"]})
        for cid in ids[-2:]:
            store.delete_customer(cid)
        for n in range(3):
            store.create_customer({"primaryEmail": f"added-{n}@example.org", "tags": ["new"]})
        (tid, *_) = store.live_transaction_ids()
        store.update_transaction(tid, {"status": "CANCELED"})
        sync(sim, data, reconcile=True, resources=RESOURCES)
        written["table"].clear()
        run(data)  # load, analytics, the copy refreshed
    refreshed = analyst_path(db)
    fresh = publish(db, tmp_path / "fresh.duckdb", full=True)
    assert snapshot(refreshed) == snapshot(fresh)
    # The loader's tables were refreshed by their changed rows, not copied whole.
    for table in ("customers", "customers_history", "customer_tags", "transactions"):
        assert f'"main"."{table}"' in written["rows"], table
        assert f'"main"."{table}"' not in written["table"], table
    with duckdb.connect(str(refreshed), read_only=True) as con:
        (live,) = con.execute("SELECT count(*) FROM customers").fetchall()[0]
    assert live == len(store.live_customer_ids()) == 301


def _published(data: Path, store: Store) -> Path:
    """Every resource synced and loaded, its first analyst copy published; the warehouse."""
    with SimulatorServer(store) as sim:
        sync(sim, data, resources=RESOURCES)
        run(data)
    return data / "warehouse.duckdb"


def _changed(data: Path, store: Store) -> None:
    """One customer changed in vivenu, synced, loaded: the copy is refreshed."""
    with SimulatorServer(store) as sim:
        cid = store.live_customer_ids()[0]
        store.update_customer(cid, {"primaryEmail": f"later-{cid}@example.org"})
        sync(sim, data, resources=RESOURCES)
        run(data)


def test_a_refreshed_copy_takes_the_definitions_a_fresh_one_gets(tmp_path, monkeypatch):
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    # A release documents customers.meta as plain text (no longer JSON) and drops the
    # description of customers.notes: a fresh copy types meta VARCHAR and leaves notes bare.
    tables = catalog.tables()
    customers = tables["main.customers"]
    columns = tuple(
        replace(c, json=False) if c.name == "meta" else c
        for c in customers.columns
        if c.name != "notes"
    )
    changed = {**tables, "main.customers": replace(customers, columns=columns)}
    monkeypatch.setattr(catalog, "tables", lambda sources=catalog.SOURCES: changed)
    _changed(tmp_path / "data", store)
    copy = analyst_path(db)
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh.duckdb", full=True))
    with duckdb.connect(str(copy), read_only=True) as con:
        got = {name: (kind, text) for name, kind, text in _columns(con, "main", "customers")}
    assert got["meta"][0] == "VARCHAR" and got["notes"][1] is None


def test_edits_an_analyst_made_to_the_copy_do_not_survive_the_next_publish(tmp_path):
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    copy = analyst_path(db)
    # The copy is meant to be read-only, but nothing stops a read-write open: an edit to a table
    # the next load does not change, and one to a table it does.
    with duckdb.connect(str(copy)) as con:
        con.execute("UPDATE transactions SET status = 'EDITED'")
        con.execute("UPDATE customers SET notes = 'edited by an analyst'")
    _changed(tmp_path / "data", store)
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh.duckdb", full=True))
    with duckdb.connect(str(copy), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transactions WHERE status = 'EDITED'").fetchall()[
            0
        ] == (0,)


def _file(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def test_a_copy_that_holds_the_warehouse_as_it_is_is_left_in_place(tmp_path):
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    copy = analyst_path(db)
    before = _file(copy)
    assert publish(db) == copy and _file(copy) == before  # nothing changed: not written
    # A change only an internal table records (no version of its own) is published.
    with duckdb.connect(str(db)) as con:
        con.execute(
            "DELETE FROM internal.loaded_runs WHERE run_id = (SELECT min(run_id) FROM internal.loaded_runs)"
        )
    publish(db)
    assert _file(copy) != before
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh.duckdb", full=True))
    # A load that changed rows is published as before.
    before = _file(copy)
    _changed(tmp_path / "data", store)
    assert _file(copy) != before
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh2.duckdb", full=True))


def test_definitions_changed_without_a_load_are_published(tmp_path, monkeypatch):
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    tables = catalog.tables()
    customers = tables["main.customers"]
    columns = tuple(c for c in customers.columns if c.name != "notes")
    changed = {**tables, "main.customers": replace(customers, columns=columns)}
    monkeypatch.setattr(catalog, "tables", lambda sources=catalog.SOURCES: changed)
    copy = publish(db)
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh.duckdb", full=True))
    with duckdb.connect(str(copy), read_only=True) as con:
        got = {name: text for name, _, text in _columns(con, "main", "customers")}
    assert got["notes"] is None


def test_rows_equal_but_not_the_same_in_an_unversioned_table_are_published(tmp_path):
    """A table no writer versions (a hand-made mart) whose values compare equal but differ: an
    interval of a month for one of 30 days, a string in another case under NOCASE."""
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.m (i INTERVAL, s VARCHAR COLLATE NOCASE)")
        con.execute("INSERT INTO marts.m VALUES (INTERVAL 30 DAYS, 'a')")
    copy = publish(db)
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE marts.m SET i = INTERVAL 1 MONTH, s = 'A'")
    publish(db)
    assert snapshot(copy) == snapshot(publish(db, tmp_path / "fresh.duckdb", full=True))


def test_a_quiet_publish_sweeps_what_killed_publishes_left(tmp_path):
    """A publish killed mid-way leaves its temporary copy (personal data) or its check's
    definitions template; a later publish that changes nothing still deletes them."""
    store = Store.seeded(120, 5)
    db = _published(tmp_path / "data", store)
    copy = analyst_path(db)
    dead = 2**22 + 12345  # above Linux's default pid_max: no such process
    left = [copy.with_name(f".{copy.name}.{dead}.abc.tmp{suffix}") for suffix in ("", ".schema")]
    for path in left:
        path.write_bytes(b"left by a killed publish")
    before = _file(copy)
    publish(db)
    assert _file(copy) == before
    assert not [p for p in left if p.exists()]
    assert {p.name for p in copy.parent.glob(f".{copy.name}.*")} == {f".{copy.name}.published"}
