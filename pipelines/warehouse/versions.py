"""Which warehouse tables changed: a version per table, recorded by the writer that changes it.

The loader records a new version of each table it writes, and each analytics table the version
of its build, in the transaction that makes the change (`internal.table_versions`). Two things
follow the versions instead of the data: the analyst copy copies only the tables whose version
moved since it was published (`loader.publish`), and an analytics table is rebuilt only when a
table its query reads (through views too) has a new version or its parameters changed. A table
no writer records has no version, and counts as changed every time; a writer that changes
recorded tables without recording them (the erasure) forgets every version.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import duckdb

from pipelines.sqlfiles import read_sql

SQL_DIR = Path(__file__).parent / "sql"
_TABLE_NAME = re.compile(r'"table_name":"((?:[^"\\]|\\.)*)"')


def record_change(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Record a new version of `table` (schema main), inside the transaction that changes it."""
    con.execute(read_sql(SQL_DIR, "table_version"), {"table": table})


def version(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The recorded version of `table`, None if none."""
    got = con.execute(read_sql(SQL_DIR, "table_version_get"), {"table": table}).fetchall()
    return got[0][0] if got else None


def set_version(con: duckdb.DuckDBPyConnection, table: str, token: str) -> None:
    """Record `token` as `table`'s version, inside the transaction that builds it."""
    con.execute(read_sql(SQL_DIR, "table_version_set"), {"table": table, "version": token})


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every version: each table counts as changed once (after an unrecorded change)."""
    con.execute(read_sql(SQL_DIR, "table_versions_forget"))


def _referenced(con: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """Names `query` reads as tables (CTE names included; the caller keeps the real ones)."""
    (tree,) = con.execute("SELECT json_serialize_sql($q)", {"q": query}).fetchall()[0]
    return {json.loads(f'"{m}"') for m in _TABLE_NAME.findall(tree)}


def inputs(con: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """The tables of schema main that `query` reads, directly or through views."""
    tables = {t for (t,) in con.execute(read_sql(SQL_DIR, "main_tables")).fetchall()}
    views = dict(con.execute(read_sql(SQL_DIR, "main_views")).fetchall())
    found: set[str] = set()
    todo = [query]
    seen: set[str] = set()
    while todo:
        for name in _referenced(con, todo.pop()):
            if name in tables:
                found.add(name)
            elif name in views and name not in seen:
                seen.add(name)
                todo.append(views[name])
    return found


def fingerprint(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None
) -> str | None:
    """What a build of `query` with `params` depends on: its text, its parameters and the
    versions of the tables it reads; None when one of those has no version (always rebuilt)."""
    names = sorted(inputs(con, query))
    known = dict(con.execute(read_sql(SQL_DIR, "table_versions_of"), {"tables": names}).fetchall())
    if set(names) - set(known):
        return None
    payload = json.dumps([query, sorted((params or {}).items()), known], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
