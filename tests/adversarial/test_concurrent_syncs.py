"""Two syncs at once on one lake: each resource has one writer at a time (its Delta claim)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipelines.sync.lake import Lake, LakeBusy
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
def test_two_syncs_started_together_one_completes_the_other_waits_or_stops(tmp_path):
    # Slow enough (8 requests/s) that each resource's step outlasts the 0.3 s between the two.
    # Which of the two claims a resource first is the machine's race (the later one may
    # finish its imports first): judged alike.
    with SimulatorServer(Store.seeded(3000, 12), faults=Faults(latency_ms=20)) as sim:
        env = _env(sim, tmp_path, max_rps="8")
        syncs = [_start("sync", "--quiet", env=env)]
        time.sleep(0.3)
        syncs.append(_start("sync", "--quiet", env=env))
        errors = [s.communicate(timeout=240)[1] for s in syncs]
        codes = [s.returncode for s in syncs]
        assert 0 in codes, errors
        told = "sync did not start: another sync of "
        for code, err in zip(codes, errors, strict=True):
            assert code == 0 or (code == 1 and told in err), err[-2000:]
        assert mismatches(sim, tmp_path) == {}
    # Each resource's runs one after the other: the later started after the earlier finished.
    for resource in ("customers", "transactions"):
        runs = [r for r in Lake(tmp_path).load_state(resource).runs if r["kind"] == "sync"]
        assert len(runs) == 2 if codes == [0, 0] else 1 <= len(runs) <= 2
        for earlier, later in itertools.pairwise(runs):
            started = datetime.strptime(later["run_id"][:18], "%Y%m%dT%H%M%S%f")
            assert started.replace(tzinfo=UTC) > datetime.fromisoformat(earlier["finished_at"])


@pytest.mark.attack("11.12 the sync lock names who holds it")
def test_a_held_claim_names_its_pid_and_what_to_do(tmp_path, simulator):
    lake = Lake(tmp_path)
    with lake.writer("customers", wait_s=0):
        reset = _start("state", "reset", "--yes", env=_env(simulator, tmp_path, max_rps="100"))
        _, err = reset.communicate(timeout=120)
    assert reset.returncode == 1
    assert f"another sync of customers is running (run -, pid {os.getpid()} on " in err
    assert "let it finish, then run this again" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.attack("a writer taken over keeps writing (no fence)")
def test_a_writer_taken_over_is_fenced_at_its_next_commit(tmp_path):
    lake = Lake(tmp_path)
    # This process's own claim counts as given up (an attempt that failed), so a second claim
    # takes it over at once, as another host does once the lease has passed.
    with lake.writer("customers") as stale, Lake(tmp_path).writer("customers", wait_s=0) as taker:
        taker.state.unmodeled_fields = ["taken-over"]
        taker.commit(taker.state)
        stale.state.unmodeled_fields = ["stale"]
        with pytest.raises(LakeBusy, match="another sync of customers took over"):
            stale.commit(stale.state)
    assert lake.load_state("customers").unmodeled_fields == ["taken-over"]


@pytest.mark.attack("a live writer waiting on a rate-limited API loses its claim after a minute")
def test_a_claim_outlives_the_clock_on_its_host_and_the_lease_on_another(tmp_path, monkeypatch):
    from pipelines.sync import lake as lake_module

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        # The claim of a live process of this host, last committed long ago (minutes on one page).
        monkeypatch.setattr(lake_module.os, "getpid", lambda: holder.pid)
        claim = Lake(tmp_path).writer("customers")
        claim.__enter__()  # not released while `claim` lives: as if the holder were writing
        monkeypatch.undo()
        later = lake_module._now_ms() + int(3 * lake_module.LEASE_S * 1000)
        monkeypatch.setattr(lake_module, "_now_ms", lambda: later)
        with pytest.raises(LakeBusy, match=f"pid {holder.pid} on "):
            Lake(tmp_path).writer("customers", wait_s=0).__enter__()

        # Seen from another host only the lease counts: held within it, taken over after.
        monkeypatch.setattr(lake_module.socket, "gethostname", lambda: "another-host")
        soon = later - int(2.5 * lake_module.LEASE_S * 1000)
        monkeypatch.setattr(lake_module, "_now_ms", lambda: soon)
        with pytest.raises(LakeBusy):
            Lake(tmp_path).writer("customers", wait_s=0).__enter__()
        monkeypatch.setattr(lake_module, "_now_ms", lambda: later)
        with Lake(tmp_path).writer("customers", wait_s=0):
            pass
    finally:
        holder.kill()
        holder.wait()
    del claim
