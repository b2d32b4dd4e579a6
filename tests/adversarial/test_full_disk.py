"""A disk that fills up mid-run: the run says so in one line, nothing is corrupted, and once
there is space again a rerun ends exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.adversarial.disk import resize
from tests.sync.truth import mismatches

ROOT = Path(__file__).resolve().parents[2]


def _sync(sim: SimulatorServer, data_dir: Path, home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    env.update(
        VIVENU_BASE_URL=sim.base_url,
        VIVENU_API_KEY=sim.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(data_dir),
        CUSTOMER_SYNC_MAX_RPS="1000",
        DAGSTER_HOME=str(home),
    )
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "sync", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _warehouse_ids(data_dir: Path) -> set[str]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return {row[0] for row in con.execute("SELECT id FROM customers").fetchall()}


# 3,000 customers make a lake of ~1.5 MB and a warehouse of ~5 MB: a 1 MiB disk fills while
# the lake is written, a 4 MiB one while the warehouse is.
@pytest.mark.attack("disk full mid-run: one-line cause, rerun exact")
@pytest.mark.slow
@pytest.mark.parametrize("size", ["1m", "4m"], ids=["lake", "warehouse"])
def test_a_full_disk_is_named_and_a_rerun_with_space_ends_exact(small_disk, tmp_path, size):
    resize(small_disk, size)
    data_dir = small_disk / "data"
    home = tmp_path / "dagster_home"
    home.mkdir()
    store = Store.seeded(3000, 9)
    with SimulatorServer(store, api_key="sim-key") as sim:
        failed = _sync(sim, data_dir, home)
        assert failed.returncode == 1, failed.stderr[-2000:]
        reason = failed.stderr.strip().splitlines()[-1]
        assert "disk full" in reason.lower() and str(small_disk) in reason, reason
        assert "DagsterExecutionStepExecutionError" not in failed.stderr

        resize(small_disk, "64m")
        rerun = _sync(sim, data_dir, home)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert mismatches(sim, data_dir) == {}
        assert _warehouse_ids(data_dir) == set(store.live_customer_ids())
