"""The push's DuckDB side: the last synced customers (read) and the `push_log` audit (write).

Both live in the warehouse file (`<data_dir>/warehouse.duckdb`). DuckDB lets one process at a time
write a file, and a process holding it open (even idle) locks every other writer out. So no
connection is held across a request to vivenu: each read and each push_log write opens its own
short connection and closes it, and a warehouse load in another process (a sync, the CLI with no
pool) can run while a push waits on vivenu. Every statement autocommits, so each log row is
durable the moment it is written. When a load holds the file at that instant, opening is retried
for up to `LOCK_WAIT_SECONDS` (a load takes seconds) before the push gives up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import orjson

from pipelines.sqlfiles import read_sql
from pipelines.warehouse.loader import connect

SQL_DIR = Path(__file__).parent / "sql"
LOCK_WAIT_SECONDS = 60.0


class WarehouseError(Exception):
    """The warehouse file is missing, locked or has no `customers` table."""


# Values are always bound, never formatted in.
sql = partial(read_sql, SQL_DIR)


def now() -> datetime:
    return datetime.now(UTC)


class PushDB:
    """The warehouse as one push sees it; read-only for dry runs (no log written).

    Holds no connection: every method opens one for its statement and closes it.
    """

    def __init__(
        self, db_path: Path, *, read_only: bool, lock_wait: float = LOCK_WAIT_SECONDS
    ) -> None:
        self.db_path = Path(db_path)
        self.read_only = read_only
        self.lock_wait = lock_wait
        if not self.db_path.exists():
            raise WarehouseError(f"no warehouse at {self.db_path}: run `customer-sync sync` first")
        with self._connect() as con:
            if con.execute(sql("has_customers")).fetchall()[0][0] == 0:
                raise WarehouseError(
                    f"{self.db_path} has no customers table: run `customer-sync sync` first"
                )
            if not read_only:
                con.execute(sql("push_log_create"))

    @contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short connection, waiting (up to `lock_wait`) while another process writes."""
        deadline = time.monotonic() + self.lock_wait
        delay = 0.05
        while True:
            try:
                con = connect(self.db_path, read_only=self.read_only)
                break
            except duckdb.IOException as exc:
                if time.monotonic() + delay > deadline:
                    raise WarehouseError(
                        f"cannot open {self.db_path} (another process writes it?): {exc}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        try:
            yield con
        finally:
            con.close()

    # -- the last synced state ----------------------------------------------------------------

    def lookup(self, ids: list[str], emails: list[str]) -> list[dict[str, Any]]:
        """Warehouse rows whose id is in `ids` or whose lower-cased email is in `emails`."""
        with self._connect() as con:
            cursor = con.execute(sql("customers_lookup"), {"ids": ids, "emails": emails})
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def customer_count(self) -> int:
        with self._connect() as con:
            return int(con.execute(sql("customers_count")).fetchall()[0][0])

    # -- push_log -------------------------------------------------------------------------------

    def mark_interrupted(self, file_sha256: str) -> None:
        """Close the 'sending' rows an earlier, killed push of the same file left behind."""
        if not self.read_only:
            self._execute("push_log_interrupted", {"now": now(), "file_sha256": file_sha256})

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
        self._execute(
            "push_log_insert",
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
        self._execute(
            "push_log_finish",
            {
                "attempt_id": attempt_id,
                "outcome": outcome,
                "http_status": http_status,
                "error": error,
                "finished_at": now(),
            },
        )

    def _execute(self, name: str, params: dict[str, Any]) -> None:
        with self._connect() as con:
            con.execute(sql(name), params)
