"""Erasing people from the data directory's files: segment exports, CRM change files and their
reports, the quality gate's rejects and reports, webhook envelopes, and any other text file.

A row (CSV, JSON Lines, Parquet, an element of a JSON list) that names the person by id, email
or phone goes whole. In reports (JSON, HTML, text) what remains is searched for every value that
recognizes them (names, streets, ...) and each is replaced by `[erased]`; change files (CSV,
JSON Lines, Parquet) lose rows only, as they may still be pushed. Files are rewritten atomically (temporary
file, fsync, rename), so no half-redacted file is ever seen.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.erase.keys import ErasedSet
from pipelines.erase.people import Person
from pipelines.quality import html as quality_html
from pipelines.quality.report import ExpectationOutcome, QualityReport, SuiteRun
from pipelines.registry import BY_NAME, UNMODELED
from pipelines.sync.state import atomic_write_bytes
from pipelines.warehouse import segments

ERASED = "[erased]"
CHANGE_FILES = frozenset({".csv", ".jsonl", ".ndjson", ".parquet"})
# Files the other layers own (Delta tables, DuckDB files) or that are not data of this project.
SKIP_DIRS = frozenset({"lake", "dagster_home", ".venv"})
SKIP_SUFFIXES = frozenset({".duckdb", ".wal", ".etag", ".set-aside"})
MAX_TEXT_BYTES = 64 * 1024 * 1024


@dataclass
class Matcher:
    """What recognizes the people: ids, emails and phones name a row; terms are searched for."""

    ids: set[str]
    records: set[str]
    emails: set[str]
    phones: set[str]
    terms: list[str]

    @classmethod
    def of(cls, people: list[Person]) -> Matcher:
        terms = {t for p in people for t in p.terms}
        return cls(
            ids={p.id for p in people},
            records={i for p in people for ids in p.owned.values() for i in ids},
            emails={e for p in people for e in p.emails},
            phones={ph for p in people for ph in p.phones},
            # Longest first: a name inside an email is replaced with the email.
            terms=sorted(terms, key=len, reverse=True),
        )

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if not self.terms:
            return None
        return re.compile("|".join(re.escape(t) for t in self.terms), re.IGNORECASE)

    def names(self, value: Any) -> bool:
        """Whether a single value names a person (their id, an email or a phone of theirs)."""
        if not isinstance(value, str):
            return False
        v = value.strip()
        return v in self.ids or v.lower() in self.emails or v in self.phones

    def row(self, values: Any) -> bool:
        return any(self.names(v) for v in values)

    def text(self, value: str) -> tuple[str, int]:
        pattern = self.pattern
        if pattern is None:
            return value, 0
        return pattern.subn(ERASED, value)


def _clean(obj: Any, m: Matcher, *, replace: bool = True) -> tuple[Any, int]:
    """A JSON value without the list elements that name a person by one of their own scalar
    values (a sample row, a report's customer), and (`replace`) every term replaced elsewhere."""
    if not replace:
        if not isinstance(obj, list):
            return obj, 0
        kept = [i for i in obj if not m.row(i.values() if isinstance(i, dict) else [i])]
        return kept, len(obj) - len(kept)
    if isinstance(obj, list):
        out, n = [], 0
        for item in obj:
            own = item.values() if isinstance(item, dict) else [item]
            if m.row(v for v in own if not isinstance(v, dict | list)):
                n += 1
                continue
            item, k = _clean(item, m)
            out.append(item)
            n += k
        return out, n
    if isinstance(obj, dict):
        out_d, n = {}, 0
        for key, value in obj.items():
            out_d[key], k = _clean(value, m)
            n += k
        return out_d, n
    if isinstance(obj, str):
        return m.text(obj)
    return obj, 0


def _walk(folder: Path) -> Iterator[Path]:
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path


def _json_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return _text_file(path, m, dry_run=dry_run)
    cleaned, n = _clean(doc, m)
    if n and not dry_run:
        atomic_write_bytes(path, json.dumps(cleaned, indent=2, default=str).encode())
    return n


def _text_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    try:
        if path.stat().st_size > MAX_TEXT_BYTES:
            return 0
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return 0
    cleaned, n = m.text(text)
    if n and not dry_run:
        atomic_write_bytes(path, cleaned.encode())
    return n


def _csv_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return 0
    rows = list(csv.reader(io.StringIO(text)))
    kept = [r for i, r in enumerate(rows) if i == 0 or not m.row(r)]
    # Rows only, no search and replace: a change file waiting in the inbox is pushed to vivenu,
    # and a street the person shares with someone else must not become `[erased]` there.
    n = len(rows) - len(kept)
    if n and not dry_run:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        atomic_write_bytes(path, out.getvalue().encode())
    return n


def _jsonl_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    cleaned, _ = _clean([_loads(line) for line in lines if line.strip()], m, replace=False)
    n = len([line for line in lines if line.strip()]) - len(cleaned)
    if n and not dry_run:
        body = "".join(json.dumps(d, default=str) + "\n" for d in cleaned)
        atomic_write_bytes(path, body.encode())
    return n


def _loads(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return line


def _parquet_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException):
        return 0
    strings = [c for c in table.column_names if pa.types.is_string(table.schema.field(c).type)]
    gone = [m.row(row.values()) for row in table.select(strings).to_pylist()]
    n = sum(gone)
    if n and not dry_run:
        _write_parquet(path, table.filter(pc.invert(pa.array(gone, pa.bool_()))))
    return n


def _write_parquet(path: Path, table: pa.Table) -> None:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def any_file(path: Path, m: Matcher, *, dry_run: bool) -> int:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_file(path, m, dry_run=dry_run)
    if suffix in (".jsonl", ".ndjson"):
        return _jsonl_file(path, m, dry_run=dry_run)
    if suffix == ".parquet":
        return _parquet_file(path, m, dry_run=dry_run)
    if suffix == ".json":
        return _json_file(path, m, dry_run=dry_run)
    return _text_file(path, m, dry_run=dry_run)


# --- the layers ---------------------------------------------------------------------------


def exports(folder: Path, people: list[Person], *, dry_run: bool) -> dict[str, int]:
    """Segment export files, by id or (ad platform layouts) by hashed email and phone."""
    ids = pa.array(sorted(p.id for p in people), pa.string())
    contacts = [c for p in people for c in p.contacts]
    found = segments.drop_people(folder, ids, contacts, dry_run=dry_run)
    return {str(path): n for path, n in found.items()}


def folder(root: Path, m: Matcher, *, dry_run: bool) -> dict[str, int]:
    """Every file under `root`, each by its kind (CRM change files and reports, envelopes)."""
    found: dict[str, int] = {}
    for path in _walk(root):
        if path.suffix in SKIP_SUFFIXES:
            continue
        n = any_file(path, m, dry_run=dry_run)
        if n:
            found[str(path)] = n
    return found


def webhooks(root: Path, m: Matcher, *, dry_run: bool) -> dict[str, int]:
    """Webhook envelopes naming a person are deleted whole: an envelope is one record, and the
    next sync brings any change it carried (redacted by the write path)."""
    found: dict[str, int] = {}
    for path in _walk(root):
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        _, n = _clean([doc], m)
        if n:
            found[str(path)] = 1
            if not dry_run:
                path.unlink()
    return found


def quality(
    root: Path, people: list[Person], erased: ErasedSet, *, dry_run: bool
) -> dict[str, int]:
    """The gate's rejects (a person's own rows go; an owned record keeps its rejection, its
    payload redacted), its reports (sample rows naming a person go; the page is redrawn) and its
    state (an unknown reference that is their id goes: the erasure points those at a
    tombstoned pseudonym)."""
    m = Matcher.of(people)
    found: dict[str, int] = {}
    for resource in BY_NAME:
        path = root / resource / "rejected.parquet"
        if path.exists() and (n := _rejects(path, resource, m, erased, dry_run=dry_run)):
            found[str(path)] = n
        state = root / resource / "_state.json"
        if state.exists() and (n := _json_file(state, m, dry_run=dry_run)):
            found[str(state)] = n
        report = root / f"{resource}.json"
        if report.exists() and (n := _json_file(report, m, dry_run=dry_run)):
            found[str(report)] = n
            if not dry_run:
                _redraw(report, root / f"{resource}.html")
        page = root / f"{resource}.html"
        if page.exists() and (n := _text_file(page, m, dry_run=dry_run)):
            found[str(page)] = found.get(str(page), 0) + n
    return found


def _rejects(path: Path, resource: str, m: Matcher, erased: ErasedSet, *, dry_run: bool) -> int:
    table = pq.read_table(path)
    spec = BY_NAME[resource]
    keep, payloads, n = [], [], 0
    for record_id, payload in zip(
        table["record_id"].to_pylist(), table["payload"].to_pylist(), strict=True
    ):
        doc = _loads(payload) if payload else {}
        doc = doc if isinstance(doc, dict) else {}
        mine = record_id in m.ids or record_id in m.records or m.row(doc.values())
        if mine and spec.owner == "id":
            keep.append(False)
            payloads.append(payload)
            n += 1
            continue
        keep.append(True)
        if mine:
            n += 1
            owner = doc.get(spec.owner or "")
            for column in (*spec.personal, UNMODELED.column):
                doc.pop(column, None)
            if isinstance(owner, str) and owner in m.ids:
                doc[spec.owner or "customer_id"] = erased.pseudonym(owner)
            payload = json.dumps(doc, default=str)
        payloads.append(payload)
    if n and not dry_run:
        i = table.column_names.index("payload")
        table = table.set_column(i, table.schema.field(i), pa.array(payloads, pa.string()))
        _write_parquet(path, table.filter(pa.array(keep, pa.bool_())))
    return n


def _redraw(json_path: Path, html_path: Path) -> None:
    """The HTML report drawn again from its (redacted) JSON twin."""
    doc = json.loads(json_path.read_bytes())

    def build(cls: type, data: dict[str, Any]) -> Any:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    try:
        report = build(QualityReport, doc)
        report.expectations = [build(ExpectationOutcome, e) for e in doc["expectations"]]
        report.suites = [build(SuiteRun, s) for s in doc.get("suites", [])]
        report.validated_at = datetime.fromisoformat(str(doc["validated_at"]))
        report.rejected_path = Path(str(doc["rejected_path"]))
    except (KeyError, TypeError, ValueError):
        return  # an older report's shape: its page was redacted as text instead
    atomic_write_bytes(html_path, quality_html.render(report).encode())
