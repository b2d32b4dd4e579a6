"""The push's DuckDB side: the last synced customers (read) and the `push_log` audit (write).

Both live in the warehouse file (`<data_dir>/warehouse.duckdb`). Every statement autocommits on
its own, so each log row is durable the moment it is written and nothing is held open across a
request. DuckDB allows one writing process per file: run pushes where warehouse loads are
serialized with them (the Dagster asset uses pool "duckdb").
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import orjson

SQL_DIR = Path(__file__).parent / "sql"


class WarehouseError(Exception):
    """The warehouse file is missing, locked or has no `customers` table."""


@cache
def sql(name: str) -> str:
    """The text of `sql/<name>.sql` (values are always bound, never formatted in)."""
    return (SQL_DIR / f"{name}.sql").read_text()


def now() -> datetime:
    return datetime.now(UTC)


class PushDB:
    """A connection to the warehouse for one push; read-only for dry runs (no log written)."""

    def __init__(self, db_path: Path, *, read_only: bool) -> None:
        db_path = Path(db_path)
        if not db_path.exists():
            raise WarehouseError(f"no warehouse at {db_path}: run `customer-sync sync` first")
        try:
            self.con = duckdb.connect(str(db_path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WarehouseError(
                f"cannot open {db_path} (another process writes it?): {exc}"
            ) from None
        self.read_only = read_only
        self.con.execute("SET TimeZone = 'UTC'")
        if self.con.execute(sql("has_customers")).fetchall()[0][0] == 0:
            self.close()
            raise WarehouseError(
                f"{db_path} has no customers table: run `customer-sync sync` first"
            )
        if not read_only:
            self.con.execute(sql("push_log_create"))

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> PushDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the last synced state ----------------------------------------------------------------

    def lookup(self, ids: list[str], emails: list[str]) -> list[dict[str, Any]]:
        """Warehouse rows whose id is in `ids` or whose lower-cased email is in `emails`."""
        cursor = self.con.execute(sql("customers_lookup"), {"ids": ids, "emails": emails})
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def customer_count(self) -> int:
        return int(self.con.execute(sql("customers_count")).fetchall()[0][0])

    # -- push_log -------------------------------------------------------------------------------

    def mark_interrupted(self, file_sha256: str) -> None:
        """Close the 'sending' rows an earlier, killed push of the same file left behind."""
        if not self.read_only:
            self.con.execute(
                sql("push_log_interrupted"), {"now": now(), "file_sha256": file_sha256}
            )

    def log(
        self,
        *,
        attempt_id: str,
        push_id: str,
        file_name: str,
        file_sha256: str,
        row_number: int,
        customer_id: str,
        fields: list[str],
        changes: Any,
        outcome: str,
        http_status: int | None = None,
        error: str | None = None,
        finished: bool = True,
    ) -> None:
        """Insert one attempt row (finished now unless it is a 'sending' row)."""
        if self.read_only:
            return
        started = now()
        self.con.execute(
            sql("push_log_insert"),
            {
                "attempt_id": attempt_id,
                "push_id": push_id,
                "file_name": file_name,
                "file_sha256": file_sha256,
                "row_number": row_number,
                "customer_id": customer_id,
                "fields": fields,
                "changes": orjson.dumps(changes, default=str).decode(),
                "outcome": outcome,
                "http_status": http_status,
                "error": error,
                "started_at": started,
                "finished_at": started if finished else None,
            },
        )

    def finish(
        self, attempt_id: str, outcome: str, http_status: int | None, error: str | None
    ) -> None:
        """Record the outcome of a 'sending' attempt."""
        if self.read_only:
            return
        self.con.execute(
            sql("push_log_finish"),
            {
                "attempt_id": attempt_id,
                "outcome": outcome,
                "http_status": http_status,
                "error": error,
                "finished_at": now(),
            },
        )
