"""kill -9 in the middle of a push, then a rerun: every change is applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.push.conftest import Synced

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.attack("kill -9 mid-push, then a rerun")
@pytest.mark.slow
def test_kill_9_mid_push_then_rerun_applies_each_change_once(synced: Synced) -> None:
    targets = synced.customers()[50:90]
    path = synced.write_csv(
        [
            {"id": c["_id"], "notes": f"kill test {i}", "tags.add": "k9"}
            for i, c in enumerate(targets)
        ]
    )
    env = {
        **os.environ,
        "VIVENU_BASE_URL": synced.sim.base_url,
        "VIVENU_API_KEY": synced.sim.api_key,
        "CUSTOMER_SYNC_DATA_DIR": str(synced.data_dir),
        "CUSTOMER_SYNC_MAX_RPS": "20",
        "CUSTOMER_SYNC_CONCURRENCY": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.push.cli", str(path), "--force"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while sum(r.method == "PUT" for r in synced.requests()) < 10:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the push did not start sending"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = sum(r.method == "PUT" and r.status == 200 for r in synced.requests())
    assert 10 <= done_before < len(targets)

    report = synced.push(path, force=True)
    assert report.status == "completed", report.error
    counts = report.counts()
    assert counts["applied"] + counts["already_applied"] == len(targets)
    assert counts["already_applied"] >= done_before - 2  # minus PUTs answered but not received
    puts = Counter(r.path for r in synced.requests("PUT") if r.status == 200)
    assert len(puts) == len(targets) and set(puts.values()) == {1}
    for i, c in enumerate(targets):
        live = synced.live(c["_id"])
        assert live["notes"] == f"kill test {i}" and live["tags"].count("k9") == 1

    con = duckdb.connect(str(synced.db_path), read_only=True)
    outcomes = dict(
        con.execute("SELECT outcome, count(*) FROM push_log GROUP BY outcome").fetchall()
    )
    con.close()
    assert outcomes.get("sending", 0) == 0  # the rerun closed the killed push's open attempts
    # each PUT vivenu applied is logged "applied", or "interrupted" when the kill came first
    interrupted = outcomes.get("interrupted", 0)
    assert len(targets) - interrupted <= outcomes["applied"] <= len(targets)
