"""The hourly request budget is the key's: every process of one data directory draws from one
bucket, kept in a file that a process killed at any instant leaves usable."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.registry import BY_NAME
from pipelines.sync.engine import SyncOptions, SyncProgress, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import BUDGET_DIR, ClientSettings, HourlyBudget, VivenuClient

SPEND = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pipelines.vivenu.client import HourlyBudget

    budget = HourlyBudget(int(sys.argv[2]), Path(sys.argv[1]))
    print(sum(budget.reserve() > 0 for _ in range(int(sys.argv[3]))))
    """
)


def _spend_elsewhere(state: Path, per_hour: int, count: int) -> int:
    """`count` requests reserved by another process; how many of them had to wait."""
    done = subprocess.run(
        [sys.executable, "-c", SPEND, str(state), str(per_hour), str(count)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return int(done.stdout)


def test_processes_of_one_data_directory_share_the_budget(tmp_path):
    state = tmp_path / "budget" / "key.json"
    assert _spend_elsewhere(state, 10, 6) == 0
    assert _spend_elsewhere(state, 10, 4) == 0  # the hour's 10 are spent, by two processes
    here = HourlyBudget(10, state)
    assert here.used() == pytest.approx(10, abs=0.1)
    # The 11th waits for the bucket to drain by one: 6 minutes.
    assert here.reserve() == pytest.approx(360, abs=2)


def test_a_process_killed_holding_the_budget_leaves_it_usable(tmp_path):
    state = tmp_path / "budget" / "key.json"
    HourlyBudget(10, state).reserve()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(state.with_suffix('.lock'))!r}, 'a')\n"
            "fcntl.flock(f, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with open(state.with_suffix(".lock"), "a") as lock, pytest.raises(BlockingIOError):
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    budget = HourlyBudget(10, state)
    assert budget.reserve() == 0 and budget.used() == pytest.approx(2, abs=0.1)
    assert not list(state.parent.glob("*.part"))


def test_settings_from_the_environment_share_the_budget_in_the_data_dir(tmp_path):
    env = {
        "VIVENU_BASE_URL": "https://vivenu.com",
        "VIVENU_API_KEY": "k",
        "CUSTOMER_SYNC_DATA_DIR": str(tmp_path),
    }
    assert ClientSettings.from_env(env).budget_dir == tmp_path / BUDGET_DIR


def test_the_progress_line_shows_requests_the_budget_and_an_eta(tmp_path, simulator):
    seen: list[SyncProgress] = []
    settings = ClientSettings(
        base_url=simulator.base_url,
        api_key=simulator.api_key,
        max_rps=1000,
        max_requests_per_hour=100,
        budget_dir=tmp_path / BUDGET_DIR,
    )

    async def go() -> None:
        async with VivenuClient(settings) as client:
            await sync_resource(
                client, Lake(tmp_path), BY_NAME["customers"], SyncOptions(), on_progress=seen.append
            )

    asyncio.run(go())
    last = seen[-1]
    assert last.requests == last.requests_expected == 1  # 300 customers: one page
    assert last.budget == 100 and last.budget_used == pytest.approx(1, abs=0.1)
    line = last.line()
    assert "1/1 req" in line and "budget 1/100/h" in line and "ETA 0m00s" in line
    # The state is in the data directory, without the key.
    (state,) = (tmp_path / BUDGET_DIR).glob("*.json")
    assert simulator.api_key not in state.read_text()
