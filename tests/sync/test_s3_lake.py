"""The lake on S3 (moto's real S3 protocol server on 127.0.0.1): exact under churn and faults,
incremental runs cost what changed, kill -9 then a rerun resumes, no secret in any object."""

from __future__ import annotations

import json
import random
import re
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from deltalake import DeltaTable

from pipelines.sync.engine import SyncFailed
from pipelines.sync.lake import WRITER_KEY, Lake
from pipelines.vivenu.simulator.faults import Faults
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter
from tests.clirun import ROOT, clean_env, run_cli
from tests.faultproxy import FaultyLake, lose_commit_reply, outage, slow_down_every
from tests.s3 import SECRET_ACCESS_KEY, S3Lake
from tests.sync.truth import mismatches, sync


@pytest.mark.attack("the lake on object storage: churn and API faults while the sync pages")
def test_sync_into_s3_is_exact_under_churn_and_faults(tmp_path, s3_lake: S3Lake):
    store = Store.seeded(3000, 41)
    writer = BackgroundWriter(store, rate=200, seed=41)
    faults = Faults(rate_429=0.15, retry_after="0", error_5xx_rate=0.1, latency_ms=2, seed=41)
    with SimulatorServer(store, writer=writer, faults=faults) as sim:
        sync(sim, tmp_path, max_attempts=12)
        assert sum(writer.counts.values()) > 0
        writer.stop()
        sync(sim, tmp_path, reconcile=True, max_attempts=12)
        assert mismatches(sim, tmp_path) == {}
    keys = s3_lake.listing()
    assert any(k.startswith("lake/customers/changes/_delta_log/") for k in keys)
    assert any(k.startswith("lake/transactions/snapshot/transactions/") for k in keys)
    assert not (tmp_path / "lake").exists()  # nothing of the lake on the local disk


def test_an_incremental_run_on_s3_costs_what_changed(tmp_path, s3_lake: S3Lake):
    store = Store.seeded(4000, 42)
    with SimulatorServer(store) as sim:
        full = sync(sim, tmp_path)["customers"]
        for cid in store.live_customer_ids()[:25]:
            store.update_customer(cid, {"notes": "changed on s3"})
        time.sleep(0.05)
        incremental = sync(sim, tmp_path)["customers"]
        assert mismatches(sim, tmp_path) == {}
    assert full.records == 4000
    assert 25 <= incremental.records < 100
    assert incremental.requests <= 3


@pytest.mark.attack("kill -9 of a sync writing to object storage, then a rerun")
@pytest.mark.slow
def test_kill_9_of_a_sync_into_s3_then_rerun_is_exact(tmp_path, s3_lake: S3Lake):
    rng = random.Random(20261203)
    store = Store.seeded(8000, 43)
    with SimulatorServer(store, faults=Faults(latency_ms=60, seed=4)) as sim:
        env = clean_env(
            VIVENU_BASE_URL=sim.base_url,
            VIVENU_API_KEY=sim.api_key,
            CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
            CUSTOMER_SYNC_CONCURRENCY="2",
            **s3_lake.env,
        )
        command = [sys.executable, "-m", "pipelines.cli", "sync", "--quiet", "--batch-rows", "700"]
        kills = 0
        for _ in range(5):
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            time.sleep(rng.uniform(3.0, 7.0))
            if proc.poll() is not None:
                assert proc.returncode == 0, (
                    proc.stderr.read().decode()[-2000:] if proc.stderr else ""
                )
                break
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        final = run_cli("sync", "--quiet", "--batch-rows", "700", env=env, timeout=300)
        assert final.returncode == 0, final.stderr[-2000:]
        assert kills >= 2
        assert mismatches(sim, tmp_path) == {}
    state = Lake(tmp_path).load_state("customers")
    assert state.in_progress is None and state.pending_compaction == []


@pytest.mark.attack("secrets in API records reaching objects in the bucket")
def test_no_secret_in_any_object_of_the_bucket(tmp_path, s3_lake: S3Lake):
    api_key = "sk_live_0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
    store = Store.seeded(600, 44)
    secrets = {api_key, SECRET_ACCESS_KEY}
    for c in store.customers_truth():
        account = c.get("_account") or {}
        secrets.update(
            v for k, v in account.items() if k in ("verificationToken", "passwordResetToken")
        )
    secrets.update(t["secret"] for t in store.transactions_truth())
    assert len(secrets) > 300
    with SimulatorServer(store, api_key=api_key) as sim:
        env = clean_env(
            VIVENU_BASE_URL=sim.base_url,
            VIVENU_API_KEY=api_key,
            CUSTOMER_SYNC_DATA_DIR=str(tmp_path),
            **s3_lake.env,
        )
        done = run_cli("sync", "--quiet", env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert mismatches(sim, tmp_path) == {}
    texts = s3_lake.strings()
    assert any("primary_email" in t for t in texts)  # the scan reads the data
    tokens = set(re.findall(r"[A-Za-z0-9_-]+", "\n".join([*texts, done.stdout, done.stderr])))
    leaked = sorted(secrets & tokens)
    assert leaked == [], f"{len(leaked)} secrets found, e.g. {leaked[:2]}"


@pytest.mark.attack("the object store throttling every third request (503 SlowDown)")
def test_a_slow_down_storm_from_the_store_is_retried_through(tmp_path, s3_faulty_lake: FaultyLake):
    store = Store.seeded(1500, 45)
    with SimulatorServer(store) as sim:
        s3_faulty_lake.proxy.use(slow_down_every(3))
        sync(sim, tmp_path)
        assert s3_faulty_lake.proxy.stats().by_rule["slow_down_every"] > 10
        s3_faulty_lake.proxy.use()
        assert mismatches(sim, tmp_path) == {}


@pytest.mark.attack("the object store down mid-run: a half-written run, a moved mark")
def test_a_store_outage_fails_the_run_and_leaves_the_mark(
    tmp_path, s3_faulty_lake: FaultyLake, monkeypatch
):
    monkeypatch.setenv("CUSTOMER_SYNC_LAKE_RETRY_TIMEOUT", "2")
    store = Store.seeded(1200, 46)
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path)
        before = Lake(tmp_path).load_state("customers")
        for cid in store.live_customer_ids()[:40]:
            store.update_customer(cid, {"notes": "during the outage"})
        time.sleep(0.05)
        s3_faulty_lake.proxy.use(outage())
        with pytest.raises(SyncFailed, match="customers sync"):
            sync(sim, tmp_path)
        s3_faulty_lake.proxy.use()
        assert (
            Lake(tmp_path).load_state("customers").high_water_mark_ms == before.high_water_mark_ms
        )
        sync(sim, tmp_path)
        assert mismatches(sim, tmp_path) == {}


@pytest.mark.attack("the store applies a commit and its reply is lost")
def test_a_lost_commit_reply_neither_fails_nor_duplicates(tmp_path, s3_faulty_lake: FaultyLake):
    store = Store.seeded(900, 47)
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path)
        for cid in store.live_customer_ids()[:30]:
            store.update_customer(cid, {"notes": "reply lost"})
        time.sleep(0.05)
        # The next sync's first two commits (its claim, its new run) land, their replies don't.
        s3_faulty_lake.proxy.use(lose_commit_reply(times=2))
        sync(sim, tmp_path)
        assert s3_faulty_lake.proxy.stats().by_rule["lose_commit_reply"] == 2
        s3_faulty_lake.proxy.use()
        assert mismatches(sim, tmp_path) == {}
    lake = Lake(tmp_path)
    history = DeltaTable(lake.uri("customers", "changes")).history()
    commits = [json.loads(h[WRITER_KEY])["commit"] for h in history if WRITER_KEY in h]
    assert len(commits) == len(set(commits))  # each commit once, none retried as a new one


@pytest.mark.attack("a run in a fresh container trusts gate files from two different runs")
def test_the_gates_memory_is_in_the_bucket_and_a_mixed_pair_is_never_trusted(
    tmp_path, s3_lake: S3Lake
):
    from pipelines.quality import incremental, rejects, stored
    from pipelines.quality.gate import validate_snapshot
    from pipelines.warehouse import loader

    store = Store.seeded(300, 43)
    bad = store.live_customer_ids()[5]
    store.update_customer(bad, {"primaryEmail": "not an address"})
    with SimulatorServer(store) as sim:
        sync(sim, tmp_path / "first")
    first = validate_snapshot(Lake(tmp_path / "first"), "customers")
    assert first.mode == "full" and first.rejected == 1

    # A load on a disk the gate never ran on holds back what the gate rejected.
    db = tmp_path / "load-only" / "warehouse.duckdb"
    loader.load(Lake(tmp_path / "load-only"), db, publish_copy=False)
    with duckdb.connect(str(db), read_only=True) as con:
        loaded = {i for (i,) in con.execute("SELECT id FROM customers").fetchall()}
    assert bad not in loaded and len(loaded) == len(store.customers_truth()) - 1

    # A new disk: the bucket's state and rejects, so only what changed is judged.
    fresh = Lake(tmp_path / "fresh")
    again = validate_snapshot(fresh, "customers")
    assert again.mode == "incremental" and again.rejected == 1
    assert rejects.read(fresh, "customers")["record_id"].to_pylist() == [bad]

    # Rejects another run uploaded after this state (or an upload cut between the two): the
    # state is not theirs, so the next validation judges every row again.
    name = f"{s3_lake.url.removeprefix(f's3://{s3_lake.bucket}/')}/_warehouse/quality/customers"
    s3_lake.client.put_object(
        Bucket=s3_lake.bucket, Key=f"{name}/rejected.parquet", Body=b"not these rejects"
    )
    mixed = Lake(tmp_path / "mixed")
    stored.fetch(mixed, "customers")
    assert not incremental.state_path(mixed, "customers").exists()  # fails without the seal
    s3_lake.client.put_object(
        Bucket=s3_lake.bucket,
        Key=f"{name}/rejected.parquet",
        Body=rejects.rejected_path(fresh, "customers").read_bytes(),
    )
    s3_lake.client.delete_object(Bucket=s3_lake.bucket, Key=f"{name}/_state.json")
    after = validate_snapshot(Lake(tmp_path / "after"), "customers")
    assert after.mode == "full" and after.rejected == 1
