"""The analyst copy's data dictionary, read from the headers of the SQL files that create the
tables, so each description is written once, beside the SQL it describes.

A header documents a table (or view) in this form; any prose may come before it:

    -- Table customer_spend: one row per customer and currency ... (the grain first)
    --   continued on lines indented by at least two more spaces
    -- Columns:
    --   customer_id: the customer (customers.id)
    --   meta (JSON): a column holding JSON text, typed JSON in the analyst copy
    --     continued on lines indented deeper than the column names
    --   *: transactions

`*: <table>` stands for every column of that table, with its comments. A name holding `{table}`
(create_history.sql) is a template, documented once per resource the loader keeps history of.
Names without a schema are in `main`. The block ends at the first line that is not one of these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import duckdb

from pipelines.sqlfiles import read_sql
from pipelines.sync.lake import TABLES

SQL_DIR = Path(__file__).parent / "sql"
_ROOT = Path(__file__).resolve().parents[2]
# Every folder holding SQL that creates a table of the warehouse (the analytics tables are built
# by assets/sql, push_log by the push); any .sql file there may carry a header.
SOURCES = (
    SQL_DIR,
    _ROOT / "pipelines" / "push" / "sql",
    _ROOT / "pipelines" / "erase" / "sql",
    _ROOT / "assets" / "sql",
)

_ENTRY = re.compile(r"^-- (?P<kind>Table|View) (?P<name>[\w.{}]+): (?P<text>\S.*)$")
_MORE = re.compile(r"^--\s{3,}(?P<text>\S.*)$")
_COLUMNS = re.compile(r"^-- Columns:\s*$")
_COLUMN = re.compile(r"^--   (?P<name>[\w*]+)(?P<json> \(JSON\))?: (?P<text>\S.*)$")
_COLUMN_MORE = re.compile(r"^--\s{5,}(?P<text>\S.*)$")


class CatalogError(ValueError):
    """A SQL header that breaks the convention above (the message names the file and the fix)."""


@dataclass(frozen=True)
class Column:
    name: str
    comment: str
    json: bool = False


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str  # "table" or "view"
    comment: str
    columns: tuple[Column, ...]
    source: Path

    @property
    def key(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class _Entry:
    kind: str
    name: str
    text: list[str]
    columns: list[Column | str]  # a str is the table a `*:` line includes
    source: Path


def _parse(text: str, source: Path) -> list[_Entry]:
    entries: list[_Entry] = []
    entry: _Entry | None = None
    in_columns = False
    for line in text.splitlines():
        if m := _ENTRY.match(line):
            entry = _Entry(m["kind"].lower(), m["name"], [m["text"]], [], source)
            entries.append(entry)
            in_columns = False
        elif entry is None:
            continue
        elif _COLUMNS.match(line):
            in_columns = True
        elif in_columns and (m := _COLUMN.match(line)):
            if m["name"] == "*":
                entry.columns.append(m["text"].strip())
            else:
                entry.columns.append(Column(m["name"], m["text"], json=bool(m["json"])))
        elif in_columns and entry.columns and (m := _COLUMN_MORE.match(line)):
            last = entry.columns[-1]
            if isinstance(last, str):
                raise CatalogError(
                    f"{source}: `*: {last}` takes no continuation line ({line!r}): put the text "
                    "on a column of its own"
                )
            entry.columns[-1] = replace(last, comment=f"{last.comment} {m['text']}")
        elif not in_columns and (m := _MORE.match(line)):
            entry.text.append(m["text"])
        else:
            entry = None
    return entries


def _expand(entry: _Entry) -> list[_Entry]:
    """A `{table}` template once per resource the loader keeps a history of."""
    if "{table}" not in entry.name:
        return [entry]

    def fill(s: str, table: str) -> str:
        return s.replace("{table}", table)

    return [
        _Entry(
            entry.kind,
            fill(entry.name, t),
            [fill(s, t) for s in entry.text],
            [fill(c, t) if isinstance(c, str) else c for c in entry.columns],
            entry.source,
        )
        for t in TABLES
    ]


def _qualified(name: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    return schema or "main", table


@cache
def tables(sources: tuple[Path, ...] = SOURCES) -> dict[str, Table]:
    """Every documented table and view, by `schema.name`."""
    raw: dict[str, _Entry] = {}
    for folder in sources:
        for path in sorted(folder.rglob("*.sql")):
            for entry in (e for parsed in _parse(path.read_text(), path) for e in _expand(parsed)):
                key = ".".join(_qualified(entry.name))
                if key in raw:
                    raise CatalogError(
                        f"{path}: table {key} is documented twice (also in "
                        f"{raw[key].source}): keep one header"
                    )
                if not entry.columns:
                    raise CatalogError(
                        f"{path}: table {key} has no `-- Columns:` block: add one listing "
                        "every column as `--   name: description`"
                    )
                raw[key] = entry
    done: dict[str, Table] = {}

    def resolve(key: str, seen: tuple[str, ...]) -> Table:
        if key in done:
            return done[key]
        entry = raw[key]
        columns: list[Column] = []
        for c in entry.columns:
            if isinstance(c, Column):
                columns.append(c)
                continue
            included = ".".join(_qualified(c))
            if included not in raw or included in seen:
                raise CatalogError(
                    f"{entry.source}: `*: {c}` in {key} names no documented table: name one "
                    "with a `-- Table` header"
                    if included not in raw
                    else f"{entry.source}: `*: {c}` in {key} includes itself: remove the cycle"
                )
            columns.extend(resolve(included, (*seen, key)).columns)
        schema, name = _qualified(entry.name)
        done[key] = Table(
            schema, name, entry.kind, " ".join(entry.text), tuple(columns), entry.source
        )
        return done[key]

    return {key: resolve(key, ()) for key in raw}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """The tables and views of the connection's current database: column name -> type."""
    out: dict[str, dict[str, str]] = {}
    for schema, table, column, data_type in con.execute(
        read_sql(SQL_DIR, "catalog_columns")
    ).fetchall():
        out.setdefault(f"{schema}.{table}", {})[column] = data_type
    return out


def type_json(con: duckdb.DuckDBPyConnection) -> int:
    """Retype the documented JSON columns of the current database's tables from VARCHAR to
    JSON; returns how many. Cheapest on empty tables; views over them must be recreated."""
    present = _present(con)
    statements = [
        read_sql(SQL_DIR, "catalog_json").format(
            table=f"{_ident(t.schema)}.{_ident(t.name)}", column=_ident(c.name)
        )
        for t in tables().values()
        if t.kind == "table" and t.key in present
        for c in t.columns
        if c.json and present[t.key].get(c.name) == "VARCHAR"
    ]
    if statements:
        # One transaction: one catalog commit instead of one per statement.
        con.execute("\n".join(["BEGIN TRANSACTION;", *statements, "COMMIT;"]))
    return len(statements)


def comment(con: duckdb.DuckDBPyConnection) -> int:
    """COMMENT ON every documented table, view and column of the current database; returns the
    number of comments set. Undocumented objects are left bare (the tests catch them)."""
    present = _present(con)
    # COMMENT ON takes no bound parameter, so the texts (from this repository's own SQL
    # headers, never from input) are quoted as literals.
    statements = []
    for t in tables().values():
        if t.key not in present:
            continue
        name = f"{_ident(t.schema)}.{_ident(t.name)}"
        statements.append(
            read_sql(SQL_DIR, "catalog_comment_table").format(
                kind=t.kind.upper(), table=name, comment=_literal(t.comment)
            )
        )
        statements += [
            read_sql(SQL_DIR, "catalog_comment_column").format(
                column=f"{name}.{_ident(c.name)}", comment=_literal(c.comment)
            )
            for c in t.columns
            if c.name in present[t.key]
        ]
    if statements:
        con.execute("\n".join(["BEGIN TRANSACTION;", *statements, "COMMIT;"]))
    return len(statements)
