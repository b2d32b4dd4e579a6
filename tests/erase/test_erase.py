"""Erasure end to end: every layer holds ten people (Dagster's run storage included: a real
`sync_job` ran in the data directory's instance), the erasure (a real `erase_job` run) leaves no
byte of them, revenue does not move, and the next sync (the people still in vivenu) does not
bring them back."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.erase.people import EraseRequestError, Request
from pipelines.erase.run import DRY_RUN_PREFIX, erase
from pipelines.instance import DAGSTER_HOME
from pipelines.jobs import erase_job
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader
from tests.erase.world import World, build, scan, scan_blobs
from tests.s3 import S3Lake


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with SimulatorServer(Store.seeded(150, 5)) as sim:
        yield build(sim, tmp_path_factory.mktemp("erase") / "data", dagster=True)


def _sql(db: Path, query: str, params: dict | None = None) -> list[tuple]:
    con = loader.connect(db, read_only=True)
    try:
        return con.execute(query, params or {}).fetchall()
    finally:
        con.close()


def test_dry_run_counts_every_layer_and_changes_nothing(world: World) -> None:
    files = {p: p.stat().st_mtime_ns for p in world.data_dir.rglob("*") if p.is_file()}
    report = erase(Request(ids=tuple(world.erased)), data_dir=world.data_dir, dry_run=True)
    assert report.people == 10
    rows = report.as_dict()["rows"]
    for layer in ("lake", "warehouse", "analyst copy", "exports", "crm", "quality"):
        assert rows[layer] > 0, layer
    assert report.layers["lake"]["customers/snapshot/customers"] == 10
    assert report.layers["exports"]  # every export file holds them
    assert {p: p.stat().st_mtime_ns for p in world.data_dir.rglob("*") if p.is_file()} == files


def test_a_request_naming_nobody_is_refused_in_one_line(world: World) -> None:
    with pytest.raises(
        EraseRequestError,
        match=re.escape("no customer in the lake or the warehouse matches nobody@"),
    ):
        erase(Request(emails=("nobody@x.invalid",)), data_dir=world.data_dir)


def test_erasing_ten_leaves_no_byte_of_them_and_revenue_unchanged(
    world: World, tmp_path: Path
) -> None:
    assert all(world.known.values())
    before = scan(world.data_dir, world.known)
    # Every layer held them: the lake's data and logs, both DuckDB files, exports, reports.
    held = {path.split("/")[0] for path, _, _ in before}
    assert {"lake", "warehouse.duckdb", "analytics.duckdb", "exports", "quality"} <= held
    # The instance's storage names the rejected one's row (by id: the scan reads it).
    rejected = world.erased[1]
    assert scan(world.data_dir / DAGSTER_HOME, {rejected: {rejected}})
    revenue = world.revenue()
    # What a dry run killed mid-download leaves (`_count_bucket`): the next erasure removes it,
    # and leaves the folder of one still running (this process) to it.
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftover = world.data_dir / f"{DRY_RUN_PREFIX}{gone.pid}.killed"
    leftover.mkdir()
    shutil.copy(world.db, leftover / world.db.name)
    running = world.data_dir / f"{DRY_RUN_PREFIX}{os.getpid()}.running"
    running.mkdir()
    # A hostile link under that name: removed, and what it points at left alone.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("not the erasure's")
    link = world.data_dir / f"{DRY_RUN_PREFIX}{gone.pid}.link"
    link.symlink_to(elsewhere, target_is_directory=True)
    # By email for one of them (the same person), in a file: run config stays in Dagster.
    first = world.sim.store.get_customer(world.erased[3])["primaryEmail"]
    listed = tmp_path / "to-forget.txt"
    listed.write_text(f"{first.upper()}\n")
    config = {"ids": [*world.erased[:3], *world.erased[4:]], "file": str(listed)}

    with world.instance() as instance:
        result = erase_job.execute_in_process(
            run_config={"ops": {"erase_people": {"config": config}}},
            instance=instance,
            resources=world.resources(),
        )

    assert result.success
    (output,) = [e for e in result.get_step_success_events()]
    metadata = next(
        e.event_specific_data.metadata
        for e in result.events_for_node("erase_people")
        if e.event_type_value == "STEP_OUTPUT"
    )
    assert output and metadata["people"].value == 10 and metadata["not_found"].value == 0
    assert scan(world.data_dir, world.known) == [] and not leftover.exists()
    assert running.is_dir() and not link.is_symlink() and (elsewhere / "keep.txt").exists()
    running.rmdir()
    # Rewritten files keep the lake's types (pyarrow filters them with the others).
    for path in (world.data_dir / "lake").rglob("*.parquet"):
        if "_delta_log" not in path.parts:
            assert "string_view" not in str(pq.read_schema(path)), path
    lake = Lake(world.data_dir)
    some = world.sim.store.live_transaction_ids()[:5]
    assert len(lake.read_snapshot("transactions", "transactions", ["id"], ids=some)) == 5
    assert world.revenue() == revenue
    (log,) = _sql(
        world.db, "SELECT count(*), count(DISTINCT id_hash), min(layers) FROM erasure_log"
    )
    assert log[:2] == (10, 10) and "lake" in log[2] and "warehouse" in log[2]
    # Their orders stay, under a pseudonym, and count as a deleted customer's for the gate.
    pseudonymized = _sql(
        world.db, "SELECT count(*) FROM transactions WHERE customer_id LIKE 'erased-%'"
    )[0][0]
    assert pseudonymized > 0
    assert _sql(
        world.db,
        "SELECT count(*) FROM transactions WHERE customer_id = ANY($ids)",
        {"ids": world.erased},
    ) == [(0,)]


def test_the_next_sync_does_not_bring_them_back(world: World) -> None:
    # The erasure above, unless this worker's copy of the world has not been through it.
    if _sql(world.db, "SELECT count(*) FROM erasure_log") == [(0,)]:
        erase(Request(ids=tuple(world.erased)), data_dir=world.data_dir)
    store = world.sim.store
    # Still in vivenu: changed again (so listed again), and one buys once more.
    for customer_id in world.erased:
        store.update_customer(customer_id, {"notes": "still here"})
    sale = store.create_transaction(world.erased[5])
    results = world.sync()
    # vivenu listed them again; the write path kept them out.
    assert results["customers"].records >= len(world.erased)
    world.validate()
    world.load()
    lake = Lake(world.data_dir)
    ids = lake.read_snapshot("customers", "customers", ["id"])["id"].to_pylist()
    assert not set(ids) & set(world.erased)
    got = lake.read_snapshot("transactions", "transactions", ["id", "customer_id", "email"])
    row = next(r for r in got.to_pylist() if r["id"] == sale["_id"])
    assert row["customer_id"].startswith("erased-") and row["email"] is None
    assert _sql(
        world.db, "SELECT count(*) FROM customers WHERE id = ANY($ids)", {"ids": world.erased}
    ) == [(0,)]
    assert scan(world.data_dir, world.known) == []


def test_with_the_lake_on_s3_no_object_holds_them(tmp_path: Path, s3_lake: S3Lake) -> None:
    with SimulatorServer(Store.seeded(150, 5)) as sim:
        world = build(sim, tmp_path / "data", n=4)
        assert scan_blobs(s3_lake.objects(), world.known)  # the bucket held them
        revenue = world.revenue()
        # A dry run in a fresh container counts what the bucket holds, and leaves it be.
        before = s3_lake.objects()
        fresh = tmp_path / "fresh"
        dry = erase(Request(ids=tuple(world.erased)), data_dir=fresh, dry_run=True)
        assert s3_lake.objects() == before and scan(fresh, world.known) == []

        done = erase(Request(ids=tuple(world.erased)), data_dir=world.data_dir)

        assert scan_blobs(s3_lake.objects(), world.known) == []
        assert scan(world.data_dir, world.known) == []
        assert world.revenue() == revenue
        assert "lake/_erasure/salt/_delta_log/00000000000000000000.json" in s3_lake.listing()
        for layer in ("lake", "warehouse", "analyst copy"):
            assert dry.layers[layer] and dry.layers[layer] == done.layers[layer], layer
        bucket = f"{s3_lake.url}/_warehouse/quality/customers/rejected.parquet"
        assert dry.layers["quality"][bucket] > 0
