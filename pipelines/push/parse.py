"""Read a CRM change file (CSV, JSON Lines, Parquet) into validated change rows and rejects.

Cell semantics, the same in every format: a missing key, a null (Parquet), an empty or
whitespace-only cell leaves the field unchanged; the cell `<clear>` clears it. `NULL` and JSON
`null` are rejected: exports write them for "no value" as often as people mean "clear", and a
guess either way changes vivenu. CSV files may be separated by `,` `;` tab or `|` (sniffed from
the header). A repeated column or JSON key is refused, never resolved by keeping the last.
Only checks that need no warehouse happen here (columns, types, ids, emails, countries); unknown
customers and duplicate rows are found by the planner.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.push import fields
from pipelines.vivenu.ids import ID_RULE, is_vivenu_id

FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class FileError(Exception):
    """The file as a whole cannot be read (format, encoding, no identifier column)."""


@dataclass
class ChangeRow:
    """One valid row: who (id or email) and the coerced changes (canonical field -> value)."""

    row: int
    id: str | None
    email: str | None
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return self.id or f"email:{self.email}"


@dataclass
class Reject:
    """A row refused before any request, with the reason."""

    row: int
    customer: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "customer": self.customer, "reason": self.reason}


def file_format(path: Path) -> str:
    """`csv`, `jsonl` or `parquet` from the file's suffix, or FileError."""
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        raise FileError(
            f"{path.name}: unsupported file type {path.suffix!r} (use .csv, .jsonl or .parquet)"
        ) from None


class _Ambiguous(str):
    """A `NULL` cell or a JSON null: rejected with the row, never taken as "clear" or "keep"."""


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_ABSENT = object()


def _cell(value: Any, null: Any) -> Any:
    """A cell trimmed: `_ABSENT` for no value, `_Ambiguous` for the text `NULL`/`null`."""
    if value is None:
        return null
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return _ABSENT
        if value in fields.NULL_TOKENS:
            return _Ambiguous(repr(value))
    return value


def _cells(record: dict[str, Any], *, null: Any = _ABSENT) -> dict[str, Any]:
    """A record's present cells; `null` is what a null value means in this format."""
    cells = ((k, _cell(v, null)) for k, v in record.items())
    return {k: v for k, v in cells if v is not _ABSENT}


def _delimiter(header: str) -> str:
    """The header's separator among `,` `;` tab `|`: column names never contain one."""
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","  # a single column


def _read_csv(path: Path) -> list[dict[str, Any] | str]:
    rows: list[dict[str, Any] | str] = []
    with path.open(newline="", encoding="utf-8-sig") as f:
        header = f.readline()
        # Only the separator is taken from the sniffer: its guess of quoting rules from a
        # header without quotes would break `""` inside quoted cells.
        reader = csv.reader(itertools.chain([header], f), delimiter=_delimiter(header))
        names = [n.strip() for n in next(reader, [])]
        repeated = sorted({n for n in names if n and names.count(n) > 1})
        if repeated:
            raise FileError(
                f"{path.name}: column {repeated[0]!r} appears more than once in the header: "
                "keep one"
            )
        for record in reader:
            if not record:
                continue
            if len(record) > len(names):
                rows.append("more cells than header columns")
                continue
            rows.append(_cells(dict(zip(names, record, strict=False))))
    return rows


def _read_jsonl(path: Path) -> list[dict[str, Any] | str]:
    rows: list[dict[str, Any] | str] = []
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                # json, not orjson: only json reports a key given twice (orjson keeps the last).
                record = json.loads(
                    line, object_pairs_hook=_unique_keys, parse_constant=_no_constant
                )
            except _DuplicateKey as exc:
                rows.append(f"key {exc.args[0]!r} appears more than once: keep one")
                continue
            except ValueError:
                rows.append("not valid JSON")
                continue
            if not isinstance(record, dict):
                rows.append("not a JSON object")
                continue
            rows.append(_cells(record, null=_Ambiguous("null")))
    return rows


def _read(path: Path) -> list[dict[str, Any] | str]:
    """Raw rows (column -> trimmed cell, absent cells removed); a string is an unreadable row."""
    kind = file_format(path)
    try:
        if kind == "csv":
            return _read_csv(path)
        if kind == "jsonl":
            return _read_jsonl(path)
        return [_cells(record) for record in pq.read_table(path).to_pylist()]
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise FileError(f"{path.name}: cannot read as {kind}: {exc}") from None


def _row(number: int, raw: dict[str, Any]) -> ChangeRow | Reject:
    reasons = [
        f"{column}: {value} is ambiguous: leave the cell empty (or omit the key) to keep "
        f"the field, write {fields.CLEAR} to clear it"
        for column, value in raw.items()
        if isinstance(value, _Ambiguous)
    ]
    raw = {k: v for k, v in raw.items() if not isinstance(v, _Ambiguous)}
    row_id = raw.get("id")
    email = raw.get("email")
    who = str(row_id) if row_id is not None else (str(email) if email is not None else None)
    for column in raw:
        if column in fields.READ_ONLY:
            reasons.append(f"read-only field {column!r}")
        elif column not in fields.COLUMNS and column not in fields.IDENTIFIERS:
            reasons.append(f"unknown column {column!r}")
    # The id goes into the URL path of the GET and the PUT.
    if row_id is not None and not (isinstance(row_id, str) and is_vivenu_id(row_id)):
        reasons.append(f"id {row_id!r} is not a vivenu id ({ID_RULE})")
    if email is not None and (not isinstance(email, str) or not fields.valid_email(email)):
        reasons.append(f"invalid email {email!r} in email")
    if row_id is None and email is None:
        reasons.append("no customer: give an id or an email")
    changes: dict[str, Any] = {}
    for column, value in raw.items():
        canonical = fields.COLUMNS.get(column)
        if canonical is None:
            continue
        if canonical in changes:
            reasons.append(f"{canonical} given twice (columns {column!r} and an alias)")
            continue
        try:
            changes[canonical] = fields.coerce(canonical, fields.cleared(value))
        except fields.RowError as exc:
            reasons.append(str(exc))
    if not changes and not reasons:
        reasons.append("no field to change")
    if reasons:
        return Reject(number, who, "; ".join(reasons))
    return ChangeRow(number, row_id, email, changes)


def parse(path: Path) -> tuple[list[ChangeRow], list[Reject]]:
    """Valid rows and rejected rows of a change file (rows numbered from 1, header excluded)."""
    rows: list[ChangeRow] = []
    rejects: list[Reject] = []
    for number, raw in enumerate(_read(path), 1):
        result = Reject(number, None, raw) if isinstance(raw, str) else _row(number, raw)
        (rejects if isinstance(result, Reject) else rows).append(result)  # type: ignore[arg-type]
    return rows, rejects
