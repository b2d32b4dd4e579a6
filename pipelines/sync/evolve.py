"""Fields declared after data was written: their columns appear, filled from `api_extra`.

A field added to a declaration (`pipelines.registry`) was, until then, kept in the record's
unmodeled JSON `api_extra`. Tables written before lack its column: readers take their columns
by name, and the rows of a version that had the field in `api_extra` get the
column's value from there (and leave it there no more), as if the field had been declared then.
A value of the wrong type is left in `api_extra` and the column stays NULL: new records with
such a value are quarantined with the reason, as any declared field. Nothing is re-fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pipelines.registry import Field, Kind, ResourceSpec
from pipelines.sqlfiles import read_sql

SQL_DIR = Path(__file__).parent / "sql"
EXTRA = "api_extra"

# The JSON types a kind accepts (DuckDB's `json_type`), and the cast to its column.
_NUMBERS = "('BIGINT', 'UBIGINT', 'DOUBLE')"
_FROM_JSON: dict[Kind, tuple[str, str]] = {
    Kind.TEXT: ("= 'VARCHAR'", "json_extract_string({extra}, {path})"),
    Kind.WHOLE: ("IN ('BIGINT', 'UBIGINT')", "json_extract({extra}, {path})::BIGINT"),
    Kind.NUMBER: (f"IN {_NUMBERS}", "json_extract({extra}, {path})::DOUBLE"),
    Kind.MONEY: (f"IN {_NUMBERS}", "TRY_CAST(json_extract({extra}, {path}) AS DECIMAL(18, 4))"),
    Kind.BOOL: ("= 'BOOLEAN'", "json_extract({extra}, {path})::BOOLEAN"),
    Kind.TIMESTAMP: (
        "= 'VARCHAR'",
        "TRY_CAST(json_extract_string({extra}, {path}) AS TIMESTAMPTZ)",
    ),
    Kind.JSON: ("NOT IN ('NULL')", "json_extract({extra}, {path})::VARCHAR"),
    Kind.TEXT_LIST: ("= 'ARRAY'", "from_json(json_extract({extra}, {path}), '[\"VARCHAR\"]')"),
    Kind.COUNT: ("= 'ARRAY'", "json_array_length({extra}, {path})::INTEGER"),
    Kind.PRESENT: ("= 'OBJECT'", "true"),
}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _path(*keys: str) -> str:
    return _literal("$" + "".join("." + _ident(k) for k in keys))


def backfillable(spec: ResourceSpec, columns: Iterable[str]) -> list[Field]:
    """The fields of `columns` that old versions may hold in `api_extra`: declared fields of a
    kind read from JSON, of a resource that keeps unmodeled fields."""
    wanted = set(columns)
    if not any(f.kind is Kind.UNMODELED for f in spec.fields):
        return []
    return [f for f in spec.fields if f.column in wanted and f.kind in _FROM_JSON]


def value_sql(f: Field, extra: str = EXTRA) -> str:
    """SQL reading field `f` from the JSON column `extra`; NULL if absent or of another type."""
    keys = [f.top] if f.key is None else [f.top, f.key]
    test, cast = _FROM_JSON[f.kind]
    path = _path(*keys)
    value = cast.format(extra=extra, path=path)
    if f.kind is Kind.PRESENT:
        return f"coalesce(json_type({extra}, {path}) {test}, false)"
    return f"CASE WHEN json_type({extra}, {path}) {test} THEN {value} END"


def extra_sql(fields: list[Field], extra: str = EXTRA) -> str:
    """SQL for `extra` without the top-level fields `fields` now declare (`{}` becomes NULL)."""
    tops = list(dict.fromkeys(f.top for f in fields))
    patch = _literal("{" + ", ".join(f'"{t}": null' for t in tops) + "}")
    held = " OR ".join(f"json_exists({extra}, {_path(t)})" for t in tops)
    return (
        f"CASE WHEN {held} THEN nullif(json_merge_patch({extra}, {patch})::VARCHAR, '{{}}') "
        f"ELSE {extra} END"
    )


def held_sql(fields: list[Field], extra: str = EXTRA) -> str:
    """SQL true for a row whose `extra` holds one of the now declared fields."""
    return " OR ".join(
        f"json_exists({extra}, {_path(t)})" for t in dict.fromkeys(f.top for f in fields)
    )


def conform_sql(spec: ResourceSpec, source: str, typed: str, added: list[Field]) -> str:
    """A SELECT of `source` (a view of files read by name) as `spec`'s table: its columns in
    order, typed like the empty table registered as `typed`, the `added` fields filled from
    `api_extra`."""
    columns = []
    for name in spec.schema.names:
        f = next((a for a in added if a.column == name), None)
        if f is not None:
            columns.append(f"coalesce({_ident(name)}, {value_sql(f)}) AS {_ident(name)}")
        elif name == EXTRA and added:
            columns.append(f"{extra_sql(added)} AS {EXTRA}")
        else:
            columns.append(_ident(name))
    return read_sql(SQL_DIR, "conform").format(
        columns=",\n    ".join(columns), typed=typed, source=source
    )
