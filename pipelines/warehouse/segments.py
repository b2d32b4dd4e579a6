"""Marketing audiences: which live customers are in (declarative criteria) and the file each one
is written to (a layout: our contact fields, or an ad platform's customer-list template).

Audiences are read from the analyst copy (`analytics.duckdb`), so an export never waits for or
blocks a load, and customers deleted in vivenu are gone from the next export after the load.
An audience is defined in `<data dir>/segments.json` (or, tags only, `CUSTOMER_SYNC_SEGMENTS`):

    [{"name": "champions-eur", "rfm": {"segments": ["champions"], "currency": "EUR"},
      "layout": "google"},
     {"name": "big-spenders", "spend": {"currency": "EUR", "min": 500, "days": 365}},
     {"name": "regulars", "events": {"min": 3}},
     {"name": "lapsed", "recency": {"min_days": 180}, "layout": "meta"},
     {"tags": ["vip", "newsletter"], "match": "all", "format": "parquet", "hash_emails": true}]

A customer is in an audience when every criterion given holds. Each criterion is one SQL file,
`sql/audience_<criterion>.sql`, with bound parameters; days are counted back from the RFM
table's reference day (`customer_rfm.as_of`, default the day of the sync).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines import settings
from pipelines.sync.state import temp_file
from pipelines.warehouse import layouts
from pipelines.warehouse.layouts import HASHED_EMAIL, LAYOUTS, LayoutName
from pipelines.warehouse.loader import connect, sql

Match = Literal["any", "all"]
Format = Literal["csv", "parquet"]

SEGMENTS_ENV = settings.SEGMENTS.name
SEGMENTS_FILE = "segments.json"
HASHED, PLAIN = "hashed", "plain"

# The RFM segment names are those customer_rfm.sql assigns (read from it: declared once).
_RFM_SQL = Path(__file__).resolve().parents[2] / "assets" / "sql" / "customer_rfm.sql"
RFM_SEGMENTS: tuple[str, ...] = tuple(
    dict.fromkeys(re.findall(r"(?:THEN|ELSE) '([^']+)'", _RFM_SQL.read_text()))
)


class SegmentError(Exception):
    """A segment that cannot be exported as asked (bad definition, file exists, no data)."""


class SegmentConfigError(SegmentError):
    """A definition in CUSTOMER_SYNC_SEGMENTS or segments.json that cannot be used (exit 3)."""


class EmptyAudience(SegmentError):
    """An audience that matches no customer, exported without `allow_empty`."""


@dataclass(frozen=True)
class Rfm:
    """Customers in one of these RFM `segments`, in `currency` (None: any currency)."""

    segments: tuple[str, ...]
    currency: str | None = None


@dataclass(frozen=True)
class Spend:
    """Revenue in `currency` of at least `min` and at most `max` (None: unbounded), over the last
    `days` days (None: lifetime)."""

    currency: str
    min: Decimal | None = None
    max: Decimal | None = None
    days: int | None = None


@dataclass(frozen=True)
class Events:
    """At least `min`, at most `max` distinct events booked (paid), over the last `days` days."""

    min: int | None = None
    max: int | None = None
    days: int | None = None


@dataclass(frozen=True)
class Recency:
    """The last paid purchase at least `min_days`, at most `max_days` days ago."""

    min_days: int | None = None
    max_days: int | None = None


CRITERIA = ("tags", "rfm", "spend", "events", "recency")


@dataclass(frozen=True)
class Segment:
    """An audience: which customers (every criterion given holds; blocked ones left out unless
    `include_blocked`) and how to write them (`layout`, `format`, `hash_emails`)."""

    tags: tuple[str, ...] = ()
    match: Match = "any"
    format: Format = "csv"
    hash_emails: bool = False
    include_blocked: bool = False
    name: str | None = None
    rfm: Rfm | None = None
    spend: Spend | None = None
    events: Events | None = None
    recency: Recency | None = None
    layout: LayoutName = "contacts"
    allow_empty: bool = False

    def __post_init__(self) -> None:
        if any(not t for t in self.tags):
            raise SegmentError("a tag cannot be empty")
        if not any(getattr(self, c) for c in CRITERIA):
            raise SegmentError(
                "an audience needs at least one criterion: tags, rfm, spend, events or recency"
            )
        if self.match not in ("any", "all"):
            raise SegmentError(f"match must be 'any' or 'all', not {self.match!r}")
        if self.format not in ("csv", "parquet"):
            raise SegmentError(f"format must be 'csv' or 'parquet', not {self.format!r}")
        if self.layout not in LAYOUTS:
            raise SegmentError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        if self.layout != "contacts" and self.format != "csv":
            raise SegmentError(f"the {self.layout} layout is uploaded as CSV: use format csv")
        if self.layout != "contacts" and self.hash_emails:
            raise SegmentError(f"the {self.layout} layout always hashes: drop hash_emails")

    @property
    def hashed(self) -> bool:
        """Whether the file holds hashed identifiers (never plain emails)."""
        return self.hash_emails or self.layout != "contacts"

    @property
    def label(self) -> str:
        """How messages name the audience."""
        joiner = "_and_" if self.match == "all" else "_or_"
        return self.name or joiner.join(self.tags)

    @property
    def file_name(self) -> str:
        """A safe file name saying whether identifiers are hashed: `vip.plain.csv`,
        `vip_and_newsletter.hashed.parquet`, `lapsed.meta.hashed.csv`, ... (a plain export of a
        segment never lands on the file of its hashed export)."""
        kind = HASHED if self.hashed else PLAIN
        layout = "" if self.layout == "contacts" else f"{self.layout}."
        return f"{safe_file_stem(self.label)}.{layout}{kind}.{self.format}"

    def describe(self) -> str:
        """The criteria in a few words, for logs and metadata."""
        parts = []
        if self.tags:
            parts.append(f"tags {self.match} of {', '.join(self.tags)}")
        if self.rfm:
            parts.append(
                f"RFM {' or '.join(self.rfm.segments)} in {self.rfm.currency or 'any currency'}"
            )
        if self.spend:
            parts.append(
                f"spend {_bounds(self.spend.min, self.spend.max)} {self.spend.currency}{_over(self.spend.days)}"
            )
        if self.events:
            parts.append(
                f"events booked {_bounds(self.events.min, self.events.max)}{_over(self.events.days)}"
            )
        if self.recency:
            parts.append(
                f"days since last purchase {_bounds(self.recency.min_days, self.recency.max_days)}"
            )
        return "; ".join(parts)  # fmt: skip

    def criteria(self) -> list[tuple[str, dict[str, Any]]]:
        """Each criterion's SQL file and its bound parameters."""
        found: list[tuple[str, dict[str, Any]]] = []
        if self.tags:
            found.append(("audience_tags", {"tags": list(self.tags), "tag_match": self.match}))
        if self.rfm:
            params = {"rfm_segments": list(self.rfm.segments), "rfm_currency": self.rfm.currency}
            found.append(("audience_rfm", params))
        if s := self.spend:
            params = {"spend_currency": s.currency, "spend_min": s.min, "spend_max": s.max}
            found.append(("audience_spend", {**params, "spend_days": s.days}))
        if e := self.events:
            params = {"events_min": e.min, "events_max": e.max, "events_days": e.days}
            found.append(("audience_events", params))
        if r := self.recency:
            params = {"recency_min_days": r.min_days, "recency_max_days": r.max_days}
            found.append(("audience_recency", params))
        return found


def _bounds(low: object, high: object) -> str:
    if low is not None and high is not None:
        return f"{low}-{high}"
    return f">= {low}" if low is not None else f"<= {high}"


def _over(days: int | None) -> str:
    return f" over {days} days" if days else ""


def safe_file_stem(name: str) -> str:
    """`name` as a file name stem that cannot traverse or hide: letters (any script), digits,
    `-` and `_` only. When that changed the name, a short hash of the original keeps distinct
    names distinct (`a/b` and `a_b` do not end up in one file)."""
    normalized = unicodedata.normalize("NFKC", name)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in normalized)
    safe = re.sub(r"_{2,}", "_", safe).strip("_-")[:80]
    if safe != name or not safe:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        safe = f"{safe or 'segment'}-{digest}"
    return safe


def select(db_path: Path, segment: Segment, *, as_of: date | None = None) -> pa.Table:
    """The segment's rows (sorted by id) in its layout, from the warehouse file `db_path`
    (opened read-only). Days are counted back from `as_of` (default: customer_rfm's `as_of`,
    or today before the RFM table exists)."""
    if not Path(db_path).exists():
        raise SegmentError(f"{db_path} does not exist yet: run a sync first")
    layout = layouts.BY_NAME[segment.layout]
    con = connect(db_path, read_only=True)
    try:
        criteria = segment.criteria()
        params: dict[str, Any] = {"include_blocked": segment.include_blocked}
        for _, values in criteria:
            params.update(values)
        if segment.rfm and not _has_table(con, "customer_rfm"):
            raise SegmentError(
                f"audience {segment.label!r} uses RFM, but {db_path} has no customer_rfm table "
                "yet: run a sync (its analytics build it)"
            )
        if segment.spend or segment.events or segment.recency:
            params["as_of"] = as_of or reference_day(con)
        # Only the fixed texts of the criteria's SQL files are composed in; values stay bound.
        where = "\n".join(f"  AND c.id IN ({sql(name)})" for name, _ in criteria)
        cur = con.execute(sql("audience", criteria=where), params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()
    return layout.table(rows, hash_emails=segment.hash_emails)


def reference_day(con: duckdb.DuckDBPyConnection) -> date:
    """The day audience criteria count back from: customer_rfm's `as_of`, else today (UTC)."""
    day = con.execute(sql("audience_as_of")).fetchone() if _has_table(con, "customer_rfm") else None
    return day[0] if day and day[0] else datetime.now(UTC).date()


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(sql("has_table"), {"table": table}).fetchone()[0])  # type: ignore[index]


def is_hashed(table: pa.Table) -> bool:
    """Whether an export's rows hold hashed identifiers rather than plain emails."""
    names = tuple(table.column_names)
    return HASHED_EMAIL in names or names in layouts.HASHED_HEADERS


def holds_hashed_emails(path: Path) -> bool:
    """Whether the file at `path` is a hashed export (by its name or its header)."""
    path = Path(path)
    if f".{HASHED}." in path.name:
        return True
    try:
        with path.open("rb") as f:
            head = f.read(64 * 1024)
        if head.startswith(b"PAR1"):
            names = tuple(pq.read_schema(path).names)
        else:
            line = head.split(b"\n", 1)[0].decode("utf-8", "replace").strip("\r\ufeff")
            names = tuple(next(csv.reader([line]), []))
    except (OSError, pa.ArrowException):
        return False
    return HASHED_EMAIL in names or names in layouts.HASHED_HEADERS


def write(table: pa.Table, path: Path, fmt: Format, *, force: bool = False) -> Path:
    """Write `table` to `path` atomically; an existing file is replaced only with `force`, and a
    hashed export never by plain emails (not even with `force`)."""
    path = Path(path)
    if not is_hashed(table) and path.exists() and holds_hashed_emails(path):
        raise SegmentError(
            f"{path} holds hashed emails; a plain export never replaces it: choose another "
            "--out, or add --hash-emails"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_file(table if fmt == "parquet" else _csv_ready(table), path, fmt, replace=force)
    return path


def _write_file(table: pa.Table, path: Path, fmt: Format, *, replace: bool) -> None:
    """Write to a temporary file, fsync, then rename over `path` (`replace`) or link it to
    `path` (fails if the name exists: no check-then-write race can clobber a file)."""
    fd, tmp = temp_file(path)
    try:
        with os.fdopen(fd, "wb") as f:
            if fmt == "parquet":
                pq.write_table(table, f, compression="zstd")
            elif tuple(table.column_names) in layouts.HASHED_HEADERS:
                _write_platform_csv(table, f)
            else:
                pacsv.write_csv(table, f)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise SegmentError(f"{path} exists; pass --force to replace it") from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def _write_platform_csv(table: pa.Table, f: IO[bytes]) -> None:
    """A google/meta file as the platforms' templates look: the header unquoted, a cell quoted
    only when it must be (hex hashes never are), an empty cell for no value."""
    text = io.TextIOWrapper(f, encoding="utf-8", newline="")
    out = csv.writer(text, lineterminator="\n")
    out.writerow(table.column_names)
    for batch in table.to_batches():
        out.writerows(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    text.flush()
    text.detach()


def _csv_ready(table: pa.Table) -> pa.Table:
    """CSV has no lists: tags become a JSON array (unambiguous whatever a tag contains). Text
    cells are defused against formula injection (see `_defuse`)."""
    if "tags" in table.column_names:
        tags = [
            None if t is None else json.dumps(t, ensure_ascii=False)
            for t in table["tags"].to_pylist()
        ]
        index = table.column_names.index("tags")
        table = table.set_column(index, "tags", pa.array(tags, pa.string()))
    for i, column in enumerate(table.columns):
        if pa.types.is_string(column.type):
            values = [_defuse(v) for v in column.to_pylist()]
            table = table.set_column(i, table.field(i), pa.array(values, pa.string()))
    return table


# CSV formula injection: names and other fields come from buyers, and Excel or LibreOffice run a
# cell starting with = + - @ (or tab / carriage return, which some parsers skip before one) as a
# formula: `=HYPERLINK(...)` leaks data, `=cmd|...` runs commands. Such a cell is written with a
# leading single quote, which the spreadsheet shows as text (OWASP's advice). Cells made only of
# digits, spaces and `+-()./` (phone numbers such as `+49 30 123`) are left as they are: without
# letters they hold no function, cell reference or command. Parquet keeps the values unchanged.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[0-9 ()./+-]+")


def _defuse(value: str | None) -> str | None:
    if value and value.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(value):
        return "'" + value
    return value


def export(
    db_path: Path,
    segment: Segment,
    *,
    out: Path | None = None,
    exports_dir: Path | None = None,
    force: bool = False,
    allow_empty: bool = False,
    as_of: date | None = None,
) -> tuple[Path, int]:
    """Export one segment; returns the file written and its row count.

    `out` is the file (or an existing folder to write the default name into); without it the
    file goes to `exports_dir` (default: `exports/` beside the database). An audience matching
    no customer raises EmptyAudience and writes nothing, unless `allow_empty` (or the
    segment's own `allow_empty`).
    """
    folder = Path(exports_dir) if exports_dir is not None else Path(db_path).parent / "exports"
    if out is not None:
        out = Path(out)
        path = out / segment.file_name if out.is_dir() else out
    else:
        path = folder / segment.file_name
    table = select(db_path, segment, as_of=as_of)
    if not len(table) and not (allow_empty or segment.allow_empty):
        raise EmptyAudience(
            f"audience {segment.label!r} matches no customer ({segment.describe()}); nothing "
            "written: check its criteria, or pass --allow-empty to write an empty file"
        )
    return write(table, path, segment.format, force=force), len(table)


def drop_deleted(db_path: Path, folder: Path, *, keep: Collection[Path] = ()) -> dict[Path, int]:
    """Remove the customers vivenu confirmed deleted (the `deletions` of `db_path`) from every
    export file in `folder` but those in `keep` (just written); returns the rows removed per file.

    The configured segments are re-exported after each sync; this reaches the others (one-off
    `segments export` files, segments no longer configured), so a deleted customer leaves every
    export in the folder at the next run. Files are rewritten atomically, format kept. A google
    or meta file has no id column: its rows go by the hashed email of any version of a deleted
    customer (or, for a row without an email, by the hashed phone).
    """
    if not Path(db_path).exists() or not Path(folder).is_dir():
        return {}
    con = connect(db_path, read_only=True)
    try:
        deleted = pa.array([i for (i,) in con.execute(sql("deleted_customers")).fetchall()])
        cur = con.execute(sql("deleted_contacts")) if len(deleted) else None
        names = [d[0] for d in cur.description] if cur else []
        contacts = [dict(zip(names, r, strict=True)) for r in cur.fetchall()] if cur else []
    finally:
        con.close()
    return drop_people(folder, deleted, contacts, keep=keep)


def drop_people(
    folder: Path,
    ids: pa.Array,
    contacts: list[dict[str, Any]],
    *,
    keep: Collection[Path] = (),
    dry_run: bool = False,
) -> dict[Path, int]:
    """Remove the customers `ids` from every export file in `folder` but those in `keep`;
    a google or meta file (no id column) by the hashed email or phone of any of `contacts`
    (their versions: `primary_email`, `phone`, names and address as `deleted_contacts.sql`
    selects them). Returns the rows removed (`dry_run`: found) per file; files are rewritten
    atomically."""
    removed: dict[Path, int] = {}
    if not len(ids) or not Path(folder).is_dir():
        return removed
    deleted = ids
    for path in sorted(Path(folder).iterdir()):
        if path in keep or path.name.startswith(".") or path.suffix not in (".csv", ".parquet"):
            continue
        table = _read_export(path)
        if table is None:
            continue
        header = tuple(table.column_names)
        if "id" in header:
            gone = pc.is_in(table.column("id"), value_set=deleted)
        elif header in layouts.HASHED_HEADERS:
            gone = _platform_rows_of(table, contacts)
        else:
            continue
        count = pc.sum(gone).as_py() or 0
        if count and not dry_run:
            fmt: Format = "parquet" if path.suffix == ".parquet" else "csv"
            _write_file(table.filter(pc.invert(gone)), path, fmt, replace=True)
        if count:
            removed[path] = count
    return removed


def _platform_rows_of(table: pa.Table, contacts: list[dict[str, Any]]) -> pa.Array:
    """Which rows of a google/meta file (email and phone are its first two columns) belong to
    the `contacts` (deleted customers' versions), by the same normalization and hashing."""
    layout = next(x for x in layouts.BY_NAME.values() if x.columns == tuple(table.column_names))
    email_col, phone_col = layout.columns[:2]
    built = [layout.build(c) for c in contacts] if layout.build else []
    emails = {b[email_col] for b in built} - {None}
    phones = {b[phone_col] for b in built} - {None}
    return pa.array(
        [
            e in emails if e else p in phones
            for e, p in zip(
                table.column(email_col).to_pylist(),
                table.column(phone_col).to_pylist(),
                strict=True,
            )
        ],
        pa.bool_(),
    )


def _read_export(path: Path) -> pa.Table | None:
    """An export file as written (CSV cells as the exact text they hold); None if unreadable."""
    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        with path.open(newline="", encoding="utf-8") as f:
            names = next(csv.reader(f), [])
        return pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (OSError, ValueError, pa.ArrowException):
        return None


def configured_segments(data_dir: Path, env: Mapping[str, str] | None = None) -> list[Segment]:
    """The audiences to re-export after each sync, validated (SegmentConfigError: one line
    naming the audience, the key and the fix).

    `CUSTOMER_SYNC_SEGMENTS` (if set) wins: tag segments separated by `;`, tags joined by `+`
    (the customer has all of them) or `,` (any of them), e.g. `vip;newsletter+vip;rock,jazz`.
    Otherwise `<data_dir>/segments.json`, a list of audience objects (see the module docstring
    and `AUDIENCE_KEYS`).
    """
    spec = settings.segments_spec(env)
    if spec:
        try:
            return [_parse_shorthand(part.strip()) for part in spec.split(";") if part.strip()]
        except SegmentError as exc:
            raise SegmentConfigError(
                f"{SEGMENTS_ENV}={spec!r}: {exc}; segments are separated by ';', tags by '+' "
                "(all) or ',' (any), e.g. 'vip;newsletter+vip'"
            ) from None
    path = Path(data_dir) / SEGMENTS_FILE
    if not path.exists():
        return []
    try:
        items = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    except (OSError, UnicodeDecodeError) as exc:
        raise SegmentConfigError(f"{path}: cannot be read ({exc}); fix or remove it") from None
    except ValueError as exc:
        raise SegmentConfigError(
            f"{path}: not valid JSON ({exc}); write a list of audience objects"
        ) from None
    return parse_segments(items, str(path))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if twice := sorted({k for k in keys if keys.count(k) > 1}):
        # Which value wins would be a guess: refuse the file instead.
        raise ValueError(f"key {twice[0]!r} given twice in one object")
    return dict(pairs)


def _parse_shorthand(part: str) -> Segment:
    if "+" in part and "," in part:
        raise SegmentError(f"{part!r} mixes '+' (all) and ',' (any)")
    match: Match = "all" if "+" in part else "any"
    tags = tuple(t.strip() for t in re.split(r"[+,]", part))
    if not all(tags):
        raise SegmentError("a segment needs at least one non-empty tag")
    return Segment(tags=tags, match=match)


# Every key an audience object may have, and what it takes (the fix named in errors).
AUDIENCE_KEYS = {
    "name": 'a file-name-safe text, e.g. "champions-eur"',
    "description": "free text for people",
    "tags": 'a list of tags, e.g. ["vip"]',
    "match": '"any" (default) or "all" of the tags',
    "rfm": '{"segments": ["champions"], "currency": "EUR"} (currency optional)',
    "spend": '{"currency": "EUR", "min": 500, "max": 2000, "days": 365} (min or max; days optional)',
    "events": '{"min": 3, "max": 10, "days": 365} (min or max; days optional)',
    "recency": '{"min_days": 180, "max_days": 365} (either or both)',
    "layout": f"one of {', '.join(LAYOUTS)}",
    "format": '"csv" (default) or "parquet" (contacts layout only)',
    "hash_emails": "true or false (contacts layout only)",
    "include_blocked": "true or false",
    "allow_empty": "true or false",
}
_SUB_KEYS = {
    "rfm": ("segments", "currency"),
    "spend": ("currency", "min", "max", "days"),
    "events": ("min", "max", "days"),
    "recency": ("min_days", "max_days"),
}


def parse_segments(items: object, source: str) -> list[Segment]:
    """Validate and build the audiences of a segments file (`source` names it in errors)."""
    if not isinstance(items, list):
        raise SegmentConfigError(
            f'{source}: not a list of audiences; write [{{"name": "...", "tags": ["..."]}}, ...]'
        )
    found = [_Audience(item, i, source).build() for i, item in enumerate(items)]
    seen: dict[str, Segment] = {}
    for segment in found:
        if (other := seen.get(segment.file_name)) is not None:
            raise SegmentConfigError(
                f"{source}: audience {segment.label!r}: key 'name': writes the same file as "
                f"audience {other.label!r} ({segment.file_name}); give each audience its own name"
            )
        seen[segment.file_name] = segment
    return found


class _Audience:
    """One audience object of a segments file, checked key by key."""

    def __init__(self, item: object, index: int, source: str) -> None:
        self.item = item
        self.source = source
        self.label = f"#{index + 1}"
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            self.label = repr(item["name"])

    def bad(self, key: str, problem: str, fix: str | None = None) -> SegmentConfigError:
        top = key.split(".")[0]
        fix = fix or f"use {AUDIENCE_KEYS.get(top, top)}"
        return SegmentConfigError(
            f"{self.source}: audience {self.label}: key '{key}': {problem}; {fix}"
        )

    def build(self) -> Segment:
        item = self.item
        if not isinstance(item, dict):
            raise SegmentConfigError(
                f"{self.source}: audience {self.label}: not an object; write each audience as "
                '{"name": "...", "tags": ["..."]}'
            )
        for key in item:
            if key not in AUDIENCE_KEYS:
                close = difflib.get_close_matches(key, AUDIENCE_KEYS, n=1)
                hint = f"did you mean '{close[0]}'?" if close else None
                raise self.bad(key, "unknown key", hint or f"use one of {', '.join(AUDIENCE_KEYS)}")
        kwargs: dict[str, Any] = {}
        if "name" in item:
            kwargs["name"] = self.text("name", item["name"])
        if "description" in item:
            self.text("description", item["description"])
        if "tags" in item:
            tags = item["tags"]
            if not isinstance(tags, list) or not tags:
                raise self.bad("tags", "not a non-empty list")
            kwargs["tags"] = tuple(self.text(f"tags[{i}]", t) for i, t in enumerate(tags))
        for key, allowed in (
            ("match", ("any", "all")),
            ("layout", LAYOUTS),
            ("format", ("csv", "parquet")),
        ):
            if key in item:
                if item[key] not in allowed:
                    raise self.bad(key, f"{item[key]!r} is not one of {', '.join(allowed)}")
                kwargs[key] = item[key]
        if "match" in item and "tags" not in item:
            raise self.bad(
                "match", "applies to tags, and the audience has none", "add tags or drop match"
            )
        for key in ("hash_emails", "include_blocked", "allow_empty"):
            if key in item:
                if not isinstance(item[key], bool):
                    raise self.bad(key, f"{item[key]!r} is not true or false")
                kwargs[key] = item[key]
        if "rfm" in item:
            kwargs["rfm"] = self.rfm(self.section("rfm"))
        if "spend" in item:
            kwargs["spend"] = self.spend(self.section("spend"))
        if "events" in item:
            part = self.section("events")
            low, high = (
                self.count("events.min", part.get("min")),
                self.count("events.max", part.get("max")),
            )
            self.range("events", low, high)
            kwargs["events"] = Events(low, high, self.days("events.days", part.get("days")))
        if "recency" in item:
            part = self.section("recency")
            low = self.count("recency.min_days", part.get("min_days"))
            high = self.count("recency.max_days", part.get("max_days"))
            self.range("recency", low, high, names=("min_days", "max_days"))
            kwargs["recency"] = Recency(low, high)
        if not any(key in item for key in CRITERIA):
            raise self.bad(
                "tags", "the audience has no criterion",
                "give at least one of tags, rfm, spend, events, recency",
            )  # fmt: skip
        if "name" not in item and "tags" not in item:
            raise self.bad("name", "missing (only a tags audience is named by its tags)")
        layout = kwargs.get("layout", "contacts")
        if layout != "contacts" and kwargs.get("format", "csv") != "csv":
            raise self.bad(
                "format", f"the {layout} layout is uploaded as CSV", 'drop format or use "csv"'
            )
        if layout != "contacts" and "hash_emails" in item:
            raise self.bad("hash_emails", f"the {layout} layout always hashes", "drop hash_emails")
        try:
            return Segment(**kwargs)
        except SegmentError as exc:
            raise SegmentConfigError(f"{self.source}: audience {self.label}: {exc}") from None

    def text(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.bad(key, f"{value!r} is not a non-empty text")
        return value

    def section(self, key: str) -> dict[str, Any]:
        part = self.item[key]  # type: ignore[index]
        if not isinstance(part, dict):
            raise self.bad(key, "not an object")
        for sub in part:
            if sub not in _SUB_KEYS[key]:
                raise self.bad(f"{key}.{sub}", "unknown key", f"use {AUDIENCE_KEYS[key]}")
        return part

    def currency(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
            raise self.bad(
                key, f"{value!r} is not a currency", 'use an ISO-4217 code such as "EUR"'
            )
        return value

    def rfm(self, part: dict[str, Any]) -> Rfm:
        names = part.get("segments")
        if not isinstance(names, list) or not names:
            raise self.bad(
                "rfm.segments",
                "missing or not a non-empty list",
                f"list some of: {', '.join(RFM_SEGMENTS)}",
            )
        for name in names:
            if name not in RFM_SEGMENTS:
                raise self.bad(
                    "rfm.segments",
                    f"{name!r} is not an RFM segment",
                    f"use one of: {', '.join(RFM_SEGMENTS)}",
                )
        currency = part.get("currency")
        return Rfm(
            tuple(names), None if currency is None else self.currency("rfm.currency", currency)
        )

    def spend(self, part: dict[str, Any]) -> Spend:
        if "currency" not in part:
            raise self.bad(
                "spend.currency",
                "missing (money is never summed across currencies)",
                'add "currency": "EUR"',
            )
        currency = self.currency("spend.currency", part["currency"])
        low, high = (
            self.amount("spend.min", part.get("min")),
            self.amount("spend.max", part.get("max")),
        )
        self.range("spend", low, high)
        return Spend(currency, low, high, self.days("spend.days", part.get("days")))

    def amount(self, key: str, value: object) -> Decimal | None:
        if value is None:
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidOperation
            amount = Decimal(str(value))
        except InvalidOperation:
            amount = Decimal(-1)
        if not amount.is_finite() or amount < 0 or amount >= Decimal(10) ** 14:
            raise self.bad(
                key, f"{value!r} is not an amount >= 0", "use a number such as 500 or 99.90"
            )
        return amount

    def count(self, key: str, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise self.bad(key, f"{value!r} is not a whole number >= 0", "use a number such as 3")
        return value

    def days(self, key: str, value: object) -> int | None:
        if value is not None and (self.count(key, value) or 0) < 1:
            raise self.bad(
                key,
                f"{value!r} is not a number of days >= 1",
                "use e.g. 365, or drop it for lifetime",
            )
        return value  # type: ignore[return-value]

    def range(
        self, key: str, low: object, high: object, names: tuple[str, str] = ("min", "max")
    ) -> None:
        if low is None and high is None:
            raise self.bad(
                f"{key}.{names[0]}",
                f"{key} needs {names[0]} or {names[1]}",
                f"use {AUDIENCE_KEYS[key]}",
            )
        if low is not None and high is not None and low > high:  # type: ignore[operator]
            raise self.bad(
                f"{key}.{names[0]}",
                f"{low} is above {names[1]} {high}",
                f"make {names[0]} <= {names[1]}",
            )
