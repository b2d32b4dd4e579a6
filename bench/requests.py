"""Requests a full sync sends against the floor, quiet and under the background writer.

    .venv/bin/python -m bench.requests --customers 20000 200000 --writer-rate 200

The floor is the sum over resources of `ceil(records / 1000)`: no exact sync of the records can
send fewer list requests. Each figure is one full sync of customers and transactions against an
in-process simulator (its truth is readable), then, with the writer stopped, an incremental
catch-up run, and the lake compared with the truth (missing / stale / extra ids).

    .venv/bin/python -m bench.requests --customers 20000 --rps-limit 2

With `--rps-limit` it measures instead the wall time at a fixed request rate (`fixed_rate`):
the simulator answers 429 with `Retry-After` past that many requests per second, as vivenu
does past its limit, and customer-sync and dlt (`bench.dlt_baseline`), each in its own process,
fully sync the same seller, quiet and under the writer, and are compared with the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.run import Bench, Row, Simulator, compare, cs_result, truth
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
    # The seeded store is millions of objects that live as long as the run: frozen, the cyclic
    # GC stops walking them (at 1,000,000 customers its pauses held the server's start past 10 s).
    gc.collect()
    gc.freeze()
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


def _rejected(sim: Simulator) -> int:
    """The 429s the simulator answered for its requests-per-second limit so far."""
    return int(sim.admin()["faults"].get("rps", 0))


def fixed_rate(
    customers: int, rps: float, writer_rate: float, seed: int, work: Path
) -> list[dict[str, Any]]:
    """Both tools' full sync of one seller at `rps` requests per second (429 past it), in their
    own processes; under the writer, both full runs while it writes, then it stops and each
    tool catches up once. Each tool's result compared with the simulator's truth."""
    from bench.dlt_baseline import read_result

    work.mkdir(parents=True, exist_ok=True)
    sim = Simulator.in_process(customers, seed)
    sim.admin(rps_limit=rps)
    store = sim.server.store
    bench = Bench(work, sim)
    writer = BackgroundWriter(store, rate=writer_rate, seed=seed) if writer_rate else None
    # customer-sync told the limit through its documented cap; dlt has none and meets the 429s.
    cap = {"CUSTOMER_SYNC_MAX_RPS": f"{rps:g}"}
    cs_dir, dlt_dir = work / f"cs-{writer_rate:g}", work / f"dlt-{writer_rate:g}"
    runs: list[tuple[str, Row, int]] = []

    def measured(tool: str, go: Any) -> None:
        before = _rejected(sim)
        row = go()
        runs.append((tool, row, _rejected(sim) - before))

    try:
        if writer:
            writer.start()
        measured("customer-sync", lambda: bench.cs_sync("full", cs_dir, full=True, **cap))
        measured("dlt", lambda: bench.dlt("full", dlt_dir))
        if writer:
            writer.stop()
            time.sleep(2.5)  # past customer-sync's safety lag: the catch-up covers every write
            measured("customer-sync", lambda: bench.cs_sync("catch-up", cs_dir, full=False, **cap))
            measured("dlt", lambda: bench.dlt("catch-up", dlt_dir))
        now = truth(store)
    finally:
        if writer:
            writer.stop()
        sim.stop()
    wrong = {
        "customer-sync": {n: compare(t, cs_result(cs_dir, n)) for n, t in now.items()},
        "dlt": {n: compare(t, read_result(dlt_dir, n)) for n, t in now.items()},
    }
    last = runs[-1][1].phase
    return [
        {
            "customers": customers,
            "rps": rps,
            "writer_rate": writer_rate,
            "writes": sum(writer.counts.values()) if writer else 0,
            "phase": row.phase,
            "tool": tool,
            "ok": row.ok,
            "wall_s": row.wall_s,
            "cpu_s": row.cpu_s,
            "records": row.records,
            "answered": row.requests - rejected,
            "rejected": rejected,
            # What the lake or DuckDB holds against the truth once the tool is done.
            "wrong": wrong[tool] if row.phase == last else None,
        }
        for tool, row, rejected in runs
    ]


def _fixed_rate_table(rows: list[dict[str, Any]]) -> None:
    print(
        "| customers | writer writes/s (writes in all) | phase | tool | wall s | CPU s | records "
        "| requests answered | 429s | missing / stale (customers, transactions) after it |"
    )
    print("| ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        found = (r["wrong"] or {}).values()
        wrong = ", ".join(f"{w['missing']} / {w['stale']}" for w in found)
        print(
            f"| {r['customers']:,} | {r['writer_rate']:g} ({r['writes']:,}) | {r['phase']} | {r['tool']} "
            f"| {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['records']:,} | {r['answered']} "
            f"| {r['rejected']} | {wrong} |",
            flush=True,
        )
    by = {(r["writer_rate"], r["phase"], r["tool"]): r for r in rows}
    for (rate, phase, tool), r in by.items():
        if tool == "customer-sync" and (d := by.get((rate, phase, "dlt"))):
            print(
                f"- writer {rate:g}/s, {phase}: customer-sync / dlt wall time "
                f"{r['wall_s'] / d['wall_s']:.2f}, requests {r['answered'] / d['answered']:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.requests")
    parser.add_argument("--customers", type=int, nargs="+", default=[20_000])
    parser.add_argument("--writer-rate", type=float, nargs="+", default=[0.0, 200.0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--rps-limit",
        type=float,
        help="measure the wall time at this many requests/s instead, beside dlt (fixed_rate)",
    )
    args = parser.parse_args()
    if args.rps_limit:
        work = Path(tempfile.mkdtemp(prefix="fixed-rate-"))
        try:
            rows = [
                row
                for n in args.customers
                for rate in args.writer_rate
                for row in fixed_rate(n, args.rps_limit, rate, args.seed, work / f"{n}-{rate:g}")
            ]
        finally:
            shutil.rmtree(work, ignore_errors=True)
        _fixed_rate_table(rows)
        return
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
