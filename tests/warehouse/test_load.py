"""The load: upsert by id, SCD2 history, deletions, idempotence, the quality gate, readers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.sync.lake import Lake
from pipelines.sync.state import ResourceState
from pipelines.warehouse.loader import analyst_path, connect, load, publish
from pipelines.warehouse.segments import Segment, select
from tests.lakeio import save_state
from tests.warehouse.lakefix import commit_run, customer, ts, write_snapshot

R1, R2, R3 = (f"2024010{i}T000000000Z-00000{i}" for i in (1, 2, 3))


def dump(db, *tables):
    con = connect(db, read_only=True)
    try:
        return {t: con.execute(f"SELECT * EXCLUDE (_synced_at, _run_id) FROM {t} ORDER BY ALL").fetchall()
                for t in tables}  # fmt: skip
    finally:
        con.close()


ALL = ("customers", "customer_tags", "customer_transactions", "customers_history", "deletions")


def two_runs(data):
    commit_run(data, "customers", R1, customers=[
        customer("c1", "2024-01-01", primary_email="old@x.org", tags=["vip"], transaction_ids=["t1"]),
        customer("c2", "2024-01-01", tags=["vip", "newsletter"]),
    ])  # fmt: skip
    commit_run(data, "customers", R2, customers=[
        customer("c1", "2024-02-01", primary_email="new@x.org", tags=["newsletter"]),
        customer("c2", "2024-01-01", tags=["vip", "newsletter"]),  # lookback re-read
        customer("c3", "2024-02-01"),
    ])  # fmt: skip


def test_upsert_keeps_the_newest_and_history_answers_as_of(tmp_path):
    two_runs(tmp_path)
    db = tmp_path / "warehouse.duckdb"
    result = load(Lake(tmp_path), db)
    c = result.resources["customers"]
    assert (c.inserted, c.updated, c.deleted, c.versions, c.rows) == (3, 0, 0, 4, 3)
    con = connect(analyst_path(db), read_only=True)
    try:
        assert con.execute("SELECT id, primary_email FROM customers ORDER BY id").fetchall() == [
            ("c1", "new@x.org"), ("c2", "c2@example.com"), ("c3", "c3@example.com")
        ]  # fmt: skip
        assert con.execute("SELECT * FROM customer_tags ORDER BY ALL").fetchall()[0][:2] == (
            "c1", "newsletter"
        )  # fmt: skip
        assert con.execute("SELECT count(*) FROM customer_transactions").fetchall() == [(0,)]
        as_of = "SELECT primary_email FROM customers_history WHERE id = 'c1' AND valid_from <= $t "
        as_of += "AND (valid_to IS NULL OR valid_to > $t)"
        assert con.execute(as_of, {"t": ts("2024-01-15")}).fetchall() == [("old@x.org",)]
        assert con.execute(as_of, {"t": ts("2024-03-01")}).fetchall() == [("new@x.org",)]
    finally:
        con.close()


def test_loading_twice_or_run_by_run_gives_the_same(tmp_path):
    once, stepwise = tmp_path / "once", tmp_path / "stepwise"
    two_runs(once)
    load(Lake(once), once / "warehouse.duckdb")
    before = dump(once / "warehouse.duckdb", *ALL)
    again = load(Lake(once), once / "warehouse.duckdb")
    assert not again.changed and again.published is None
    assert all(r.runs == [] for r in again.resources.values())
    assert dump(once / "warehouse.duckdb", *ALL) == before

    commit_run(stepwise, "customers", R1, customers=[
        customer("c1", "2024-01-01", primary_email="old@x.org", tags=["vip"], transaction_ids=["t1"]),
        customer("c2", "2024-01-01", tags=["vip", "newsletter"]),
    ])  # fmt: skip
    first = load(Lake(stepwise), stepwise / "warehouse.duckdb").resources["customers"]
    assert first.runs == [R1]
    assert dump(stepwise / "warehouse.duckdb", "customer_transactions")["customer_transactions"][0][:2] == ("c1", "t1")  # fmt: skip
    commit_run(stepwise, "customers", R2, customers=[
        customer("c1", "2024-02-01", primary_email="new@x.org", tags=["newsletter"]),
        customer("c2", "2024-01-01", tags=["vip", "newsletter"]),
        customer("c3", "2024-02-01"),
    ])  # fmt: skip
    # Cost follows the change: only the new run is read, only what changed is written.
    second = load(Lake(stepwise), stepwise / "warehouse.duckdb").resources["customers"]
    assert (second.runs, second.inserted, second.updated, second.versions) == ([R2], 1, 1, 2)
    # Equal up to lineage (which run's copy of the re-read c2 was kept).
    assert dump(stepwise / "warehouse.duckdb", *ALL) == before


@pytest.mark.attack("an older version of a record arriving late")
def test_an_older_version_arriving_late_does_not_win(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    commit_run(tmp_path, "customers", R1, customers=[customer("c1", "2024-03-01", name="March")])
    load(Lake(tmp_path), db)
    commit_run(tmp_path, "customers", R2, customers=[customer("c1", "2024-02-01", name="Feb")])
    assert load(Lake(tmp_path), db).resources["customers"].updated == 0
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT name FROM customers").fetchall() == [("March",)]
        history = "SELECT name, valid_from, valid_to FROM customers_history ORDER BY valid_from"
        assert con.execute(history).fetchall() == [
            ("Feb", ts("2024-02-01"), ts("2024-03-01")),
            ("March", ts("2024-03-01"), None),
        ]
    finally:
        con.close()


def test_deletions_propagate_to_live_tables_history_and_segments(tmp_path):
    two_runs(tmp_path)
    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db)
    vip = Segment(tags=("vip", "newsletter"))
    assert select(analyst_path(db), vip)["id"].to_pylist() == ["c1", "c2"]
    # Reconcile confirms c2 deleted; a later lookback re-read of it must not resurrect it.
    commit_run(tmp_path, "customers", R3, deletions=[{"id": "c2"}],
               customers=[customer("c2", "2024-01-01", tags=["vip"])])  # fmt: skip
    result = load(Lake(tmp_path), db).resources["customers"]
    assert result.deleted == 1
    data = dump(db, *ALL)
    assert [r[0] for r in data["customers"]] == ["c1", "c3"]
    assert {r[0] for r in data["customer_tags"]} == {"c1"}
    (closed,) = [r for r in data["customers_history"] if r[0] == "c2"]
    assert closed[-1] is not None  # valid_to = deleted_at
    assert [r[1] for r in data["deletions"]] == ["c2"]
    assert select(analyst_path(db), vip)["id"].to_pylist() == ["c1"]


def names(db):
    con = connect(db, read_only=True)
    try:
        return con.execute("SELECT id, name FROM customers ORDER BY id").fetchall()
    finally:
        con.close()


def reject(data, *versions):
    """The gate's rejected.parquet holding exactly `versions` ((id, 'updated') pairs)."""
    rejected = Lake(data).local("customers") / "rejected.parquet"
    rejected.parent.mkdir(parents=True, exist_ok=True)
    rows = {"record_id": [i for i, _ in versions], "updated_at": [ts(u) for _, u in versions],
            "expectations": [["x"] for _ in versions], "payload": ["{}" for _ in versions]}  # fmt: skip
    schema = pa.schema([("record_id", pa.string()), ("updated_at", pa.timestamp("us", "UTC")),
                        ("expectations", pa.list_(pa.string())), ("payload", pa.string())])  # fmt: skip
    pq.write_table(pa.table(rows, schema=schema), rejected)


def test_rejected_versions_wait_until_they_validate(tmp_path):
    commit_run(tmp_path, "customers", R1, customers=[customer("c1", "2024-01-01", name="ok")])
    commit_run(tmp_path, "customers", R2, customers=[
        customer("c1", "2024-02-01", name="bad"), customer("c2", "2024-02-01", name="bad too"),
    ])  # fmt: skip
    write_snapshot(tmp_path, "customers", [
        customer("c1", "2024-02-01", name="bad"), customer("c2", "2024-02-01", name="bad too"),
    ])  # fmt: skip
    reject(tmp_path, ("c1", "2024-02-01"), ("c2", "2024-02-01"))
    db = tmp_path / "warehouse.duckdb"
    result = load(Lake(tmp_path), db).resources["customers"]
    assert result.rejected_held == 2
    assert names(db) == [("c1", "ok")]
    # The gate no longer rejects c2 (e.g. the suite was fixed): the next load merges it.
    reject(tmp_path, ("c1", "2024-02-01"))
    result = load(Lake(tmp_path), db).resources["customers"]
    assert (result.runs, result.inserted, result.rejected_held) == ([], 1, 1)
    assert names(db) == [("c1", "ok"), ("c2", "bad too")]


def test_a_superseded_rejected_version_is_dropped_never_loaded(tmp_path):
    # New customer x: version 1 rejected and held.
    commit_run(tmp_path, "customers", R1, customers=[customer("x", "2024-01-01", name="v1")])
    write_snapshot(tmp_path, "customers", [customer("x", "2024-01-01", name="v1")])
    reject(tmp_path, ("x", "2024-01-01"))
    db = tmp_path / "warehouse.duckdb"
    assert load(Lake(tmp_path), db).resources["customers"].rejected_held == 1
    # Version 2 is rejected too: the gate judged only version 2 (the snapshot's current one), so
    # version 1 leaving rejected.parquet does not mean it validates.
    commit_run(tmp_path, "customers", R2, customers=[customer("x", "2024-02-01", name="v2")])
    write_snapshot(tmp_path, "customers", [customer("x", "2024-02-01", name="v2")])
    reject(tmp_path, ("x", "2024-02-01"))
    result = load(Lake(tmp_path), db).resources["customers"]
    assert (result.inserted, result.versions, result.rejected_held) == (0, 0, 1)
    assert names(db) == []
    assert dump(db, "customers_history")["customers_history"] == []
    # Version 2 validates (fixed suite): it alone is loaded; version 1 never is.
    reject(tmp_path)
    result = load(Lake(tmp_path), db).resources["customers"]
    assert (result.inserted, result.versions, result.rejected_held) == (1, 1, 0)
    assert names(db) == [("x", "v2")]
    history = dump(db, "customers_history")["customers_history"]
    assert [r[0] for r in history] == ["x"] and ts("2024-02-01") in history[0]


def test_held_versions_of_a_deleted_record_are_forgotten(tmp_path):
    commit_run(tmp_path, "customers", R1, customers=[customer("c1", "2024-01-01", name="bad")])
    write_snapshot(tmp_path, "customers", [customer("c1", "2024-01-01", name="bad")])
    reject(tmp_path, ("c1", "2024-01-01"))
    db = tmp_path / "warehouse.duckdb"
    assert load(Lake(tmp_path), db).resources["customers"].rejected_held == 1
    # Reconcile confirms c1 deleted: the snapshot and the gate's rejects no longer list it.
    commit_run(tmp_path, "customers", R2, deletions=[{"id": "c1"}])
    write_snapshot(tmp_path, "customers", [])
    reject(tmp_path)
    result = load(Lake(tmp_path), db).resources["customers"]
    assert (result.rejected_held, result.inserted) == (0, 0)
    assert load(Lake(tmp_path), db).resources["customers"].rejected_held == 0
    assert names(db) == []


def test_runs_not_yet_compacted_or_in_progress_wait(tmp_path):
    commit_run(tmp_path, "customers", R1, customers=[customer("c1", "2024-01-01")])
    commit_run(tmp_path, "customers", R2, customers=[customer("c2", "2024-01-01")])
    lake = Lake(tmp_path)
    save_state(lake, ResourceState(resource="customers", pending_compaction=[R2]))
    assert load(lake, tmp_path / "warehouse.duckdb").resources["customers"].runs == [R1]
    save_state(lake, ResourceState(resource="customers"))
    assert load(lake, tmp_path / "warehouse.duckdb").resources["customers"].runs == [R2]


READER = textwrap.dedent(
    """
    import sys, duckdb
    con = duckdb.connect(sys.argv[1])  # read-write, as the duckdb CLI opens a file by default
    for line in sys.stdin:
        print(con.execute(line).fetchall(), flush=True)
    """
)


@pytest.mark.attack("an analyst connection open during a load")
def test_an_open_analyst_connection_neither_blocks_nor_sees_half_a_load(tmp_path):
    commit_run(tmp_path, "customers", R1, customers=[customer("c1", "2024-01-01")])
    db = tmp_path / "warehouse.duckdb"
    load(Lake(tmp_path), db)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(analyst_path(db))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        query = "SELECT count(*) FROM customers\n"
        reader.stdin.write(query)
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "[(1,)]"
        commit_run(tmp_path, "customers", R2, customers=[customer("c2", "2024-01-01")])
        assert load(Lake(tmp_path), db).published == analyst_path(db)
        # The open session keeps its consistent (old) copy; a new one sees the whole load.
        reader.stdin.write(query)
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "[(1,)]"
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)
    assert dump(analyst_path(db), "customers")["customers"][1][0] == "c2"


@pytest.mark.attack("kill -9 while the analyst copy is published")
def test_publish_removes_copies_left_by_a_killed_publish(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    connect(db).close()
    dead = _dead_pid()
    stale = tmp_path / f".analytics.duckdb.{dead}.tmp"
    stale.write_bytes(b"half a copy")
    publish(db)
    assert not stale.exists() and (tmp_path / "analytics.duckdb").exists()


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid
