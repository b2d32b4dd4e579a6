"""Read a CRM change file (CSV, JSON Lines, Parquet) into validated change rows and rejects.

Cell semantics: in CSV and Parquet an empty cell (or null) leaves the field unchanged and the
text `NULL` clears it; in JSON Lines a missing key leaves it unchanged and JSON `null` clears it.
Only checks that need no warehouse happen here (columns, types, emails, countries); unknown
customers and duplicate rows are found by the planner.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from pipelines.push import fields

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


def _read(path: Path) -> list[dict[str, Any] | str]:
    """Raw rows (column -> cell, absent cells removed); a string is an unreadable row."""
    kind = file_format(path)
    rows: list[dict[str, Any] | str] = []
    try:
        if kind == "csv":
            with path.open(newline="", encoding="utf-8-sig") as f:
                for record in csv.DictReader(f):
                    if None in record:
                        rows.append("more cells than header columns")
                        continue
                    rows.append(
                        {k.strip(): _cell(v) for k, v in record.items() if v not in ("", None)}
                    )
        elif kind == "jsonl":
            with path.open("rb") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        record = orjson.loads(line)
                    except orjson.JSONDecodeError:
                        rows.append("not valid JSON")
                        continue
                    rows.append(record if isinstance(record, dict) else "not a JSON object")
        else:
            for record in pq.read_table(path).to_pylist():
                rows.append({k: _cell(v) for k, v in record.items() if v is not None and v != ""})
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise FileError(f"{path.name}: cannot read as {kind}: {exc}") from None
    return rows


def _cell(value: Any) -> Any:
    """CSV/Parquet cell: `NULL` means clear (JSON null)."""
    if isinstance(value, str) and value.strip() in fields.NULL_TOKENS:
        return None
    return value


def _row(number: int, raw: dict[str, Any]) -> ChangeRow | Reject:
    reasons: list[str] = []
    row_id = raw.get("id")
    email = raw.get("email")
    who = str(row_id) if row_id is not None else (str(email) if email is not None else None)
    for column in raw:
        if column in fields.READ_ONLY:
            reasons.append(f"read-only field {column!r}")
        elif column not in fields.COLUMNS and column not in fields.IDENTIFIERS:
            reasons.append(f"unknown column {column!r}")
    if row_id is not None and (not isinstance(row_id, str) or not row_id.strip()):
        reasons.append("id must be a non-empty text")
    if email is not None and (not isinstance(email, str) or not fields.valid_email(email.strip())):
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
            changes[canonical] = fields.coerce(canonical, value)
        except fields.RowError as exc:
            reasons.append(str(exc))
    if not changes and not reasons:
        reasons.append("no field to change")
    if reasons:
        return Reject(number, who, "; ".join(reasons))
    return ChangeRow(
        number,
        row_id.strip() if isinstance(row_id, str) else None,
        email.strip() if isinstance(email, str) else None,
        changes,
    )


def parse(path: Path) -> tuple[list[ChangeRow], list[Reject]]:
    """Valid rows and rejected rows of a change file (rows numbered from 1, header excluded)."""
    rows: list[ChangeRow] = []
    rejects: list[Reject] = []
    for number, raw in enumerate(_read(path), 1):
        result = Reject(number, None, raw) if isinstance(raw, str) else _row(number, raw)
        (rejects if isinstance(result, Reject) else rows).append(result)  # type: ignore[arg-type]
    return rows, rejects
