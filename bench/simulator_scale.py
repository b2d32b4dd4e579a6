"""Scale measurement of the vivenu simulator: seeding 1M customers and a top=1000 page over HTTP.

Run: .venv/bin/python -m bench.simulator_scale [--customers N] [--requests K]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import statistics
import time

import httpx
import numpy as np

from pipelines.vivenu.simulator.server import SimulatorServer
from pipelines.vivenu.simulator.store import Store


def rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Seed, serve, and time filtered top=1000 pages."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    rss0 = rss_mb()
    t0 = time.perf_counter()
    store = Store.seeded(args.customers, args.seed)
    seeded = time.perf_counter() - t0
    gc.collect()
    counts = store.counts()
    print(
        f"Store.seeded({args.customers}, {args.seed}): {seeded:.1f}s, "
        f"{counts['customers']} customers, {counts['transactions']} transactions, "
        f"RSS {rss_mb():.0f} MiB (+{rss_mb() - rss0:.0f} MiB)"
    )
    # A window that matches well over one page, as an incremental sync's first window would.
    lower = int(np.median(store.customers.updated[: store.customers.n]))
    lower_iso = (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(lower // 1000)) + f".{lower % 1000:03d}Z"
    )
    with (
        SimulatorServer(store, api_key="bench") as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": "Bearer bench"}, timeout=30
        ) as api,
    ):
        params = {"updatedAt[$gte]": lower_iso, "top": 1000}
        total = api.get("/api/customers/rich", params=params).json()["total"]
        took = []
        size = 0
        for i in range(args.requests):
            t = time.perf_counter()
            r = api.get(
                "/api/customers/rich", params={**params, "skip": (i * 1000) % max(total, 1)}
            )
            took.append((time.perf_counter() - t) * 1000)
            size = len(r.content)
            assert r.status_code == 200
    took.sort()
    p95 = took[int(0.95 * (len(took) - 1))]
    print(
        f"GET /api/customers/rich?updatedAt[$gte]={lower_iso}&top=1000 (total {total}, "
        f"~{size / 1e6:.2f} MB/page) x{args.requests}: median {statistics.median(took):.1f} ms, "
        f"p95 {p95:.1f} ms"
    )


if __name__ == "__main__":
    main()
