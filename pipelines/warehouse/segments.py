"""Tag segments for marketing: the contact fields of the live customers carrying some tags.

Segments are read from the analyst copy (`analytics.duckdb`), so an export never waits for or
blocks a load, and customers deleted in vivenu are gone from the next export after the load.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipelines.sync.state import temp_file
from pipelines.warehouse.loader import connect, sql

Match = Literal["any", "all"]
Format = Literal["csv", "parquet"]

SEGMENTS_ENV = "CUSTOMER_SYNC_SEGMENTS"
SEGMENTS_FILE = "segments.json"
HASHED, PLAIN = "hashed", "plain"
HASHED_EMAIL = "primary_email_sha256"


class SegmentError(Exception):
    """A segment that cannot be exported as asked (bad definition, file exists, no data)."""


@dataclass(frozen=True)
class Segment:
    """Which customers (tags, any/all, blocked or not) and how to write them."""

    tags: tuple[str, ...]
    match: Match = "any"
    format: Format = "csv"
    hash_emails: bool = False
    include_blocked: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if not self.tags or any(not t for t in self.tags):
            raise SegmentError("a segment needs at least one non-empty tag")
        if self.match not in ("any", "all"):
            raise SegmentError(f"match must be 'any' or 'all', not {self.match!r}")
        if self.format not in ("csv", "parquet"):
            raise SegmentError(f"format must be 'csv' or 'parquet', not {self.format!r}")

    @property
    def file_name(self) -> str:
        """A safe file name saying whether emails are hashed: `vip.plain.csv`,
        `vip_and_newsletter.hashed.parquet`, ... (a plain export of a segment never lands on the
        file of its hashed export)."""
        joiner = "_and_" if self.match == "all" else "_or_"
        stem = self.name or joiner.join(self.tags)
        kind = HASHED if self.hash_emails else PLAIN
        return f"{safe_file_stem(stem)}.{kind}.{self.format}"


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


def select(db_path: Path, segment: Segment) -> pa.Table:
    """The segment's rows (sorted by id) from the warehouse file `db_path`, opened read-only."""
    if not Path(db_path).exists():
        raise SegmentError(f"{db_path} does not exist yet: run a sync first")
    con = connect(db_path, read_only=True)
    try:
        table = con.sql(
            sql("segment"),
            params={
                "tags": list(segment.tags),
                "match": segment.match,
                "hash_emails": segment.hash_emails,
                "include_blocked": segment.include_blocked,
            },
        ).to_arrow_table()
    finally:
        con.close()
    if segment.hash_emails:
        # A new name, so a hashed file is never mistaken for (or merged with) plain emails.
        table = table.rename_columns(
            [HASHED_EMAIL if c == "primary_email" else c for c in table.column_names]
        )
    return table


def holds_hashed_emails(path: Path) -> bool:
    """Whether the file at `path` is a hashed-email export (by its name or its header)."""
    path = Path(path)
    if f".{HASHED}." in path.name:
        return True
    try:
        with path.open("rb") as f:
            head = f.read(64 * 1024)
        if head.startswith(b"PAR1"):
            return HASHED_EMAIL in pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return False
    return HASHED_EMAIL in head.split(b"\n", 1)[0].decode("utf-8", "replace")


def write(table: pa.Table, path: Path, fmt: Format, *, force: bool = False) -> Path:
    """Write `table` to `path` atomically; an existing file is replaced only with `force`, and a
    hashed-email export never by plain emails (not even with `force`)."""
    path = Path(path)
    if HASHED_EMAIL not in table.column_names and path.exists() and holds_hashed_emails(path):
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


def _csv_ready(table: pa.Table) -> pa.Table:
    """CSV has no lists: tags become a JSON array (unambiguous whatever a tag contains). Text
    cells are defused against formula injection (see `_defuse`)."""
    tags = [
        None if t is None else json.dumps(t, ensure_ascii=False) for t in table["tags"].to_pylist()
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
) -> tuple[Path, int]:
    """Export one segment; returns the file written and its row count.

    `out` is the file (or an existing folder to write the default name into); without it the
    file goes to `exports_dir` (default: `exports/` beside the database).
    """
    folder = Path(exports_dir) if exports_dir is not None else Path(db_path).parent / "exports"
    if out is not None:
        out = Path(out)
        path = out / segment.file_name if out.is_dir() else out
    else:
        path = folder / segment.file_name
    table = select(db_path, segment)
    return write(table, path, segment.format, force=force), len(table)


def drop_deleted(db_path: Path, folder: Path, *, keep: Collection[Path] = ()) -> dict[Path, int]:
    """Remove the customers vivenu confirmed deleted (the `deletions` of `db_path`) from every
    export file in `folder` but those in `keep` (just written); returns the rows removed per file.

    The configured segments are re-exported after each sync; this reaches the others (one-off
    `segments export` files, segments no longer configured), so a deleted customer leaves every
    export in the folder at the next run. Files are rewritten atomically, format kept.
    """
    if not Path(db_path).exists() or not Path(folder).is_dir():
        return {}
    con = connect(db_path, read_only=True)
    try:
        deleted = pa.array([i for (i,) in con.execute(sql("deleted_customers")).fetchall()])
    finally:
        con.close()
    removed: dict[Path, int] = {}
    if not len(deleted):
        return removed
    for path in sorted(Path(folder).iterdir()):
        if path in keep or path.name.startswith(".") or path.suffix not in (".csv", ".parquet"):
            continue
        table = _read_export(path)
        if table is None or "id" not in table.column_names:
            continue
        gone = pc.is_in(table.column("id"), value_set=deleted)
        count = pc.sum(gone).as_py() or 0
        if count:
            fmt: Format = "parquet" if path.suffix == ".parquet" else "csv"
            _write_file(table.filter(pc.invert(gone)), path, fmt, replace=True)
            removed[path] = count
    return removed


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
    """The segments to re-export after each sync.

    `CUSTOMER_SYNC_SEGMENTS` (if set) wins: segments separated by `;`, tags joined by `+` (the
    customer has all of them) or `,` (any of them), e.g. `vip;newsletter+vip;rock,jazz`.
    Otherwise `<data_dir>/segments.json`, a list of objects with the fields of `Segment`:
    `[{"tags": ["vip", "newsletter"], "match": "all", "format": "parquet", "hash_emails": true}]`.
    """
    env = os.environ if env is None else env
    spec = env.get(SEGMENTS_ENV, "").strip()
    if spec:
        try:
            return [_parse_shorthand(part.strip()) for part in spec.split(";") if part.strip()]
        except SegmentError as exc:
            raise SegmentError(
                f"{SEGMENTS_ENV}={spec!r}: {exc}; segments are separated by ';', tags by '+' "
                "(all) or ',' (any), e.g. 'vip;newsletter+vip'"
            ) from None
    path = Path(data_dir) / SEGMENTS_FILE
    if not path.exists():
        return []
    try:
        items = json.loads(path.read_text())
        return [Segment(**{**item, "tags": tuple(item["tags"])}) for item in items]
    except (ValueError, TypeError, KeyError, SegmentError) as exc:
        raise SegmentError(f"{path}: not a list of segments ({exc})") from exc


def _parse_shorthand(part: str) -> Segment:
    if "+" in part and "," in part:
        raise SegmentError(f"{part!r} mixes '+' (all) and ',' (any)")
    match: Match = "all" if "+" in part else "any"
    tags = tuple(t.strip() for t in re.split(r"[+,]", part))
    return Segment(tags=tags, match=match)
