"""Write-to-warehouse latency of vivenu's webhooks: the simulator's writer changes records and
delivers signed webhooks (with duplicates, reordering, drops and bad signatures switched on) to
the project's own receiver; every `--every` seconds the inbox is applied (lake run, compaction,
warehouse load, as `webhooks_job` does) and each write is timed from the moment the simulator
queued its delivery to the first load after which the warehouse holds that version. A last
`updatedAt` sync then catches what was dropped, and the warehouse is compared with the truth.

    nice -n 10 .venv/bin/python -m bench.webhook_latency --seconds 120 --every 10

Prints p50/p95/max and counts; writes nothing outside its work folder. Not a test: no timing
is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import orjson
import uvicorn

from pipelines.registry import RESOURCES
from pipelines.sync.engine import SyncOptions, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import ClientSettings, VivenuClient
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.webhooks import WebhookFaults, Webhooks
from pipelines.vivenu.simulator.writer import BackgroundWriter
from pipelines.warehouse.loader import connect, load
from pipelines.webhooks.apply import apply_inbox
from pipelines.webhooks.inbox import DONE, Inbox
from pipelines.webhooks.server import PATH, build_app

KEY = "bench-hmac-key-0123456789abcdef"
EVENTS = [
    "customer.created",
    "customer.updated",
    "transaction.complete",
    "transaction.canceled",
    "transaction.partiallyCanceled",
    "ticket.created",
    "ticket.updated",
]


def _receiver(inbox: Inbox) -> tuple[str, uvicorn.Server]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        build_app(KEY.encode(), inbox), log_level="critical", lifespan="off", loop="asyncio"
    )
    server = uvicorn.Server(config)
    threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}", server


def _sync(sim: SimulatorServer, lake: Lake) -> None:
    async def go() -> None:
        settings = ClientSettings(base_url=sim.base_url, api_key=sim.api_key, max_rps=1000)
        async with VivenuClient(settings) as client:
            for resource in RESOURCES:
                await sync_resource(client, lake, resource, SyncOptions(safety_lag=timedelta(0)))

    asyncio.run(go())
    for resource in RESOURCES:
        lake.compact(resource.name)


def _versions(done: Path) -> dict[str, tuple[str, str, str]]:
    """Envelope id -> (resource, record id, updatedAt) of the customers the envelope carries."""
    found = {}
    for path in done.glob("customers/*.json"):
        customer = orjson.loads(path.read_bytes())["envelope"]["data"].get("customer") or {}
        if customer.get("_id") and customer.get("updatedAt"):
            found[path.stem] = ("customers", customer["_id"], customer["updatedAt"])
    return found


def _loaded(db: Path, ids: list[str]) -> dict[str, int]:
    con = connect(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT id, epoch_ms(updated_at) FROM customers WHERE id IN (SELECT unnest(?))", [ids]
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_latency")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--every", type=float, default=10, help="seconds between applications")
    parser.add_argument("--writer-rate", type=float, default=5.0)
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/customer-sync-webhook-bench"))
    args = parser.parse_args(argv)
    shutil.rmtree(args.work_dir, ignore_errors=True)
    args.work_dir.mkdir(parents=True)
    lake, db = Lake(args.work_dir), args.work_dir / "warehouse.duckdb"
    inbox = Inbox(args.work_dir / "webhooks")
    inbox.prepare()
    url, receiver = _receiver(inbox)
    store = Store.seeded(args.customers, 7)
    faults = WebhookFaults(
        drop_rate=0.02, duplicate_rate=0.1, reorder_rate=0.1, bad_signature_rate=0.05, seed=7
    )
    hooks = Webhooks(allow_http=True, time_scale=0.01, faults=faults)
    writer = BackgroundWriter(store, rate=args.writer_rate, seed=7)
    with SimulatorServer(store, webhooks=hooks) as sim:
        _sync(sim, lake)
        load(lake, db, publish_copy=False)
        headers = {"Authorization": f"Bearer {sim.api_key}"}
        body = {"name": "bench", "url": url, "events": dict.fromkeys(EVENTS, True), "hmacKey": KEY}
        httpx.post(f"{sim.base_url}/api/webhooks", json=body, headers=headers).raise_for_status()
        writer.start()
        latencies: dict[str, float] = {}
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            time.sleep(args.every)
            apply_inbox(lake, inbox)
            for resource in RESOURCES:
                lake.compact(resource.name)
            load(lake, db, publish_copy=False)
            now = time.monotonic()
            queued = {a.envelope_id: a.queued for a in list(hooks.attempts)}
            versions = _versions(inbox.root / DONE)
            pending = {e: v for e, v in versions.items() if e not in latencies and e in queued}
            held = _loaded(db, sorted({v[1] for v in pending.values()}))
            for envelope_id, (_, record_id, updated) in pending.items():
                if held.get(record_id, -1) >= _ms(updated):
                    latencies[envelope_id] = now - queued[envelope_id]
        writer.stop()
        hooks.wait_idle(60)
        counts = dict(hooks.counts)
        _sync(sim, lake)  # the safety net: what was dropped
        load(lake, db, publish_copy=False)
        truth = {c["_id"]: _ms(c["updatedAt"]) for c in store.customers_truth()}
        held = _loaded(db, sorted(truth))
    receiver.should_exit = True
    exact = held == truth
    values = sorted(latencies.values())
    if not values:
        print("no customer write was timed")
        return
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    print(
        f"{len(values)} customer writes timed (write -> warehouse, applied every {args.every:g} s):"
        f" p50 {statistics.median(values):.1f} s, p95 {p95:.1f} s, max {values[-1]:.1f} s;"
        f" deliveries {counts}; warehouse equal to the truth after the last sync: {exact}"
    )


if __name__ == "__main__":
    main()
