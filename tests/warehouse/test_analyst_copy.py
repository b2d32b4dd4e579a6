"""The analyst's first hour: the `duckdb` shell from set-up opens the analyst copy, every table and
column explains itself, the bookkeeping is out of the way, JSON is JSON, and every query of
docs/analysts.md answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from assets import analytics
from pipelines.push.db import PushDB
from pipelines.registry import RESOURCES
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import catalog
from pipelines.warehouse.loader import analyst_path, connect, load, publish
from tests.sync.truth import sync
from tests.warehouse.lakefix import commit_run, customer, txn
from tests.warehouse.test_end_to_end import run

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "analysts.md"
# The shell `make .venv/.synced` installs beside the interpreter (the duckdb-cli wheel).
DUCKDB_CLI = Path(sys.executable).parent / "duckdb"


def cli(path: Path, query: str) -> list[dict]:
    """`query` run by the duckdb shell on `path` opened read-only, as JSON rows."""
    out = subprocess.run(
        [str(DUCKDB_CLI), "-readonly", "-json", str(path), "-c", query],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else []


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """A demo-like analyst copy (2,000 customers, seed 42 as in the demo): a sync of every
    resource, the analytics, then email changes, a deletion and a reconcile, and a push log."""
    data = tmp_path_factory.mktemp("analyst")
    store = Store.seeded(2000, 42)
    with SimulatorServer(store) as sim:
        sync(sim, data, resources=RESOURCES)
        run(data)
        ids = store.live_customer_ids()
        for n, cid in enumerate(ids[:5]):
            store.update_customer(cid, {"primaryEmail": f"changed-{n}@example.org"})
        store.delete_customer(ids[-1])
        sync(sim, data, reconcile=True, resources=RESOURCES)
        run(data)
    db = data / "warehouse.duckdb"
    PushDB(db, read_only=False)  # creates push_log, as the first push does
    return publish(db)


def undocumented(path: Path) -> list[str]:
    """Tables, views and columns of the file at `path` without a non-empty comment."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return [
            name
            for (name,) in con.execute(
                """
                SELECT schema_name || '.' || table_name FROM duckdb_tables()
                WHERE database_name = current_database() AND coalesce(trim(comment), '') = ''
                UNION ALL
                SELECT schema_name || '.' || view_name FROM duckdb_views()
                WHERE database_name = current_database() AND NOT internal
                  AND coalesce(trim(comment), '') = ''
                UNION ALL
                SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns()
                WHERE database_name = current_database() AND coalesce(trim(comment), '') = ''
                """
            ).fetchall()
        ]
    finally:
        con.close()


def test_the_duckdb_shell_from_set_up_opens_the_analyst_copy(copy):
    version = subprocess.run([str(DUCKDB_CLI), "--version"], capture_output=True, text=True)
    # The point: a 1.x reader (the shell on PyPI, DBeaver's JDBC driver) opens what 2.x wrote.
    assert version.stdout.startswith("v1."), version.stdout
    con = duckdb.connect(str(copy), read_only=True)
    try:
        want = con.execute(
            "SELECT count(*), sum(revenue) FROM customer_spend WHERE currency = 'EUR'"
        ).fetchall()[0]
    finally:
        con.close()
    (got,) = cli(
        copy,
        "SELECT count(*) AS n, sum(revenue)::VARCHAR AS revenue FROM customer_spend "
        "WHERE currency = 'EUR'",
    )
    assert want[0] > 100
    assert (got["n"], got["revenue"]) == (want[0], str(want[1]))
    (described,) = cli(copy, "SELECT comment FROM duckdb_tables() WHERE table_name = 'customers'")
    assert described["comment"].startswith("one row per customer")


def test_every_table_and_column_of_the_analyst_copy_is_documented(copy):
    assert undocumented(copy) == []
    con = duckdb.connect(str(copy), read_only=True)
    try:
        present = {
            f"{s}.{t}"
            for s, t in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL "
                "SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
    finally:
        con.close()
    # Every documented table is in the copy (no header describes a table that is not there) and
    # the copy holds nothing else.
    assert present == set(catalog.tables())


def test_an_undocumented_column_is_caught(tmp_path):
    run_id = "20240101T000000000Z-000001"
    commit_run(tmp_path, "customers", run_id, customers=[customer("c1", "2024-01-01")])
    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db)
    assert undocumented(analyst_path(db)) == []
    con = connect(db)
    con.execute("ALTER TABLE customers ADD COLUMN loyalty_points INTEGER")
    con.close()
    publish(db)
    assert undocumented(analyst_path(db)) == ["main.customers.loyalty_points"]


def test_bookkeeping_lives_in_schema_internal(copy):
    con = duckdb.connect(str(copy), read_only=True)
    try:
        schemas = dict(
            con.execute(
                "SELECT table_name, schema_name FROM duckdb_tables() "
                "WHERE table_name LIKE '%loaded_runs' OR table_name LIKE '%rejected_versions'"
            ).fetchall()
        )
        (runs,) = con.execute("SELECT count(*) FROM internal.loaded_runs").fetchall()[0]
        (hidden,) = con.execute(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE schema_name = 'main' AND starts_with(table_name, '_')"
        ).fetchall()[0]
    finally:
        con.close()
    assert schemas == {"loaded_runs": "internal", "rejected_versions": "internal"}
    # Every resource's first sync, and the second of customers and transactions: events and
    # tickets did not change in between, and a run that fetched nothing loads no batch.
    assert runs == len(RESOURCES) + 2 and hidden == 0


def test_an_old_warehouse_moves_its_bookkeeping_to_internal(tmp_path):
    run_id = "20240101T000000000Z-000001"
    commit_run(tmp_path, "customers", run_id, customers=[customer("c1", "2024-01-01")])
    commit_run(tmp_path, "transactions", run_id, transactions=[txn("t1", "c1", "2024-01-02", "9")])
    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db)
    # The layout before schema `internal`: bookkeeping as main._loaded_runs/_rejected_versions.
    con = connect(db)
    con.execute(
        "CREATE TABLE main._loaded_runs AS FROM internal.loaded_runs;"
        "CREATE TABLE main._rejected_versions AS FROM internal.rejected_versions;"
        "DROP TABLE internal.loaded_runs; DROP TABLE internal.rejected_versions;"
    )
    con.close()
    result = load(Lake(tmp_path), db)
    # Nothing is loaded twice: the runs merged before are still known.
    assert all(not r.runs for r in result.resources.values())
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT run_id FROM internal.loaded_runs").fetchall() == [
            (run_id,),
            (run_id,),
        ]
        assert (
            con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_')"
            ).fetchall()[0][0]
            == 0
        )
    finally:
        con.close()


def test_json_columns_are_typed_json(copy):
    con = duckdb.connect(str(copy), read_only=True)
    try:
        types = {
            f"{t}.{c}": ty
            for t, c, ty in con.execute(
                "SELECT table_name, column_name, data_type FROM duckdb_columns() "
                "WHERE column_name IN ('extra_fields', 'meta', 'api_extra', 'changes', "
                "'ticket_types', 'categories')"
            ).fetchall()
        }
        (language,) = con.execute(
            "SELECT count(*) FROM customers WHERE extra_fields->>'$.preferredLanguage' = 'de'"
        ).fetchall()[0]
    finally:
        con.close()
    assert set(types) == {
        *(f"{t}.{c}" for t in ("customers", "customers_history") for c in ("extra_fields", "meta")),
        *(
            f"{t}.api_extra"
            for t in (
                *(f"{r.name}{h}" for r in RESOURCES for h in ("", "_history")),
                "transaction_facts",
                "ticket_facts",
            )
        ),
        *(f"{t}.{c}" for t in ("events", "events_history") for c in ("ticket_types", "categories")),
        "push_log.changes",
    }
    assert set(types.values()) == {"JSON"}, types
    assert language > 0


def doc_queries() -> dict[str, str]:
    """The SQL of each numbered question of docs/analysts.md, by its heading."""
    text = DOC.read_text()
    questions = text.split("## Questions and their SQL", 1)[1]
    found = re.findall(r"^### (\d+\..*?)\n\n```sql\n(.*?)```", questions, re.S | re.M)
    return dict(found)


def test_the_doc_has_fifteen_questions_each_with_its_sql():
    queries = doc_queries()
    assert len(queries) == 15, list(queries)
    assert [q.split(".")[0] for q in queries] == [str(n) for n in range(1, 16)]


def test_every_query_of_the_analysts_doc_answers_in_the_duckdb_shell(copy):
    # Through the shell analysts use (DuckDB 1.x), each must answer with at least one row:
    # a query that breaks, or that a schema change empties, fails here.
    empty = [q for q, query in doc_queries().items() if not cli(copy, query)]
    assert empty == []
    # And the doc's other examples (the data dictionary look-ups), one statement at a time.
    blocks = re.findall(
        r"```sql\n(.*?)```", DOC.read_text().split("## Questions and their SQL", 1)[0], re.S
    )
    statements = [s for block in blocks for s in block.split(";\n") if s.strip()]
    assert statements and all(cli(copy, s) for s in statements)


def test_the_header_convention(tmp_path):
    (tmp_path / "a.sql").write_text(
        "-- Free prose first; `--   x: y` here is not a column.\n"
        "--   x: y\n"
        "--\n"
        "-- Table base: one row per thing,\n"
        "--   said on two lines.\n"
        "-- Columns:\n"
        "--   id: the thing\n"
        "--   meta (JSON): its data,\n"
        "--     as JSON\n"
        "-- A line after the block ends it.\n"
        "--   ignored: not a column\n"
        "SELECT 1\n"
    )
    (tmp_path / "b.sql").write_text(
        "-- View internal.derived: one row per thing, and more.\n"
        "-- Columns:\n"
        "--   *: base\n"
        "--   extra: added\n"
    )
    got = catalog.tables((tmp_path,))
    assert got["main.base"] == catalog.Table(
        "main",
        "base",
        "table",
        "one row per thing, said on two lines.",
        (catalog.Column("id", "the thing"), catalog.Column("meta", "its data, as JSON", True)),
        tmp_path / "a.sql",
    )
    derived = got["internal.derived"]
    assert derived.kind == "view" and [c.name for c in derived.columns] == ["id", "meta", "extra"]


@pytest.mark.parametrize(
    ("header", "error"),
    [
        ("-- Table t: rows\n-- Columns:\n--   *: nowhere\n", "names no documented table"),
        ("-- Table t: rows\nSELECT 1\n", "has no `-- Columns:` block"),
    ],
)
def test_a_broken_header_is_named_with_its_fix(tmp_path, header, error):
    (tmp_path / "t.sql").write_text(header)
    with pytest.raises(catalog.CatalogError, match=error) as caught:
        catalog.tables((tmp_path,))
    assert str(tmp_path / "t.sql") in str(caught.value) and ": " in str(caught.value)


def test_a_table_documented_twice_is_refused(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.sql").write_text("-- Table t: rows\n-- Columns:\n--   id: x\n")
    with pytest.raises(catalog.CatalogError, match="documented twice"):
        catalog.tables((tmp_path,))


def _tables(path: Path) -> dict[str, tuple[list[tuple], list[tuple]]]:
    """Every table of the file at `path`: its columns (name, type, comment) and sorted rows."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        out = {}
        for schema, table, comment in con.execute(
            "SELECT schema_name, table_name, comment FROM duckdb_tables() "
            "WHERE database_name = current_database()"
        ).fetchall():
            columns = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() "
                "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? "
                "ORDER BY column_index",
                [schema, table],
            ).fetchall()
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            out[f"{schema}.{table}"] = ([(comment,), *columns], sorted(rows, key=repr))
        return out
    finally:
        con.close()


def _analytics_equal_their_queries(db) -> None:
    con = connect(db, read_only=True)
    try:
        params = {"customer_rfm": {"as_of": "2030-01-01"}, "booking_conversion": {"steps": 4}}
        for name in analytics.TABLES:
            query = analytics.sql(name)
            want = con.execute(query, params.get(name, {})).fetchall()
            assert sorted(con.table(name).fetchall(), key=repr) == sorted(want, key=repr), name
    finally:
        con.close()


def test_a_refreshed_copy_equals_a_fresh_one_and_copies_only_what_changed(tmp_path, monkeypatch):
    from pipelines.warehouse import refresh

    data = tmp_path / "data"
    store = Store.seeded(300, 9)
    db = data / "warehouse.duckdb"
    with SimulatorServer(store) as sim:
        sync(sim, data, resources=RESOURCES)
        run(data)  # the first copy: written afresh
        for cid in store.live_customer_ids()[:3]:
            store.update_customer(cid, {"primaryEmail": f"new-{cid}@example.org"})
        sync(sim, data, resources=RESOURCES)
        copied: list[str] = []
        original = refresh.sql

        def spy(name: str, **identifiers: str) -> str:
            if name in ("publish_table", "publish_rows_delete"):
                copied.append(identifiers["table"])
            return original(name, **identifiers)

        monkeypatch.setattr(refresh, "sql", spy)
        run(data)  # load, analytics, the copy refreshed
    refreshed = analyst_path(db)
    fresh = publish(db, tmp_path / "fresh.duckdb", full=True)
    assert _tables(refreshed) == _tables(fresh)
    assert '"main"."customers"' in copied and '"main"."customers_history"' in copied
    for untouched in ("transactions", "transactions_history", "tickets", "events"):
        assert f'"main"."{untouched}"' not in copied
    # Analytics over unchanged tables were not rebuilt (nor copied), and every one still equals
    # its query run now.
    assert '"main"."customer_spend"' not in copied and '"main"."tag_summary"' in copied
    _analytics_equal_their_queries(db)
    # A transaction changes: every table that reads transactions through the views is rebuilt.
    with SimulatorServer(store) as sim:
        (tid, *_) = store.live_transaction_ids()
        store.update_transaction(tid, {"status": "CANCELED"})
        sync(sim, data, resources=RESOURCES)
        copied.clear()
        run(data)
    for rebuilt in ("customer_spend", "cohorts", "monthly_spend", "customer_rfm"):
        assert f'"main"."{rebuilt}"' in copied, rebuilt
    _analytics_equal_their_queries(db)
    (row,) = cli(refreshed, "SELECT count(*) AS n FROM customers")
    assert row["n"] == len(store.live_customer_ids())
