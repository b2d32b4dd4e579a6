"""Which warehouse tables changed: a version per table, recorded by the writer that changes it.

The loader records a new version of each table it writes, and each analytics table the version
of its build, in the transaction that makes the change (`internal.table_versions`). Two things
follow the versions instead of the data: the analyst copy refreshes only the tables whose version
moved since it was published (`refresh.py`), and an analytics table is rebuilt only when a
table its query reads (through views too) has a new version or its parameters changed. A table
no writer records has no version, and counts as changed every time; a writer that changes
recorded tables without recording them (the erasure) gives every recorded table a new version
(`forget`): each counts as changed once.
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
_VIEW_BODY = re.compile(
    r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+)?VIEW\s+.*?\s+AS\s+(.*?);?\s*$",
    re.DOTALL | re.IGNORECASE,
)


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


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    """Create the version record (with the loader's other bookkeeping) if missing: an erasure
    of an earlier release dropped it, which failed every analytics build until a load."""
    con.execute(read_sql(SQL_DIR, "internal_tables"))


def forget(con: duckdb.DuckDBPyConnection) -> None:
    """Forget every version: each table counts as changed once (after an unrecorded change)."""
    ensure(con)
    con.execute(read_sql(SQL_DIR, "table_versions_forget"))


def _referenced(con: duckdb.DuckDBPyConnection, query: str) -> set[str] | None:
    """Names `query` (a SELECT) reads as tables (CTE names included; the caller keeps the real
    ones); None when DuckDB cannot parse it as one."""
    (tree,) = con.execute("SELECT json_serialize_sql($q)", {"q": query}).fetchall()[0]
    # json_serialize_sql does not raise: a statement it cannot serialize is {"error": true}.
    if json.loads(tree).get("error"):
        return None
    return {json.loads(f'"{m}"') for m in _TABLE_NAME.findall(tree)}


def inputs(con: duckdb.DuckDBPyConnection, query: str) -> tuple[set[str], list[str]] | None:
    """The tables of schema main that `query` reads, directly or through views, and the SQL of
    those views; None when a query or view cannot be read (always rebuilt)."""
    tables = {t for (t,) in con.execute(read_sql(SQL_DIR, "main_tables")).fetchall()}
    views = dict(con.execute(read_sql(SQL_DIR, "main_views")).fetchall())
    found: set[str] = set()
    todo = [query]
    seen: dict[str, str] = {}
    while todo:
        names = _referenced(con, todo.pop())
        if names is None:
            return None
        for name in names:
            if name in tables:
                found.add(name)
            elif name in views and name not in seen:
                seen[name] = views[name]
                # duckdb_views() holds the whole CREATE VIEW statement: its SELECT is read.
                body = _VIEW_BODY.match(views[name])
                if body is None:
                    return None
                todo.append(body.group(1))
    return found, [seen[v] for v in sorted(seen)]


def fingerprint(
    con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any] | None
) -> str | None:
    """What a build of `query` with `params` depends on: its text, its parameters and the
    versions of the tables it reads; None when one of those has no version (always rebuilt)."""
    read = inputs(con, query)
    if read is None:
        return None
    names = sorted(read[0])
    known = dict(con.execute(read_sql(SQL_DIR, "table_versions_of"), {"tables": names}).fetchall())
    if set(names) - set(known):
        return None
    # The views' SQL too: a release that changes a view rebuilds what reads it.
    payload = json.dumps([query, read[1], sorted((params or {}).items()), known], default=str)
    return hashlib.sha256(payload.encode()).hexdigest()
