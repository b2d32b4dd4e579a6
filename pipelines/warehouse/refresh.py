"""Refresh the analyst copy from its previous version: only the rows that changed are written.

`loader.publish` copies the previous copy's bytes to a temporary file and hands it here. The
refreshed file must equal a fresh copy, so the previous one is used only when:

- it was not modified since it was published (`sealed`: an analyst who opened it read-write
  and changed it gets a fresh copy, never their edits carried on);
- its definitions (tables, columns and their order, types, comments, views, constraints)
  equal those a fresh copy gets now, which are built for the comparison in an empty in-memory
  database by the same steps as the fresh copy (`define`);
- no erasure happened since, no history lost rows, and the warehouse has table versions
  (`publish_mismatch.sql`, `publish_history_shrunk.sql`): those write it afresh, so no deleted
  value survives in the file's old blocks.

Then only tables whose version moved are touched (`publish_stale.sql`). The loader's tables
(`ROW_KEYS`) are refreshed row by row: every writer that changes one of their rows in place
without changing its version columns (`ROW_VERSION`) forces a fresh copy (the erasure, the
history retention, a column added by schema evolution), so a row whose key and version
columns are in both files is the same row. The keys whose (key, version) rows differ are
deleted and inserted again from the warehouse; a link table (`LINKED`) takes its record's
changed keys. Every other table is copied whole. A copy that already holds every table's version
and the same rows of the tables without one is not written at all (`Outcome.CURRENT`).
"""

from __future__ import annotations

import shutil
from enum import Enum
from pathlib import Path

import duckdb

from pipelines.registry import RESOURCES
from pipelines.sqlfiles import read_sql
from pipelines.sync.state import atomic_write_bytes
from pipelines.warehouse import catalog

SQL_DIR = Path(__file__).parent / "sql"
# The columns that change whenever a loader writer changes a row: the record version
# (updated_at), its history interval, and the fetch it came from.
ROW_VERSION = ("updated_at", "valid_from", "valid_to", "_run_id", "_synced_at")
# The loader's tables (schema main) refreshed row by row, and the column their rows are
# replaced by (a changed record's rows, its history's versions, all at once).
ROW_KEYS = {
    **{r.name: "id" for r in RESOURCES},
    **{f"{r.name}_history": "id" for r in RESOURCES},
    **{link.table: link.key for r in RESOURCES for link in r.links},
}
# A link table's rows of a record are made from the record's current row alone, in the
# transaction that changes it (loader.py): they changed only for the records whose row did.
LINKED = {link.table: r.name for r in RESOURCES for link in r.links}


def sql(name: str, **identifiers: str) -> str:
    """The text of `sql/<name>.sql` with `{table}`-style identifiers filled in."""
    text = read_sql(SQL_DIR, name)
    return text.format(**identifiers) if identifiers else text


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def define(con: duckdb.DuckDBPyConnection) -> None:
    """Give the current database (holding the warehouse's definitions, no rows yet) the copy's
    own: JSON columns typed JSON, the views over them rebound, everything commented."""
    # Replacing a view drops its comments: documented last.
    if catalog.type_json(con):
        con.execute(sql("views"))
    catalog.comment(con)


def _seal_path(copy: Path) -> Path:
    return copy.with_name(f".{copy.name}.published")


def _fingerprint(copy: Path) -> str:
    """Which file `copy` is, as the file system says: a write in place changes the size or the
    modification time, a file put in its place the inode; a WAL beside it holds edits."""
    if not copy.exists() or copy.with_name(f"{copy.name}.wal").exists():
        return "-"
    info = copy.stat()
    return f"{info.st_ino} {info.st_size} {info.st_mtime_ns}"


def seal(copy: Path) -> None:
    """Record the fingerprint of the copy just published, for `sealed`."""
    atomic_write_bytes(_seal_path(copy), f"{_fingerprint(copy)}\n".encode())


def sealed(copy: Path) -> bool:
    """Whether `copy` is still the file last published (never opened to write into since)."""
    path = _seal_path(copy)
    return path.exists() and path.read_text().strip() == _fingerprint(copy) != "-"


class Outcome(Enum):
    """What `refresh` made of the previous copy."""

    REFRESHED = "refreshed"  # its bytes, with the changed rows replaced, at the temporary path
    CURRENT = "current"  # already the warehouse as it is: nothing written
    UNUSABLE = "unusable"  # not to be refreshed: the copy is written afresh


def refresh(
    con: duckdb.DuckDBPyConnection, previous: Path, tmp: Path, *, keep_current: bool
) -> Outcome:
    """Make `tmp` a copy of `previous` with the rows changed since replaced by the warehouse's
    (attached as `_warehouse`), left attached as `_analyst_copy`; with `keep_current`, write
    nothing if `previous` already holds the warehouse as it is (every table's version, the
    same rows of the tables without one); leave nothing at `tmp` if `previous` cannot be
    refreshed (the module's docstring says when)."""
    if not sealed(previous):
        return Outcome.UNUSABLE
    judged = _judge(con, previous, tmp, keep_current=keep_current)
    if judged is None:
        return Outcome.UNUSABLE
    stale, current = judged
    if current:
        return Outcome.CURRENT if sealed(previous) else Outcome.UNUSABLE
    shutil.copyfile(previous, tmp)
    if not sealed(previous):  # written into while we judged or copied it
        tmp.unlink(missing_ok=True)
        return Outcome.UNUSABLE
    try:
        con.execute(sql("publish_reuse"), {"path": str(tmp)})
    except duckdb.Error:
        tmp.unlink(missing_ok=True)
        return Outcome.UNUSABLE
    _write_changes(con, stale)
    return Outcome.REFRESHED


def _judge(
    con: duckdb.DuckDBPyConnection, previous: Path, scratch: Path, *, keep_current: bool
) -> tuple[list[tuple[str, str]], bool] | None:
    """The tables the copy at `previous` does not hold as the warehouse has them
    (`publish_stale.sql`) and, if `keep_current` asks, whether none of them differs; None if the
    copy cannot be refreshed. The copy is attached read-only meanwhile; the definitions a fresh
    copy gets are built at `scratch`, a free temporary path beside it, for the comparison."""
    try:
        con.execute(sql("publish_previous"), {"path": str(previous)})
    except duckdb.Error:
        return None  # not a DuckDB file we can open: written afresh
    try:
        if _unusable(con, scratch):
            return None
        stale = con.execute(sql("publish_stale")).fetchall()
        return stale, keep_current and _current(con, stale)
    except duckdb.Error:
        return None  # a copy of another layout (a table it lacks): written afresh
    finally:
        con.execute("USE memory; DETACH DATABASE IF EXISTS _analyst_copy")


def _current(con: duckdb.DuckDBPyConnection, stale: list[tuple[str, str]]) -> bool:
    """Whether the `stale` tables are all unversioned ones holding the same rows in both files
    (a versioned one is listed only when its version moved)."""
    versioned = {t for (t,) in con.execute(sql("publish_versioned")).fetchall()}
    if any(schema == "main" and table in versioned for schema, table in stale):
        return False
    return not any(
        con.execute(
            sql("publish_rows_differ", schema=quoted(schema), table=quoted(table))
        ).fetchall()[0][0]
        for schema, table in stale
    )


def _write_changes(con: duckdb.DuckDBPyConnection, stale: list[tuple[str, str]]) -> None:
    """Replace the `stale` tables' changed rows in the copy, or a table whole, in one
    transaction: the copy is consistent at its checkpoint, whatever fails before it."""
    con.execute("BEGIN TRANSACTION")
    try:
        changed: dict[str, list[object]] = {}
        # Records before their links, which reuse the keys found for the record.
        for schema, table in sorted(stale, key=lambda s: (s[1] in LINKED, s)):
            if schema != "main" or table not in ROW_KEYS:
                con.execute(sql("publish_table", table=f"{quoted(schema)}.{quoted(table)}"))
                continue
            keys = changed.get(LINKED.get(table, ""))
            changed[table] = _replace_rows(con, table, ROW_KEYS[table], keys)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _unusable(con: duckdb.DuckDBPyConnection, tmp: Path) -> bool:
    """Whether the attached previous copy must not be refreshed (the module's docstring)."""
    if con.execute(sql("publish_mismatch")).fetchall() or _history_shrunk(con):
        return True
    template = {"path": f"{tmp}.schema"}
    con.execute(sql("publish_template"), template)
    try:
        con.execute(sql("publish_template_schema"))
        define(con)
        con.execute("USE memory; DETACH _fresh")
        con.execute(sql("publish_template_stored"), template)
        return bool(con.execute(sql("publish_definitions")).fetchall())
    finally:
        con.execute("USE memory; DETACH DATABASE IF EXISTS _fresh")
        Path(template["path"]).unlink(missing_ok=True)
        Path(f"{template['path']}.wal").unlink(missing_ok=True)


def _history_shrunk(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a `*_history` table lost rows since the copy was written (retention, erasure)."""
    tables = [t for (t,) in con.execute(sql("publish_history_tables")).fetchall()]
    return any(
        con.execute(sql("publish_history_shrunk", table=quoted(t))).fetchall()[0][0] for t in tables
    )


def _replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, key: str, keys: list[object] | None
) -> list[object]:
    """Replace the copy's rows of the changed `keys` (by default: every key whose rows differ
    between the copy and the warehouse on the key and version columns) by the warehouse's;
    returns the keys."""
    names = {"table": f"{quoted('main')}.{quoted(table)}", "key": quoted(key)}
    if keys is None:
        present = {c for (c,) in con.execute(sql("publish_columns"), {"table": table}).fetchall()}
        columns = ", ".join(quoted(c) for c in (key, *ROW_VERSION) if c in present)
        found = con.execute(sql("publish_changed_keys", **names, columns=columns)).fetchall()
        keys = [k for (k,) in found]
    if keys:
        params = {"keys": [k for k in keys if k is not None], "null_key": None in keys}
        con.execute(sql("publish_rows_delete", **names), params)
        con.execute(sql("publish_rows_insert", **names), params)
    return keys
