"""Two syncs at once on one data directory: one lock for the whole run, never one per resource."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.sync.lake import Lake
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from tests.sync.truth import mismatches

ROOT = Path(__file__).resolve().parents[2]


def _env(sim: SimulatorServer, data_dir: Path, max_rps: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIVENU_", "CUSTOMER_SYNC_"))}
    env.update(
        VIVENU_BASE_URL=sim.base_url,
        VIVENU_API_KEY=sim.api_key,
        CUSTOMER_SYNC_DATA_DIR=str(data_dir),
        CUSTOMER_SYNC_MAX_RPS=max_rps,
    )
    return env


def _start(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.attack("11.12 two syncs started 0.3 s apart")
def test_two_syncs_started_together_the_first_completes_the_second_waits(tmp_path):
    # Slow enough (8 requests/s) that each resource's step outlasts the 0.3 s between the two.
    with SimulatorServer(Store.seeded(3000, 12), faults=Faults(latency_ms=20)) as sim:
        env = _env(sim, tmp_path, max_rps="8")
        first = _start("sync", "--quiet", env=env)
        time.sleep(0.3)
        second = _start("sync", "--quiet", env=env)
        _, first_err = first.communicate(timeout=240)
        _, second_err = second.communicate(timeout=240)
        assert first.returncode == 0, first_err[-2000:]
        told = f"another sync is running (pid {first.pid})"
        assert second.returncode == 0 or (second.returncode == 1 and told in second_err), (
            second_err[-2000:]
        )
        assert mismatches(sim, tmp_path) == {}
    if second.returncode == 0:
        # The second sync waited for the whole first one, not just for one resource of it.
        customers = Lake(tmp_path).load_state("customers").runs
        transactions = Lake(tmp_path).load_state("transactions").runs
        assert len(customers) == len(transactions) == 2
        second_started = datetime.strptime(customers[1]["run_id"][:18], "%Y%m%dT%H%M%S%f")
        first_finished = datetime.fromisoformat(transactions[0]["finished_at"])
        assert second_started.replace(tzinfo=UTC) > first_finished


@pytest.mark.attack("11.12 the sync lock names who holds it")
def test_a_held_lock_names_its_pid_and_what_to_do(tmp_path, simulator):
    lake = Lake(tmp_path)
    with lake.lock(wait_s=0):
        reset = _start("state", "reset", "--yes", env=_env(simulator, tmp_path, max_rps="100"))
        _, err = reset.communicate(timeout=120)
    assert reset.returncode == 1
    assert f"another sync is running (pid {os.getpid()})" in err
    assert len(err.strip().splitlines()) == 1
