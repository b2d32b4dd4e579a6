"""Normalization speed and a full sync at N customers: the figure to compare two commits by.

    .venv/bin/python -m bench.normalize_speed --customers 200000
    PYTHONPATH=/tmp/other-checkout .venv/bin/python -m bench.normalize_speed   # the other commit

1. normalize: the simulator's records as the client receives them (pages of 1,000, parsed from
   JSON) scrubbed and normalized to Arrow, CPU seconds, best of `--repeat`: the code a field
   declaration drives, measured without the network.
2. sync: `sync_resource` of every resource against a simulator process (no background writer),
   no compaction; wall and client CPU seconds.

CPU seconds are the figure to compare on a shared machine: wall time follows the load of
others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.run import API_KEY, Simulator

PAGE = 1000


def _normalizers() -> dict[str, Any]:
    """`name -> docs -> tables` for this checkout (the registry, or the code before it)."""
    from datetime import UTC, datetime

    from pipelines.sync import normalize

    lineage = normalize.Lineage(run_id="bench", synced_at=datetime.now(UTC))
    try:
        from pipelines.registry import RESOURCES
    except ImportError:  # before the registry
        return {
            "customers": lambda docs: normalize.normalize_customers(
                [normalize.scrub_customer(d) for d in docs], lineage
            ),
            "transactions": lambda docs: normalize.normalize_transactions(
                [normalize.scrub_transaction(d) for d in docs], lineage
            ),
        }
    return {
        spec.name: (
            lambda docs, spec=spec: normalize.normalize(
                spec, [normalize.scrub(spec, d) for d in docs], lineage
            )
        )
        for spec in RESOURCES
    }


def bench_normalize(customers: int, seed: int, repeat: int) -> dict[str, float]:
    from pipelines.vivenu.simulator.store import Store

    store = Store.seeded(customers, seed)
    truth = {"customers": store.customers_truth(), "transactions": store.transactions_truth()}
    out: dict[str, float] = {}
    for name, run in _normalizers().items():
        docs = truth[name]
        pages = [orjson.dumps(docs[i : i + PAGE]) for i in range(0, len(docs), PAGE)]
        best = float("inf")
        for _ in range(repeat):
            parsed = [orjson.loads(p) for p in pages]  # fresh records: scrub works in place
            started = time.process_time()
            for page in parsed:
                run(page)
            best = min(best, time.process_time() - started)
        out[f"{name}_records"] = len(docs)
        out[f"{name}_normalize_cpu_s"] = round(best, 3)
    return out


def bench_sync(customers: int, seed: int) -> dict[str, float]:
    from pipelines.sync.engine import SyncOptions, sync_resource
    from pipelines.sync.lake import Lake
    from pipelines.vivenu.client import ClientSettings, VivenuClient

    try:
        from pipelines.registry import RESOURCES as resources
    except ImportError:
        from pipelines.vivenu.client import Resource

        resources = (Resource.CUSTOMERS, Resource.TRANSACTIONS)
    sim = Simulator.spawn(customers, seed)
    try:
        os.environ.update(
            VIVENU_BASE_URL=sim.base_url,
            VIVENU_API_KEY=API_KEY,
            CUSTOMER_SYNC_MAX_RPS="1000",
            CUSTOMER_SYNC_CONCURRENCY="4",
        )
        with tempfile.TemporaryDirectory() as tmp:
            lake = Lake(Path(tmp))

            async def go() -> int:
                records = 0
                async with VivenuClient(ClientSettings.from_env()) as client:
                    for resource in resources:
                        result = await sync_resource(client, lake, resource, SyncOptions(full=True))
                        records += result.records
                return records

            wall, cpu = time.perf_counter(), time.process_time()
            records = asyncio.run(go())
            return {
                "sync_records": records,
                "sync_wall_s": round(time.perf_counter() - wall, 2),
                "sync_cpu_s": round(time.process_time() - cpu, 2),
            }
    finally:
        sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sync", action="store_true", help="normalization only")
    args = parser.parse_args()
    figures = bench_normalize(args.customers, args.seed, args.repeat)
    if not args.no_sync:
        figures.update(bench_sync(args.customers, args.seed))
    print(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
