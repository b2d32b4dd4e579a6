"""Requests a full sync sends against the floor, quiet and under the background writer.

    .venv/bin/python -m bench.requests --customers 20000 200000 --writer-rate 200

The floor is the sum over resources of `ceil(records / 1000)`: no exact sync of the records can
send fewer list requests. Each figure is one full sync of customers and transactions against an
in-process simulator (its truth is readable), then, with the writer stopped, an incremental
catch-up run, and the lake compared with the truth (missing / stale / extra ids).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from pipelines.sync.engine import SyncOptions, reconcile_resource, sync_resource
from pipelines.sync.lake import Lake
from pipelines.vivenu.client import ClientSettings, Resource, VivenuClient
from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store
from pipelines.vivenu.simulator.writer import BackgroundWriter
from tests.sync.truth import mismatches

RESOURCES = (Resource.CUSTOMERS, Resource.TRANSACTIONS)


async def _sync(
    sim: SimulatorServer, data_dir: Path, *, full: bool, reconcile: bool = False
) -> dict[str, Any]:
    settings = ClientSettings(
        base_url=sim.base_url, api_key=sim.api_key, max_rps=2000, concurrency=4
    )
    options = SyncOptions(full=full, safety_lag=timedelta(0))
    async with VivenuClient(settings) as client:
        lake = Lake(data_dir)
        results = {r.name: await sync_resource(client, lake, r, options) for r in RESOURCES}
        reconciled = {}
        for resource in RESOURCES if reconcile else ():
            lake.compact(resource.name)
            reconciled[resource.name] = await reconcile_resource(client, lake, resource, options)
    for name in results:
        Lake(data_dir).compact(name)
    return {
        name: {
            "records": r.records,
            "requests": r.requests,
            "floor": math.ceil(r.records / 1000),
            "bridges": r.bridges,
            "reverifications": r.reverifications,
            "reconcile_requests": reconciled[name].requests if name in reconciled else None,
        }
        for name, r in results.items()
    }


def measure(customers: int, writer_rate: float, seed: int) -> dict[str, Any]:
    """One full sync (with the writer at `writer_rate`, 0: quiet), a catch-up, the comparison."""
    store = Store.seeded(customers, seed)
    writer = BackgroundWriter(store, rate=writer_rate, seed=seed) if writer_rate else None
    data_dir = Path(tempfile.mkdtemp(prefix="requests-"))
    try:
        with SimulatorServer(store, writer=writer) as sim:
            full = asyncio.run(_sync(sim, data_dir, full=True))
            writes = sum(writer.counts.values()) if writer else 0
            if writer:
                writer.stop()
            catch_up = asyncio.run(_sync(sim, data_dir, full=False, reconcile=True))
            wrong = mismatches(sim, data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    requests = sum(r["requests"] for r in full.values())
    floor = sum(r["floor"] for r in full.values())
    return {
        "customers": customers,
        "writer_rate": writer_rate,
        "writes_during_sync": writes,
        "full": full,
        "requests": requests,
        "floor": floor,
        "ratio": round(requests / floor, 3),
        "bridges": sum(r["bridges"] for r in full.values()),
        "reverifications": sum(r["reverifications"] for r in full.values()),
        "catch_up_requests": sum(r["requests"] for r in catch_up.values()),
        "reconcile_requests": sum(r["reconcile_requests"] or 0 for r in catch_up.values()),
        "mismatches": wrong,
    }


def _wrong(m: dict[str, Any]) -> str:
    found = m["mismatches"].values()
    return " / ".join(str(sum(f[k] for f in found)) for k in ("n_missing", "n_differ", "n_extra"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.requests")
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000])
    parser.add_argument("--writer-rate", type=float, nargs="+", default=[0.0, 200.0])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(
        "| customers | writer writes/s | writes during sync | records (customers + transactions) "
        "| requests | floor | requests / floor | bridges | re-verified windows "
        "| catch-up sync requests | reconcile requests | missing / stale / extra |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for n in args.customers:
        for rate in args.writer_rate:
            m = measure(n, rate, args.seed)
            records = " + ".join(f"{r['records']:,}" for r in m["full"].values())
            print(
                f"| {n:,} | {rate:g} | {m['writes_during_sync']:,} | {records} | {m['requests']} "
                f"| {m['floor']} | {m['ratio']:.3f} | {m['bridges']} | {m['reverifications']} "
                f"| {m['catch_up_requests']} | {m['reconcile_requests']} | {_wrong(m)} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
