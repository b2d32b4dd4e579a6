"""Erasing people from the DuckDB warehouse, rewriting its file, and republishing the copy.

The registry's tables go by their declaration (a customer's own rows deleted, the records they
own redacted, histories included); every other base table with a `customer_id` (the marts) gets
the pseudonym; `push_log` loses the pushed values. DuckDB keeps deleted rows in freed blocks
until the file is rewritten, so the whole database is then copied into a fresh file (while the
erasure still holds it open, so no writer slips in), renamed over the old one, and the analyst
copy is published again from it. History retention (`history_retention`) rewrites the file
the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipelines import settings
from pipelines.erase.guard import PEOPLE
from pipelines.erase.keys import ErasedSet
from pipelines.erase.people import Person
from pipelines.registry import RESOURCES, UNMODELED, ResourceSpec
from pipelines.sqlfiles import read_sql
from pipelines.sync.lake import TABLES
from pipelines.sync.state import fsync_dir
from pipelines.warehouse import loader, versions

SQL_DIR = Path(__file__).parent / "sql"
_sql = partial(read_sql, SQL_DIR)


def sql(name: str, **identifiers: str) -> str:
    """`sql/<name>.sql`; only identifiers from the registry or the catalog are formatted in."""
    text = _sql(name)
    return text.format(**identifiers) if identifiers else text


@dataclass(frozen=True)
class Erasure:
    """What the warehouse erasure needs: who, their pseudonyms, the proof to log."""

    people: list[Person]
    erased: ErasedSet
    erasure_id: str
    erased_at: datetime


def _has(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(con.execute(sql("has_table"), {"schema": schema, "name": name}).fetchall()[0][0])


def _register(con: duckdb.DuckDBPyConnection, erasure: Erasure) -> None:
    ids = [p.id for p in erasure.people]
    con.register(
        "erased_people",
        pa.table({"id": ids, "pseudonym": [erasure.erased.pseudonym(i) for i in ids]}),
    )
    for spec in RESOURCES:
        owned = sorted({i for p in erasure.people for i in p.owned.get(spec.name, ())})
        con.register(f"erased_{spec.name}", pa.table({"id": pa.array(owned, pa.string())}))


def _match(spec: ResourceSpec) -> str:
    parts = [
        f"t.{spec.owner} IN (SELECT id FROM erased_people)",
        f"t.id IN (SELECT id FROM erased_{spec.name})",
    ]
    parts += [f"t.{c} IN (SELECT id FROM erased_{r})" for c, r in spec.owned_via]
    return " OR ".join(parts)


def _assignments(spec: ResourceSpec, con: duckdb.DuckDBPyConnection, table: str) -> str:
    have = set(con.table(table).columns)
    out = [f"{c} = NULL" for c in (*spec.personal, UNMODELED.column) if c in have]
    out.append(
        f"{spec.owner} = coalesce((SELECT p.pseudonym FROM erased_people AS p "
        f"WHERE p.id = t.{spec.owner}), t.{spec.owner})"
    )
    return ", ".join(out)


def _resource_tables(con: duckdb.DuckDBPyConnection, spec: ResourceSpec) -> list[str]:
    return [t for t in (spec.name, f"{spec.name}_history") if _has(con, "main", t)]


class _Pass:
    """One pass over the warehouse's tables: counting (dry run) or erasing, per table."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, dry_run: bool) -> None:
        self.con = con
        self.dry_run = dry_run
        self.counts: dict[str, int] = {}
        self.handled: set[tuple[str, str]] = set()

    def run(
        self, label: str, count: str, change: str, params: dict[str, Any] | None = None
    ) -> None:
        statement = count if self.dry_run else change
        rows = int(self.con.execute(statement, params or {}).fetchall()[0][0])
        if rows:
            self.counts[label] = self.counts.get(label, 0) + rows

    def people(
        self, table: str, key: str, extra: str = "", params: dict[str, Any] | None = None
    ) -> None:
        """Delete (count) a customer's own rows of `table`, by `key`."""
        ident = {"table": table, "key": key, "extra": extra}
        self.run(table, sql("people_count", **ident), sql("people_delete", **ident), params)

    def owned(self, spec: ResourceSpec, table: str) -> None:
        """Redact (count) the rows they own."""
        match = {"table": table, "match": _match(spec)}
        assignments = _assignments(spec, self.con, table)
        self.run(
            table,
            sql("owned_count", **match),
            sql("owned_redact", **match, assignments=assignments),
        )

    def registry(self) -> None:
        """The registry's tables, histories and link tables."""
        for spec in (s for s in RESOURCES if s.owner):
            for table in _resource_tables(self.con, spec):
                self.handled.add(("main", table))
                if spec.owner == "id":
                    self.people(table, "id")
                else:
                    self.owned(spec, table)
            for link in spec.links if spec.owner == "id" else ():
                if _has(self.con, "main", link.table):
                    self.handled.add(("main", link.table))
                    self.people(link.table, link.key)

    def logs(self) -> None:
        """Tombstones and held-back versions of the customers; push attempts on them."""
        extra, params = "AND resource = $resource", {"resource": PEOPLE}
        if _has(self.con, "main", "deletions"):
            self.people("deletions", "id", extra, params)
        if _has(self.con, "internal", "rejected_versions"):
            self.people("internal.rejected_versions", "id", extra, params)
        if _has(self.con, "main", "push_log"):
            self.handled.add(("main", "push_log"))
            ident = {"table": "push_log", "key": "customer_id", "extra": ""}
            self.run("push_log", sql("people_count", **ident), sql("push_log_redact"))

    def marts(self) -> None:
        """Every other base table with a customer_id: the pseudonym."""
        for schema, table in self.con.execute(sql("linked_tables")).fetchall():
            if (schema, table) in self.handled:
                continue
            name = table if schema == "main" else f"{schema}.{table}"
            ident = {"table": name, "key": "customer_id", "extra": ""}
            self.run(name, sql("people_count", **ident), sql("pseudonymize", table=name))


def _apply(con: duckdb.DuckDBPyConnection, *, dry_run: bool) -> dict[str, int]:
    """Count (dry run) or erase, per table; returns the rows per table."""
    one = _Pass(con, dry_run=dry_run)
    one.registry()
    one.logs()
    one.marts()
    return one.counts


def count(db_path: Path, erasure: Erasure) -> dict[str, int]:
    """The rows each table of a warehouse file (or analyst copy) holds of the people."""
    if not Path(db_path).exists():
        return {}
    con = loader.connect(db_path, read_only=True)
    try:
        _register(con, erasure)
        return _apply(con, dry_run=True)
    finally:
        con.close()


def erase(db_path: Path, erasure: Erasure, log: dict[str, Any]) -> dict[str, int]:
    """Erase the people from `db_path`, log the erasure (`log`: layers, rows, in_vivenu) and
    rewrite the file; returns the rows per table."""

    def change(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        _register(con, erasure)
        con.execute("BEGIN TRANSACTION")
        counts = _apply(con, dry_run=False)
        # Tables changed without their versions: each is rebuilt and copied again once.
        versions.forget(con)
        layers = set(log["layers"]) | ({"warehouse", "analyst copy"} if counts else set())
        _log(con, erasure, {**log, "layers": layers, "rows": {**log["rows"], "warehouse": counts}})
        con.execute("COMMIT")
        return counts

    return _rewritten(db_path, f"erase-{erasure.erasure_id}", change, always=True)


def history_retention(db_path: Path, cutoff: datetime, *, dry_run: bool) -> dict[str, int]:
    """Drop (count) from every `*_history` table of `db_path` the versions a newer one replaced
    before `cutoff`, and rewrite the file; returns the rows per table."""

    def change(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
        counts: dict[str, int] = {}
        con.execute("BEGIN TRANSACTION")
        for table in TABLES:
            if not _has(con, "main", f"{table}_history"):
                continue
            name = "history_replaced_count" if dry_run else "history_replaced_delete"
            rows = int(con.execute(sql(name, table=table), {"cutoff": cutoff}).fetchall()[0][0])
            if rows:
                counts[f"{table}_history"] = rows
        con.execute("COMMIT")
        return counts

    return _rewritten(db_path, "retention", change, read_only=dry_run)


def _rewritten(
    db_path: Path,
    suffix: str,
    change: Callable[[duckdb.DuckDBPyConnection], dict[str, int]],
    *,
    read_only: bool = False,
    always: bool = False,
) -> dict[str, int]:
    """`change` (it commits) applied to `db_path`, whose database is then copied into a fresh
    file that replaces it (a deleted row lives on in DuckDB's freed blocks): unless read-only,
    and, unless `always`, only when it changed rows. Returns the rows per table."""
    db_path = Path(db_path)
    if not db_path.exists():
        return {}
    con = loader.connect(db_path, read_only=read_only, lock_wait=settings.warehouse_lock_wait())
    fresh = db_path.with_name(f".{db_path.name}.{suffix}")
    fresh.unlink(missing_ok=True)
    try:
        counts = change(con)
        rewrite = not read_only and (always or bool(counts))
        if rewrite:
            _copy(con, fresh)
    except BaseException:
        fresh.unlink(missing_ok=True)
        raise
    finally:
        con.close()
    if rewrite:
        _replace(fresh, db_path)
    return counts


def _copy(con: duckdb.DuckDBPyConnection, fresh: Path) -> None:
    """The open database, every table and row, into the fresh file `fresh` (no freed blocks)."""
    (database,) = con.execute("SELECT current_database()").fetchall()[0]
    con.execute(sql("rewrite"), {"path": str(fresh)})
    con.execute(sql("rewrite_copy", database=str(database).replace('"', '""')))
    con.execute(sql("rewrite_close"))


def _log(con: duckdb.DuckDBPyConnection, erasure: Erasure, log: dict[str, Any]) -> None:
    con.execute(sql("erasure_log_create"))
    con.register(
        "erased_hashes",
        pa.table({"id_hash": [erasure.erased.hash(p.id) for p in erasure.people]}),
    )
    con.execute(
        sql("erasure_log_insert"),
        {
            "erasure_id": erasure.erasure_id,
            "erased_at": erasure.erased_at,
            "layers": sorted(log["layers"]),
            "rows": json.dumps(log["rows"], sort_keys=True),
            "in_vivenu": bool(log.get("in_vivenu")),
        },
    )


def _replace(fresh: Path, db_path: Path) -> None:
    """The rewritten file in place of the old one; the old one's WAL (empty after the
    checkpoint of the close) goes with it."""
    with open(fresh, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(fresh, db_path)
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    fsync_dir(db_path.parent)
