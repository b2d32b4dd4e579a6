"""A data directory in which every layer holds the people to erase: synced (every resource),
quarantined, validated, loaded, exported, pushed, and (`dagster`) synced again by a real
`sync_job` run in the data directory's Dagster instance; and a scan that reads every file's
data, the instance's SQLite databases included."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from assets import analytics
from pipelines.definitions import defs
from pipelines.instance import DAGSTER_HOME, install_instance
from pipelines.jobs import sync_job
from pipelines.push.runner import PushOptions, push_file
from pipelines.quality import validate_snapshot
from pipelines.registry import RESOURCES
from pipelines.resources import LakeResource, VivenuResource
from pipelines.sync.engine import SyncResult
from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.data import ms_iso
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.warehouse import loader, segments
from pipelines.warehouse.resource import WarehouseResource
from tests.sync.truth import client_for, sync

REVENUE = """
SELECT currency, date_trunc('month', created_at) AS month, sum(real_price) AS revenue, count(*)
FROM transaction_facts WHERE is_paid GROUP BY ALL ORDER BY ALL
"""


@dataclass
class World:
    sim: SimulatorServer
    data_dir: Path
    erased: list[str] = field(default_factory=list)
    # Every value the erased people were known by, before and after the breakage below.
    known: dict[str, set[str]] = field(default_factory=dict)

    @property
    def db(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def lake(self) -> Lake:
        return Lake(self.data_dir)

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        """The data directory's Dagster instance, as `make ui` and the daemon use it."""
        home = install_instance(self.data_dir / DAGSTER_HOME)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance

    def resources(self) -> dict[str, Any]:
        return {
            "lake": LakeResource(data_dir=str(self.data_dir)),
            "warehouse": WarehouseResource(db_path=str(self.db)),
            "vivenu": VivenuResource(base_url=self.sim.base_url, api_key=self.sim.api_key),
        }

    def sync_job(self) -> None:
        """A real `sync_job` run: every asset's metadata and log lines, the quality checks'
        samples of the rejected person, in the instance's run and event-log storage."""
        with self.instance() as instance, pytest.MonkeyPatch.context() as env:
            env.setenv("CUSTOMER_SYNC_MAX_BAD_SHARE", "1.0")
            job = dg.Definitions(
                assets=defs.assets,
                asset_checks=defs.asset_checks,
                jobs=[sync_job],
                resources=self.resources(),
            ).resolve_job_def(sync_job.name)
            result = job.execute_in_process(instance=instance)
        assert result.success

    def sync(self) -> dict[str, SyncResult]:
        return sync(self.sim, self.data_dir, resources=RESOURCES)

    def load(self) -> None:
        """Warehouse, analytics, analyst copy (what sync_job does after the gate)."""
        loader.load(self.lake, self.db, publish_copy=False)
        con = loader.connect(self.db)
        try:
            for name in analytics.TABLES:
                params = {"as_of": "2030-01-01"} if name == "customer_rfm" else None
                params = {"steps": 4} if name == "booking_conversion" else params
                analytics.build(con, name, params)
        finally:
            con.close()
        lake = self.lake
        loader.publish(self.db, lake=lake.root if lake.remote else None)

    def validate(self) -> None:
        for spec in RESOURCES:
            validate_snapshot(self.lake, spec.name, max_bad_share=1.0)

    def revenue(self) -> list[tuple[Any, ...]]:
        con = loader.connect(loader.analyst_path(self.db), read_only=True)
        try:
            return con.execute(REVENUE).fetchall()
        finally:
            con.close()

    def needles(self, ids: list[str]) -> dict[str, set[str]]:
        """Each person's email, name, phone and street, as the simulator holds them; a value
        someone else's records hold too (two customers on one street) is no proof either way,
        and is left out."""
        store = self.sim.store
        docs = store.customers_truth()
        mine = {t["_id"] for t in store.transactions_truth() if t.get("customerId") in ids}
        others = [d for d in docs if d["_id"] not in ids]
        others += [t for t in store.transactions_truth() if t["_id"] not in mine]
        others += [t for t in store.tickets_truth() if t.get("transactionId") not in mine]
        text = json.dumps(others, ensure_ascii=False).lower()
        out: dict[str, set[str]] = {}
        for doc in docs:
            if doc["_id"] in ids:
                values = {doc.get("primaryEmail"), doc.get("name"), doc.get("phone")}
                values.add((doc.get("location") or {}).get("street"))
                out[doc["_id"]] = {
                    v
                    for v in values
                    if isinstance(v, str) and len(v) >= 5 and v.lower() not in text
                }
        return out


def _break(store: Store, customer_id: str, **fields: Any) -> None:
    """Store a customer as vivenu never should (the simulator validates its own writes)."""
    with store.lock:
        slot = store.customers.slot(customer_id)
        doc = store.customers.doc(slot)
        doc.update(fields, updatedAt=ms_iso(store.now_ms()))
        store.customers.put(slot, doc)


def pick(store: Store, n: int) -> tuple[str, list[str]]:
    """A tag and `n` unblocked customers with it who bought something, and a street."""
    docs = store.customers_truth()
    counts: dict[str, int] = {}
    for d in docs:
        for t in d.get("tags") or []:
            counts[t] = counts.get(t, 0) + 1
    tag = max(counts, key=lambda t: counts[t])
    chosen = [
        d["_id"]
        for d in sorted(docs, key=lambda d: d["_id"])
        if tag in (d.get("tags") or [])
        and not d.get("blocked")
        and d.get("transactions")
        and d.get("phone")
        and (d.get("location") or {}).get("street")
    ]
    assert len(chosen) >= n, f"only {len(chosen)} customers fit"
    return tag, chosen[:n]


def build(sim: SimulatorServer, data_dir: Path, n: int = 10, *, dagster: bool = False) -> World:
    """Every layer holding the `n` people: see the module docstring."""
    world = World(sim, data_dir)
    tag, world.erased = pick(sim.store, n)
    world.sync()
    world.known = world.needles(world.erased)
    # One person's newest version is malformed (schema quarantine keeps its payload), one
    # fails the suites (the report's samples and the rejects hold it).
    _break(sim.store, world.erased[0], createdAt="not a date")
    _break(sim.store, world.erased[1], primaryEmail="no-at-sign " + world.erased[1])
    world.sync()
    for person, values in world.needles(world.erased).items():
        world.known[person] |= values
    world.validate()
    world.load()
    _export(world, tag)
    _push(world)
    world.load()
    if dagster:
        world.sync_job()
    return world


def _export(world: World, tag: str) -> None:
    copy = loader.analyst_path(world.db)
    for segment in (
        segments.Segment(tags=(tag,)),
        segments.Segment(tags=(tag,), hash_emails=True),
        segments.Segment(tags=(tag,), format="parquet"),
        segments.Segment(tags=(tag,), layout="meta"),
        segments.Segment(tags=(tag,), layout="google"),
    ):
        segments.export(copy, segment, exports_dir=world.data_dir / "exports", force=True)


def _push(world: World) -> None:
    """A CRM file editing three of the people, pushed from the inbox (report and processed
    copy written), and a dry run's plan."""
    inbox = world.data_dir / "crm" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / "changes.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "company"])
        for customer_id in world.erased[2:5]:
            out.writerow([customer_id, "CRM Edit GmbH"])

    async def go(dry_run: bool) -> None:
        async with client_for(world.sim) as client:
            await push_file(
                path,
                client=client,
                db_path=world.db,
                data_dir=world.data_dir,
                options=PushOptions(dry_run=dry_run),
            )

    asyncio.run(go(True))
    asyncio.run(go(False))


# --- the scan ---------------------------------------------------------------------------


def _texts_of_parquet(data: bytes) -> list[str]:
    table = pq.read_table(pa.BufferReader(data))
    return [json.dumps(table.to_pylist(), default=str, ensure_ascii=False)]


def _texts_of_duckdb(data: bytes) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "scanned.duckdb"
        copy.write_bytes(data)
        con = duckdb.connect(str(copy), read_only=True)
        try:
            out = []
            for schema, table in con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables()"
            ).fetchall():
                rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
                out.append(json.dumps(rows, default=str, ensure_ascii=False))
            return out
        finally:
            con.close()


def _texts_of_sqlite(data: bytes) -> list[str]:
    """Every row of every table; JSON text (Dagster's event and run bodies, which escape
    non-ASCII letters) decoded."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "scanned.db"
        copy.write_bytes(data)
        con = sqlite3.connect(copy)
        try:
            out = []
            tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            for (table,) in tables:
                for row in con.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        if isinstance(value, bytes):
                            value = value.decode("utf-8", "replace")
                        if isinstance(value, str):
                            out.extend([value, *_texts_of_json(value.encode())])
            return out
        finally:
            con.close()


def _texts_of_json(data: bytes) -> list[str]:
    try:
        return [json.dumps(json.loads(data), ensure_ascii=False)]
    except ValueError:
        return []


def scan(root: Path, needles: dict[str, set[str]]) -> list[tuple[str, str, str]]:
    """(file, how, person) for every needle found: in the raw bytes of every file, and in the
    decoded data of Parquet (Delta data and checkpoints, rejects, exports), DuckDB (every table
    and column), SQLite (Dagster's run and event-log storage; JSON bodies decoded) and JSON
    files."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return scan_blobs([(str(p.relative_to(root)), p.read_bytes()) for p in files], needles)


def scan_blobs(
    blobs: list[tuple[str, bytes]], needles: dict[str, set[str]]
) -> list[tuple[str, str, str]]:
    """`scan` over (name, bytes) pairs: files, or the objects of a bucket."""
    found = []
    for name, data in blobs:
        path = Path(name)
        texts = [("bytes", data.decode("utf-8", "replace").lower())]
        if data.startswith(b"PAR1"):
            texts += [("parquet", t.lower()) for t in _texts_of_parquet(data)]
        elif data[8:12] == b"DUCK":  # a DuckDB file, whatever its name
            texts += [("duckdb", t.lower()) for t in _texts_of_duckdb(data)]
        elif data.startswith(b"SQLite format 3\x00"):
            texts += [("sqlite", "\n".join(_texts_of_sqlite(data)).lower())]
        elif path.suffix in (".json", ".jsonl"):
            texts += [("json", t.lower()) for t in _texts_of_json(data)]
        for person, values in needles.items():
            for how, text in texts:
                if any(v.lower() in text for v in values):
                    found.append((name, how, person))
                    break
    return found
