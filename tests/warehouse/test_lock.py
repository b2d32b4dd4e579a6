"""A session holding warehouse.duckdb: the load waits a bounded time, then says who holds it and
that analysts use the analyst copy."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipelines.sync.lake import Lake
from pipelines.warehouse.loader import WarehouseBusy, load
from tests.warehouse.lakefix import commit_run, customer

ROOT = Path(__file__).resolve().parents[2]

# A second process with a write connection on the file, as an analyst's `duckdb data/warehouse.duckdb`
# would hold it; it lets go after `release_after` seconds (or when killed).
HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
time.sleep(3600)
"""


@contextmanager
def holder(db: Path, release_after: float = 3600) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(release_after)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.attack("11.13 a reader holding warehouse.duckdb fails the load at once")
def test_load_waits_for_a_lock_released_in_time_and_names_the_holder_otherwise(tmp_path):
    commit_run(tmp_path, "customers", "20240101T000000000Z-000001", customers=[
        customer("c1", "2024-01-01")
    ])  # fmt: skip
    db = tmp_path / "warehouse.duckdb"
    with holder(db) as proc:
        started = time.monotonic()
        with pytest.raises(WarehouseBusy) as busy:
            load(Lake(tmp_path), db, lock_wait=1.0)
        assert 0.9 <= time.monotonic() - started < 10
    (line,) = str(busy.value).splitlines()
    assert f"process {proc.pid} (" in line and "stayed locked for 1 s" in line
    assert str(tmp_path / "analytics.duckdb") in line and "never warehouse.duckdb" in line

    with holder(db, release_after=1.5):
        started = time.monotonic()
        result = load(Lake(tmp_path), db, lock_wait=30.0)
        assert time.monotonic() - started >= 1.2
    assert result.resources["customers"].inserted == 1


@pytest.mark.slow
@pytest.mark.attack("11.13 sync with warehouse.duckdb held: one line naming the holder")
def test_sync_with_the_warehouse_held_fails_with_one_line_naming_the_holder(tmp_path, simulator):
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    env.update(
        VIVENU_BASE_URL=simulator.base_url,
        VIVENU_API_KEY=simulator.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(data),
        CUSTOMER_SYNC_MAX_RPS="1000",
        CUSTOMER_SYNC_WAREHOUSE_LOCK_WAIT="1",
    )
    with holder(data / "warehouse.duckdb") as proc:
        done = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "sync", "--quiet"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: warehouse: ") and f"process {proc.pid} (" in line
    assert "analyst copy" in line and "analytics.duckdb" in line
