"""The benchmark harness at a small N: it runs end to end, dlt included, and writes its table.

No speed is asserted (the machine is shared); only that every phase ran, both tools got every
record of a quiet API, and customer-sync matched the truth under the background writer. The one
clock reading is a lower bound the simulator's injected latency guarantees.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bench import run
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store

pytest.importorskip("dlt")


def test_bench_runs_at_small_n_and_writes_the_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = run.main(
        [
            "--customers", "500",
            "--writer-customers", "500",
            "--push-customers", "20",
            "--work-dir", str(tmp_path / "work"),
            "--out", str(out),
            "--skip", "gate", "0.1%", "latency", "whole-job", "truth-off",
        ]
    )  # fmt: skip

    rows = {(r.phase, r.tool): r for r in result["rows"]}
    assert all(r.ok for r in result["rows"]), [r.phase for r in result["rows"] if not r.ok]
    for key in [
        ("full sync", "customer-sync"),
        ("full sync", "dlt"),
        ("incremental after 1%", "customer-sync"),
        ("incremental after 1%", "dlt"),
        ("warehouse load (full)", "customer-sync"),
    ]:
        assert key in rows, key
        assert rows[key].peak_rss_mib > 0
        assert rows[key].requests > 0 or "load" in key[0]
    counts = result["extra"]["counts"]
    assert counts["customer-sync"] == counts["api"] == counts["dlt"]

    writer_on = [e for e in result["truth"] if e.get("tool") == "customer-sync"]
    assert writer_on and all(
        e[name]["missing"] == e[name]["stale"] == 0
        for e in writer_on
        for name in ("customers", "transactions")
    )
    text = out.read_text()
    assert "| full sync | customer-sync |" in text and "| full sync | dlt |" in text
    assert "customer-sync / dlt" in text and "Correctness vs the simulator's truth" in text


def test_fault_knobs_change_at_runtime_and_requests_are_counted() -> None:
    with SimulatorServer(api_key="k") as server:
        url = f"{server.base_url}/_simulator/faults"
        assert httpx.put(url, json={"latency_ms": 30}).json()["latency_ms"] == 30
        started = time.monotonic()
        httpx.get(f"{server.base_url}/api/customers/rich", headers={"Authorization": "Bearer k"})
        assert time.monotonic() - started >= 0.03
        assert httpx.get(url).json()["requests"] == 1
        assert httpx.put(url, json={"nope": 1}).status_code == 400
        # Past the requests-per-second limit: vivenu's 429 with Retry-After, counted by kind.
        httpx.put(url, json={"latency_ms": 0, "rps_limit": 1})
        answers = [
            httpx.get(
                f"{server.base_url}/api/customers/rich", headers={"Authorization": "Bearer k"}
            )
            for _ in range(5)
        ]
        rejected = [a for a in answers if a.status_code == 429]
        assert answers[0].status_code == 200 and rejected
        assert all(a.headers["retry-after"] == "1" for a in rejected)
        assert httpx.get(url).json()["faults"] == {"rps": len(rejected)}


def test_before_after_compares_two_checkouts_run_by_their_own_interpreters(tmp_path: Path) -> None:
    from bench import before_after

    # This checkout on both sides: the harness, not a speed, is what is tested.
    result = before_after.main(
        [
            "--before", str(run.ROOT),
            "--customers", "300",
            "--rounds", "2",
            "--work-dir", str(tmp_path / "work"),
            "--out", str(tmp_path / "before_after.md"),
        ]
    )  # fmt: skip

    runs = result["runs"]
    assert [r["side"] for r in sorted(runs["before"] + runs["after"], key=lambda r: r["order"])] == [
        "before", "after", "after", "before"
    ]  # fmt: skip
    for r in runs["before"] + runs["after"]:
        assert r["code"] == str(run.ROOT) and r["cpu_s"] > 0 and r["requests"] > 0
        assert r["rows"]["customers"] == 300
    assert set(result["summary"]) == set(before_after.FIGURES)
    assert "after / before" in (tmp_path / "before_after.md").read_text()


def test_fixed_rate_runs_both_tools_at_a_request_limit_and_checks_them(tmp_path: Path) -> None:
    from bench import requests

    rows = requests.fixed_rate(300, 20, 20, 3, tmp_path / "work")

    assert [(r["phase"], r["tool"]) for r in rows] == [
        ("full", "customer-sync"), ("full", "dlt"), ("catch-up", "customer-sync"), ("catch-up", "dlt")
    ]  # fmt: skip
    assert all(r["ok"] and r["answered"] > 0 and r["rejected"] >= 0 for r in rows)
    assert rows[0]["writes"] > 0
    # Exactness is judged once each tool is done: after its catch-up.
    assert [r["wrong"] is None for r in rows] == [True, True, False, False]
    assert all(w["missing"] == w["stale"] == 0 for w in rows[2]["wrong"].values()), rows[2]["wrong"]


def test_path_before_after_runs_both_checkouts_on_copies_after_the_same_change(
    tmp_path: Path,
) -> None:
    from bench import path_before_after

    with SimulatorServer(Store.seeded(300, 7), api_key=run.API_KEY) as server:
        synced = tmp_path / "synced"
        env = {
            **os.environ,
            "VIVENU_BASE_URL": server.base_url,
            "VIVENU_API_KEY": run.API_KEY,
            "CUSTOMER_SYNC_DATA_DIR": str(synced),
        }
        cli = str(run.ROOT / ".venv/bin/customer-sync")
        subprocess.run([cli, "sync", "--full", "--quiet"], env=env, check=True, cwd=run.ROOT)
        # This checkout on both sides: the harness, not a speed, is what is tested.
        result = path_before_after.main(
            [
                "--before", str(run.ROOT),
                "--data-dir", str(synced),
                "--base-url", server.base_url,
                "--shares", "0.05",
                "--rounds", "1",
                "--work-dir", str(tmp_path / "work"),
                "--out", str(tmp_path / "path.md"),
            ]
        )  # fmt: skip

    results = result["results"]
    assert [r["side"] for r in results] == ["before", "after"]
    # The same change reached both copies: 5% of the customers, fetched by each side.
    assert results[0]["fetched"] == results[1]["fetched"] >= 15
    for r in results:
        assert r["stages"]["whole command"] > 0 and r["stages"]["client CPU s"] > 0
        assert "quality gate" in r["stages"] and "snapshot" in r["stages"]
    assert "5.0%, before" in (tmp_path / "path.md").read_text()
